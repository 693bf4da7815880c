//! Values that cross a plugin call, and the descriptors of their types.
//!
//! Arguments travel as [`ArgValue`]s that borrow from the Python objects the
//! shim holds for the duration of the call; results travel back as owned
//! [`RetValue`]s whose buffers are freed through abi_stable's vtables, that is
//! by the allocator of the plugin that made them.

use abi_stable::{
    std_types::{RStr, RString, RVec},
    StableAbi,
};

/// What Python type a parameter or result maps to.
///
/// A transparent integer rather than a Rust enum, so that reading a value
/// written by a foreign build can never be undefined behaviour: the shim
/// rejects unknown kinds when it loads the plugin.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct TypeKind(pub u8);

impl TypeKind {
    /// `()` in Rust, `None` in Python. Only valid as a result.
    pub const UNIT: Self = Self(0);
    /// Any Rust integer; `int` in Python. Carried as `i64`.
    pub const INT: Self = Self(1);
    /// `f64`; `float` in Python (an `int` argument is accepted too).
    pub const FLOAT: Self = Self(2);
    /// `bool`; only `True` or `False` are accepted.
    pub const BOOL: Self = Self(3);
    /// `&str` or `String`; `str` in Python.
    pub const STR: Self = Self(4);
    /// `&[u8]` or `Vec<u8>`; `bytes` in Python.
    pub const BYTES: Self = Self(5);

    /// The largest kind this version of the ABI defines.
    pub const MAX: Self = Self::BYTES;

    /// The Python type name used in signatures and error messages.
    pub const fn python_name(self) -> &'static str {
        match self.0 {
            0 => "None",
            1 => "int",
            2 => "float",
            3 => "bool",
            4 => "str",
            5 => "bytes",
            _ => "<unknown>",
        }
    }
}

/// The type of one parameter or result.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct TypeDesc {
    /// The Python-facing kind.
    pub kind: TypeKind,
    /// `Option<T>`: `None` is accepted (argument) or may be returned (result).
    pub optional: bool,
    /// The Rust type as written, for signatures and messages (`"u8"`, `"String"`).
    pub rust_name: RStr<'static>,
}

/// One argument, already converted by the shim. It borrows from a Python
/// object (or from a default in the plugin's static data) for the call only.
#[repr(u8)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub enum ArgValue<'a> {
    /// Python `None`, for an `Option` parameter.
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// UTF-8 text borrowed from a `str`.
    Str(RStr<'a>),
    /// Bytes borrowed from a `bytes`.
    Bytes(abi_stable::std_types::RSlice<'a, u8>),
}

impl ArgValue<'_> {
    /// The kind of value this is; `None` has no kind of its own.
    pub const fn kind(&self) -> Option<TypeKind> {
        match self {
            ArgValue::None => None,
            ArgValue::Int(_) => Some(TypeKind::INT),
            ArgValue::Float(_) => Some(TypeKind::FLOAT),
            ArgValue::Bool(_) => Some(TypeKind::BOOL),
            ArgValue::Str(_) => Some(TypeKind::STR),
            ArgValue::Bytes(_) => Some(TypeKind::BYTES),
        }
    }
}

/// A result, owned by whoever holds it. Dropping it frees any buffer through
/// the vtable of the plugin that allocated it.
#[repr(u8)]
#[derive(StableAbi, Debug, PartialEq)]
pub enum RetValue {
    /// `()` or `Option::None`.
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(RString),
    Bytes(RVec<u8>),
}
