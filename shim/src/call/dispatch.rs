//! One call: [`dispatch`] runs the path its function's [`CallPath`]
//! names, chosen when the function was created.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
};

use oxbind_abi::ArgValue;
use pyo3_ffi as ffi;

use super::fast::{
    call_method_positional, call_method_positional_owned, call_positional, call_positional_owned,
    call_scalar_to_value, call_shared_one_positional, call_shared_positional,
};
use super::general::call;
use super::signature::{expected_name, quoted};
use super::{CallPath, FunctionData, Mode, INLINE_PARAMS, NO_MATCH, OVERLOAD_ERROR};
use crate::py::errors;

/// Tries each overload; if none fits, raises TypeError listing them all
/// (or returns what [`super::mismatch`] gives for `mode`: `NotImplemented`
/// for an operator, so Python tries the other operand).
///
/// # Safety
/// As for [`dispatch`]: the thread is attached; `slf` is the receiver for
/// methods (ignored otherwise) and `args`/`kwnames` follow the vectorcall
/// convention.
#[inline(never)]
pub(super) unsafe fn dispatch_overloads(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    // This dispatch's own record of a candidate's non-TypeError error; an
    // enclosing dispatch's (a conversion that dispatches) is put back after.
    let outer = OVERLOAD_ERROR.with(|c| c.replace(ptr::null_mut()));
    for candidate in &data.overloads {
        // SAFETY: the same call, passed on as it came (this function's
        // contract is `dispatch`'s).
        let result = unsafe { dispatch(candidate, slf, args, nargs, kwnames, Mode::Overload) };
        if result != NO_MATCH {
            let mine = OVERLOAD_ERROR.with(|c| c.replace(outer));
            if !mine.is_null() {
                // SAFETY: attached, no lock held (the call is over); the
                // reference `stash_overload_error` kept, released once.
                unsafe { ffi::Py_DECREF(mine) };
            }
            return result;
        }
    }
    let mine = OVERLOAD_ERROR.with(|c| c.replace(outer));
    if !mine.is_null() {
        // No candidate fits, and one refused an argument with an error of
        // its own: that error is the answer.
        // SAFETY: attached; the reference kept, which restoring consumes.
        unsafe { errors::restore_exception(mine) };
        // SAFETY: attached, with that error set.
        return unsafe { super::mismatch(mode) };
    }
    let mut given: Vec<String> = (0..nargs as usize)
        // SAFETY: the thread is attached and `args` holds `nargs` live
        // positional arguments (the vectorcall convention).
        .map(|k| unsafe { errors::type_name(*args.add(k)) })
        .collect();
    if !kwnames.is_null() {
        // SAFETY: a non-null `kwnames` is a tuple (the vectorcall convention).
        for j in 0..unsafe { ffi::PyTuple_GET_SIZE(kwnames) } as usize {
            // SAFETY: the keyword values follow the `nargs` positional ones,
            // one per name in `kwnames`, and `j` is below the number of
            // names; the names and values are live, and the thread is
            // attached.
            unsafe {
                let value = *args.add(nargs as usize + j);
                given.push(format!(
                    "{}={}",
                    quoted(ffi::PyTuple_GET_ITEM(kwnames, j as _)).trim_matches('\''),
                    errors::type_name(value)
                ));
            }
        }
    }
    let signatures: Vec<String> = data
        .overloads
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .desc
                .params
                .as_slice()
                .iter()
                .map(|p| format!("{}: {}", p.name.as_str(), expected_name(&p.ty)))
                .collect();
            format!("    {}({})", c.desc.name.as_str(), params.join(", "))
        })
        .collect();
    // SAFETY: the thread is attached (this function's contract).
    unsafe {
        errors::type_error(&format!(
            "{}(): no overload matches the arguments ({}); the signatures are:\n{}",
            data.name,
            given.join(", "),
            signatures.join("\n")
        ))
    };
    // SAFETY: the thread is attached and an error is set (just above).
    unsafe { super::mismatch(mode) }
}

