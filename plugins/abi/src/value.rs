//! Values that cross a plugin call, and the descriptors of their types.
//!
//! Arguments travel as [`ArgValue`]s that borrow from the Python objects the
//! shim holds for the duration of the call; results travel back as owned
//! [`RetValue`]s whose buffers are freed through abi_stable's vtables, that is
//! by the allocator of the plugin that made them.

use std::ffi::c_void;

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
    /// An instance of a class (`TypeDesc::class`), passed as `&T`, `&mut T`
    /// or by value (see [`Passing`]).
    pub const OBJECT: Self = Self(6);
    /// A list of `TypeDesc::item`: as a parameter, a `list` or `tuple` whose
    /// items each convert as the item type; as a result, a new `list`.
    /// Items may be containers themselves (since ABI 0.1.6; before, only
    /// scalars, objects and class instances or values).
    pub const LIST: Self = Self(7);
    /// A `dict` parameter (`HashMap<K, V>`, `BTreeMap<K, V>`): keys and
    /// values of the two types [`TypeDesc::dict_types`] gives. Since ABI
    /// 0.1.1; the argument is an [`ArgValue::List`] of key, value, key,
    /// value, … read under the dict's critical section. Since ABI 0.1.6 also
    /// a result, a [`RetValue::List`] of key, value, key, value, … that
    /// becomes a new `dict`.
    pub const DICT: Self = Self(8);
    /// Since ABI 0.1.4: any Python object (`oxbind::Object`). As a
    /// parameter it accepts every object (`None` too, unless the parameter
    /// is optional, when `None` arrives as [`ArgValue::None`]) and crosses
    /// as [`ArgValue::Object`] holding the `PyObject*`, borrowed for the
    /// call. As a result it crosses as [`RetValue::Ref`] holding a *new
    /// strong reference*, which the shim takes over (in a list result too).
    pub const ANY: Self = Self(9);
    /// Since ABI 0.1.4: a callable (`oxbind::Callback<Args, R>`): as
    /// [`TypeKind::ANY`], but a parameter accepts only objects that
    /// `callable()` accepts. Its signature is described for stubs and
    /// messages by [`TypeDesc::callable`].
    pub const CALLABLE: Self = Self(10);
    /// Since ABI 0.1.5: an integer type wider than `i64`'s range (`u64`,
    /// `usize`, `i128`, `u128`); `int` in Python. A value that fits `i64`
    /// crosses as [`ArgValue::Int`] / [`RetValue::Int`], as an `INT` does.
    /// Any other int argument crosses as [`ArgValue::Object`], the int
    /// itself borrowed for the call, which the plugin reads with
    /// `HostApi::int_to_wide`; any other result as [`RetValue::Ref`], a new
    /// reference to the int (made with `HostApi::int_from_wide`) that the
    /// shim takes over, as for [`TypeKind::ANY`].
    pub const WIDE_INT: Self = Self(11);
    /// Since ABI 0.1.6: a fixed-size tuple (`(A, B, …)` in Rust) of the
    /// item types [`TypeDesc::tuple_types`] gives (`TypeDesc::tuple`). As a
    /// parameter it accepts a `tuple` or a `list` of exactly that many
    /// items, and crosses as an [`ArgValue::List`] of them; as a result it
    /// crosses as a [`RetValue::List`] and becomes a new `tuple`.
    pub const TUPLE: Self = Self(12);
    /// Since ABI 0.1.6: a set of `TypeDesc::item` (`HashSet<T>`,
    /// `BTreeSet<T>`). As a parameter it accepts a `set` or a `frozenset`
    /// and crosses as an [`ArgValue::List`] of its items (in the set's
    /// iteration order); as a result a [`RetValue::List`] becomes a new
    /// `set`.
    pub const SET: Self = Self(13);
    /// Since ABI 0.1.6: a filesystem path (`PathBuf`, `&Path`). As a
    /// parameter it accepts a `str`, `bytes` or any `os.PathLike`, and
    /// crosses as [`ArgValue::Bytes`]: the path's bytes in the filesystem
    /// encoding (`os.fsencode`), borrowed for the call. As a result it
    /// crosses as [`RetValue::Bytes`], decoded with `os.fsdecode`, and
    /// becomes a `pathlib.Path`.
    pub const PATH: Self = Self(14);
    /// Since ABI 0.1.6: a complex number (`oxbind::Complex`). As a
    /// parameter it accepts a `complex`, `float` or `int` (or any object
    /// `complex()` accepts through `__complex__`, `__float__` or
    /// `__index__`), and crosses as an [`ArgValue::List`] of two
    /// [`ArgValue::Float`]s, the real and imaginary parts; as a result, a
    /// [`RetValue::List`] of two [`RetValue::Float`]s becomes a `complex`.
    pub const COMPLEX: Self = Self(15);
    /// Since ABI 0.1.7: memory exported through Python's buffer protocol,
    /// of the element type [`TypeDesc::buffer_element`] gives; how it is
    /// used is [`TypeDesc::passing`], one of the [`BufferMode`]s.
    ///
    /// - As a parameter (`&[T]`, `&mut [T]`, `oxbind::ArrayView<T>`,
    ///   `oxbind::ArrayViewMut<T>`, and `&[u8]`/`Vec<u8>`), it accepts any
    ///   object exporting a buffer whose format and item size match the
    ///   element; a slice also needs it C-contiguous, a mutable mode
    ///   writable. It crosses as [`ArgValue::Object`] pointing at a
    ///   [`BufferArg`] the shim owns; the buffer stays exported, and its
    ///   memory claimed in the runtime's range registry, for the call.
    /// - As a result (`oxbind::Array<T>`, mode [`BufferMode::OWNED`]), it
    ///   crosses as [`RetValue::Ref`] pointing at an [`ArrayExport`] the
    ///   plugin gave up; the shim wraps it in an `oxbind.Array`, which
    ///   exports the memory and calls [`ArrayExport::release`] when the last
    ///   view of it goes.
    ///
    /// Never a container item or a callback's parameter or result.
    pub const BUFFER: Self = Self(16);
    /// Since ABI 0.1.8: a `slice` (`oxbind::Slice`), parameters only. It
    /// accepts a `slice` object and crosses as an [`ArgValue::List`] of three
    /// [`ArgValue::Int`]s: start, stop and step as `PySlice_Unpack` gives
    /// them (`None` replaced by the extreme values that mean "from the
    /// start" or "to the end" for the step's sign, each clamped to the
    /// `isize` range). A step of 0 crosses as three 0s, which the SDK refuses
    /// with `ValueError` (so an overload taking a slice is still chosen).
    pub const SLICE: Self = Self(17);
    /// Since ABI 0.1.9: a member of an enum class (`TypeDesc::class` names
    /// it; its members are the owner's [`crate::EnumDesc`]). A fieldless Rust
    /// enum under `#[oxbind::class]`. It crosses as [`ArgValue::Int`] /
    /// [`RetValue::Int`], the variant's discriminant: a parameter accepts
    /// only members of the enum class (the shim passes the member's value),
    /// and a result becomes the member of that value.
    pub const ENUM: Self = Self(18);

    /// The largest kind this version of the ABI defines.
    pub const MAX: Self = Self::ENUM;

    /// The Python type name used in signatures and error messages.
    pub const fn python_name(self) -> &'static str {
        match self.0 {
            0 => "None",
            1 => "int",
            2 => "float",
            3 => "bool",
            4 => "str",
            5 => "bytes",
            6 => "object",
            7 => "list",
            8 => "dict",
            9 => "object",
            10 => "callable",
            11 => "int",
            12 => "tuple",
            13 => "set",
            14 => "os.PathLike",
            15 => "complex",
            16 => "buffer",
            17 => "slice",
            18 => "enum",
            _ => "<unknown>",
        }
    }
}

