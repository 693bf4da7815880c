//! Callbacks both ways: [`Callback`], a Python callable a plugin takes with
//! a typed signature, and [`Object::function`], a Rust closure handed to
//! Python as a real function.

use std::{ffi::c_void, marker::PhantomData};

use oxbind_abi::{
    abi_stable::std_types::{RNone, RSlice, RStr},
    ArgValue, CallOutcome, DetachedFn, FunctionDesc, ParamDesc, Receiver, RetValue, TypeDesc,
};

use crate::{
    object::{Args, FromObject, IntoObject, Signature},
    private::host,
    Error, FromArg, IntoReturn, Object, ReturnSlot,
};

/// A Python callable with a typed signature: `Callback<(i64, &str), bool>`
/// takes an `int` and a `str` and returns a `bool`. As a parameter it
/// accepts any object `callable()` accepts, and its stub type is
/// `Callable[[int, str], bool]`.
///
/// [`Callback::call`] converts the arguments to Python ([`IntoObject`]) and
/// the result back ([`FromObject`]; `()` ignores it). A result of the wrong
/// type is a `TypeError` naming what was expected; an exception the
/// callable raises comes back as `Err` holding it, and returned from the
/// plugin function, reaches Python unchanged.
///
/// Like [`Object`], it may be kept, cloned, sent to and called from any
/// thread (the call attaches to the interpreter for its length).
pub struct Callback<A, R = ()> {
    obj: Object,
    _sig: PhantomData<fn(A) -> R>,
}

impl<A: Args, R: FromObject> Callback<A, R> {
    /// Calls it. The arguments are a tuple of the shape the signature
    /// names: for `Callback<(i64, &str), bool>`, `(3, "x")`, with a `&str`
    /// of any lifetime (or a `String`).
    #[inline]
    pub fn call<T: Args<Shape = A::Shape>>(&self, args: T) -> Result<R, Error> {
        match call_values() {
            Some(call) => self.call_in_one(call, args),
            None => self.call_in_three(args),
        }
    }

    /// [`Callback::call`] through three host operations (converting the
    /// arguments, calling, converting the result), for a shim that
    /// predates `HostApi::object_call_values`, or none.
    #[cold]
    #[inline(never)]
    fn call_in_three<T: Args<Shape = A::Shape>>(&self, args: T) -> Result<R, Error> {
        let out = self.obj.call(args)?;
        if R::TYPE.kind == oxbind_abi::TypeKind::UNIT {
            return R::from_object(out);
        }
        R::from_object(out).map_err(|e| {
            let text = e.python_exception().and_then(|x| x.str().ok());
            Error::type_error(format!(
                "callback result: {}",
                text.as_deref().unwrap_or(&e.message)
            ))
        })
    }

