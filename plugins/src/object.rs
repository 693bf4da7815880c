//! [`Object`]: any Python object, as an opaque handle plugin code may keep,
//! pass around threads, and operate on through the shim's host API.
//!
//! A plugin has no Python symbols, so it never touches an object itself:
//! every operation is a call into the shim, which attaches to the
//! interpreter for it if the calling thread is not attached (a thread the
//! plugin spawned, or one detached in [`crate::detach`]). A Python
//! exception raised by an operation comes back as `Err(`[`Error`]`)`
//! holding that exception; returned from a plugin function, it reaches
//! Python unchanged (type, value and traceback).
//!
//! Conversions follow the argument and result rules exactly:
//! [`Object::extract`] converts as a parameter of that type would, with the
//! same messages, and [`Object::from_value`] as a result of that type.

use std::{
    ffi::c_void,
    marker::PhantomData,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr::NonNull,
};

use oxbind_abi::{
    abi_stable::std_types::RStr,
    host::{
        OBJECT_OK, OBJECT_RAISED, TEST_CALLABLE, TEST_EQ, TEST_HASH, TEST_ISINSTANCE, TEST_IS_NONE,
        TEST_LEN, TEST_TRUTH, UNARY_ITER, UNARY_NEXT, UNARY_REPR, UNARY_STR, UNARY_TYPE,
    },
    ArgValue, ExtractFn, HostApi_Ref, RetValue, TypeDesc, TypeKind,
};

use crate::{private::host, Error, FromArg, IntoItem, IntoReturn, ListItem, ReturnSlot};

/// Any Python object: a strong reference.
///
/// - As a parameter it accepts anything (`Option<Object>` turns `None`
///   into `None`); as a result it returns the object itself. It works inside
///   `Option`, `Vec` (parameters and results) and as a dict value
///   parameter, and as a class field (`#[oxbind(get, set)]`).
/// - `Clone` takes a reference and `Drop` releases it, on any thread: a
///   thread not attached to the interpreter never attaches for it (the shim
///   pools the change, as for [`crate::Instance`]).
/// - It is `Send + Sync`: operations go through the host API, which
///   attaches as needed, so they are safe from any thread.
/// - A class that stores objects declares `gc` and visits them
///   ([`crate::gc::Visit::object`]), so that reference cycles through
///   plugin state are collected.
///
/// Equality (`==` in Rust) is identity, Python's `is`; Python's `==` is
/// [`Object::eq`].
pub struct Object {
    ptr: NonNull<c_void>,
}

// SAFETY: an `Object` only holds a reference count; every operation on the
// object goes through the host API, which attaches to the interpreter (or
// pools the count change) on whatever thread calls it.
unsafe impl Send for Object {}
// SAFETY: `&Object` allows only host-API operations, each safe from any
// thread as for `Send`; nothing is cached on the Rust side.
unsafe impl Sync for Object {}

/// The host API, or the error for a plugin no shim has loaded.
#[inline]
pub(crate) fn api() -> Result<HostApi_Ref, Error> {
    host().ok_or_else(no_shim)
}

/// The error for a plugin no shim has loaded.
#[cold]
fn no_shim() -> Error {
    Error::runtime_error("oxbind: no oxbind shim has loaded this plugin (Python objects need one)")
}

/// The error for a host API entry this shim lacks (it predates 0.1.4).
#[cold]
pub(crate) fn missing(what: &str) -> Error {
    Error::runtime_error(format!(
        "oxbind: this oxbind shim predates Python objects ({what}, plugin ABI 0.1.4); upgrade oxbind"
    ))
}

/// The error plugin code gets once the interpreter is finalizing and its
/// thread may no longer attach.
#[cold]
fn unavailable() -> Error {
    Error::runtime_error(
        "oxbind: the Python interpreter is shutting down; this thread can no longer use Python objects",
    )
}

