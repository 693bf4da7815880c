//! The host API's object operations (plugin ABI 0.1.4; ints beyond `i64`
//! since 0.1.5): what
//! `oxbind::Object` does to a Python object, on behalf of plugin code that
//! has no Python symbols.
//!
//! Every operation may be called from any thread: it attaches for its
//! length if it must ([`crate::sync::attach`]), runs with panics caught,
//! and reports one of three statuses: done (the result in `out`, a new
//! reference), raised (the exception in `out`, a new reference, with its
//! traceback), or unavailable (the interpreter is finalizing and the
//! thread may no longer attach; `out` null).
//!
//! Shared state: none of its own. The exception a plugin hands back for
//! `ErrorKind::RAISED` is kept per thread in [`crate::py::errors`].

use std::{
    ffi::c_void,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
};

use oxbind_abi::{
    abi_stable::std_types::RStr,
    host::{
        OBJECT_OK, OBJECT_RAISED, OBJECT_UNAVAILABLE, TEST_CALLABLE, TEST_EQ, TEST_HASH,
        TEST_ISINSTANCE, TEST_IS_NONE, TEST_LEN, TEST_TRUTH, UNARY_ITER, UNARY_NEXT, UNARY_REPR,
        UNARY_STR, UNARY_TYPE,
    },
    DetachedFn, ExtractFn, FunctionDesc, RetValue, TypeDesc, WideInt, WIDE_NOT_INT, WIDE_OK,
    WIDE_OUT_OF_RANGE,
};
use pyo3_ffi as ffi;

use crate::{
    py::{errors, owned::Owned},
    sync::attach::with_attached,
};

/// What an operation's body gives back: a new reference, or `Err` with the
/// Python error set. `Ok(null)` is a result of "nothing" (the end of an
/// iteration, a `setattr` done).
type Made = Result<*mut ffi::PyObject, ()>;

/// Runs `op` attached, from any thread, and reports it (see the module
/// doc).
///
/// # Safety
/// `out` is valid for a write; the caller (plugin code) holds no lock of
/// ours.
#[inline]
unsafe fn run(out: *mut *mut c_void, op: impl FnOnce() -> Made) -> u32 {
    // An attached thread (the common case: plugin code called from Python)
    // runs the operation as it is; `with_attached` handles the rest.
    if crate::sync::refpool::attached() {
        let made = catch_unwind(AssertUnwindSafe(op));
        // SAFETY: attached; `out` is valid for a write (this function's
        // contract).
        return unsafe { report(made, out) };
    }
    let attached_op = || {
        let made = catch_unwind(AssertUnwindSafe(op));
        let mut p = ptr::null_mut();
        // SAFETY: attached (run by `with_attached`); `p` is local.
        let status = unsafe { report(made, &mut p) };
        (status, p)
    };
    // SAFETY: plugin code holds no lock of ours (this function's contract).
    match unsafe { with_attached(attached_op) } {
        Ok((status, p)) => {
            // SAFETY: `out` is valid for a write (this function's contract).
            unsafe { *out = p };
            status
        }
        Err(_) => {
            // SAFETY: as above.
            unsafe { *out = ptr::null_mut() };
            OBJECT_UNAVAILABLE
        }
    }
}

/// Writes an operation's outcome to `out` and returns its status: the
/// result, or the exception it raised (a panic becomes one).
///
/// # Safety
/// The thread is attached; `out` is valid for a write.
#[inline]
unsafe fn report(made: std::thread::Result<Made>, out: *mut *mut c_void) -> u32 {
    match made {
        Ok(Ok(p)) => {
            // SAFETY: `out` is valid for a write (this function's contract).
            unsafe { *out = p as *mut c_void };
            OBJECT_OK
        }
        // SAFETY: as this function's contract.
        failed => unsafe { report_failure(failed.is_err(), out) },
    }
}

/// [`report`] for an operation that raised (`panicked`: or panicked).
///
/// # Safety
/// As for [`report`]; unless `panicked`, a Python error is set.
#[cold]
unsafe fn report_failure(panicked: bool, out: *mut *mut c_void) -> u32 {
    if panicked {
        // SAFETY: attached (this function's contract).
        unsafe {
            errors::raise_panic("internal error in the oxbind shim during an object operation")
        };
    }
    // SAFETY: attached (this function's contract).
    let mut exc = unsafe { errors::take_exception() };
    if exc.is_null() {
        // SAFETY: attached; `PyExc_SystemError` is an exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_SystemError,
                "oxbind: an object operation failed without an exception",
            );
            exc = errors::take_exception();
        }
    }
    // SAFETY: `out` is valid for a write (this function's contract).
    unsafe { *out = exc as *mut c_void };
    OBJECT_RAISED
}

