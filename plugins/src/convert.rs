//! Which Rust types cross the boundary, and how.
//!
//! Parameters implement [`FromArg`]; results implement [`IntoReturn`].
//!
//! | Rust | Python |
//! |---|---|
//! | `i8`…`i64`, `u8`…`u32`, `isize` | `int` (range-checked: `OverflowError`) |
//! | `u64`, `usize`, `i128`, `u128` | `int`, over the type's whole range (range-checked: `OverflowError`) |
//! | `f64`, `f32` | `float` (an `int` argument is accepted) |
//! | `bool` | `bool` |
//! | `&str`, `String` | `str` |
//! | `&[u8]`, `Vec<u8>` | `bytes` |
//! | `&Path`, `PathBuf` | `str`, `bytes` or `os.PathLike` in; `pathlib.Path` out |
//! | [`crate::Complex`] | `complex` (a `float` or `int` argument is accepted) |
//! | `Option<T>` | `T` or `None` |
//! | `Vec<T>` | `list` (a `tuple` argument is accepted too) of `T`; `T` is not `u8` |
//! | `(A, …)`, up to twelve items | `tuple` (a `list` of that length is accepted too) |
//! | `HashSet<T>`, `BTreeSet<T>` | `set` (a `frozenset` argument is accepted too) |
//! | `HashMap<K, V>`, `BTreeMap<K, V>` | `dict` |
//! | `()` (result only) | `None` |
//! | `Result<T, E>` (result only) | `T`, or raises `E` converted into [`crate::Error`] |
//!
//! Container items ([`ListItem`] for parameters, [`IntoItem`] for results)
//! are any of these but `()` and `Result`, containers included (nested up
//! to 32 deep); class instances are items as `&T` or `T` in parameters and
//! `T` in results. Tuples, sets, nesting and map results live in
//! `compound.rs`.

use std::ffi::c_void;

use oxbind_abi::{
    abi_stable::std_types::{RString, RVec},
    ArgValue, RetValue, TypeDesc, TypeKind,
};

use crate::Error;

/// A type a plugin function can take as a parameter.
///
/// The shim checks the Python type against [`FromArg::TYPE`] before the call,
/// so `from_arg` only sees values of that kind (or `None` when optional).
///
/// # Safety
/// Implementing it is an `unsafe` promise that the shim may trust: `TYPE`
/// describes exactly what `from_arg` reads (the shim borrows, shared or
/// exclusively, by `TYPE`'s passing mode), and `from_arg` keeps nothing of
/// the value past `'a`. `#[oxbind::class]` implements it for classes, the
/// SDK for everything else; plugin code adapts its own types with
/// [`arg_via!`](crate::arg_via), which needs no `unsafe`.
///
/// Safe code can neither implement it nor call the conversions the shim
/// trusts (`spec/SOUNDNESS.md`):
///
/// ```compile_fail
/// struct Spy;
/// impl<'a> oxbind::FromArg<'a> for Spy {
///     const TYPE: oxbind::abi::TypeDesc = <i64 as oxbind::FromArg<'a>>::TYPE;
///     unsafe fn from_arg(_: oxbind::abi::ArgValue<'a>) -> Result<Self, oxbind::Error> { Ok(Spy) }
/// }
/// ```
///
/// ```compile_fail
/// let forged = oxbind::abi::ArgValue::Object(8 as *mut std::ffi::c_void);
/// let _ = <String as oxbind::FromArg>::from_arg(forged);
/// ```
///
/// ```compile_fail
/// let _ = oxbind::ReturnSlot::from_raw(16 as *mut std::ffi::c_void);
/// ```
///
/// ```compile_fail
/// oxbind::private::HOST.0.store(8, std::sync::atomic::Ordering::SeqCst);
/// ```
///
/// ```
/// pub struct Even(i64);
/// fn even(v: i64) -> Result<Even, oxbind::Error> {
///     if v % 2 == 0 { Ok(Even(v)) } else { Err(oxbind::Error::value_error("odd")) }
/// }
/// oxbind::arg_via!(Even: i64 => even);
/// oxbind::return_via!(Even => i64, |e: Even| e.0);
/// ```
pub unsafe trait FromArg<'a>: Sized {
    const TYPE: TypeDesc;
    /// Converts the shim's value. `Err` carries a message without the
    /// function and parameter names; the caller adds them.
    ///
    /// # Safety
    /// `value` was made by the shim, for a parameter of type `TYPE`, from
    /// arguments it keeps alive (and borrowed as `TYPE` says) for `'a`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error>;

    /// [`FromArg::from_arg`] reading the value where the shim wrote it:
    /// scalars override it to load only the fields they need (copying a
    /// value the shim has just written with narrow stores stalls).
    ///
    /// # Safety
    /// As for [`FromArg::from_arg`].
    #[doc(hidden)]
    #[inline]
    unsafe fn from_arg_ref(value: &ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises.
        unsafe { Self::from_arg(*value) }
    }
}

