//! The shared internals' contract: what one shim copy publishes and every
//! other copy of the same interpreter reads (`spec/ABI.md`).
//!
//! - [`InternalsHeader`] is frozen: a copy of any version can read it and
//!   decide whether it may go further.
//! - [`Internals`] is an abi_stable prefix type: minor versions append fields,
//!   which older copies never see and newer copies read as `None` when the
//!   creator is older.
//! - Every mutable field is reached through the creator's functions: the
//!   locks they take run in one implementation, whichever copy calls.
//!
//! This crate holds types only; the shim implements them.

#![allow(non_camel_case_types)] // abi_stable names prefix references `Foo_Ref`.

use std::ffi::{c_void, CStr};

pub use abi_stable;
use abi_stable::{
    library::AbiHeader,
    std_types::{ROption, RStr},
    type_layout::TypeLayout,
    StableAbi,
};

/// The name every internals capsule carries.
pub const CAPSULE_NAME: &CStr = c"oxbind._internals";

/// The first bytes of the header.
pub const MAGIC: [u8; 16] = *b"oxbind-internals";

/// The version of the frozen header layout.
pub const HEADER_VERSION: u32 = 1;

const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0u32);
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

const CRATE_VERSION: [u32; 3] = [
    parse(env!("CARGO_PKG_VERSION_MAJOR")),
    parse(env!("CARGO_PKG_VERSION_MINOR")),
    parse(env!("CARGO_PKG_VERSION_PATCH")),
];

/// The internals ABI version this build implements: the crate version,
/// except in the compatibility fixtures.
pub const VERSION: [u32; 3] = if cfg!(feature = "fixture-next-major") {
    if CRATE_VERSION[0] == 0 {
        [0, CRATE_VERSION[1] + 1, 0]
    } else {
        [CRATE_VERSION[0] + 1, 0, 0]
    }
} else if cfg!(feature = "fixture-next-minor") {
    [CRATE_VERSION[0], CRATE_VERSION[1], CRATE_VERSION[2] + 1]
} else {
    CRATE_VERSION
};

/// Cargo's compatibility line of a version: `(major, 0)`, or `(0, minor)`
/// below 1.0. Copies on one line share a runtime.
pub const fn compatibility_line(v: [u32; 3]) -> (u32, u32) {
    if v[0] == 0 {
        (0, v[1])
    } else {
        (v[0], 0)
    }
}

/// The interpreter-state dict key of the runtime for a compatibility line
/// and build flavour: `__oxbind_internals_v0_1_ft__`.
pub fn key(version: [u32; 3], free_threaded: bool) -> String {
    let (a, b) = compatibility_line(version);
    format!(
        "__oxbind_internals_v{a}_{b}{}__",
        if free_threaded { "_ft" } else { "" }
    )
}

/// The key under which the first runtime of a flavour is also published,
/// whatever its line, so a copy of another line can notice it and warn.
pub fn primary_key(free_threaded: bool) -> String {
    format!(
        "__oxbind_internals{}__",
        if free_threaded { "_ft" } else { "" }
    )
}

/// The frozen header the capsule points at.
#[repr(C)]
pub struct InternalsHeader {
    /// Always [`MAGIC`].
    pub magic: [u8; 16],
    /// Always [`HEADER_VERSION`] for this layout.
    pub header_version: u32,
    pub reserved: u32,
    /// abi_stable's header, which must be compatible with the reader's.
    pub abi_header: AbiHeader,
    /// The internals ABI version of the creator.
    pub version: [u32; 3],
    pub reserved2: u32,
    /// The creator's layout of [`Internals_Ref`].
    pub layout: &'static TypeLayout,
    pub internals: Internals_Ref,
}

// SAFETY: the header is immutable after publication; the pointers in it
// refer to immutable or internally synchronised data.
unsafe impl Sync for InternalsHeader {}
// SAFETY: the header is never mutated after publication and owns nothing
// that is tied to a thread: sending it moves only integers and pointers to
// immutable or internally synchronised data, as for `Sync`.
unsafe impl Send for InternalsHeader {}