/// Refuses an object operation inside a garbage-collector hook: the
/// collector is counting references there.
#[inline]
pub(crate) fn not_traversing() -> Result<(), Error> {
    if crate::gc::traversing() {
        return Err(in_traverse());
    }
    Ok(())
}

/// The error for an object operation inside a collector hook.
#[cold]
fn in_traverse() -> Error {
    Error::runtime_error(
        "oxbind: Python objects cannot be used inside Traverse::traverse; it must only visit them",
    )
}

/// Reads a host operation's status and output: the new reference on
/// success (None for an operation that returns nothing), the exception as
/// an [`Error`] if it raised.
///
/// # Safety
/// `status` and `out` come from one host object operation.
#[inline]
pub(crate) unsafe fn outcome(status: u32, out: *mut c_void) -> Result<Option<Object>, Error> {
    // SAFETY: `out` is null or a new reference the operation gave us (the
    // contract).
    let obj = NonNull::new(out).map(|ptr| Object { ptr });
    match status {
        OBJECT_OK => Ok(obj),
        status => Err(failed(status, obj)),
    }
}

/// The error of a host object operation that did not succeed.
#[cold]
fn failed(status: u32, obj: Option<Object>) -> Error {
    match (status, obj) {
        (OBJECT_RAISED, Some(exc)) => Error::from_exception(exc),
        (OBJECT_RAISED, None) => Error::runtime_error("oxbind: an object operation failed"),
        _ => unavailable(),
    }
}

/// [`outcome`] for an operation that always makes an object.
///
/// # Safety
/// As for [`outcome`].
pub(crate) unsafe fn made(status: u32, out: *mut c_void) -> Result<Object, Error> {
    // SAFETY: as the caller promises.
    unsafe { outcome(status, out) }?
        .ok_or_else(|| Error::runtime_error("oxbind: an object operation returned nothing"))
}

/// The static description of `T`'s parameter type, for the host API (one
/// static per type, as the shim keys its converters by address).
pub(crate) struct ParamType<T>(PhantomData<fn() -> T>);

impl<T: for<'a> FromArg<'a>> ParamType<T> {
    pub(crate) const STATIC: &'static TypeDesc = &<T as FromArg<'static>>::TYPE;
}

/// The static description of `T`'s result type, for the host API.
struct ResultType<T>(PhantomData<fn() -> T>);

impl<T: IntoReturn> ResultType<T> {
    const STATIC: &'static TypeDesc = &T::TYPE;
}

