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
    /// Since ABI 0.1.8: a computed property's getter, `&self` and no
    /// parameters; the property is named by the function's name.
    pub const GETTER: Self = Self(3);
    /// Since ABI 0.1.8: a computed property's setter, `&mut self` and one
    /// parameter; it joins the getter of the same name, which must exist.
    pub const SETTER: Self = Self(4);
    /// Since ABI 0.1.10: a class method. Its first parameter (an `ANY`
    /// object, no receiver) receives the class it was called on: a Python
    /// subclass, when called through one.
    pub const CLASSMETHOD: Self = Self(5);

    pub const MAX: Self = Self::CLASSMETHOD;
}

/// Which type slot a special method fills.
///
/// Binary operators come in three forms: `__op__(&self, other)`, tried when
/// the instance is the left operand; the reflected `__rop__(&self, other)`,
/// tried when it is the right operand (or when `__op__` returned
/// `NotImplemented` for a left operand of the same class); and the in-place
/// `__iop__(&mut self, other)`, for `x op= y`, whose `()` result makes the
/// expression's value the instance itself.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct SlotKind(pub u8);

/// Every slot's special method, indexed by [`SlotKind`] (0 is none).
const DUNDERS: [&str; 66] = [
    "<none>",
    "__repr__",
    "__str__",
    "__eq__",
    "__hash__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__neg__",
    "__len__",
    "__getitem__",
    "__bool__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__iter__",
    // Since ABI 0.1.8.
    "__setitem__",
    "__delitem__",
    "__contains__",
    "__next__",
    "__call__",
    "__floordiv__",
    "__mod__",
    "__pow__",
    "__divmod__",
    "__lshift__",
    "__rshift__",
    "__and__",
    "__or__",
    "__xor__",
    "__matmul__",
    "__radd__",
    "__rsub__",
    "__rmul__",
    "__rtruediv__",
    "__rfloordiv__",
    "__rmod__",
    "__rpow__",
    "__rdivmod__",
    "__rlshift__",
    "__rrshift__",
    "__rand__",
    "__ror__",
    "__rxor__",
    "__rmatmul__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
    "__ifloordiv__",
    "__imod__",
    "__ipow__",
    "__ilshift__",
    "__irshift__",
    "__iand__",
    "__ior__",
    "__ixor__",
    "__imatmul__",
    "__pos__",
    "__abs__",
    "__invert__",
    "__int__",
    "__float__",
    "__index__",
];

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
    /// `__getitem__(&self, key) -> T`. With an integer key it also makes the
    /// type a sequence (iterable by index until `IndexError`); any other key
    /// type (since ABI 0.1.8) makes it a mapping only.
    pub const GETITEM: Self = Self(11);
    /// `__bool__(&self) -> bool`
    pub const BOOL: Self = Self(12);
    /// `__lt__(&self, other: &Self) -> bool`, and the other orderings.
    pub const LT: Self = Self(13);
    pub const LE: Self = Self(14);
    pub const GT: Self = Self(15);
    pub const GE: Self = Self(16);
    /// `__iter__(&self) -> T`: iterating the instance iterates what it
    /// returns (a list, an `oxbind::Iter`, an iterator class's instance).
    pub const ITER: Self = Self(17);
    /// Since ABI 0.1.8: `__setitem__(&mut self, key, value)`.
    pub const SETITEM: Self = Self(18);
    /// `__delitem__(&mut self, key)`.
    pub const DELITEM: Self = Self(19);
    /// `__contains__(&self, item) -> bool`; an item that does not convert to
    /// the parameter's type is not contained (`False`).
    pub const CONTAINS: Self = Self(20);
    /// `__next__(&mut self) -> Option<T>`: `None` ends the iteration. A
    /// class with `__next__` and no `__iter__` is its own iterator.
    pub const NEXT: Self = Self(21);
    /// `__call__(&self, ...)`: instances are callable, with the method's
    /// signature (keywords and defaults included).
    pub const CALL: Self = Self(22);
    pub const FLOORDIV: Self = Self(23);
    pub const MOD: Self = Self(24);
    /// `__pow__(&self, other)`; `pow(x, y, m)` with `m` not `None` is not
    /// supported (it raises `TypeError`).
    pub const POW: Self = Self(25);
    pub const DIVMOD: Self = Self(26);
    pub const LSHIFT: Self = Self(27);
    pub const RSHIFT: Self = Self(28);
    pub const AND: Self = Self(29);
    pub const OR: Self = Self(30);
    pub const XOR: Self = Self(31);
    pub const MATMUL: Self = Self(32);
    /// The reflected forms, `__radd__` … `__rmatmul__`, in the order of the
    /// binary operators above: `RADD` + k reflects the k-th of
    /// [`SlotKind::BINARY`].
    pub const RADD: Self = Self(33);
    /// The in-place forms, `__iadd__` … `__imatmul__`, in the order of the
    /// binary operators without `divmod`.
    pub const IADD: Self = Self(47);
    /// `__pos__`, `__abs__`, `__invert__`: `(&self) -> T`.
    pub const POS: Self = Self(60);
    pub const ABS: Self = Self(61);
    pub const INVERT: Self = Self(62);
    /// `__int__(&self) -> integer`, `__float__(&self) -> f64`,
    /// `__index__(&self) -> integer`.
    pub const INT: Self = Self(63);
    pub const FLOAT: Self = Self(64);
    pub const INDEX: Self = Self(65);

    pub const MAX: Self = Self::INDEX;

    /// The binary operators, in the order their reflected forms follow.
    pub const BINARY: [SlotKind; 14] = [
        Self::ADD,
        Self::SUB,
        Self::MUL,
        Self::TRUEDIV,
        Self::FLOORDIV,
        Self::MOD,
        Self::POW,
        Self::DIVMOD,
        Self::LSHIFT,
        Self::RSHIFT,
        Self::AND,
        Self::OR,
        Self::XOR,
        Self::MATMUL,
    ];

    /// The reflected form of a binary operator (`__radd__` for `__add__`).
    pub const fn reflected(self) -> Option<SlotKind> {
        let mut k = 0;
        while k < Self::BINARY.len() {
            if Self::BINARY[k].0 == self.0 {
                return Some(SlotKind(Self::RADD.0 + k as u8));
            }
            k += 1;
        }
        None
    }

    /// The in-place form of a binary operator (`__iadd__` for `__add__`);
    /// `divmod` has none.
    pub const fn in_place(self) -> Option<SlotKind> {
        let mut k = 0;
        let mut n = 0;
        while k < Self::BINARY.len() {
            if Self::BINARY[k].0 == Self::DIVMOD.0 {
                k += 1;
                continue;
            }
            if Self::BINARY[k].0 == self.0 {
                return Some(SlotKind(Self::IADD.0 + n));
            }
            k += 1;
            n += 1;
        }
        None
    }

    /// Whether this is a binary operator, reflected or not (not in-place).
    pub const fn is_binary(self) -> bool {
        (self.0 >= Self::ADD.0 && self.0 <= Self::TRUEDIV.0)
            || (self.0 >= Self::FLOORDIV.0 && self.0 < Self::IADD.0)
    }

    /// Whether this is an in-place operator (`__iadd__` …).
    pub const fn is_in_place(self) -> bool {
        self.0 >= Self::IADD.0 && self.0 < Self::POS.0
    }

    /// How many parameters besides `self` the slot's method takes; `None`
    /// for `__call__`, which takes any signature.
    pub const fn params(self) -> Option<usize> {
        match self {
            Self::CALL => None,
            Self::SETITEM => Some(2),
            Self::DELITEM
            | Self::CONTAINS
            | Self::GETITEM
            | Self::EQ
            | Self::LT
            | Self::LE
            | Self::GT
            | Self::GE => Some(1),
            k if k.is_binary() || k.is_in_place() => Some(1),
            _ => Some(0),
        }
    }

    /// The special method a slot kind stands for.
    pub const fn dunder(self) -> &'static str {
        if (self.0 as usize) < DUNDERS.len() {
            DUNDERS[self.0 as usize]
        } else {
            "<none>"
        }
    }

    /// The slot kind of a special method's name, if it is one oxbind fills.
    pub fn from_dunder(name: &str) -> Option<Self> {
        (1..=Self::MAX.0).map(Self).find(|k| k.dunder() == name)
    }
}