impl InternalsHeader {
    pub fn new(internals: Internals_Ref) -> Self {
        InternalsHeader {
            magic: MAGIC,
            header_version: HEADER_VERSION,
            reserved: 0,
            abi_header: AbiHeader::VALUE,
            version: VERSION,
            reserved2: 0,
            layout: <Internals_Ref as StableAbi>::LAYOUT,
            internals,
        }
    }
}

/// A runtime's identifier: unique per process and interpreter.
#[cfg(not(feature = "fixture-bad-layout"))]
pub type RuntimeId = u64;
/// The bad-layout fixture narrows the id while claiming the same version.
#[cfg(feature = "fixture-bad-layout")]
pub type RuntimeId = u32;

/// One shim copy that joined a runtime.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct CopyInfo {
    /// The module that embeds the copy (`"oxbind"` for the oxbind module).
    pub module: RStr<'static>,
    /// The copy's shim crate version.
    pub shim_version: RStr<'static>,
    /// The copy's internals ABI version.
    pub version: [u32; 3],
}

/// Counts for `internals_info()` and the tests.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, Default)]
pub struct InternalsStats {
    pub copies: u32,
    pub types: u32,
    /// Live entries in the instance map (reference wrappers).
    pub mapped_instances: u64,
}

/// One registered Python type. Records are never freed while the
/// interpreter lives, and the type object is held by a strong reference that
/// is never released.
///
/// For an oxbind class, the record also says how its instances are laid out
/// (see [`InstanceHeader`]), so that any shim copy can create, read and
/// check instances of a class another copy created.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = TypeRecord_Ref)))]
#[sabi(missing_field(option))]
pub struct TypeRecord {
    /// The stable key (`"<module>.<Name>"`), independent of which copy
    /// registered the type.
    pub key: RStr<'static>,
    /// The `PyTypeObject*`.
    pub py_type: *mut c_void,
    /// The plugin that owns the type, and its version.
    pub owner: RStr<'static>,
    pub owner_version: RStr<'static>,
    /// The Rust crate that defines the struct, and its version.
    pub crate_name: RStr<'static>,
    pub crate_version: RStr<'static>,
    /// Size and alignment of the Rust value; zero for types that are not
    /// oxbind classes (the diagnostics registry).
    pub size: usize,
    pub align: usize,
    /// Offset of the inline value from the start of the object.
    pub value_offset: usize,
    /// The struct's abi_stable layout, for shared classes.
    pub layout: ROption<&'static TypeLayout>,
    /// Clones a value into uninitialised memory (the owner's `Clone`).
    pub clone_value: ROption<unsafe extern "C" fn(src: *const c_void, dst: *mut c_void)>,
    /// Opaque data of the shim copy that created the type; only that copy's
    /// slot functions read it.
    pub class_data: *const c_void,
    /// Allocates an instance whose header is initialised: its value pointer
    /// points at the inline storage, which is uninitialised, and its flags
    /// are `OWNED` (not yet `READY`). Null with a Python error on failure.
    #[sabi(last_prefix_field)]
    pub new_instance: ROption<unsafe extern "C" fn(record: TypeRecord_Ref) -> *mut c_void>,
    /// Since 0.1.1. How many instances of the type are alive, for the leak
    /// report (`spec/LEAKS.md`): the creating copy counts them per thread,
    /// without any shared counter, and sums the counts here. Reads as
    /// absent in records of older copies (their instances go uncounted).
    pub live_instances: ROption<unsafe extern "C" fn(record: TypeRecord_Ref) -> i64>,
}

// SAFETY: records are immutable after registration; the raw pointers in
// them (the type object, held by a never-released strong reference, and the
// creator's class data) are only read, never written through, by readers.
unsafe impl Sync for TypeRecord {}
// SAFETY: a record is immutable after registration and is never freed while
// the interpreter lives, so no thread owns it: moving it is as safe as
// sharing it (see `Sync`).
unsafe impl Send for TypeRecord {}