impl Object {
    /// The `PyObject*`, for the collector's visitor and the host API.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr()
    }

    /// Gives up this reference as the raw pointer (for a result).
    pub(crate) fn into_raw(self) -> *mut c_void {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Takes over a strong reference.
    ///
    /// # Safety
    /// `p` is a live, non-null object whose strong reference the caller
    /// gives up.
    pub(crate) unsafe fn from_owned(p: *mut c_void) -> Object {
        Object {
            ptr: NonNull::new(p).expect("a live object is not null"),
        }
    }

    /// Takes a new reference to a live object the shim passed.
    ///
    /// # Safety
    /// `p` is a live object, kept alive for this call.
    pub(crate) unsafe fn from_borrowed(p: *mut c_void) -> Result<Object, Error> {
        let ptr = NonNull::new(p).ok_or_else(|| Error::type_error("oxbind: a null object"))?;
        let incref = api()?.incref().ok_or_else(|| missing("incref"))?;
        // SAFETY: `p` is a live object (the contract).
        unsafe { incref(p) };
        Ok(Object { ptr })
    }

    /// Whether two handles refer to the same object (Python's `is`).
    pub fn is(&self, other: &Object) -> bool {
        self.ptr == other.ptr
    }

    /// `None`.
    pub fn none() -> Result<Object, Error> {
        Object::from_value(())
    }

    /// Converts a Rust value to a Python object, exactly as a function
    /// result of that type would be: `Object::from_value(3)` is an `int`,
    /// `Object::from_value(vec!["a".to_owned()])` a `list`, a class value a
    /// new instance of its class.
    pub fn from_value<T: IntoReturn>(value: T) -> Result<Object, Error> {
        let api = api()?;
        let convert = api
            .object_from_value()
            .ok_or_else(|| missing("object_from_value"))?;
        let ret = value.into_return(ReturnSlot::NONE)?;
        let mut out = std::ptr::null_mut();
        // SAFETY: the type description is a static of `T`'s result type and
        // `ret` a value of it, which the shim takes over.
        let status = unsafe { convert(ResultType::<T>::STATIC, ret, &mut out) };
        // SAFETY: the status and output of that operation.
        unsafe { made(status, out) }
    }

    /// Converts the object to `T` with the rules (and messages) of argument
    /// conversion: `obj.extract::<i64>()` accepts what an `i64` parameter
    /// accepts. `T` is an owned type: `String`, not `&str`; a class `T`
    /// (which must derive `Clone`) is cloned out; [`crate::Instance<T>`]
    /// keeps the instance itself.
    pub fn extract<T: for<'a> FromArg<'a>>(&self) -> Result<T, Error> {
        not_traversing()?;
        let api = api()?;
        let extract = api
            .object_extract()
            .ok_or_else(|| missing("object_extract"))?;
        let mut slot: Option<Result<T, Error>> = None;
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` is live; the description is a static of `T`'s
        // parameter type; `visit_extracted::<T>` is given `slot`, which
        // lives on this frame across the call, and catches every panic.
        let status = unsafe {
            extract(
                self.as_ptr(),
                ParamType::<T>::STATIC,
                ExtractFn {
                    func: visit_extracted::<T>,
                },
                &mut slot as *mut Option<Result<T, Error>> as *mut c_void,
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { outcome(status, out) }?;
        slot.unwrap_or_else(|| Err(Error::runtime_error("oxbind: the shim extracted nothing")))
    }

    /// `getattr(self, name)`.
    pub fn getattr(&self, name: &str) -> Result<Object, Error> {
        not_traversing()?;
        let f = api()?
            .object_getattr()
            .ok_or_else(|| missing("object_getattr"))?;
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` is live; `out` is a local.
        let status = unsafe { f(self.as_ptr(), RStr::from_str(name), &mut out) };
        // SAFETY: the status and output of that operation.
        unsafe { made(status, out) }
    }

    /// `setattr(self, name, value)`.
    pub fn setattr(&self, name: &str, value: impl IntoObject) -> Result<(), Error> {
        not_traversing()?;
        let value = value.into_object()?;
        self.set_or_delete(name, Some(&value))
    }

    /// `delattr(self, name)`.
    pub fn delattr(&self, name: &str) -> Result<(), Error> {
        not_traversing()?;
        self.set_or_delete(name, None)
    }

    fn set_or_delete(&self, name: &str, value: Option<&Object>) -> Result<(), Error> {
        let f = api()?
            .object_setattr()
            .ok_or_else(|| missing("object_setattr"))?;
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` and `value` are live; `out` is a local.
        let status = unsafe {
            f(
                self.as_ptr(),
                RStr::from_str(name),
                value.map_or(std::ptr::null_mut(), Object::as_ptr),
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { outcome(status, out) }.map(drop)
    }

    /// `self(*args)`: `args` is a tuple of values ([`IntoObject`]), `()`
    /// for none: `f.call((1, "a"))`.
    pub fn call(&self, args: impl Args) -> Result<Object, Error> {
        not_traversing()?;
        let f = api()?.object_call().ok_or_else(|| missing("object_call"))?;
        let args = args.into_objects()?;
        let args = args.as_ref();
        let mut ptrs = [std::ptr::null_mut::<c_void>(); 8];
        for (p, a) in ptrs.iter_mut().zip(args) {
            *p = a.as_ptr();
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` and the arguments are live objects held across the
        // call (`Args` has at most eight); no keywords.
        let status = unsafe {
            f(
                self.as_ptr(),
                ptrs.as_ptr(),
                args.len(),
                std::ptr::null(),
                0,
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { made(status, out) }
    }

    /// `self(*args, **kwargs)`, with keyword arguments by name.
    pub fn call_kw(&self, args: impl Args, kwargs: &[(&str, Object)]) -> Result<Object, Error> {
        not_traversing()?;
        let f = api()?.object_call().ok_or_else(|| missing("object_call"))?;
        let args = args.into_objects()?;
        let args = args.as_ref();
        let nargs = args.len();
        let mut ptrs: Vec<*mut c_void> = args.iter().map(Object::as_ptr).collect();
        ptrs.extend(kwargs.iter().map(|(_, v)| v.as_ptr()));
        let names: Vec<RStr<'_>> = kwargs.iter().map(|(k, _)| RStr::from_str(k)).collect();
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` and every argument are live objects held by
        // `args` and `kwargs` across the call; `names` has one name per
        // keyword value, which follow the positional ones in `ptrs`.
        let status = unsafe {
            f(
                self.as_ptr(),
                ptrs.as_ptr(),
                nargs,
                names.as_ptr(),
                names.len(),
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { made(status, out) }
    }

    /// `self.name(*args)`.
    pub fn call_method(&self, name: &str, args: impl Args) -> Result<Object, Error> {
        not_traversing()?;
        let f = api()?
            .object_call_method()
            .ok_or_else(|| missing("object_call_method"))?;
        let args = args.into_objects()?;
        let ptrs: Vec<*mut c_void> = args.as_ref().iter().map(Object::as_ptr).collect();
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` and the arguments are live objects held across the
        // call.
        let status = unsafe {
            f(
                self.as_ptr(),
                RStr::from_str(name),
                ptrs.as_ptr(),
                ptrs.len(),
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { made(status, out) }
    }

    fn unary(&self, op: u32, what: &str) -> Result<Option<Object>, Error> {
        not_traversing()?;
        let f = api()?.object_unary().ok_or_else(|| missing(what))?;
        let mut out = std::ptr::null_mut();
        // SAFETY: `self` is live; `out` is a local.
        let status = unsafe { f(op, self.as_ptr(), &mut out) };
        // SAFETY: the status and output of that operation.
        unsafe { outcome(status, out) }
    }

    fn test(&self, op: u32, other: Option<&Object>, what: &str) -> Result<i64, Error> {
        not_traversing()?;
        let f = api()?.object_test().ok_or_else(|| missing(what))?;
        let (mut answer, mut out) = (0i64, std::ptr::null_mut());
        // SAFETY: `self` and `other` are live; the outputs are locals.
        let status = unsafe {
            f(
                op,
                self.as_ptr(),
                other.map_or(std::ptr::null_mut(), Object::as_ptr),
                &mut answer,
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { outcome(status, out) }?;
        Ok(answer)
    }

    /// `repr(self)`.
    pub fn repr(&self) -> Result<String, Error> {
        self.unary(UNARY_REPR, "repr")?
            .ok_or_else(|| Error::runtime_error("oxbind: repr returned nothing"))?
            .extract()
    }

    /// `str(self)`.
    pub fn str(&self) -> Result<String, Error> {
        self.unary(UNARY_STR, "str")?
            .ok_or_else(|| Error::runtime_error("oxbind: str returned nothing"))?
            .extract()
    }

    /// `type(self)`.
    pub fn get_type(&self) -> Result<Object, Error> {
        self.unary(UNARY_TYPE, "type")?
            .ok_or_else(|| Error::runtime_error("oxbind: type returned nothing"))
    }

    /// `iter(self)`, as a Rust iterator of `Result<Object>`.
    pub fn iter(&self) -> Result<Iter, Error> {
        let it = self
            .unary(UNARY_ITER, "iter")?
            .ok_or_else(|| Error::runtime_error("oxbind: iter returned nothing"))?;
        Ok(Iter { it: Some(it) })
    }

    /// `bool(self)`.
    pub fn is_truthy(&self) -> Result<bool, Error> {
        self.test(TEST_TRUTH, None, "truth").map(|v| v != 0)
    }

    /// `self == other`, Python's equality (the `==` of `Object` in Rust is
    /// identity).
    pub fn eq(&self, other: &Object) -> Result<bool, Error> {
        self.test(TEST_EQ, Some(other), "eq").map(|v| v != 0)
    }

    /// `hash(self)`.
    pub fn hash(&self) -> Result<i64, Error> {
        self.test(TEST_HASH, None, "hash")
    }

    /// `isinstance(self, class)`; `class` may be a tuple of classes.
    pub fn isinstance(&self, class: &Object) -> Result<bool, Error> {
        self.test(TEST_ISINSTANCE, Some(class), "isinstance")
            .map(|v| v != 0)
    }

    /// `self is None`.
    pub fn is_none(&self) -> bool {
        self.test(TEST_IS_NONE, None, "is_none")
            .is_ok_and(|v| v != 0)
    }

    /// `callable(self)`.
    pub fn is_callable(&self) -> Result<bool, Error> {
        self.test(TEST_CALLABLE, None, "callable").map(|v| v != 0)
    }

    /// `len(self)`.
    pub fn len(&self) -> Result<usize, Error> {
        self.test(TEST_LEN, None, "len").map(|v| v as usize)
    }

    /// `len(self) == 0`.
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }
}

/// `import name`: the module (for a dotted name, the submodule itself).
pub fn import(name: &str) -> Result<Object, Error> {
    not_traversing()?;
    let f = api()?.import().ok_or_else(|| missing("import"))?;
    let mut out = std::ptr::null_mut();
    // SAFETY: `out` is a local.
    let status = unsafe { f(RStr::from_str(name), &mut out) };
    // SAFETY: the status and output of that operation.
    unsafe { made(status, out) }
}

/// What [`HostApi::object_extract`](oxbind_abi::HostApi) calls with the
/// converted value.
///
/// # Safety
/// `data` is an `Option<Result<T, Error>>`, and `value` the shim's value
/// for `T`'s parameter type, valid for this call.
pub(crate) unsafe extern "C" fn visit_extracted<T: for<'a> FromArg<'a>>(
    data: *mut c_void,
    value: *const ArgValue<'_>,
) {
    let converted = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the shim's value for `T`'s parameter type, valid for this
        // call (the contract), converted and not kept past it (`T` owns).
        unsafe { T::from_arg(*value) }
    }))
    .unwrap_or_else(|_| Err(Error::runtime_error("extracting a value panicked")));
    // SAFETY: `data` is the caller's slot (the contract).
    unsafe { *(data as *mut Option<Result<T, Error>>) = Some(converted) };
}

/// `iter(obj)` as a Rust iterator: each item, or the exception `next`
/// raised (after which it ends).
pub struct Iter {
    it: Option<Object>,
}

impl Iterator for Iter {
    type Item = Result<Object, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        let it = self.it.as_ref()?;
        match it.unary(UNARY_NEXT, "next") {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.it = None;
                None
            }
            Err(e) => {
                self.it = None;
                Some(Err(e))
            }
        }
    }
}