/// A type a plugin function can return.
///
/// # Safety
/// Implementing it promises the shim that `into_return` returns what `TYPE`
/// says (a `Written` result only after writing a value of `TYPE`'s class
/// into the slot, a `Ref` only to a value of that class). The SDK and
/// `#[oxbind::class]` implement it; plugin code adapts its own types with
/// [`return_via!`](crate::return_via).
pub unsafe trait IntoReturn {
    const TYPE: TypeDesc;
    /// Converts the result. A class returned by value is moved into `slot`,
    /// the storage the shim allocated inside the new instance.
    fn into_return(self, slot: ReturnSlot) -> Result<RetValue, Error>;
}

/// Uninitialised storage for a class result (inside a new instance), or
/// nothing for other result types.
#[derive(Clone, Copy)]
pub struct ReturnSlot(pub(crate) *mut c_void);

impl ReturnSlot {
    /// No slot: for results that are not classes returned by value.
    pub const NONE: ReturnSlot = ReturnSlot(std::ptr::null_mut());

    /// Moves `value` into the slot.
    ///
    /// # Safety
    /// The slot was allocated for a `T` (the shim allocates it from the
    /// result type's class, whose layout was checked).
    #[doc(hidden)]
    pub unsafe fn write<T>(self, value: T) -> Result<RetValue, Error> {
        if self.0.is_null() {
            // No instance to write into (a value converted outside a call,
            // `Object::from_value`): the value is moved out as its bytes,
            // and the shim makes the instance.
            return moved(value);
        }
        // SAFETY: the slot is not null (checked above) and, as the caller
        // promises, was allocated for a `T`: aligned, large enough, and
        // uninitialised, so nothing is overwritten without being dropped.
        unsafe { std::ptr::write(self.0 as *mut T, value) };
        Ok(RetValue::Written)
    }

    /// # Safety
    /// `p` is null or the shim's storage for the result's class.
    #[doc(hidden)]
    pub unsafe fn from_raw(p: *mut c_void) -> Self {
        ReturnSlot(p)
    }
}

/// A type that can be an item of a container parameter: a `Vec`, set or
/// tuple item, a map key or value. Implemented for the integer types
/// (except `u8`: `Vec<u8>` is `bytes`), floats, `bool`, `&str`, `String`,
/// bytes, [`crate::Object`], `Option<T>` and the containers themselves;
/// and by `#[oxbind::class]` for class instances: `&T` borrows each
/// instance, `T` (when the struct derives `Clone`) clones each value.
///
/// # Safety
/// As for [`FromArg`]: `ITEM` describes exactly what `from_arg` reads.
pub unsafe trait ListItem<'a>: FromArg<'a> {
    /// The item's type, as a static for the list's description.
    const ITEM: &'static TypeDesc;
}

// SAFETY: TYPE is a list of `T::ITEM`, and from_arg reads only the list's
// items, each through `T`'s own conversion, which `T: ListItem` promises
// reads exactly what `T::ITEM` describes.
unsafe impl<'a, T: ListItem<'a>> FromArg<'a> for Vec<T> {
    const TYPE: TypeDesc = TypeDesc::list(T::ITEM, "Vec");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a list of
    /// `T::ITEM`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises: the shim's value for a list of
        // `T::ITEM`.
        unsafe { collect_items(value, TypeKind::LIST) }
    }
}