/// How an object crosses: by shared reference, by exclusive reference, or
/// by value (a clone for arguments, a move for results).
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct Passing(pub u8);

impl Passing {
    pub const VALUE: Self = Self(0);
    pub const REF: Self = Self(1);
    pub const MUT: Self = Self(2);
    /// Since 0.1.1, parameters only: a strong reference to the instance
    /// itself (`oxbind::Instance<T>`), not its value. The argument is
    /// `ArgValue::Object` holding the `PyObject*`; the SDK takes its own
    /// reference through the host API. No borrow is taken.
    pub const HANDLE: Self = Self(3);
}

/// The type of one parameter or result.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct TypeDesc {
    /// The Python-facing kind.
    pub kind: TypeKind,
    /// `Option<T>`: `None` is accepted (argument) or may be returned (result).
    pub optional: bool,
    /// For [`TypeKind::OBJECT`]: how the object is passed.
    pub passing: Passing,
    /// The Rust type as written, for signatures and messages (`"u8"`, `"String"`).
    pub rust_name: RStr<'static>,
    /// For [`TypeKind::OBJECT`]: the class; for [`TypeKind::ENUM`] (since
    /// ABI 0.1.9), the enum class.
    pub class: Option<&'static crate::class::ClassRef>,
    /// For [`TypeKind::LIST`] and [`TypeKind::SET`]: the item type. For
    /// [`TypeKind::DICT`]: the key type, the first of two consecutive
    /// descriptions (key, value); read both with [`TypeDesc::dict_types`].
    /// For [`TypeKind::TUPLE`]: the first item type, followed by the others
    /// ([`TypeDesc::tuple_types`]). For [`TypeKind::CALLABLE`]: the result
    /// type, followed by the parameter types.
    pub item: Option<&'static TypeDesc>,
}