    /// [`Callback::call`] in one crossing into the shim, which converts
    /// the arguments, calls, and converts the result
    /// (`HostApi::object_call_values`).
    #[inline]
    fn call_in_one<T: Args<Shape = A::Shape>>(
        &self,
        call: CallValuesFn,
        args: T,
    ) -> Result<R, Error> {
        crate::object::not_traversing()?;
        let values = std::mem::ManuallyDrop::new(args.into_values()?);
        let values = values.as_ref();
        let mut result: Option<Result<R, Error>> = None;
        let mut out = std::ptr::null_mut();
        // SAFETY: the values are given up to the shim (never dropped here:
        // `ManuallyDrop`), one per type in `T::TYPES`, a static; the result
        // type is a static; `visit_result::<R>` is given `result`, which
        // lives on this frame across the call, and catches every panic.
        let status = unsafe {
            call(
                self.obj.as_ptr(),
                values.as_ptr(),
                T::TYPES.as_ptr(),
                values.len(),
                ResultOf::<R>::STATIC,
                oxbind_abi::ExtractFn {
                    func: visit_result::<R>,
                },
                &mut result as *mut Option<Result<R, Error>> as *mut c_void,
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation (the shim names
        // a result of the wrong type "callback result: ...").
        unsafe { crate::object::outcome(status, out) }?;
        match result {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(result_error(e)),
            None => R::ignored().ok_or_else(no_result),
        }
    }

    /// The callable itself.
    pub fn as_object(&self) -> &Object {
        &self.obj
    }

    /// The callable itself, as an [`Object`].
    pub fn into_object(self) -> Object {
        self.obj
    }
}

impl<A, R> Callback<A, R> {
    /// The callable, whatever the signature (for the collector's visitor).
    pub(crate) fn object_ref(&self) -> &Object {
        &self.obj
    }
}

impl<A, R> Clone for Callback<A, R> {
    fn clone(&self) -> Self {
        Callback {
            obj: self.obj.clone(),
            _sig: PhantomData,
        }
    }
}

impl<A, R> std::fmt::Debug for Callback<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Callback({:?})", self.obj)
    }
}

/// `HostApi::object_call_values`.
type CallValuesFn = unsafe extern "C" fn(
    *mut c_void,
    *const RetValue,
    *const TypeDesc,
    usize,
    *const TypeDesc,
    oxbind_abi::ExtractFn,
    *mut c_void,
    *mut *mut c_void,
) -> u32;

/// A callback result's conversion error, named as such.
#[cold]
fn result_error(e: Error) -> Error {
    Error::new(e.kind, format!("callback result: {}", e.message))
}

/// The error for a result the shim did not convert.
#[cold]
fn no_result() -> Error {
    Error::runtime_error("oxbind: the shim converted no callback result")
}

/// `HostApi::object_call_values`, resolved on first use: the shim sets a
/// plugin's host table once (a compare-exchange from null) and never frees
/// it, so the entry cannot change afterwards. Null until resolved.
static CALL_VALUES: std::sync::atomic::AtomicPtr<()> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// [`CALL_VALUES`], or None if no shim has loaded this plugin or its shim
/// predates the entry.
#[inline]
fn call_values() -> Option<CallValuesFn> {
    let p = CALL_VALUES.load(std::sync::atomic::Ordering::Relaxed);
    if p.is_null() {
        return resolve_call_values();
    }
    // SAFETY: only `resolve_call_values` stores here, and only a
    // `CallValuesFn` (a function pointer, the size of a data pointer).
    Some(unsafe { std::mem::transmute::<*mut (), CallValuesFn>(p) })
}

/// Reads [`CALL_VALUES`] from the host table, once it has one.
#[cold]
fn resolve_call_values() -> Option<CallValuesFn> {
    let f = host()?.object_call_values()?;
    CALL_VALUES.store(f as *mut (), std::sync::atomic::Ordering::Relaxed);
    Some(f)
}

/// The static description of a callback's result type.
struct ResultOf<R>(PhantomData<fn() -> R>);

impl<R: FromObject> ResultOf<R> {
    const STATIC: &'static TypeDesc = &R::TYPE;
}

/// What `object_call_values` calls with the converted result.
///
/// # Safety
/// `data` is an `Option<Result<R, Error>>`, and `value` the shim's value for
/// `R`'s type, valid for this call.
unsafe extern "C" fn visit_result<R: FromObject>(data: *mut c_void, value: *const ArgValue<'_>) {
    let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the shim's value for `R::TYPE`, valid for this call (the
        // contract); `R` owns what it converts.
        unsafe { R::from_value(&*value) }
    }))
    .unwrap_or_else(|_| {
        Err(Error::runtime_error(
            "converting a callback result panicked",
        ))
    });
    // SAFETY: `data` is the caller's slot (the contract).
    unsafe { *(data as *mut Option<Result<R, Error>>) = Some(converted) };
}

/// The static description of `Callback<A, R>`.
struct CallbackType<A, R>(PhantomData<fn(A) -> R>);

impl<A: Args, R: FromObject> CallbackType<A, R>
where
    (R, A): Signature,
{
    const TYPE: TypeDesc = TypeDesc::callable(<(R, A) as Signature>::SIG, "Callback");
}