/// A null result as an error (the Python error is set).
fn made(p: *mut ffi::PyObject) -> Made {
    if p.is_null() {
        Err(())
    } else {
        Ok(p)
    }
}

/// A new `str` for a name.
///
/// # Safety
/// The thread is attached.
unsafe fn name_str(name: RStr<'_>) -> Result<Owned, ()> {
    // SAFETY: attached (this function's contract); a new reference or null.
    unsafe { Owned::from_raw(errors::new_str(name.as_str())) }.ok_or(())
}

/// `getattr(obj, name)`: see `HostApi::object_getattr`.
///
/// # Safety
/// Called by plugin code through the host table, on any thread, holding no
/// lock of ours: `obj` is a live object it holds a reference to, and `out`
/// is valid for a write.
pub(super) unsafe extern "C" fn object_getattr(
    obj: *mut c_void,
    name: RStr<'_>,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: `out` is valid and no lock of ours is held (the contract);
    // inside, attached, on a live `obj`.
    unsafe {
        run(out, || {
            let name = name_str(name)?;
            made(ffi::PyObject_GetAttr(obj.cast(), name.as_ptr()))
        })
    }
}

/// `setattr`/`delattr`: see `HostApi::object_setattr`.
///
/// # Safety
/// As for [`object_getattr`]; `value` is null or a live object.
pub(super) unsafe extern "C" fn object_setattr(
    obj: *mut c_void,
    name: RStr<'_>,
    value: *mut c_void,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: as for `object_getattr`; a null value deletes.
    unsafe {
        run(out, || {
            let name = name_str(name)?;
            if ffi::PyObject_SetAttr(obj.cast(), name.as_ptr(), value.cast()) < 0 {
                Err(())
            } else {
                Ok(ptr::null_mut())
            }
        })
    }
}

/// `callable(*args, **kwargs)`: see `HostApi::object_call`.
///
/// # Safety
/// As for [`object_getattr`]; `args` holds `nargs + nkw` live objects and
/// `kwnames` `nkw` names.
pub(super) unsafe extern "C" fn object_call(
    callable: *mut c_void,
    args: *const *mut c_void,
    nargs: usize,
    kwnames: *const RStr<'_>,
    nkw: usize,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: as for `object_getattr`; the arguments follow the vectorcall
    // convention once the names are a tuple of str.
    unsafe {
        run(out, || {
            let names = if nkw == 0 {
                None
            } else {
                let tuple = Owned::from_raw(ffi::PyTuple_New(nkw as ffi::Py_ssize_t)).ok_or(())?;
                for k in 0..nkw {
                    let name = name_str(*kwnames.add(k))?;
                    ffi::PyTuple_SET_ITEM(tuple.as_ptr(), k as ffi::Py_ssize_t, name.into_raw());
                }
                Some(tuple)
            };
            made(ffi::PyObject_Vectorcall(
                callable.cast(),
                args as *const *mut ffi::PyObject,
                nargs,
                names.as_ref().map_or(ptr::null_mut(), Owned::as_ptr),
            ))
        })
    }
}

/// `obj.name(*args)`: see `HostApi::object_call_method`.
///
/// # Safety
/// As for [`object_getattr`]; `args` holds `nargs` live objects.
pub(super) unsafe extern "C" fn object_call_method(
    obj: *mut c_void,
    name: RStr<'_>,
    args: *const *mut c_void,
    nargs: usize,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: as for `object_getattr`; the receiver goes first, as
    // `PyObject_VectorcallMethod` wants.
    unsafe {
        run(out, || {
            let name = name_str(name)?;
            let mut all: smallvec::SmallVec<[*mut ffi::PyObject; 8]> = smallvec::SmallVec::new();
            all.push(obj.cast());
            all.extend((0..nargs).map(|k| *args.add(k) as *mut ffi::PyObject));
            made(ffi::PyObject_VectorcallMethod(
                name.as_ptr(),
                all.as_ptr(),
                all.len(),
                ptr::null_mut(),
            ))
        })
    }
}