/// Collects the items of a list or set argument, each through `T`'s own
/// conversion.
///
/// # Safety
/// As for [`FromArg::from_arg`]: `value` is the shim's, for a container
/// (`kind`, named if the value is not one) of `T::ITEM`.
pub(crate) unsafe fn collect_items<'a, T: ListItem<'a>, C: FromIterator<T>>(
    value: ArgValue<'a>,
    kind: TypeKind,
) -> Result<C, Error> {
    match value {
        ArgValue::List(items) => items
            .as_slice()
            .iter()
            // SAFETY: each item of the shim's container value was made for
            // `T::ITEM` and lives for 'a, as our caller promises.
            .map(|v| unsafe { T::from_arg(*v) })
            .collect(),
        other => Err(unexpected(other, kind)),
    }
}

macro_rules! scalar_list_items {
    ($($t:ty => $kind:ident),*) => {$(
        // SAFETY: ITEM is the same scalar kind as `$t`'s FromArg::TYPE
        // (INT, WIDE_INT, FLOAT, BOOL or STR, never optional), and `$t`'s from_arg
        // reads only a value of that kind.
        unsafe impl<'a> ListItem<'a> for $t {
            const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::$kind, stringify!($t));
        }
    )*};
}
scalar_list_items!(i8 => INT, i16 => INT, i32 => INT, i64 => INT, isize => INT, u16 => INT, u32 => INT,
                   u64 => WIDE_INT, usize => WIDE_INT, i128 => WIDE_INT, u128 => WIDE_INT,
                   f32 => FLOAT, f64 => FLOAT, bool => BOOL, String => STR);

// SAFETY: ITEM is STR, the kind `&str`'s from_arg reads (borrowed text).
unsafe impl<'a> ListItem<'a> for &'a str {
    const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::STR, "&str");
}

/// The key and value descriptions of a map parameter, as the one static
/// pair [`TypeDesc::dict`] needs.
pub(crate) struct MapTypes<K, V>(std::marker::PhantomData<(K, V)>);

impl<'a, K: ListItem<'a>, V: ListItem<'a>> MapTypes<K, V> {
    pub(crate) const PAIR: &'static [TypeDesc; 2] = &[*K::ITEM, *V::ITEM];
}

/// Pairs up a dict argument: the shim passes key, value, key, value, ….
///
/// # Safety
/// As for [`FromArg::from_arg`]: `value` is the shim's, for a dict of K, V.
unsafe fn map_pairs<'a, K: ListItem<'a>, V: ListItem<'a>>(
    value: ArgValue<'a>,
) -> Result<impl Iterator<Item = Result<(K, V), Error>> + 'a, Error> {
    match value {
        ArgValue::List(flat) if flat.len() % 2 == 0 => Ok(flat
            .as_slice()
            .chunks_exact(2)
            // SAFETY: items of the shim's dict value, as the caller promises.
            .map(|kv| unsafe { Ok((K::from_arg(kv[0])?, V::from_arg(kv[1])?)) })),
        other => Err(unexpected(other, TypeKind::DICT)),
    }
}

// SAFETY: TYPE is a dict of `K::ITEM` to `V::ITEM`, and from_arg reads only
// the flat key, value list through `map_pairs`, each key and value through
// `K`'s and `V`'s own conversions.
unsafe impl<'a, K, V, S> FromArg<'a> for std::collections::HashMap<K, V, S>
where
    K: ListItem<'a> + Eq + std::hash::Hash,
    V: ListItem<'a>,
    S: std::hash::BuildHasher + Default,
{
    const TYPE: TypeDesc = TypeDesc::dict(MapTypes::<K, V>::PAIR, "HashMap");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a dict of
    /// `K` to `V`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: `value` is the shim's, for this parameter's TYPE, a dict of
        // `K` to `V`, as our caller promises.
        unsafe { map_pairs(value) }?.collect()
    }
}

// SAFETY: as for `HashMap`: TYPE is a dict of `K::ITEM` to `V::ITEM`, read
// only through `map_pairs` and `K`'s and `V`'s own conversions.
unsafe impl<'a, K: ListItem<'a> + Ord, V: ListItem<'a>> FromArg<'a>
    for std::collections::BTreeMap<K, V>
{
    const TYPE: TypeDesc = TypeDesc::dict(MapTypes::<K, V>::PAIR, "BTreeMap");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a dict of
    /// `K` to `V`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: `value` is the shim's, for this parameter's TYPE, a dict of
        // `K` to `V`, as our caller promises.
        unsafe { map_pairs(value) }?.collect()
    }
}