// SAFETY: TYPE is CALLABLE, and from_arg reads only an `Object` pointer
// (the callable argument itself, live for the call), taking its own
// reference.
unsafe impl<'a, A: Args, R: FromObject> FromArg<'a> for Callback<A, R>
where
    (R, A): Signature,
{
    const TYPE: TypeDesc = CallbackType::<A, R>::TYPE;
    /// # Safety
    /// As for [`FromArg::from_arg`]: an `Object` value is a live callable
    /// the shim holds for the call.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: the shim's value for a CALLABLE parameter, live for 'a (our
        // caller's promise); ANY's conversion reads it the same way.
        let obj = unsafe { <Object as FromArg<'a>>::from_arg(value) }?;
        Ok(Callback {
            obj,
            _sig: PhantomData,
        })
    }
}

// SAFETY: TYPE is CALLABLE, and into_return returns a `Ref` holding a new
// strong reference to the callable, never touching the slot.
unsafe impl<A: Args, R: FromObject> IntoReturn for Callback<A, R>
where
    (R, A): Signature,
{
    const TYPE: TypeDesc = CallbackType::<A, R>::TYPE;
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        self.obj.into_return(ReturnSlot::NONE)
    }
}

impl<A: Args, R: FromObject> IntoObject for Callback<A, R>
where
    (R, A): Signature,
{
    const TYPE: TypeDesc = CallbackType::<A, R>::TYPE;
    type Shape = Object;
    fn into_object(self) -> Result<Object, Error> {
        Ok(self.obj)
    }
}

/// A Rust closure that [`Object::function`] can make a Python function of:
/// `Fn(A, B, …) -> R + Send + Sync + 'static`, with up to six parameters of
/// owned parameter types (`for<'a> FromArg<'a>`: `String`, not `&str`) and
/// any result type. `M` only tells the arities apart.
pub trait Closure<M>: Send + Sync + 'static {
    /// The parameter types.
    const PARAMS: &'static [TypeDesc];
    /// The result type.
    const RET: TypeDesc;
    /// Converts the arguments, calls the closure, converts the result.
    ///
    /// # Safety
    /// `args` are the shim's values for [`Closure::PARAMS`], valid for the
    /// call; `slot` is the shim's storage for a class result by value, or
    /// none.
    #[doc(hidden)]
    unsafe fn invoke(
        &self,
        args: &[ArgValue<'_>],
        slot: ReturnSlot,
        name: &str,
        params: &[ParamDesc],
    ) -> Result<RetValue, Error>;
}

macro_rules! closures {
    ($($a:ident $i:tt),*) => {
        impl<F, R, $($a),*> Closure<(R, $($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: IntoReturn,
            $($a: for<'a> FromArg<'a>,)*
        {
            const PARAMS: &'static [TypeDesc] = &[$(<$a as FromArg<'static>>::TYPE),*];
            const RET: TypeDesc = R::TYPE;
            /// # Safety
            /// As for [`Closure::invoke`].
            #[allow(unused_variables)]
            unsafe fn invoke(
                &self,
                args: &[ArgValue<'_>],
                slot: ReturnSlot,
                name: &str,
                params: &[ParamDesc],
            ) -> Result<RetValue, Error> {
                // SAFETY: the shim's values for PARAMS (the contract), one per
                // parameter in order.
                let result = (self)($(unsafe {
                    crate::private::arg::<$a>(args, $i, name, params[$i].name.as_str())
                }?),*);
                result.into_return(slot)
            }
        }
    };
}
closures!();
closures!(A 0);
closures!(A 0, B 1);
closures!(A 0, B 1, C 2);
closures!(A 0, B 1, C 2, D 3);
closures!(A 0, B 1, C 2, D 3, E 4);
closures!(A 0, B 1, C 2, D 3, E 4, G 5);

/// A closure with the descriptor the shim calls it through. The shim owns
/// it (through the function object) until it calls [`release_closure`].
struct ClosureBox<F> {
    desc: FunctionDesc,
    params: Vec<ParamDesc>,
    f: F,
}

/// The descriptor's entry point: `this` is the `ClosureBox<F>`.
///
/// # Safety
/// Called by the shim with the box it was given as `this`, arguments for
/// its parameters, and a slot for a class result by value (or null).
unsafe extern "C" fn call_closure<M, F: Closure<M>>(
    this: *mut c_void,
    args: RSlice<'_, ArgValue<'_>>,
    slot: *mut c_void,
) -> CallOutcome {
    crate::private::call(|| {
        // SAFETY: the shim passes the live box as `this` (the contract).
        let boxed = unsafe { &*(this as *const ClosureBox<F>) };
        // SAFETY: the shim's arguments and slot for this descriptor (the
        // contract).
        unsafe {
            boxed.f.invoke(
                args.as_slice(),
                ReturnSlot::from_raw(slot),
                boxed.desc.name.as_str(),
                &boxed.params,
            )
        }
    })
}

/// Frees a closure the shim no longer needs.
///
/// # Safety
/// `data` is a `ClosureBox<F>` from [`Object::function`], released once.
unsafe extern "C" fn release_closure<F>(data: *mut c_void) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the box `Object::function` gave the shim, released once
        // (the contract).
        drop(unsafe { Box::from_raw(data as *mut ClosureBox<F>) })
    }));
}