impl Clone for Object {
    /// Takes another reference to the object.
    ///
    /// # Panics
    /// Inside `Traverse::traverse` (see [`crate::Instance`]'s `clone`).
    fn clone(&self) -> Self {
        if crate::gc::traversing() {
            panic!(
                "oxbind::Object cloned inside Traverse::traverse; traverse must only visit objects"
            );
        }
        if let Some(incref) = host().and_then(|h| h.incref()) {
            // SAFETY: this handle keeps the object alive.
            unsafe { incref(self.as_ptr()) };
        }
        Object { ptr: self.ptr }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        if let Some(decref) = host().and_then(|h| h.decref()) {
            // SAFETY: this handle owns one reference.
            unsafe { decref(self.as_ptr()) };
        }
    }
}

impl PartialEq for Object {
    /// Identity (Python's `is`); Python's `==` is [`Object::eq`].
    fn eq(&self, other: &Object) -> bool {
        self.is(other)
    }
}

impl Eq for Object {}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Object({:p})", self.ptr)
    }
}

const ANY: TypeDesc = TypeDesc::scalar(TypeKind::ANY, "Object");

// SAFETY: TYPE is ANY, and from_arg reads only an `Object` pointer (the
// argument itself, live for the call), taking its own reference.
unsafe impl<'a> FromArg<'a> for Object {
    const TYPE: TypeDesc = ANY;
    /// # Safety
    /// As for [`FromArg::from_arg`]: an `Object` value is a live object the
    /// shim holds for the call.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            // SAFETY: a live object held for the call (the contract).
            ArgValue::Object(p) => unsafe { Object::from_borrowed(p) },
            other => Err(Error::type_error(format!(
                "expected object, got {other:?} (shim and plugin disagree on the parameter type)"
            ))),
        }
    }
}