/// Special methods that are ordinary methods to Python (looked up on the
/// type by name, with no slot): a class may define them as methods.
pub const PLAIN_DUNDERS: &[&str] = &[
    "__enter__",
    "__exit__",
    "__format__",
    "__getstate__",
    "__setstate__",
    "__reduce__",
    "__reduce_ex__",
    "__getnewargs__",
    "__getnewargs_ex__",
    "__copy__",
    "__deepcopy__",
    "__length_hint__",
    "__reversed__",
    "__sizeof__",
    "__round__",
    "__trunc__",
    "__floor__",
    "__ceil__",
    "__complex__",
    "__bytes__",
    "__fspath__",
    "__dir__",
];

/// One member of an exported enum.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct EnumVariant {
    /// The member's name (the Rust variant's).
    pub name: RStr<'static>,
    /// Its value: the variant's discriminant.
    pub value: i64,
    pub doc: RStr<'static>,
}

/// How an exported enum behaves in Python.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct EnumKind(pub u8);

impl EnumKind {
    /// An `enum.Enum` subclass: members compare equal only to themselves.
    pub const ENUM: Self = Self(0);
    /// An `enum.IntEnum` subclass: members are ints too.
    pub const INT_ENUM: Self = Self(1);
}

/// A fieldless Rust enum a plugin exports as a Python enum class (since ABI
/// 0.1.9, `PluginModule::enums`). Its identity, like a class's, is its
/// [`ClassRef`]: the key names it, and for an enum declared `shared` the
/// abi_stable layout records the variant names and discriminants, which the
/// shim compares when another plugin uses it.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct EnumDesc {
    pub class: &'static ClassRef,
    pub doc: RStr<'static>,
    pub kind: EnumKind,
    pub variants: RSlice<'static, EnumVariant>,
}