/// A type that can be an item of a container result: a `Vec`, set or
/// tuple item, a map key or value. Implemented for the integer types
/// (except `u8`: `Vec<u8>` is `bytes`), floats, `bool`, `String`, bytes,
/// [`crate::Object`], `Option<T>` and the containers themselves; and by
/// `#[oxbind::class]` for classes (moved out by value).
///
/// # Safety
/// As for [`IntoReturn`]: `into_item` returns what `ITEM` says.
pub unsafe trait IntoItem: Sized {
    const ITEM: &'static TypeDesc;
    fn into_item(self) -> Result<RetValue, Error>;
}

// SAFETY: TYPE is a list of `T::ITEM`, and into_return returns a `List`
// whose items are each `T`'s own `into_item`, which `T: IntoItem` promises
// matches `T::ITEM`; it never writes to the slot.
unsafe impl<T: IntoItem> IntoReturn for Vec<T> {
    const TYPE: TypeDesc = TypeDesc::list(T::ITEM, "Vec");
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        list_value(self)
    }
}

/// A list, tuple or set result: its items, each through `T`'s own
/// conversion, as one `RetValue::List`.
pub(crate) fn list_value<T: IntoItem>(
    items: impl IntoIterator<Item = T>,
) -> Result<RetValue, Error> {
    items
        .into_iter()
        .map(T::into_item)
        .collect::<Result<Vec<_>, _>>()
        .map(|items| RetValue::List(RVec::from(items)))
}

/// Moves a class value out as bytes, for a list item (`RetValue::Moved`).
#[doc(hidden)]
pub fn moved<T>(value: T) -> Result<RetValue, Error> {
    let value = std::mem::ManuallyDrop::new(value);
    // SAFETY: reads the bytes of a live value that is never dropped here;
    // the shim moves them into an instance, which owns the value from then on.
    let bytes = unsafe {
        std::slice::from_raw_parts(&*value as *const T as *const u8, std::mem::size_of::<T>())
    };
    Ok(RetValue::Moved(RVec::from(bytes)))
}

macro_rules! scalar_items {
    ($($t:ty => $kind:ident),*) => {$(
        // SAFETY: ITEM is the scalar kind of `$t`'s IntoReturn::TYPE, and
        // into_item is `$t`'s into_return, which returns a value of that
        // kind without touching the (absent) slot.
        unsafe impl IntoItem for $t {
            const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::$kind, stringify!($t));
            fn into_item(self) -> Result<RetValue, Error> {
                self.into_return(ReturnSlot::NONE)
            }
        }
    )*};
}
scalar_items!(i8 => INT, i16 => INT, i32 => INT, i64 => INT, isize => INT, u16 => INT, u32 => INT,
              f32 => FLOAT, f64 => FLOAT, bool => BOOL, String => STR);

const fn desc(kind: TypeKind, rust_name: &'static str) -> TypeDesc {
    TypeDesc::scalar(kind, rust_name)
}

#[cold]
#[inline(never)]
pub(crate) fn unexpected(value: ArgValue<'_>, expected: TypeKind) -> Error {
    Error::type_error(format!(
        "expected {}, got {:?} (shim and plugin disagree on the parameter type)",
        expected.python_name(),
        value
    ))
}

/// The error for an integer argument outside its Rust type's range (out
/// of line: the wrappers inline only the success path).
#[cold]
#[inline(never)]
fn int_overflow(v: i64, ty: &str) -> Error {
    Error::overflow_error(format!("{v} does not fit in {ty}"))
}