// SAFETY: ITEM is ANY, Object's FromArg::TYPE.
unsafe impl<'a> ListItem<'a> for Object {
    const ITEM: &'static TypeDesc = &ANY;
}

// SAFETY: TYPE is ANY, and into_return returns a `Ref` holding a new
// strong reference (this handle's own), never touching the slot.
unsafe impl IntoReturn for Object {
    const TYPE: TypeDesc = ANY;
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Ref(self.into_raw()))
    }
}

// SAFETY: TYPE is ANY, and into_return returns a `Ref` holding a new
// strong reference (a clone's), never touching the slot.
unsafe impl IntoReturn for &Object {
    const TYPE: TypeDesc = ANY;
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        not_traversing()?;
        Ok(RetValue::Ref(self.clone().into_raw()))
    }
}

// SAFETY: ITEM is ANY, and into_item returns a `Ref` with a new reference.
unsafe impl IntoItem for Object {
    const ITEM: &'static TypeDesc = &ANY;
    fn into_item(self) -> Result<RetValue, Error> {
        Ok(RetValue::Ref(self.into_raw()))
    }
}

/// A Rust value that can become a Python object: an argument of
/// [`Object::call`] and [`crate::Callback::call`], a value of
/// [`Object::setattr`].
///
/// Implemented for the result types ([`IntoReturn`]): integers, floats,
/// `bool`, `String` and `&str`, bytes, `()`, `Option<T>`, `Vec<T>`,
/// [`Object`] and `&Object`, [`crate::Instance`], [`crate::Callback`], and
/// (by `#[oxbind::class]`) class values.
pub trait IntoObject {
    /// The Python type, for signatures and stubs.
    const TYPE: TypeDesc;
    /// What `Callback<Args, R>` compares its arguments by: the same for
    /// types that become the same Python type, whatever their lifetimes
    /// (`&str` and `String` are both `String`), so that `Callback<(&str,),
    /// R>` accepts a borrowed `&str` of any lifetime, and a `String` too.
    type Shape;
    /// The object.
    fn into_object(self) -> Result<Object, Error>;
    /// The value as a result of [`IntoObject::TYPE`] (what the shim turns
    /// into the object): a callback's argument crosses this way, converted
    /// by the shim in the same crossing as the call.
    fn into_value(self) -> Result<RetValue, Error>
    where
        Self: Sized,
    {
        Ok(RetValue::Ref(self.into_object()?.into_raw()))
    }
}

