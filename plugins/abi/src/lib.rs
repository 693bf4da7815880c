//! The C ABI between an oxbind plugin and the oxbind shim.
//!
//! Both sides depend on this crate; its Cargo version *is* the plugin ABI
//! version (`spec/PLUGIN-ABI.md`). Nothing here touches Python: a plugin built
//! against these types has no Python dependency, and the shim translates
//! between them and CPython objects.
//!
//! - [`root`]: the frozen [`PluginRoot`] every plugin exports, and the
//!   versioned [`PluginModule`] prefix type behind it.
//! - [`function`]: function and parameter descriptors and the call signature.
//! - [`class`]: classes, their methods, slots and properties, and references
//!   to classes from other plugins.
//! - [`value`]: the values that cross a call, in and out.
//! - [`error`]: how a Rust error or a panic travels back to the shim.
//! - [`host`]: the services the shim offers plugin code.

#![allow(non_camel_case_types)] // abi_stable names prefix references `Foo_Ref`.

pub mod class;
pub mod error;
pub mod function;
pub mod host;
pub mod root;
pub mod value;

pub use abi_stable;
pub use class::{
    ClassDesc, ClassGc, ClassOptions, ClassRef, EnumDesc, EnumKind, EnumVariant, MethodDesc,
    MethodKind, PropertyDesc, SlotKind, VisitProc, PLAIN_DUNDERS,
};
pub use error::{ErrorKind, ErrorRecord};
pub use function::{CallFn, CallOutcome, FunctionDesc, ParamDesc, Receiver};
pub use host::{
    DetachedFn, ExtractFn, HostApi, HostApi_Ref, WideInt, CRITICAL_NOT_BORROWED,
    CRITICAL_SECTION_SIZE, WIDE_NOT_INT, WIDE_OK, WIDE_OUT_OF_RANGE,
};
pub use root::{PluginModule, PluginModule_Ref, PluginRoot, ROOT_SYMBOL};
pub use value::{
    ArgValue, ArrayExport, BufferArg, BufferMode, Element, Passing, RetValue, TypeDesc, TypeKind,
    MAX_DIMS,
};

/// Parses one decimal component of the crate version at compile time.
const fn parse_component(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut n: u32 = 0;
    while i < bytes.len() {
        n = n * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    n
}

/// The version of this crate, which is the plugin ABI version: `(major, minor, patch)`.
pub const ABI_VERSION: (u32, u32, u32) = (
    parse_component(env!("CARGO_PKG_VERSION_MAJOR")),
    parse_component(env!("CARGO_PKG_VERSION_MINOR")),
    parse_component(env!("CARGO_PKG_VERSION_PATCH")),
);

/// The same version as a string, e.g. `"0.1.0"`.
pub const ABI_VERSION_STR: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_components_match_the_string() {
        let (a, b, c) = ABI_VERSION;
        assert_eq!(format!("{a}.{b}.{c}"), ABI_VERSION_STR);
    }
}