impl TypeDesc {
    /// A scalar type description.
    pub const fn scalar(kind: TypeKind, rust_name: &'static str) -> Self {
        TypeDesc {
            kind,
            optional: false,
            passing: Passing::VALUE,
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: None,
        }
    }

    /// A member of the enum class `class` ([`TypeKind::ENUM`]).
    pub const fn enumeration(
        class: &'static crate::class::ClassRef,
        rust_name: &'static str,
    ) -> Self {
        TypeDesc {
            kind: TypeKind::ENUM,
            optional: false,
            passing: Passing::VALUE,
            rust_name: RStr::from_str(rust_name),
            class: Some(class),
            item: None,
        }
    }

    /// An object of `class`, passed as `passing`.
    pub const fn object(
        class: &'static crate::class::ClassRef,
        passing: Passing,
        rust_name: &'static str,
    ) -> Self {
        TypeDesc {
            kind: TypeKind::OBJECT,
            optional: false,
            passing,
            rust_name: RStr::from_str(rust_name),
            class: Some(class),
            item: None,
        }
    }

    /// A dict from `types[0]` (keys) to `types[1]` (values).
    pub const fn dict(types: &'static [TypeDesc; 2], rust_name: &'static str) -> Self {
        TypeDesc {
            kind: TypeKind::DICT,
            optional: false,
            passing: Passing::VALUE,
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(&types[0]),
        }
    }

    /// For a [`TypeKind::DICT`]: its key and value types.
    pub fn dict_types(&self) -> Option<(&'static TypeDesc, &'static TypeDesc)> {
        if self.kind != TypeKind::DICT {
            return None;
        }
        let key = self.item? as *const TypeDesc;
        // SAFETY: a DICT's `item` is the first element of a static
        // `[TypeDesc; 2]` (`TypeDesc::dict`, spec/PLUGIN-ABI.md), so the
        // next element is its value type, in the same static.
        Some(unsafe { (&*key, &*key.add(1)) })
    }

    /// A callable taking the types `sig[1..]` and returning `sig[0]`
    /// ([`TypeKind::CALLABLE`]): `item` points at `sig[0]` and the arity
    /// (`sig.len() - 1`, at most 255) is kept in `passing`. The shim reads
    /// it back with [`TypeDesc::callable_types`].
    pub const fn callable(sig: &'static [TypeDesc], rust_name: &'static str) -> Self {
        assert!(
            !sig.is_empty() && sig.len() <= 256,
            "a callable's signature is its result, then at most 255 parameters"
        );
        TypeDesc {
            kind: TypeKind::CALLABLE,
            optional: false,
            passing: Passing((sig.len() - 1) as u8),
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(&sig[0]),
        }
    }

