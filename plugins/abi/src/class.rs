//! Classes: Rust structs exposed as Python types, and references to them
//! from other plugins.
//!
//! A [`ClassRef`] identifies a class wherever it is used: in the owner's
//! [`ClassDesc`], and in the parameter and result types of any plugin that
//! takes or returns it. For a class declared `shared`, it carries the
//! struct's abi_stable layout, which the shim checks against the owner's
//! when the two plugins meet.

use std::ffi::c_void;

use abi_stable::{
    std_types::{ROption, RSlice, RStr},
    type_layout::TypeLayout,
    StableAbi,
};

use crate::function::FunctionDesc;

/// A class as a type: which one, and what it looks like in memory.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ClassRef {
    /// `"<module>.<Name>"`: the Python module of the owning plugin and the
    /// class name. The registry key and the type's `__qualname__` source.
    pub key: RStr<'static>,
    /// The Rust crate that defines the struct, and its version.
    pub crate_name: RStr<'static>,
    pub crate_version: RStr<'static>,
    pub size: usize,
    pub align: usize,
    /// The struct's layout, for classes declared `shared` (their struct
    /// derives `StableAbi`); absent for plugin-private classes.
    pub layout: ROption<&'static TypeLayout>,
}

impl ClassRef {
    /// The Python module part of the key.
    pub fn module(&self) -> &'static str {
        let key = self.key.as_str();
        key.rsplit_once('.').map_or(key, |(m, _)| m)
    }

    /// The class name part of the key.
    pub fn name(&self) -> &'static str {
        let key = self.key.as_str();
        key.rsplit_once('.').map_or(key, |(_, n)| n)
    }
}

/// What kind of method a [`MethodDesc`] is.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct MethodKind(pub u8);

impl MethodKind {
    /// Called on an instance (`&self` or `&mut self`).
    pub const INSTANCE: Self = Self(0);
    /// A static method (no receiver).
    pub const STATIC: Self = Self(1);
    /// A special method that fills a type slot; see [`SlotKind`].
    pub const SLOT: Self = Self(2);
}

/// Which type slot a special method fills.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct SlotKind(pub u8);

impl SlotKind {
    pub const NONE: Self = Self(0);
    /// `__repr__(&self) -> String`
    pub const REPR: Self = Self(1);
    /// `__str__(&self) -> String`
    pub const STR: Self = Self(2);
    /// `__eq__(&self, other: &Self) -> bool`; `!=` is its negation.
    pub const EQ: Self = Self(3);
    /// `__hash__(&self) -> integer`
    pub const HASH: Self = Self(4);
    /// `__add__(&self, other) -> T`, and the others below likewise.
    pub const ADD: Self = Self(5);
    pub const SUB: Self = Self(6);
    pub const MUL: Self = Self(7);
    pub const TRUEDIV: Self = Self(8);
    /// `__neg__(&self) -> T`
    pub const NEG: Self = Self(9);
    /// `__len__(&self) -> usize`
    pub const LEN: Self = Self(10);
    /// `__getitem__(&self, index: isize) -> T`; also makes the type iterable.
    pub const GETITEM: Self = Self(11);
    /// `__bool__(&self) -> bool`
    pub const BOOL: Self = Self(12);
    /// `__lt__(&self, other: &Self) -> bool`, and the other orderings.
    pub const LT: Self = Self(13);
    pub const LE: Self = Self(14);
    pub const GT: Self = Self(15);
    pub const GE: Self = Self(16);
    /// `__iter__(&self) -> Vec<T>`: iterating the instance iterates the list.
    pub const ITER: Self = Self(17);

    pub const MAX: Self = Self::ITER;

    /// The special method a slot kind stands for.
    pub const fn dunder(self) -> &'static str {
        match self.0 {
            1 => "__repr__",
            2 => "__str__",
            3 => "__eq__",
            4 => "__hash__",
            5 => "__add__",
            6 => "__sub__",
            7 => "__mul__",
            8 => "__truediv__",
            9 => "__neg__",
            10 => "__len__",
            11 => "__getitem__",
            12 => "__bool__",
            13 => "__lt__",
            14 => "__le__",
            15 => "__gt__",
            16 => "__ge__",
            17 => "__iter__",
            _ => "<none>",
        }
    }

    /// The slot kind of a special method's name, if it is one oxbind fills.
    pub fn from_dunder(name: &str) -> Option<Self> {
        (1..=Self::MAX.0).map(Self).find(|k| k.dunder() == name)
    }
}

/// One method of a class.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct MethodDesc {
    pub kind: MethodKind,
    /// The slot, for [`MethodKind::SLOT`]; [`SlotKind::NONE`] otherwise.
    pub slot: SlotKind,
    pub func: FunctionDesc,
}

/// A read (and optionally write) property.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct PropertyDesc {
    pub name: RStr<'static>,
    pub doc: RStr<'static>,
    /// Takes `&self` and returns the value.
    pub get: FunctionDesc,
    /// Takes `&mut self` and the new value.
    pub set: ROption<FunctionDesc>,
}

/// A class a plugin owns.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ClassDesc {
    pub class: &'static ClassRef,
    pub doc: RStr<'static>,
    /// Drops a value in place (the owner's drop glue).
    pub drop: unsafe extern "C" fn(value: *mut c_void),
    /// Clones `*src` into uninitialised `dst`, if the struct is `Clone`.
    pub clone: ROption<unsafe extern "C" fn(src: *const c_void, dst: *mut c_void)>,
    /// `__init__`: writes a new value into the call's return slot.
    pub constructor: ROption<FunctionDesc>,
    pub methods: RSlice<'static, MethodDesc>,
    pub properties: RSlice<'static, PropertyDesc>,
}

/// `tp_traverse`'s visit function, as CPython passes it (`visitproc`).
pub type VisitProc = unsafe extern "C" fn(obj: *mut c_void, arg: *mut c_void) -> i32;

/// The garbage-collector hooks of a class whose values hold Python
/// references (`oxbind::Instance` handles). Since ABI 0.1.1; one per class,
/// in `PluginModule::class_gc`, in the order of `PluginModule::classes`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ClassGc {
    /// Calls `visit(obj, arg)` for each object the value references, and
    /// returns the first non-zero result (or 0). `visit` is a [`VisitProc`]
    /// (passed as a data pointer: abi_stable cannot describe a function
    /// pointer taking a function pointer). Never changes a reference count
    /// (a free-threaded GC rule), never panics across the boundary.
    pub traverse: ROption<
        unsafe extern "C" fn(value: *const c_void, visit: *const c_void, arg: *mut c_void) -> i32,
    >,
    /// Drops the value's references, leaving a valid value (`tp_clear`).
    pub clear: ROption<unsafe extern "C" fn(value: *mut c_void)>,
}

impl ClassGc {
    /// No hooks: the class holds no Python references.
    pub const NONE: ClassGc = ClassGc {
        traverse: ROption::RNone,
        clear: ROption::RNone,
    };
}