impl IntoObject for Object {
    const TYPE: TypeDesc = ANY;
    type Shape = Object;
    fn into_object(self) -> Result<Object, Error> {
        Ok(self)
    }
}

impl IntoObject for &Object {
    const TYPE: TypeDesc = ANY;
    type Shape = Object;
    fn into_object(self) -> Result<Object, Error> {
        not_traversing()?;
        Ok(self.clone())
    }
}

/// A result conversion's error, reworded for a value passed as an argument
/// of a call from Rust.
#[cold]
pub(crate) fn as_argument(e: Error) -> Error {
    Error::new(e.kind, e.message.replacen("result ", "argument ", 1))
}

macro_rules! into_object_via_value {
    ($($t:ty => $shape:ty),* $(,)?) => {$(
        impl IntoObject for $t {
            const TYPE: TypeDesc = <$t as IntoReturn>::TYPE;
            type Shape = $shape;
            fn into_object(self) -> Result<Object, Error> {
                Object::from_value(self)
            }
            #[inline]
            fn into_value(self) -> Result<RetValue, Error> {
                // As an argument of a call from Rust, not a result.
                self.into_return(ReturnSlot::NONE).map_err(as_argument)
            }
        }
    )*};
}
into_object_via_value!(
    i8 => i8, i16 => i16, i32 => i32, i64 => i64, isize => isize,
    u8 => u8, u16 => u16, u32 => u32, u64 => u64, usize => usize, i128 => i128, u128 => u128,
    f32 => f32, f64 => f64, bool => bool, String => String, Vec<u8> => Vec<u8>, () => (),
);