/// `repr`, `str`, `type`, `iter`, `next`: see `HostApi::object_unary`.
///
/// # Safety
/// As for [`object_getattr`].
pub(super) unsafe extern "C" fn object_unary(
    op: u32,
    obj: *mut c_void,
    out: *mut *mut c_void,
) -> u32 {
    let obj = obj as *mut ffi::PyObject;
    // SAFETY: as for `object_getattr`.
    unsafe {
        run(out, || match op {
            UNARY_REPR => made(ffi::PyObject_Repr(obj)),
            UNARY_STR => made(ffi::PyObject_Str(obj)),
            UNARY_TYPE => Ok(ffi::Py_NewRef(ffi::Py_TYPE(obj).cast())),
            UNARY_ITER => made(ffi::PyObject_GetIter(obj)),
            UNARY_NEXT => {
                if ffi::PyIter_Check(obj) == 0 {
                    errors::type_error(&format!(
                        "'{}' object is not an iterator",
                        errors::type_name(obj)
                    ));
                    return Err(());
                }
                let next = ffi::PyIter_Next(obj);
                if next.is_null() && !ffi::PyErr_Occurred().is_null() {
                    Err(())
                } else {
                    Ok(next) // null: the end
                }
            }
            _ => {
                errors::raise(
                    ffi::PyExc_SystemError,
                    &format!("oxbind: unknown unary object operation {op}"),
                );
                Err(())
            }
        })
    }
}

/// Tests and measures: see `HostApi::object_test`.
///
/// # Safety
/// As for [`object_getattr`]; `b` is null or a live object, and `answer`
/// is valid for a write.
pub(super) unsafe extern "C" fn object_test(
    op: u32,
    a: *mut c_void,
    b: *mut c_void,
    answer: *mut i64,
    out: *mut *mut c_void,
) -> u32 {
    let (a, b) = (a as *mut ffi::PyObject, b as *mut ffi::PyObject);
    // SAFETY: `answer` is valid for a write (this function's contract).
    unsafe { *answer = 0 };
    if op == TEST_IS_NONE {
        // SAFETY: `out` and `answer` are valid for writes; `Py_None` only
        // takes the address of the `None` singleton (no attaching needed).
        unsafe {
            *out = ptr::null_mut();
            *answer = i64::from(a == ffi::Py_None());
        }
        return OBJECT_OK;
    }
    let mut value = 0i64;
    let need = |b: *mut ffi::PyObject| {
        if b.is_null() {
            // SAFETY: attached (called inside `run`).
            unsafe {
                errors::raise(
                    ffi::PyExc_SystemError,
                    "oxbind: a binary test without its operand",
                )
            };
            Err(())
        } else {
            Ok(b)
        }
    };
    // SAFETY: as for `object_getattr`, with `b` checked where it is used.
    let status = unsafe {
        run(out, || {
            let v: i64 = match op {
                TEST_TRUTH => ffi::PyObject_IsTrue(a) as i64,
                TEST_EQ => ffi::PyObject_RichCompareBool(a, need(b)?, ffi::Py_EQ) as i64,
                TEST_HASH => {
                    let h = ffi::PyObject_Hash(a) as i64;
                    if h == -1 && !ffi::PyErr_Occurred().is_null() {
                        return Err(());
                    }
                    value = h;
                    return Ok(ptr::null_mut());
                }
                TEST_ISINSTANCE => ffi::PyObject_IsInstance(a, need(b)?) as i64,
                TEST_CALLABLE => ffi::PyCallable_Check(a) as i64,
                TEST_LEN => ffi::PyObject_Length(a) as i64,
                _ => {
                    errors::raise(
                        ffi::PyExc_SystemError,
                        &format!("oxbind: unknown object test {op}"),
                    );
                    return Err(());
                }
            };
            if v < 0 {
                return Err(());
            }
            value = v;
            Ok(ptr::null_mut())
        })
    };
    // SAFETY: `answer` is valid for a write (this function's contract).
    unsafe { *answer = value };
    status
}

/// `import name`: see `HostApi::import`.
///
/// # Safety
/// As for [`object_getattr`], without an object.
pub(super) unsafe extern "C" fn import(name: RStr<'_>, out: *mut *mut c_void) -> u32 {
    // SAFETY: `out` is valid and no lock of ours is held (the contract).
    unsafe {
        run(out, || {
            let text = errors::c_string(name.as_str());
            made(ffi::PyImport_ImportModule(text.as_ptr()))
        })
    }
}

