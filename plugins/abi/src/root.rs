//! The plugin root: the one symbol a plugin exports.
//!
//! [`PluginRoot`] is frozen: its layout never changes within the
//! `root_version` it declares, so the shim can read and check it before
//! running any plugin code. It points at a [`PluginModule`], an abi_stable
//! prefix type that minor versions extend by appending fields.

use abi_stable::{
    library::AbiHeader,
    std_types::{ROption, RSlice, RStr},
    type_layout::TypeLayout,
    StableAbi,
};

use crate::{class::ClassDesc, function::FunctionDesc};

/// The name of the exported static holding the plugin's [`PluginRoot`].
pub const ROOT_SYMBOL: &str = "OXBIND_PLUGIN_ROOT";

/// The first bytes of every plugin root.
pub const MAGIC: [u8; 16] = *b"oxbind-plugin\0\0\x01";

/// The version of the frozen [`PluginRoot`] layout itself.
pub const ROOT_VERSION: u32 = 1;

/// The static every plugin exports under [`ROOT_SYMBOL`]. Frozen.
#[repr(C)]
pub struct PluginRoot {
    /// Always [`MAGIC`].
    pub magic: [u8; 16],
    /// Always [`ROOT_VERSION`] for this layout.
    pub root_version: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// abi_stable's own header; it must be compatible with the shim's.
    pub abi_header: AbiHeader,
    /// The `oxbind-abi` version the plugin was built against.
    pub abi_version: [u32; 3],
    /// Reserved, zero.
    pub reserved2: u32,
    /// The layout of [`PluginModule_Ref`] as the plugin sees it.
    pub module_layout: &'static TypeLayout,
    /// The module description.
    pub module: PluginModule_Ref,
}

// SAFETY: the root is immutable static data: plain integers, a shared
// reference to a static `TypeLayout` and a prefix reference to static data.
unsafe impl Sync for PluginRoot {}

impl PluginRoot {
    /// Builds the root for `module`. Called in a `static` by `oxbind::plugin!`.
    pub const fn new(module: PluginModule_Ref) -> Self {
        PluginRoot {
            magic: MAGIC,
            root_version: ROOT_VERSION,
            reserved: 0,
            abi_header: AbiHeader::VALUE,
            abi_version: [
                crate::ABI_VERSION.0,
                crate::ABI_VERSION.1,
                crate::ABI_VERSION.2,
            ],
            reserved2: 0,
            module_layout: <PluginModule_Ref as StableAbi>::LAYOUT,
            module,
        }
    }
}

/// What a plugin exports: its identity and its functions.
///
/// Minor ABI versions append fields after the last prefix field; the shim
/// reads them through the generated `Option` accessors.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModule_Ref)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The Python module name.
    pub name: RStr<'static>,
    /// The plugin crate's version.
    pub version: RStr<'static>,
    /// The module docstring.
    pub doc: RStr<'static>,
    /// Whether the plugin declares itself safe to run without the GIL.
    pub free_threading_safe: bool,
    pub functions: RSlice<'static, FunctionDesc>,
    pub classes: RSlice<'static, ClassDesc>,
    /// Implicit conversions: each returns a class by value, and applies
    /// wherever that class is expected (see `spec/PLUGIN-ABI.md`).
    pub conversions: RSlice<'static, FunctionDesc>,
    /// Where the shim stores a `*const HostApi_Ref` for the plugin's code
    /// (zero until a shim loads the plugin; the first one wins).
    #[sabi(last_prefix_field)]
    pub host: &'static std::sync::atomic::AtomicUsize,
    /// Since ABI 0.1.1: each class's garbage-collector hooks, in the order
    /// of `classes`. The shim reads it only from plugins of ABI 0.1.1 or
    /// later (the accessor panics on an older plugin, which lacks it).
    pub class_gc: RSlice<'static, crate::class::ClassGc>,
    /// Since ABI 0.1.2: the plugin's init function, if it declares one. The
    /// shim calls it once, after the checks and before any of the plugin's
    /// classes or functions exist in Python; an `Err` or `Panic` outcome
    /// makes the load fail with nothing registered. An `Ok` outcome carries
    /// `RetValue::None`. Read only from plugins of ABI 0.1.2 or later.
    pub init: ROption<extern "C" fn() -> crate::function::CallOutcome>,
    /// Since ABI 0.1.9: the enums the plugin exports. Read only from plugins
    /// of ABI 0.1.9 or later.
    pub enums: RSlice<'static, crate::class::EnumDesc>,
    /// Since ABI 0.1.10: each class's options and class attributes, in the
    /// order of `classes`. Read only from plugins of ABI 0.1.10 or later.
    pub class_options: RSlice<'static, crate::class::ClassOptions>,
    /// Since ABI 0.1.10: module constants, each a function without
    /// parameters called once at load; the module attribute of the
    /// function's name holds the result.
    pub constants: RSlice<'static, crate::function::FunctionDesc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The root is frozen: these offsets are part of the ABI (spec/PLUGIN-ABI.md).
    #[test]
    fn root_layout_is_frozen() {
        assert_eq!(offset_of!(PluginRoot, magic), 0);
        assert_eq!(offset_of!(PluginRoot, root_version), 16);
        assert_eq!(offset_of!(PluginRoot, reserved), 20);
        assert_eq!(offset_of!(PluginRoot, abi_header), 24);
        assert_eq!(size_of::<AbiHeader>(), 40);
        assert_eq!(offset_of!(PluginRoot, abi_version), 64);
        assert_eq!(offset_of!(PluginRoot, reserved2), 76);
        assert_eq!(offset_of!(PluginRoot, module_layout), 80);
        assert_eq!(offset_of!(PluginRoot, module), 88);
        assert_eq!(size_of::<PluginRoot>(), 96);
    }
}