#[cfg(test)]
mod tests {
    use super::SlotKind;

    #[test]
    fn forms_of_the_binary_operators() {
        for op in SlotKind::BINARY {
            let name = op.dunder().trim_start_matches("__");
            let r = op.reflected().expect("every binary operator reflects");
            assert_eq!(r.dunder(), format!("__r{name}"));
            assert!(op.is_binary() && r.is_binary() && !op.is_in_place());
            match op.in_place() {
                Some(i) => {
                    assert_eq!(i.dunder(), format!("__i{name}"));
                    assert!(i.is_in_place() && !i.is_binary());
                }
                None => assert_eq!(op, SlotKind::DIVMOD),
            }
        }
        assert_eq!(SlotKind::from_dunder("__index__"), Some(SlotKind::MAX));
        assert!(!SlotKind::NEG.is_binary() && !SlotKind::POS.is_in_place());
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

/// What a class opts into, and its class attributes. Since ABI 0.1.10; one
/// per class, in `PluginModule::class_options`, in the order of
/// `PluginModule::classes`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ClassOptions {
    /// [`ClassOptions::SUBCLASS`], [`ClassOptions::WEAKREF`],
    /// [`ClassOptions::DICT`]; other bits are refused at load.
    pub flags: u32,
    /// Class attributes: functions without parameters or receiver, each
    /// called once when the class is created; the result is stored in the
    /// class under the function's name.
    pub attributes: RSlice<'static, FunctionDesc>,
    /// Methods `#[oxbind::class]` generates: `__copy__` and `__deepcopy__`
    /// for a `Clone` struct. A method of the same name in
    /// [`ClassDesc::methods`] replaces one of these.
    pub generated: RSlice<'static, MethodDesc>,
}

impl ClassOptions {
    /// Python classes may subclass it (`Py_TPFLAGS_BASETYPE`).
    pub const SUBCLASS: u32 = 1;
    /// Instances can be weakly referenced.
    pub const WEAKREF: u32 = 2;
    /// Instances have a `__dict__` for arbitrary attributes.
    pub const DICT: u32 = 4;
    /// Every flag this version knows.
    pub const ALL: u32 = Self::SUBCLASS | Self::WEAKREF | Self::DICT;
    /// No options and no attributes.
    pub const NONE: ClassOptions = ClassOptions {
        flags: 0,
        attributes: RSlice::from_slice(&[]),
        generated: RSlice::from_slice(&[]),
    };
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