/// A result value as an object: see `HostApi::object_from_value`.
///
/// # Safety
/// As for [`object_getattr`]; `ty` is a static type description and
/// `value` a value of it that the plugin gives up.
pub(super) unsafe extern "C" fn object_from_value(
    ty: *const TypeDesc,
    value: RetValue,
    out: *mut *mut c_void,
) -> u32 {
    let mut value = Some(value);
    // SAFETY: as for `object_getattr`; `ty` is static (the contract).
    let status = unsafe {
        run(out, || {
            let value = value.take().expect("run calls the operation once");
            made(crate::call::objects::from_value(&*ty, value))
        })
    };
    if let Some(value) = value {
        // Not run (the interpreter is going away): an object reference is
        // left to the pool, as a handle dropped on such a thread is.
        // SAFETY: a value of the static `ty` the plugin gave up.
        unsafe { crate::call::compound::discard(&*ty, value) };
    }
    status
}

/// Converts an object as an argument and shows the value to the plugin:
/// see `HostApi::object_extract`.
///
/// # Safety
/// As for [`object_getattr`]; `ty` is a static type description; `visit`
/// does not unwind, and `data` is what it expects.
pub(super) unsafe extern "C" fn object_extract(
    obj: *mut c_void,
    ty: *const TypeDesc,
    visit: ExtractFn,
    data: *mut c_void,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: as for `object_getattr`; `ty` is static and `visit` the
    // plugin's, given a value valid for its call (the contract).
    unsafe {
        run(out, || {
            crate::call::objects::extract(obj.cast(), &*ty, |v| (visit.func)(data, v))
                .map(|()| ptr::null_mut())
        })
    }
}

/// Keeps the exception a plugin is about to return as `ErrorKind::RAISED`:
/// see `HostApi::set_raised`.
///
/// # Safety
/// Called by plugin code through the host table, on any thread: `exc` is
/// an exception object whose strong reference it gives up.
pub(super) unsafe extern "C" fn set_raised(exc: *mut c_void) {
    if crate::sync::refpool::attached() {
        // The reference may be a pooled clone (taken detached): it must
        // count before the shim raises it and Python can release it.
        // SAFETY: attached (checked just above).
        unsafe { crate::sync::refpool::apply_increments() };
    }
    let old = errors::keep_raised(exc.cast());
    if !old.is_null() {
        // SAFETY: the reference kept before, replaced and released; the pool
        // takes it on any thread.
        unsafe { crate::sync::refpool::decref(old) };
    }
}

/// A lazy iterator over a plugin closure: see `HostApi::new_iterator`.
///
/// # Safety
/// As for [`object_getattr`]; `next` and `sentinel` are live objects the
/// plugin holds for the call.
pub(super) unsafe extern "C" fn new_iterator(
    next: *mut c_void,
    sentinel: *mut c_void,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: as for `object_getattr` (`run` attaches as needed); the two
    // objects are live (the contract), and the iterator takes its own
    // references.
    unsafe {
        run(out, || {
            made(crate::py::iter::new_iterator(
                next as *mut ffi::PyObject,
                sentinel as *mut ffi::PyObject,
            ))
        })
    }
}

/// A function object for a plugin closure: see `HostApi::new_function`.
///
/// # Safety
/// As for [`object_getattr`]; `desc` and what it points to stay valid until
/// `release.func(data)`, which does not unwind.
pub(super) unsafe extern "C" fn new_function(
    desc: *const FunctionDesc,
    data: *mut c_void,
    release: DetachedFn,
    out: *mut *mut c_void,
) -> u32 {
    let mut pending = Some((data, release));
    // SAFETY: as for `object_getattr`; `desc` is valid until released.
    let status = unsafe {
        run(out, || {
            let (data, release) = pending.take().expect("run calls the operation once");
            match super::build::check_closure(&*desc) {
                Ok(defaults) => made(crate::call::closure::new_function(
                    desc, defaults, data, release,
                )),
                Err(message) => {
                    (release.func)(data);
                    errors::type_error(&format!("oxbind: cannot make a function: {message}"));
                    Err(())
                }
            }
        })
    };
    if let Some((data, release)) = pending {
        // Not run: the plugin's data goes back to it all the same.
        // SAFETY: the plugin's release for its data, once; no unwinding.
        unsafe { (release.func)(data) };
    }
    status
}