    /// For a [`TypeKind::CALLABLE`] that describes its signature: its result
    /// type and its parameter types. `None` for other kinds, and for a
    /// callable without a signature (`item` absent).
    pub fn callable_types(&self) -> Option<(&'static TypeDesc, &'static [TypeDesc])> {
        if self.kind != TypeKind::CALLABLE {
            return None;
        }
        let ret = self.item? as *const TypeDesc;
        // SAFETY: a CALLABLE's `item` is the first element of a static
        // `[TypeDesc; 1 + arity]` with the arity in `passing`
        // (`TypeDesc::callable`, spec/PLUGIN-ABI.md): the parameters follow
        // the result in the same static.
        Some(unsafe {
            (
                &*ret,
                std::slice::from_raw_parts(ret.add(1), self.passing.0 as usize),
            )
        })
    }

    /// A tuple of the types `items` ([`TypeKind::TUPLE`]): `item` points at
    /// `items[0]` and the arity (1 to 255) is kept in `passing`, as for
    /// [`TypeDesc::callable`]. The shim reads it back with
    /// [`TypeDesc::tuple_types`].
    pub const fn tuple(items: &'static [TypeDesc], rust_name: &'static str) -> Self {
        assert!(
            !items.is_empty() && items.len() <= 255,
            "a tuple has 1 to 255 items"
        );
        TypeDesc {
            kind: TypeKind::TUPLE,
            optional: false,
            passing: Passing(items.len() as u8),
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(&items[0]),
        }
    }

    /// For a [`TypeKind::TUPLE`]: its item types, in order.
    pub fn tuple_types(&self) -> Option<&'static [TypeDesc]> {
        if self.kind != TypeKind::TUPLE || self.passing.0 == 0 {
            return None;
        }
        let first = self.item? as *const TypeDesc;
        // SAFETY: a TUPLE's `item` is the first element of a static
        // `[TypeDesc; arity]` with the arity in `passing`
        // (`TypeDesc::tuple`, spec/PLUGIN-ABI.md).
        Some(unsafe { std::slice::from_raw_parts(first, self.passing.0 as usize) })
    }

    /// A set of `item` ([`TypeKind::SET`]).
    pub const fn set(item: &'static TypeDesc, rust_name: &'static str) -> Self {
        TypeDesc {
            kind: TypeKind::SET,
            optional: false,
            passing: Passing::VALUE,
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(item),
        }
    }

    /// A list of `item`.
    pub const fn list(item: &'static TypeDesc, rust_name: &'static str) -> Self {
        TypeDesc {
            kind: TypeKind::LIST,
            optional: false,
            passing: Passing::VALUE,
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(item),
        }
    }

    /// A buffer ([`TypeKind::BUFFER`]) of `element`, used as `mode` says:
    /// `item` points at `element`, a scalar description whose `passing`
    /// holds the [`Element`] code (see [`TypeDesc::element`]).
    pub const fn buffer(
        element: &'static TypeDesc,
        mode: BufferMode,
        rust_name: &'static str,
    ) -> Self {
        TypeDesc {
            kind: TypeKind::BUFFER,
            optional: false,
            passing: Passing(mode.0),
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: Some(element),
        }
    }

    /// The description of one element of a buffer: an `INT`, `FLOAT` or
    /// `BOOL` scalar named as in Rust (`"f64"`), with the [`Element`] code in
    /// `passing`.
    pub const fn element(code: Element, rust_name: &'static str) -> Self {
        let kind = match code.class() {
            Element::FLOAT => TypeKind::FLOAT,
            Element::BOOL => TypeKind::BOOL,
            _ => TypeKind::INT,
        };
        TypeDesc {
            kind,
            optional: false,
            passing: Passing(code.0),
            rust_name: RStr::from_str(rust_name),
            class: None,
            item: None,
        }
    }

    /// Whether this is a read-only slice of bytes (`&[u8]`, `Vec<u8>`): the
    /// one buffer that takes a `b"…"` default, may be a callable's result,
    /// and is described as "a bytes-like object".
    pub fn is_byte_slice(&self) -> bool {
        self.buffer_element()
            .is_some_and(|(mode, element, _)| mode == BufferMode::SLICE && element == Element::U8)
    }

    /// For a [`TypeKind::BUFFER`]: its mode and element type.
    pub fn buffer_element(&self) -> Option<(BufferMode, Element, &'static TypeDesc)> {
        if self.kind != TypeKind::BUFFER {
            return None;
        }
        let element = self.item?;
        Some((
            BufferMode(self.passing.0),
            Element(element.passing.0),
            element,
        ))
    }
}