macro_rules! int_types {
    ($($t:ident),*) => {$(
        // SAFETY: TYPE is INT, and from_arg reads only an `Int` (a plain
        // `i64`, range-checked into `$t`); anything else is an error.
        unsafe impl<'a> FromArg<'a> for $t {
            const TYPE: TypeDesc = desc(TypeKind::INT, stringify!($t));
            /// # Safety
            /// As for [`FromArg::from_arg`]; an `Int` is a plain value.
            #[inline]
            unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
                match value {
                    ArgValue::Int(v) => match <$t>::try_from(v) {
                        Ok(n) => Ok(n),
                        Err(_) => Err(int_overflow(v, stringify!($t))),
                    },
                    other => Err(unexpected(other, TypeKind::INT)),
                }
            }
            /// # Safety
            /// As for [`FromArg::from_arg`]; an `Int` is a plain value.
            #[inline]
            unsafe fn from_arg_ref(value: &ArgValue<'a>) -> Result<Self, Error> {
                match value {
                    ArgValue::Int(v) => match <$t>::try_from(*v) {
                        Ok(n) => Ok(n),
                        Err(_) => Err(int_overflow(*v, stringify!($t))),
                    },
                    other => Err(unexpected(*other, TypeKind::INT)),
                }
            }
        }
        // SAFETY: TYPE is INT, and into_return returns only an `Int` (or an
        // overflow error), never touching the slot.
        unsafe impl IntoReturn for $t {
            const TYPE: TypeDesc = desc(TypeKind::INT, stringify!($t));
            #[inline]
            fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
                i64::try_from(self).map(RetValue::Int).map_err(|_| {
                    Error::overflow_error(format!("result {self} does not fit in a 64-bit signed integer"))
                })
            }
        }
    )*};
}
int_types!(i8, i16, i32, i64, isize, u8, u16, u32);
// `u64`, `usize`, `i128` and `u128` are `WIDE_INT`s: see `crate::wide`.

// SAFETY: TYPE is FLOAT, and from_arg reads only a `Float`, a plain value.
unsafe impl<'a> FromArg<'a> for f64 {
    const TYPE: TypeDesc = desc(TypeKind::FLOAT, "f64");
    /// # Safety
    /// As for [`FromArg::from_arg`]; a `Float` is a plain value.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::Float(v) => Ok(v),
            other => Err(unexpected(other, TypeKind::FLOAT)),
        }
    }
}

// SAFETY: TYPE is FLOAT, as `f64`'s, and from_arg reads the value only
// through `f64`'s conversion.
unsafe impl<'a> FromArg<'a> for f32 {
    const TYPE: TypeDesc = desc(TypeKind::FLOAT, "f32");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a FLOAT.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: our caller's value was made for FLOAT, `f64`'s TYPE too.
        unsafe { f64::from_arg(value) }.map(|v| v as f32)
    }
}

// SAFETY: TYPE is FLOAT, and into_return returns only a `Float`.
unsafe impl IntoReturn for f64 {
    const TYPE: TypeDesc = desc(TypeKind::FLOAT, "f64");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Float(self))
    }
}

// SAFETY: TYPE is FLOAT, and into_return returns only a `Float`.
unsafe impl IntoReturn for f32 {
    const TYPE: TypeDesc = desc(TypeKind::FLOAT, "f32");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Float(self as f64))
    }
}

// SAFETY: TYPE is BOOL, and from_arg reads only a `Bool`, a plain value.
unsafe impl<'a> FromArg<'a> for bool {
    const TYPE: TypeDesc = desc(TypeKind::BOOL, "bool");
    /// # Safety
    /// As for [`FromArg::from_arg`]; a `Bool` is a plain value.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::Bool(v) => Ok(v),
            other => Err(unexpected(other, TypeKind::BOOL)),
        }
    }
}

// SAFETY: TYPE is BOOL, and into_return returns only a `Bool`.
unsafe impl IntoReturn for bool {
    const TYPE: TypeDesc = desc(TypeKind::BOOL, "bool");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Bool(self))
    }
}

// SAFETY: TYPE is STR, and from_arg reads only a `Str`, text the shim keeps
// alive for 'a; the result borrows it for 'a and no longer.
unsafe impl<'a> FromArg<'a> for &'a str {
    const TYPE: TypeDesc = desc(TypeKind::STR, "&str");
    /// # Safety
    /// As for [`FromArg::from_arg`]: a `Str` borrows text alive for `'a`.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::Str(s) => Ok(s.as_str()),
            other => Err(unexpected(other, TypeKind::STR)),
        }
    }
}