/// A typed callback call in one crossing: see `HostApi::object_call_values`.
///
/// # Safety
/// As for [`object_getattr`]; `args` holds `nargs` values of the static
/// types at `types`, which the plugin gives up; `ret` is static; `visit`
/// does not unwind, and `data` is what it expects.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn object_call_values(
    callable: *mut c_void,
    args: *const RetValue,
    types: *const TypeDesc,
    nargs: usize,
    ret: *const TypeDesc,
    visit: ExtractFn,
    data: *mut c_void,
    out: *mut *mut c_void,
) -> u32 {
    // SAFETY: `types` holds `nargs` static descriptions (the contract).
    let types: &'static [TypeDesc] = unsafe { std::slice::from_raw_parts(types, nargs) };
    if crate::sync::refpool::attached() {
        // The common case (plugin code called from Python), kept apart from
        // `run`'s general path: the operation always runs, and takes every
        // value over.
        let made = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: attached, no lock of ours held (plugin code); the
            // values, types and `ret` are as `call_with_values` needs;
            // `visit` is the plugin's.
            unsafe {
                crate::call::objects::call_with_values(callable.cast(), args, types, &*ret, |v| {
                    (visit.func)(data, v)
                })
            }
            .map(|()| ptr::null_mut())
        }));
        // SAFETY: attached; `out` is valid for a write (the contract).
        return unsafe { report(made, out) };
    }
    // The plugin gives up `nargs` values at `args` (the contract): each is
    // read exactly once, by the operation or, if it does not run, below.
    // SAFETY: `k` is below `nargs`, and each index is read once.
    let read = |k: usize| unsafe { std::ptr::read(args.add(k)) };
    let mut taken = false;
    // SAFETY: as for `object_getattr`; the values, types and `ret` are as
    // `call_with_values` needs; `visit` is the plugin's.
    let status = unsafe {
        run(out, || {
            taken = true;
            crate::call::objects::call_with_values(callable.cast(), args, types, &*ret, |v| {
                (visit.func)(data, v)
            })
            .map(|()| ptr::null_mut())
        })
    };
    if !taken {
        // Not run (the interpreter is going away): object references go to
        // the pool, as a handle dropped on such a thread does.
        for (k, ty) in types.iter().enumerate() {
            // SAFETY: a value of the static `ty` the plugin gave up.
            unsafe { crate::call::compound::discard(ty, read(k)) };
        }
    }
    status
}

/// Reads a `WIDE_INT` argument's int: see `HostApi::int_to_wide`.
///
/// # Safety
/// Called by plugin code through the host table: `obj` is null or a live
/// object (an `ArgValue::Object` the shim passed for the current call),
/// `out` valid for a write.
pub(super) unsafe extern "C" fn int_to_wide(obj: *mut c_void, out: *mut WideInt) -> u32 {
    let obj = obj as *mut ffi::PyObject;
    // Never attaches: the value exists only during a call, on its
    // (attached) thread; anything else is a misuse, answered with an error.
    // SAFETY: `PyLong_Check` reads the type of a live object (the contract),
    // on an attached thread (checked first).
    if obj.is_null() || !crate::sync::refpool::attached() || unsafe { ffi::PyLong_Check(obj) } == 0
    {
        return WIDE_NOT_INT;
    }
    // SAFETY: attached, and `obj` is an int (checked above).
    match unsafe { crate::py::wide::to_wide(obj) } {
        Ok(value) => {
            // SAFETY: `out` is valid for a write (the contract).
            unsafe { out.write(value) };
            WIDE_OK
        }
        Err(crate::py::wide::WideFailure::OutOfRange) => WIDE_OUT_OF_RANGE,
        Err(crate::py::wide::WideFailure::Failed) => WIDE_NOT_INT,
    }
}

/// A wide integer as a Python int: see `HostApi::int_from_wide`.
///
/// # Safety
/// As for [`object_getattr`].
pub(super) unsafe extern "C" fn int_from_wide(value: WideInt, out: *mut *mut c_void) -> u32 {
    // SAFETY: as for `object_getattr`; the conversion runs attached.
    unsafe { run(out, || made(crate::py::wide::from_wide(value))) }
}