/// Flags in [`InstanceHeader::flags`].
pub mod instance_flags {
    /// The value is initialised.
    pub const READY: u32 = 1;
    /// The value is inline and owned: dropped when the instance dies.
    pub const OWNED: u32 = 2;
    /// The instance is in the instance map and must be removed when it dies.
    pub const MAPPED: u32 = 4;
    /// The instance is not in its class's live-instance count: a class
    /// attribute or module constant, which lives as long as its class or
    /// module. Read only by the copy that created the class (its
    /// `tp_dealloc`); other copies ignore the bit.
    pub const UNCOUNTED: u32 = 8;
}

/// What every instance of an oxbind class holds right after its `PyObject`
/// header. The value follows at `TypeRecord::value_offset` for owned
/// instances. Layout frozen within a line.
#[repr(C)]
pub struct InstanceHeader {
    /// Where the value is: the inline storage (owned), or inside the value
    /// of `owner` (a reference wrapper), or static data.
    pub value: *mut c_void,
    /// For a reference wrapper: the object that owns the value, held by a
    /// strong reference (keep-alive). Null otherwise.
    pub owner: *mut c_void,
    /// The class.
    pub record: TypeRecord_Ref,
    /// [`instance_flags`].
    pub flags: std::sync::atomic::AtomicU32,
    /// Borrows of the value: 0 none, `n` shared, `u32::MAX` exclusive.
    pub borrow: std::sync::atomic::AtomicU32,
}