// SAFETY: TYPE is STR, as `&str`'s, and from_arg reads the value only
// through `&str`'s conversion, copying the text before 'a ends.
unsafe impl<'a> FromArg<'a> for String {
    const TYPE: TypeDesc = desc(TypeKind::STR, "String");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a STR.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: our caller's value was made for STR, `&str`'s TYPE too, and
        // lives for 'a.
        unsafe { <&str>::from_arg(value) }.map(str::to_owned)
    }
}

// SAFETY: TYPE is STR, and into_return returns only a `Str`.
unsafe impl IntoReturn for String {
    const TYPE: TypeDesc = desc(TypeKind::STR, "String");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Str(RString::from(self)))
    }
}

// SAFETY: TYPE is STR, and into_return returns only a `Str` (a copy).
unsafe impl IntoReturn for &'static str {
    const TYPE: TypeDesc = desc(TypeKind::STR, "&'static str");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Str(RString::from(self)))
    }
}

// SAFETY: TYPE is BYTES, and into_return returns only a `Bytes`.
unsafe impl IntoReturn for Vec<u8> {
    const TYPE: TypeDesc = desc(TypeKind::BYTES, "Vec<u8>");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Bytes(RVec::from(self)))
    }
}

// SAFETY: TYPE is BYTES, and into_return returns only a `Bytes` (a copy).
unsafe impl IntoReturn for &'static [u8] {
    const TYPE: TypeDesc = desc(TypeKind::BYTES, "&'static [u8]");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Bytes(RVec::from(self)))
    }
}

// SAFETY: TYPE is UNIT, and into_return returns only `None`.
unsafe impl IntoReturn for () {
    const TYPE: TypeDesc = desc(TypeKind::UNIT, "()");
    #[inline]
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::None)
    }
}

// SAFETY: TYPE is `T`'s, marked optional; from_arg reads a `None` itself
// and anything else only through `T`'s conversion, which `T: FromArg`
// promises matches `T::TYPE`.
unsafe impl<'a, T: FromArg<'a>> FromArg<'a> for Option<T> {
    const TYPE: TypeDesc = TypeDesc {
        optional: true,
        ..T::TYPE
    };
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is `None` or the shim's, for
    /// `T::TYPE`.
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::None => Ok(None),
            // SAFETY: a value other than `None` for an optional `T::TYPE`
            // was made for `T::TYPE`, and lives for 'a, as our caller
            // promises.
            other => unsafe { T::from_arg(other) }.map(Some),
        }
    }
}

// SAFETY: TYPE is `T`'s, marked optional; into_return returns `None`
// itself and anything else only through `T`'s own into_return, with the
// same slot, which `T: IntoReturn` promises matches `T::TYPE`.
unsafe impl<T: IntoReturn> IntoReturn for Option<T> {
    const TYPE: TypeDesc = TypeDesc {
        optional: true,
        ..T::TYPE
    };
    #[inline]
    fn into_return(self, slot: ReturnSlot) -> Result<RetValue, Error> {
        match self {
            None => Ok(RetValue::None),
            Some(v) => v.into_return(slot),
        }
    }
}

// SAFETY: TYPE is `T`'s, and into_return returns either `T`'s own
// into_return, with the same slot, or an error (which writes nothing).
unsafe impl<T: IntoReturn, E: Into<Error>> IntoReturn for Result<T, E> {
    const TYPE: TypeDesc = T::TYPE;
    #[inline]
    fn into_return(self, slot: ReturnSlot) -> Result<RetValue, Error> {
        match self {
            Ok(v) => v.into_return(slot),
            Err(e) => Err(e.into()),
        }
    }
}