/// How a [`TypeKind::BUFFER`] is used; kept in its description's `passing`.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct BufferMode(pub u8);

impl BufferMode {
    /// A result: memory the plugin allocated and gives up (`oxbind::Array`).
    pub const OWNED: Self = Self(0);
    /// `&[T]`: read-only, C-contiguous, any number of dimensions (read as
    /// one run of elements).
    pub const SLICE: Self = Self(1);
    /// `&mut [T]`: as [`BufferMode::SLICE`], and writable.
    pub const SLICE_MUT: Self = Self(2);
    /// `oxbind::ArrayView<T>`: read-only, any shape and strides.
    pub const VIEW: Self = Self(3);
    /// `oxbind::ArrayViewMut<T>`: as [`BufferMode::VIEW`], and writable.
    pub const VIEW_MUT: Self = Self(4);
    /// The largest mode this version of the ABI defines.
    pub const MAX: Self = Self::VIEW_MUT;

    /// Whether the plugin may write through the buffer.
    pub const fn is_mut(self) -> bool {
        matches!(self.0, 2 | 4)
    }

    /// Whether the buffer must be C-contiguous.
    pub const fn is_slice(self) -> bool {
        matches!(self.0, 1 | 2)
    }
}

/// The type of a buffer's elements: its class in the high four bits, its
/// size in bytes (1, 2, 4 or 8) in the low four.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct Element(pub u8);

impl Element {
    /// Class: a signed integer (`i8` … `i64`, `isize`).
    pub const SIGNED: u8 = 0x10;
    /// Class: an unsigned integer (`u8` … `u64`, `usize`).
    pub const UNSIGNED: u8 = 0x20;
    /// Class: an IEEE float (`f32`, `f64`).
    pub const FLOAT: u8 = 0x30;
    /// Class: `bool`, one byte holding 0 or 1.
    pub const BOOL: u8 = 0x40;

    /// `u8`: the element of `&[u8]` and `Vec<u8>`.
    pub const U8: Self = Self::new(Self::UNSIGNED, 1);

    /// The element of `class` (one of the constants above) and `size`.
    pub const fn new(class: u8, size: usize) -> Self {
        Element(class | size as u8)
    }

    /// The element's class: one of [`Element::SIGNED`],
    /// [`Element::UNSIGNED`], [`Element::FLOAT`], [`Element::BOOL`].
    pub const fn class(self) -> u8 {
        self.0 & 0xf0
    }

    /// The element's size in bytes.
    pub const fn size(self) -> usize {
        (self.0 & 0x0f) as usize
    }

    /// Whether this is an element this ABI defines.
    pub const fn is_valid(self) -> bool {
        match self.class() {
            Self::SIGNED | Self::UNSIGNED => matches!(self.size(), 1 | 2 | 4 | 8),
            Self::FLOAT => matches!(self.size(), 4 | 8),
            Self::BOOL => self.size() == 1,
            _ => false,
        }
    }

    /// The NumPy name of the element type (`"float64"`), for messages.
    pub const fn numpy_name(self) -> &'static str {
        match (self.class(), self.size()) {
            (Self::SIGNED, 1) => "int8",
            (Self::SIGNED, 2) => "int16",
            (Self::SIGNED, 4) => "int32",
            (Self::SIGNED, 8) => "int64",
            (Self::UNSIGNED, 1) => "uint8",
            (Self::UNSIGNED, 2) => "uint16",
            (Self::UNSIGNED, 4) => "uint32",
            (Self::UNSIGNED, 8) => "uint64",
            (Self::FLOAT, 4) => "float32",
            (Self::FLOAT, 8) => "float64",
            (Self::BOOL, 1) => "bool",
            _ => "<unknown>",
        }
    }

    /// The `struct` format character of the element in native byte order
    /// and standard size: what results export (`Py_buffer::format`).
    pub const fn format(self) -> &'static std::ffi::CStr {
        match (self.class(), self.size()) {
            (Self::SIGNED, 1) => c"b",
            (Self::SIGNED, 2) => c"h",
            (Self::SIGNED, 4) => c"i",
            (Self::SIGNED, 8) => c"q",
            (Self::UNSIGNED, 2) => c"H",
            (Self::UNSIGNED, 4) => c"I",
            (Self::UNSIGNED, 8) => c"Q",
            (Self::FLOAT, 4) => c"f",
            (Self::FLOAT, 8) => c"d",
            (Self::BOOL, 1) => c"?",
            _ => c"B",
        }
    }
}