/// The internals of one runtime. Who may write each field, and under which
/// lock, is stated once, in `spec/ABI.md` ("Fields, owners and locks").
///
/// Every function takes `state` as its first argument and is implemented by
/// the creating copy, so every lock on the mutable state runs in one
/// implementation. The functions run no Python code while locked.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = Internals_Ref)))]
#[sabi(missing_field(option))]
pub struct Internals {
    pub runtime_id: RuntimeId,
    /// `"oxbind-shim <version> (<module>)"` of the creator.
    pub creator: RStr<'static>,
    pub free_threaded: bool,
    /// `oxbind.PanicError` (a `PyObject*`), shared by every copy.
    pub panic_error: *mut c_void,
    /// The loaded-plugin dict (a `PyObject*`): canonical path → module.
    pub plugins: *mut c_void,
    /// The creator's private state; opaque to every other copy.
    pub state: *const c_void,
    /// Records a copy joining the runtime; returns its index.
    pub join: unsafe extern "C" fn(state: *const c_void, copy: CopyInfo) -> u32,
    /// The `index`th copy that joined, if any.
    pub copy_at: unsafe extern "C" fn(state: *const c_void, index: u32) -> ROption<CopyInfo>,
    /// Registers `record` under its key unless a record is there; returns the
    /// record registered now. The caller passes a strong reference to the
    /// type, kept forever if its record wins.
    pub register_type:
        unsafe extern "C" fn(state: *const c_void, record: TypeRecord_Ref) -> TypeRecord_Ref,
    pub find_type_by_key:
        unsafe extern "C" fn(state: *const c_void, key: RStr<'_>) -> ROption<TypeRecord_Ref>,
    pub find_type_by_object:
        unsafe extern "C" fn(state: *const c_void, py_type: *mut c_void) -> ROption<TypeRecord_Ref>,
    pub stats: unsafe extern "C" fn(state: *const c_void) -> InternalsStats,
    /// The instance map's shard count (a power of two) and the address
    /// shift of its shard index, `fmix64(addr >> shift) & (count - 1)`.
    pub shard_count: u32,
    pub shard_shift: u32,
    /// The live instance of `py_type` whose value is at `addr`, as a new
    /// reference; null if none. Never returns an instance that is being
    /// deallocated.
    pub map_get: unsafe extern "C" fn(
        state: *const c_void,
        addr: *const c_void,
        py_type: *mut c_void,
    ) -> *mut c_void,
    /// Maps (`addr`, type of `obj`) to `obj` unless a live instance is
    /// mapped there; returns that instance as a new reference, or null if
    /// `obj` went in.
    pub map_insert: unsafe extern "C" fn(
        state: *const c_void,
        addr: *const c_void,
        obj: *mut c_void,
    ) -> *mut c_void,
    /// Removes the entry for (`addr`, type of `obj`) if it maps to `obj`.
    pub map_remove:
        unsafe extern "C" fn(state: *const c_void, addr: *const c_void, obj: *mut c_void),
    /// Registers an implicit conversion to the class `key` (a function of
    /// some plugin returning that class by value). Conversions apply in
    /// every plugin, in registration order.
    pub add_conversion: unsafe extern "C" fn(
        state: *const c_void,
        key: RStr<'_>,
        conversion: &'static oxbind_abi::FunctionDesc,
    ),
    /// The `index`th conversion to `key`, if any.
    #[sabi(last_prefix_field)]
    pub conversion_at: unsafe extern "C" fn(
        state: *const c_void,
        key: RStr<'_>,
        index: u32,
    ) -> Option<&'static oxbind_abi::FunctionDesc>,
    /// Since 0.1.1. Turns the creator's leak report at exit on or off
    /// (`oxbind.set_leak_warnings`), for the whole runtime.
    pub set_leak_warnings: unsafe extern "C" fn(state: *const c_void, enabled: bool),
    /// Since 0.1.2. Claims the memory `[start, end)` of a buffer argument
    /// for a call: shared, or `exclusive` for a mutable one. Fails (returns
    /// false, claiming nothing) if the range overlaps an exclusive claim,
    /// or is exclusive and overlaps any claim. Every copy's buffer
    /// arguments claim here, so no two calls anywhere in the process alias
    /// a mutable buffer.
    pub claim_range: unsafe extern "C" fn(
        state: *const c_void,
        start: usize,
        end: usize,
        exclusive: bool,
    ) -> bool,
    /// Since 0.1.2. Ends one claim that `claim_range` granted with the same
    /// arguments.
    pub release_range:
        unsafe extern "C" fn(state: *const c_void, start: usize, end: usize, exclusive: bool),
    /// Appended by the "newer minor" compatibility fixture: a field older
    /// copies do not know and newer copies read as `None` from older ones.
    #[cfg(feature = "fixture-next-minor")]
    pub motto: RStr<'static>,
}

// SAFETY: immutable after publication; mutable state is behind `state`,
// reached only through the creator's synchronised functions.
unsafe impl Sync for Internals {}
// SAFETY: the table is immutable after publication and owns nothing tied to
// a thread: `state` is reached only through the creator's synchronised
// functions, and the two `PyObject*` fields are only read, and used by the
// shims with the thread attached, whichever thread holds the table.
unsafe impl Send for Internals {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn keys_name_the_line_and_flavour() {
        assert_eq!(key([0, 1, 4], true), "__oxbind_internals_v0_1_ft__");
        assert_eq!(key([0, 1, 0], false), "__oxbind_internals_v0_1__");
        assert_eq!(key([1, 3, 0], false), "__oxbind_internals_v1_0__");
        assert_eq!(primary_key(true), "__oxbind_internals_ft__");
    }

    #[test]
    fn header_layout_is_frozen() {
        assert_eq!(offset_of!(InternalsHeader, magic), 0);
        assert_eq!(offset_of!(InternalsHeader, header_version), 16);
        assert_eq!(offset_of!(InternalsHeader, abi_header), 24);
        assert_eq!(offset_of!(InternalsHeader, version), 64);
        assert_eq!(offset_of!(InternalsHeader, layout), 80);
        assert_eq!(offset_of!(InternalsHeader, internals), 88);
        assert_eq!(std::mem::size_of::<InternalsHeader>(), 96);
    }
}