/// Makes a plugin type a parameter type by converting it from one the SDK
/// supports, with a checking constructor, and no `unsafe` in plugin code:
///
/// ```ignore
/// pub struct Mass(f64);
/// impl Mass {
///     fn new(kg: f64) -> Result<Mass, oxbind::Error> { ... }
/// }
/// oxbind::arg_via!(Mass: f64 => Mass::new);
/// ```
///
/// Python sees the parameter as the source type (`float` here); the
/// constructor's `Err` is raised, naming the function and parameter.
#[macro_export]
macro_rules! arg_via {
    ($ty:ty : $src:ty => $make:expr) => {
        // SAFETY: TYPE is the source type's, and from_arg reads the value
        // only through the source type's own conversion.
        unsafe impl<'a> $crate::FromArg<'a> for $ty {
            const TYPE: $crate::abi::TypeDesc = <$src as $crate::FromArg<'a>>::TYPE;
            /// # Safety
            /// As for `FromArg::from_arg`: `value` is the shim's, for the
            /// source type's TYPE.
            unsafe fn from_arg(
                value: $crate::abi::ArgValue<'a>,
            ) -> ::core::result::Result<Self, $crate::Error> {
                // SAFETY: our caller's value was made for TYPE, which is the
                // source type's, and lives for 'a.
                let source: $src = unsafe { <$src as $crate::FromArg<'a>>::from_arg(value) }?;
                let make: fn($src) -> ::core::result::Result<$ty, $crate::Error> = $make;
                make(source)
            }
        }
    };
}

/// Makes a plugin type a result type by converting it to one the SDK
/// supports, with no `unsafe` in plugin code:
/// `oxbind::return_via!(Mass => f64, |m| m.0);`
#[macro_export]
macro_rules! return_via {
    ($ty:ty => $dst:ty, $convert:expr) => {
        // SAFETY: TYPE is the destination type's, and into_return goes
        // through the destination type's own conversion.
        unsafe impl $crate::IntoReturn for $ty {
            const TYPE: $crate::abi::TypeDesc = <$dst as $crate::IntoReturn>::TYPE;
            fn into_return(
                self,
                slot: $crate::ReturnSlot,
            ) -> ::core::result::Result<$crate::abi::RetValue, $crate::Error> {
                let convert: fn($ty) -> $dst = $convert;
                <$dst as $crate::IntoReturn>::into_return(convert(self), slot)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbind_abi::abi_stable::std_types::{RSlice, RStr};

    /// `from_arg` on values built the way the shim builds them.
    fn conv<'a, T: FromArg<'a>>(value: ArgValue<'a>) -> Result<T, Error> {
        // SAFETY: scalar, text and byte values that live for 'a, as the
        // shim passes them; no object pointers.
        unsafe { T::from_arg(value) }
    }

    #[test]
    fn narrow_integers_are_range_checked() {
        assert_eq!(conv::<u8>(ArgValue::Int(255)), Ok(255));
        let err = conv::<u8>(ArgValue::Int(256)).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::OVERFLOW_ERROR);
        assert_eq!(err.message, "256 does not fit in u8");
        assert!(conv::<u64>(ArgValue::Int(-1)).is_err());
    }

    #[test]
    fn option_accepts_none_and_marks_the_type_optional() {
        assert_eq!(conv::<Option::<i64>>(ArgValue::None), Ok(None));
        assert_eq!(conv::<Option::<i64>>(ArgValue::Int(3)), Ok(Some(3)));
        let t: TypeDesc = <Option<&str> as FromArg>::TYPE;
        assert!(t.optional);
        assert_eq!(t.kind, TypeKind::STR);
    }

    #[test]
    fn borrowed_text_and_bytes_point_into_the_argument() {
        let text = "héllo";
        assert_eq!(
            conv::<&str>(ArgValue::Str(RStr::from_str(text)))
                .unwrap()
                .as_ptr(),
            text.as_ptr()
        );
        let bytes = [1u8, 2, 3];
        assert_eq!(
            conv::<&[u8]>(ArgValue::Bytes(RSlice::from_slice(&bytes))).unwrap(),
            &bytes
        );
    }

    #[test]
    fn a_kind_mismatch_is_a_type_error_not_a_panic() {
        let err = conv::<i64>(ArgValue::Str(RStr::from_str("x"))).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::TYPE_ERROR);
    }

    #[test]
    fn results_convert_errors_and_values() {
        let ok: Result<i64, Error> = Ok(4);
        assert_eq!(ok.into_return(ReturnSlot::NONE), Ok(RetValue::Int(4)));
        let err: Result<i64, Error> = Err(Error::value_error("bad"));
        assert_eq!(
            err.into_return(ReturnSlot::NONE),
            Err(Error::value_error("bad"))
        );
        assert_eq!(
            "hi".to_string().into_return(ReturnSlot::NONE),
            Ok(RetValue::Str(RString::from("hi")))
        );
    }
}