impl Object {
    /// A Python function that calls the Rust closure `f`: a built-in
    /// function named `name` with the docstring `doc` and a signature whose
    /// parameters are named `params` (one name per closure parameter).
    ///
    /// ```ignore
    /// let k = 3.0;
    /// let scale = oxbind::Object::function("scale", "Multiplies by k.", &["x"], move |x: f64| x * k)?;
    /// ```
    ///
    /// Arguments convert as a plugin function's do, and the closure runs
    /// with panics caught. It may be called from any thread, concurrently:
    /// hence `Fn + Send + Sync`. (A plugin declared `free_threading_safe:
    /// false` does not serialise its closures' calls.)
    pub fn function<M, F: Closure<M>>(
        name: &'static str,
        doc: &'static str,
        params: &[&'static str],
        f: F,
    ) -> Result<Object, Error> {
        if params.len() != F::PARAMS.len() {
            return Err(Error::value_error(format!(
                "oxbind::Object::function({name:?}): {} parameter names for a closure of {} parameters",
                params.len(),
                F::PARAMS.len()
            )));
        }
        let new_function = host().and_then(|h| h.new_function()).ok_or_else(|| {
            Error::runtime_error("oxbind: this oxbind shim predates closures; upgrade oxbind")
        })?;
        let params: Vec<ParamDesc> = params
            .iter()
            .zip(F::PARAMS)
            .map(|(name, ty)| ParamDesc {
                name: RStr::from_str(name),
                ty: *ty,
                default: RNone,
                lock: false,
            })
            .collect();
        let boxed = Box::into_raw(Box::new(ClosureBox {
            desc: FunctionDesc {
                name: RStr::from_str(name),
                doc: RStr::from_str(doc),
                params: RSlice::from_slice(&[]),
                ret: F::RET,
                receiver: Receiver::NONE,
                lock_self: false,
                call: call_closure::<M, F>,
            },
            params,
            f,
        }));
        // SAFETY: `boxed` is a live allocation of ours; the parameter list
        // it owns never moves (a Vec's buffer) while the box lives, and the
        // descriptor is read only while the box lives (until the release).
        unsafe {
            let params: &'static [ParamDesc] =
                std::slice::from_raw_parts((*boxed).params.as_ptr(), (*boxed).params.len());
            (*boxed).desc.params = RSlice::from_slice(params);
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: the descriptor and the closure stay valid until the shim
        // calls `release_closure::<F>` (it owns the box from here on);
        // `call_closure::<M, F>` accepts the box as `this`; the release
        // catches every panic.
        let status = unsafe {
            new_function(
                &(*boxed).desc,
                boxed as *mut c_void,
                DetachedFn {
                    func: release_closure::<F>,
                },
                &mut out,
            )
        };
        // SAFETY: the status and output of that operation.
        unsafe { crate::object::made(status, out) }
    }
}