/// One call: match arguments to parameters, convert them, call the plugin,
/// convert the outcome. Panics in this code are caught too: none crosses
/// into CPython.
///
/// # Safety
/// The thread is attached and holds no lock of ours (a call may wait
/// detached); `slf` is the receiver for methods (ignored otherwise) and
/// `args`/`kwnames` follow the vectorcall convention.
#[inline]
pub(crate) unsafe fn dispatch(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    let nparams = data.desc.params.len();
    let positional = kwnames.is_null() && nargs as usize == nparams && nparams <= INLINE_PARAMS;
    // One match on the path chosen at creation. Each fast path returns, or
    // falls through to the general path.
    let null = ptr::null_mut();
    match data.path {
        CallPath::Overloaded => {
            // SAFETY: the same call, passed on as it came (this function's
            // contract is `dispatch_overloads`'s).
            return unsafe { dispatch_overloads(data, slf, args, nargs, kwnames, mode) };
        }
        CallPath::ClassMethod => {
            // SAFETY: the same call, passed on as it came (this function's
            // contract is `dispatch_class_method`'s); `slf` is the class.
            return unsafe { dispatch_class_method(data, slf, args, nargs, kwnames, mode) };
        }
        CallPath::Serialized => {
            let lock = data
                .serial
                .expect("a serialized function has its plugin's lock");
            // SAFETY: the same call, passed on as it came (this function's
            // contract is `dispatch_general`'s); attached, and the caller
            // holds no lock of ours (the lock's wait detaches).
            return unsafe { lock.run(|| dispatch_general(data, slf, args, nargs, kwnames, mode)) };
        }
        _ if !positional => {}
        CallPath::Scalars => {
            // SAFETY: the thread is attached; no keywords, and `args` holds
            // exactly `nparams` live positional arguments (checked above).
            return unsafe { guarded(data, null, || call_positional(data, args, nparams, mode)) };
        }
        CallPath::ScalarsToOwned => {
            // SAFETY: as for `Scalars`; the caller holds no lock of ours
            // (this function's contract), as building the result needs.
            return unsafe {
                guarded(data, null, || {
                    call_positional_owned(data, args, nparams, mode)
                })
            };
        }
        // Borrow self, call, release; `lock_self` holds self's critical
        // section around all of it.
        CallPath::ScalarMethod => {
            // SAFETY: the thread is attached; `slf` is the method's receiver
            // and `args` holds exactly `nparams` live positional arguments
            // (checked above).
            return unsafe {
                guarded(data, null, || {
                    if data.desc.lock_self {
                        call_method_positional::<true>(data, slf, args, nparams, mode)
                    } else {
                        call_method_positional::<false>(data, slf, args, nparams, mode)
                    }
                })
            };
        }
        CallPath::MethodToOwned => {
            // SAFETY: the thread is attached and holds no lock of ours (this
            // function's contract); `slf` is the method's receiver and
            // `args` holds exactly `nparams` live positional arguments
            // (checked above).
            return unsafe {
                guarded(data, null, || {
                    call_method_positional_owned(data, slf, args, nparams, mode)
                })
            };
        }
        CallPath::ScalarsToValue => {
            // SAFETY: the thread is attached; `args` holds exactly `nparams`
            // live positional arguments (checked above).
            return unsafe {
                guarded(data, null, || {
                    call_scalar_to_value(data, args, nparams, mode)
                })
            };
        }
        // Shared borrows only (`&self`, `&T`): no scratch. `None` means
        // something unusual, which the general path handles.
        CallPath::SharedOne => {
            // SAFETY: the thread is attached; `slf` is the receiver (if
            // any) and `args` holds exactly `nparams` live positional
            // arguments (checked above).
            if let Some(result) = unsafe {
                guarded(data, Some(null), || {
                    call_shared_one_positional(data, slf, args, nparams)
                })
            } {
                return result;
            }
        }
        CallPath::Shared => {
            // SAFETY: the thread is attached; `slf` is the receiver (if
            // any) and `args` holds exactly `nparams` live positional
            // arguments (checked above).
            if let Some(result) = unsafe {
                guarded(data, Some(null), || {
                    call_shared_positional(data, slf, args, nparams)
                })
            } {
                return result;
            }
        }
        CallPath::General => {}
    }
    // SAFETY: the same call, passed on as it came (this function's contract
    // is `dispatch_general`'s).
    unsafe { dispatch_general(data, slf, args, nargs, kwnames, mode) }
}