impl IntoObject for &str {
    const TYPE: TypeDesc = <String as IntoReturn>::TYPE;
    type Shape = String;
    fn into_object(self) -> Result<Object, Error> {
        Object::from_value(self.to_owned())
    }
    fn into_value(self) -> Result<RetValue, Error> {
        Ok(RetValue::Str(
            oxbind_abi::abi_stable::std_types::RString::from(self),
        ))
    }
}

impl IntoObject for &[u8] {
    const TYPE: TypeDesc = <Vec<u8> as IntoReturn>::TYPE;
    type Shape = Vec<u8>;
    fn into_object(self) -> Result<Object, Error> {
        Object::from_value(self.to_vec())
    }
}

impl<T: IntoObject> IntoObject for Option<T> {
    const TYPE: TypeDesc = TypeDesc {
        optional: true,
        ..T::TYPE
    };
    type Shape = Option<T::Shape>;
    fn into_object(self) -> Result<Object, Error> {
        match self {
            Some(v) => v.into_object(),
            None => Object::none(),
        }
    }
}

impl<T: IntoItem> IntoObject for Vec<T> {
    const TYPE: TypeDesc = <Vec<T> as IntoReturn>::TYPE;
    type Shape = Vec<T>;
    fn into_object(self) -> Result<Object, Error> {
        Object::from_value(self)
    }
    fn into_value(self) -> Result<RetValue, Error> {
        // As the list value itself: a callback's argument is converted by
        // the shim as a result of TYPE (a list), never as an object.
        self.into_return(ReturnSlot::NONE).map_err(as_argument)
    }
}

impl<T: crate::Class> IntoObject for crate::Instance<T> {
    const TYPE: TypeDesc = TypeDesc::object(T::CLASS, oxbind_abi::Passing::VALUE, "Instance");
    type Shape = crate::Instance<T>;
    fn into_object(self) -> Result<Object, Error> {
        Ok(self.into_object_handle())
    }
}

/// The arguments of a call from Rust: a tuple of up to eight
/// [`IntoObject`] values, `()` for none.
pub trait Args {
    /// The tuple of the items' [`IntoObject::Shape`]s.
    type Shape;
    /// The objects, in an array (no allocation).
    type Objects: AsRef<[Object]>;
    /// The parameter types, for a callback's signature.
    const TYPES: &'static [TypeDesc];
    /// Each item as an object.
    fn into_objects(self) -> Result<Self::Objects, Error>;
    /// The values, as results of [`Args::TYPES`] (no allocation).
    type Values: AsRef<[RetValue]>;
    /// Each item as a value of its type, for the shim to convert.
    fn into_values(self) -> Result<Self::Values, Error>;
}

