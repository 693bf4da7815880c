//! Classes: the Python type of a plugin's class, its slots and properties,
//! the life of its instances, and classes that other plugins use.
//!
//! - [`create`]: building and registering the type;
//! - [`construct`]: calling the class;
//! - [`slots`]: type slots and properties;
//! - [`lifecycle`]: allocation, deallocation, traverse and clear.
//!
//! Records of classes other plugins own are resolved and checked in
//! `crate::runtime::registry`.
//!
//! A class's type is created by the shim copy that loads its plugin. Its
//! record in the shared registry tells every other copy how instances are
//! laid out, so any plugin can take, return and hold instances of a
//! `shared` class. When a plugin uses a class it does not own, its view of
//! the struct (crate, version, size, abi_stable layout) is checked against
//! the owner's record: at load if the owner is already loaded, otherwise
//! at first use.
//!
//! Shared state: [`ClassData`] is leaked and immutable once its type
//! exists.

use oxbind_abi::{ClassDesc, ClassGc, MethodKind, SlotKind};
use oxbind_internals::TypeRecord;
use pyo3_ffi as ffi;

use crate::instance;

use crate::{call::FunctionData, py::owned::Owned};

pub(crate) mod construct;
pub(crate) mod create;
pub(crate) mod lifecycle;
pub(crate) mod slots;

/// Everything this copy knows about a class it created. `#[repr(C)]` with
/// `desc` first: the instance layer reads it there
/// ([`crate::instance::class_desc`]) without knowing this type.
#[repr(C)]
pub(crate) struct ClassData {
    pub(crate) desc: &'static ClassDesc,
    /// This class's index in the per-thread live-instance counts
    /// (`leaks`); `None` past the counting limit.
    pub(crate) leak_index: Option<u32>,
    /// The garbage-collector hooks; with them the type is a GC type.
    pub(crate) gc: ClassGc,
    pub(crate) ctor: Option<&'static FunctionData>,
    pub(crate) slots: [Option<&'static FunctionData>; SlotKind::MAX.0 as usize + 1],
    /// What the class opted into (`oxbind_abi::ClassOptions` flags).
    pub(crate) options: u32,
    /// Where an instance keeps its weak-reference list (`weakref`), or 0.
    pub(crate) weaklist_offset: usize,
    /// Where an instance keeps its `__dict__` (`dict`), or 0.
    pub(crate) dict_offset: usize,
}

const _: () = assert!(std::mem::offset_of!(ClassData, desc) == 0);

pub(crate) struct PropertyData {
    pub(crate) get: &'static FunctionData,
    pub(crate) set: Option<&'static FunctionData>,
    pub(crate) name: String,
}

/// The per-function data a class needs, built by the plugin loader (which
/// knows the defaults) and handed to [`create`].
pub(crate) struct ClassFunctions {
    pub(crate) ctor: Option<&'static FunctionData>,
    /// (kind, slot, data) per method, in declaration order.
    pub(crate) methods: Vec<(MethodKind, SlotKind, &'static FunctionData)>,
    /// (name, doc, getter, setter) per property.
    pub(crate) properties: Vec<(
        String,
        String,
        &'static FunctionData,
        Option<&'static FunctionData>,
    )>,
    /// The class's garbage-collector hooks (none for most classes).
    pub(crate) gc: ClassGc,
    /// What the class opts into (`oxbind_abi::ClassOptions` flags).
    pub(crate) options: u32,
}

/// A class whose type object is built but not registered: nothing of it is
/// visible to other plugins until [`publish`].
// One is built per class, at load, and consumed at once by `publish`: the
// size difference between the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PreparedClass {
    /// A new type, with its registry record.
    New {
        ty: Owned,
        data: &'static ClassData,
        record: TypeRecord,
        plugin: &'static str,
    },
    /// The same class (same crate, version and layout) is registered
    /// already: its type, checked compatible.
    Registered(Owned),
}

// ---------------------------------------------------------------------------
// Type slots. Each reads the class data of the type this copy created.

/// The class data of `obj`'s class.
///
/// # Safety
/// `obj` is a live instance of a class this copy created (its `tp_dealloc`
/// is this copy's, see [`instance::is_ours`]), so its record's class data is
/// a [`ClassData`] this copy leaked.
pub(crate) unsafe fn class_of<'a>(obj: *mut ffi::PyObject) -> &'a ClassData {
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract): it has a header, and its record's class data points at a
    // `ClassData` that this copy leaked and never frees or mutates.
    unsafe { &*(instance::header(obj).record.class_data() as *const ClassData) }
}