/// A class method's call: `cls` (the class it was called on) goes before
/// the arguments, and the general path runs.
///
/// # Safety
/// As for [`dispatch`]; `cls` is a live type object (the `self` CPython
/// passes a `METH_CLASS` function).
#[inline(never)]
unsafe fn dispatch_class_method(
    data: &FunctionData,
    cls: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    let keywords = if kwnames.is_null() {
        0
    } else {
        // SAFETY: `kwnames` is a tuple (the vectorcall convention).
        unsafe { ffi::PyTuple_GET_SIZE(kwnames) as usize }
    };
    let mut all = Vec::with_capacity(1 + nargs as usize + keywords);
    all.push(cls);
    for k in 0..nargs as usize + keywords {
        // SAFETY: `args` holds `nargs` positional then one value per keyword
        // name (the vectorcall convention).
        all.push(unsafe { *args.add(k) });
    }
    let run = || {
        // SAFETY: attached (the contract); `all` is the positional arguments
        // with `cls` first, then the keyword values `kwnames` names, all
        // alive for the call (`cls` is the class the method was looked up
        // on, which its caller holds; the rest are the caller's).
        unsafe {
            dispatch_general(
                data,
                ptr::null_mut(),
                all.as_ptr(),
                nargs + 1,
                kwnames,
                mode,
            )
        }
    };
    match data.serial {
        // SAFETY: attached, holding no lock of ours (the contract, as
        // `dispatch`'s).
        Some(lock) => unsafe { lock.run(run) },
        None => run(),
    }
}

/// The general path: keywords, defaults, conversions, locks, waits. Kept
/// out of line, so that its large stack frame is set up only for the calls
/// that take it, never for the fast paths in [`dispatch`].
///
/// # Safety
/// As for [`dispatch`]: the thread is attached; `slf` is the receiver for
/// methods (ignored otherwise) and `args`/`kwnames` follow the vectorcall
/// convention.
#[inline(never)]
pub(super) unsafe fn dispatch_general(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    let nparams = data.desc.params.len();
    // SAFETY: the thread is attached and the arguments are as `call`
    // requires (this function's contract); the slots are fresh (all null)
    // and there is one slot and one value per parameter.
    unsafe {
        guarded(data, ptr::null_mut(), || {
            let run = |slots: &mut [*mut ffi::PyObject], values: &mut [ArgValue<'_>]| {
                call(data, slf, args, nargs, kwnames, slots, values, mode)
            };
            // One slot and one value per parameter, on the stack for up to
            // `INLINE_PARAMS` of them.
            if nparams <= INLINE_PARAMS {
                let mut slots = [ptr::null_mut(); INLINE_PARAMS];
                let mut values = [ArgValue::None; INLINE_PARAMS];
                run(&mut slots[..nparams], &mut values[..nparams])
            } else {
                run(
                    &mut vec![ptr::null_mut(); nparams],
                    &mut vec![ArgValue::None; nparams],
                )
            }
        })
    }
}

/// Runs one call path, turning a panic in the shim's own code into
/// `oxbind.PanicError` (set) and `on_panic` returned: none crosses into
/// CPython.
///
/// # Safety
/// The thread is attached (a panic is raised as a Python exception).
#[inline(always)]
pub(super) unsafe fn guarded<R>(data: &FunctionData, on_panic: R, path: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(path)) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::raise_panic(&format!(
                    "internal error in the oxbind shim while calling {}()",
                    data.name
                ))
            };
            on_panic
        }
    }
}