/// The most dimensions a buffer argument or array result may have (NumPy's
/// own limit is 64).
pub const MAX_DIMS: usize = 64;

/// A buffer argument ([`TypeKind::BUFFER`]) as the plugin sees it: the
/// shim owns it, and the memory it describes, for the call.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct BufferArg {
    /// The first element (where index 0 in every dimension is), aligned
    /// for the element type.
    pub data: *mut c_void,
    /// How many elements: the product of the shape.
    pub len: usize,
    /// How many dimensions (at most [`MAX_DIMS`]); 0 for a scalar buffer,
    /// which holds one element.
    pub ndim: usize,
    /// `ndim` extents.
    pub shape: *const usize,
    /// `ndim` strides, in elements (not bytes): every byte stride the
    /// exporter gave is a multiple of the element size, or the shim refused
    /// it. For a slice mode they are C-contiguous.
    pub strides: *const isize,
    /// Whether the exporter allows writing (always, in a mutable mode).
    pub writable: bool,
}

/// An array result ([`BufferMode::OWNED`]) the plugin gives up: its memory
/// and shape, and how to free them.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct ArrayExport {
    /// `len` elements of the result's element type, C-contiguous, aligned.
    pub data: *mut c_void,
    pub len: usize,
    /// `ndim` extents whose product is `len`.
    pub ndim: usize,
    pub shape: *const usize,
    /// Frees the memory, the shape and this export. Called exactly once,
    /// by the shim, on any thread, attached or not, when the last Python
    /// view of the array goes (or at once, when the result is not used).
    /// It must not unwind.
    pub release: unsafe extern "C" fn(this: *mut ArrayExport),
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
    /// The value inside an instance of the parameter's class, borrowed (and
    /// borrow-checked by the shim) for the call.
    Object(*mut c_void),
    /// The items of a `list`, `tuple` or `set` (each converted as its item
    /// type), or a dict's keys and values, alternating.
    List(abi_stable::std_types::RSlice<'a, ArgValue<'a>>),
}

// SAFETY: an `Object` pointer is created by the shim for one call, on the
// calling thread, and the shim borrow-checks the instance it points into;
// values in static descriptors (defaults) are scalars and borrowed text.
unsafe impl Sync for ArgValue<'_> {}
// SAFETY: as for `Sync`: the only field that is not `Send` itself is the
// `Object` pointer, which is inert data until dereferenced, and only
// `unsafe` code (`FromArg::from_arg`, on the shim's value, during its call)
// dereferences it.
unsafe impl Send for ArgValue<'_> {}

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
            ArgValue::Object(_) => Some(TypeKind::OBJECT),
            ArgValue::List(_) => Some(TypeKind::LIST),
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
    /// A class value was moved into the call's return slot.
    Written,
    /// A reference to a value of the result's class. The shim returns the
    /// instance that holds it, or a wrapper that keeps its owner alive.
    /// For an [`TypeKind::ANY`] or [`TypeKind::CALLABLE`] result (ABI
    /// 0.1.4), a `PyObject*` with a new strong reference the shim takes over.
    Ref(*const c_void),
    /// The items of a list, tuple or set result, each of its item type; or a
    /// dict result's keys and values, alternating.
    List(RVec<RetValue>),
    /// A class value moved out as its bytes (`size` of the item class): the
    /// shim copies them into a new instance, which then owns the value. The
    /// plugin never drops it.
    Moved(RVec<u8>),
}