/// A callback's signature as one static: its result type, then its
/// parameter types ([`TypeDesc::callable`]'s layout).
pub trait Signature {
    /// `[result, params...]`.
    const SIG: &'static [TypeDesc];
}

macro_rules! tuple_args {
    ($n:literal; $($a:ident $v:ident),*) => {
        impl<$($a: IntoObject),*> Args for ($($a,)*) {
            type Shape = ($($a::Shape,)*);
            type Objects = [Object; $n];
            const TYPES: &'static [TypeDesc] = &[$($a::TYPE),*];
            #[allow(unused_variables)]
            fn into_objects(self) -> Result<[Object; $n], Error> {
                let ($($v,)*) = self;
                Ok([$($v.into_object()?),*])
            }
            type Values = [RetValue; $n];
            #[allow(unused_variables)]
            fn into_values(self) -> Result<[RetValue; $n], Error> {
                let ($($v,)*) = self;
                Ok([$($v.into_value()?),*])
            }
        }
        impl<R: crate::FromObject, $($a: IntoObject),*> Signature for (R, ($($a,)*)) {
            const SIG: &'static [TypeDesc] = &[R::TYPE, $($a::TYPE),*];
        }
    };
}
tuple_args!(0;);
tuple_args!(1; A a);
tuple_args!(2; A a, B b);
tuple_args!(3; A a, B b, C c);
tuple_args!(4; A a, B b, C c, D d);
tuple_args!(5; A a, B b, C c, D d, E e);
tuple_args!(6; A a, B b, C c, D d, E e, F f);
tuple_args!(7; A a, B b, C c, D d, E e, F f, G g);
tuple_args!(8; A a, B b, C c, D d, E e, F f, G g, H h);

/// A type a Python object converts to, as a callback's result: every owned
/// parameter type (`for<'a> FromArg<'a>`: integers, floats, `bool`,
/// `String`, bytes, `Option`, `Vec`, maps, [`Object`], class values that
/// derive `Clone`, [`crate::Instance`]), and `()`, which ignores the
/// result.
pub trait FromObject: Sized {
    /// The Python type, for signatures and stubs.
    const TYPE: TypeDesc;
    /// The converted value.
    fn from_object(obj: Object) -> Result<Self, Error>;
    /// Converts the shim's value for [`FromObject::TYPE`].
    ///
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for `TYPE`,
    /// valid for this call.
    #[doc(hidden)]
    unsafe fn from_value(value: &ArgValue<'_>) -> Result<Self, Error>;
    /// The value of an ignored result (`()`), if this type is one.
    #[doc(hidden)]
    fn ignored() -> Option<Self> {
        None
    }
}

impl<T: for<'a> FromArg<'a>> FromObject for T {
    const TYPE: TypeDesc = <T as FromArg<'static>>::TYPE;
    fn from_object(obj: Object) -> Result<Self, Error> {
        obj.extract()
    }
    /// # Safety
    /// As for [`FromObject::from_value`].
    unsafe fn from_value(value: &ArgValue<'_>) -> Result<Self, Error> {
        // SAFETY: the shim's value for `T::TYPE`, valid for this call (our
        // caller's promise).
        unsafe { T::from_arg_ref(value) }
    }
}

impl FromObject for () {
    const TYPE: TypeDesc = TypeDesc::scalar(TypeKind::UNIT, "()");
    fn from_object(_obj: Object) -> Result<Self, Error> {
        Ok(())
    }
    /// # Safety
    /// Reads nothing.
    unsafe fn from_value(_value: &ArgValue<'_>) -> Result<Self, Error> {
        Ok(())
    }
    fn ignored() -> Option<Self> {
        Some(())
    }
}
