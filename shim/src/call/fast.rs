//! The fast paths: positional calls whose parameters need no keyword
//! binding, no defaults and no argument locks.

use std::ptr;

use oxbind_abi::{
    abi_stable::std_types::RSlice, ArgValue, CallOutcome, Receiver, RetValue, TypeKind,
};
use pyo3_ffi as ffi;

use super::args::{report_scalar_failure, to_arg_into, ArgFailure};
use super::outcome::{finish_in_place, finish_scalar, peek, Pending, Taken};
use super::{mismatch, new_instance, FunctionData, Mode, INLINE_PARAMS};
use crate::{instance, py::errors, sync::critical};

/// Converts `n` positional scalar arguments in place into `storage`; raises
/// and returns None on failure.
///
/// # Safety
/// The thread is attached, and `args` points at `n` valid objects that the
/// caller keeps alive for `'a` (a `str` or `bytes` value borrows from its
/// object).
#[inline(always)]
pub(super) unsafe fn convert_positional<'s, 'a>(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    storage: &'s mut [std::mem::MaybeUninit<ArgValue<'a>>; INLINE_PARAMS],
) -> Option<&'s [ArgValue<'a>]> {
    let params = data.desc.params.as_slice();
    for i in 0..n {
        // Written in place: no intermediate Option<ArgValue> to copy.
        if let Err(failure) =
            // SAFETY: `i < n`, and `args` holds `n` valid objects that
            // outlive 'a, on an attached thread (this function's contract);
            // the storage slot is valid for a write.
            unsafe { to_arg_into(*args.add(i), &params[i].ty, storage[i].as_mut_ptr()) }
        {
            // SAFETY: as for `to_arg_into` just above: attached, and
            // `*args.add(i)` is a valid object.
            unsafe { report_scalar_failure(data, i, *args.add(i), &params[i].ty, failure) };
            return None;
        }
    }
    // SAFETY: the first `n` values were written above (and `n` is within
    // `storage`, whose indexing would have panicked otherwise).
    Some(unsafe { std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'a>, n) })
}

/// `call` for a simple function whose arguments are all positional.
///
/// # Safety
/// The thread is attached; `data` is a function on the
/// [`super::CallPath::Scalars`] path (no receiver, scalar parameters and
/// result), and `args` points at `n` valid objects, one per parameter,
/// which the caller keeps alive for the call.
#[inline(always)]
pub(super) unsafe fn call_positional(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // SAFETY: the thread is attached and `args` holds `n` valid objects the
    // caller keeps alive for the call (this function's contract).
    let Some(values) = (unsafe { convert_positional(data, args, n, &mut storage) }) else {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    };
    // SAFETY: the plugin's `CallFn` contract holds: one value per parameter
    // (`n` of them, this function's contract), each of its scalar kind as
    // converted above and borrowing only from `args`, which the caller keeps
    // alive; no receiver and no result slot on this path; attached.
    let outcome =
        unsafe { (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut()) };
    // SAFETY: forgotten just below; `finish_in_place` never unwinds after
    // taking it over. The thread is attached.
    let result = unsafe { finish_in_place(&outcome) };
    std::mem::forget(outcome);
    result
}

/// `call` for a function of scalar parameters, all positional, whose
/// result owns what it holds ([`super::CallPath::ScalarsToOwned`]): as
/// [`call_positional`], then the result is built by `compound::to_py`. No
/// borrow or lock is held, so building it may run Python code.
///
/// # Safety
/// The thread is attached and holds no lock of ours; `data` is a function
/// on the `ScalarsToOwned` path, and `args` points at `n` valid objects,
/// one per parameter, which the caller keeps alive for the call.
#[inline(never)]
pub(super) unsafe fn call_positional_owned(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // SAFETY: the thread is attached and `args` holds `n` valid objects the
    // caller keeps alive for the call (this function's contract).
    let Some(values) = (unsafe { convert_positional(data, args, n, &mut storage) }) else {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    };
    // SAFETY: as in `call_positional`: one value per parameter, each of its
    // scalar kind, borrowing only from `args`; no receiver and no result
    // slot on this path; attached.
    let outcome =
        unsafe { (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut()) };
    match &outcome {
        // Read in place, then dropped (freeing only buffers: the object
        // references in it are taken over).
        // SAFETY: attached, no lock, borrow or section held (this
        // function's contract); the value is the plugin's result, of the
        // function's result type, given up, and never converted again.
        CallOutcome::Ok(value) => unsafe {
            super::compound::to_py_in_place(data, &data.desc.ret, value)
        },
        // SAFETY: the thread is attached (this function's contract).
        _ => unsafe { finish_scalar(outcome) },
    }
}

/// `call` for a method whose other parameters and result are scalars, all
/// passed positionally.
///
/// `LOCKED` is the method's `lock_self`: self's critical section is then
/// taken before the arguments are converted and held through the call and
/// the result conversion, as on the general path (`spec/THREADING.md`,
/// "Locks a call takes"). The borrow inside it is still needed: unlocked
/// `&self` calls on other threads take only their shared borrow.
///
/// # Safety
/// The thread is attached; `data` is a method on the
/// [`super::CallPath::ScalarMethod`] path (scalar parameters and result);
/// `slf` is null or an instance of its class (CPython's method descriptor
/// checks the type), and `args` points at `n` valid objects, one per
/// parameter; the caller keeps all of them alive for the call.
#[inline(always)]
pub(super) unsafe fn call_method_positional<const LOCKED: bool>(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    // SAFETY: `slf`, not null, is an instance of the method's class, so an
    // oxbind instance (this function's contract).
    if slf.is_null() || !unsafe { instance::is_ready(slf) } {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { raise_uninitialised(data) };
    }
    let mut slot = critical::SectionSlot::uninit();
    // Ends after the result below is converted (locals drop in reverse).
    // SAFETY: the thread is attached and `slf` (hence its root, which it
    // keeps alive) is a live object the caller keeps alive beyond the
    // section, which ends before this function returns.
    let _section = LOCKED.then(|| unsafe {
        critical::lock(&mut slot, crate::instance::borrow::lock_root(slf), None)
    });
    // `oxbind::detach` inside must not suspend the section (see
    // `crate::sync::detach::hold_section`).
    let _held = LOCKED.then(crate::sync::detach::hold_section);
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // SAFETY: the thread is attached and `args` holds `n` valid objects the
    // caller keeps alive for the call (this function's contract).
    let Some(values) = (unsafe { convert_positional(data, args, n, &mut storage) }) else {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    };
    let exclusive = data.desc.receiver == Receiver::MUT;
    let mut pending = Pending::new();
    let call = || {
        // SAFETY: the plugin's `CallFn` contract holds: self is a ready
        // instance (checked above), borrowed as its receiver requires for
        // the call (this closure runs inside `with_one_borrow`), so `this`
        // is its initialised value; the values are scalars converted above,
        // one per parameter; no result slot for a scalar result; attached.
        let outcome = unsafe {
            (data.desc.call)(
                instance::header(slf).value,
                RSlice::from_slice(values),
                ptr::null_mut(),
            )
        };
        // SAFETY: forgotten just below, with nothing between that unwinds.
        unsafe { pending.keep(&outcome) };
        std::mem::forget(outcome);
    };
    // The borrow is released before the outcome is converted: converting
    // may allocate, and a collection may run Python code that uses `self`.
    // SAFETY: `slf` is a ready oxbind instance (checked above) that the
    // caller keeps alive, on an attached thread (this function's contract).
    match unsafe { crate::instance::borrow::with_one_borrow(slf, exclusive, call) } {
        // SAFETY: the thread is attached; `pending` holds the outcome `call`
        // kept.
        Ok(()) => unsafe { pending.finish() },
        Err(crate::instance::borrow::BorrowFail::Raised) => ptr::null_mut(),
        Err(crate::instance::borrow::BorrowFail::Busy) => {
            // SAFETY: `slf` is a ready instance of the method's class that
            // the caller keeps alive (checked above; this function's
            // contract); `values` are its scalar arguments, one per
            // parameter; `exclusive` is true for `&mut self`; attached.
            // (`finish_scalar` needs only the attached thread.)
            unsafe { call_method_after_wait(data, slf, values, exclusive, |o| finish_scalar(o)) }
        }
    }
}

/// `call` for a method without `lock_self` whose other parameters are
/// scalars, all positional, and whose result owns what it holds
/// ([`super::CallPath::MethodToOwned`]): `self` is borrowed for the call
/// only, and the result is built by `compound` after the borrow is
/// released (building it may run Python code that uses `self`).
///
/// # Safety
/// The thread is attached and holds no lock of ours; `data` is a method on
/// the `MethodToOwned` path; `slf` is null or an instance of its class, and
/// `args` points at `n` valid objects, one per parameter; the caller keeps
/// all of them alive for the call.
#[inline(never)]
pub(super) unsafe fn call_method_positional_owned(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    // SAFETY: `slf`, not null, is an instance of the method's class, so an
    // oxbind instance (this function's contract).
    if slf.is_null() || !unsafe { instance::is_ready(slf) } {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { raise_uninitialised(data) };
    }
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // SAFETY: the thread is attached and `args` holds `n` valid objects the
    // caller keeps alive for the call (this function's contract).
    let Some(values) = (unsafe { convert_positional(data, args, n, &mut storage) }) else {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    };
    let exclusive = data.desc.receiver == Receiver::MUT;
    let mut kept: Option<CallOutcome> = None;
    let call = || {
        // SAFETY: as in `call_method_positional`: self is a ready instance
        // borrowed as its receiver requires for the call (this closure runs
        // inside `with_one_borrow`); the values are scalars converted above,
        // one per parameter; no result slot; attached.
        kept = Some(unsafe {
            (data.desc.call)(
                instance::header(slf).value,
                RSlice::from_slice(values),
                ptr::null_mut(),
            )
        });
    };
    // SAFETY: `slf` is a ready oxbind instance (checked above) that the
    // caller keeps alive, on an attached thread (this function's contract).
    let outcome = match unsafe { crate::instance::borrow::with_one_borrow(slf, exclusive, call) } {
        Ok(()) => kept,
        Err(crate::instance::borrow::BorrowFail::Raised) => return ptr::null_mut(),
        Err(crate::instance::borrow::BorrowFail::Busy) => {
            // SAFETY: `slf` is a ready instance of the method's class that
            // the caller keeps alive (checked above; this function's
            // contract); `values` are its scalar arguments; attached; the
            // result is finished after the borrow is released.
            return unsafe {
                call_method_after_wait(data, slf, values, exclusive, |o| finish_owned(data, o))
            };
        }
    };
    match outcome {
        // SAFETY: attached, with no lock or borrow held any more (released
        // above); the value is the plugin's result, of the method's result
        // type, given up, converted once.
        Some(outcome) => unsafe { finish_owned(data, outcome) },
        None => {
            // Not reached: `with_one_borrow` returns `Ok` only after running
            // `call`.
            // SAFETY: attached; `PyExc_RuntimeError` is an exception class.
            unsafe {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!("{}() did not run", data.name),
                )
            };
            ptr::null_mut()
        }
    }
}

/// The object for the outcome of a call whose result owns what it holds,
/// built by `compound` (or the error raised).
///
/// # Safety
/// The thread is attached and holds no lock or borrow of the call; the
/// outcome is the plugin's, for `data`'s function, given up.
unsafe fn finish_owned(data: &FunctionData, outcome: CallOutcome) -> *mut ffi::PyObject {
    match outcome {
        // SAFETY: attached, nothing of the call held (this function's
        // contract); the value is the plugin's result, converted once.
        CallOutcome::Ok(value) => unsafe { super::compound::to_py(data, &data.desc.ret, value) },
        // SAFETY: the thread is attached (this function's contract).
        other => unsafe { finish_scalar(other) },
    }
}

/// RuntimeError for a method called on an instance whose value was never
/// written (`Counter.__new__(Counter)`); returns NULL.
///
/// # Safety
/// The thread is attached.
#[cold]
#[inline(never)]
pub(super) unsafe fn raise_uninitialised(data: &FunctionData) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract), and
    // `PyExc_RuntimeError` is an exception class CPython sets at startup and
    // never changes.
    unsafe {
        errors::raise(
            ffi::PyExc_RuntimeError,
            &format!("{}() called on an uninitialised instance", data.name),
        )
    };
    ptr::null_mut()
}

/// [`call_method_positional`] when another thread holds a conflicting
/// borrow of `self`: waits for it (detached), then calls. Out of line, so
/// that the uncontended path carries none of its state.
///
/// # Safety
/// The thread is attached; `data` is a method with a scalar result; `slf`
/// is a ready instance of its class that the caller keeps alive; `values`
/// holds one value per parameter, each of its declared scalar kind; and
/// `exclusive` is true exactly for a `&mut self` receiver.
#[cold]
#[inline(never)]
pub(super) unsafe fn call_method_after_wait(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    values: &[ArgValue<'_>],
    exclusive: bool,
    finish: impl FnOnce(CallOutcome) -> *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let mut waited = crate::instance::borrow::Borrows::default();
    // SAFETY: `slf` is a ready oxbind instance the caller keeps alive, on an
    // attached thread (this function's contract).
    if unsafe { crate::instance::borrow::borrow_all(&[(slf, exclusive)], &mut waited) }.is_err() {
        return ptr::null_mut();
    }
    // SAFETY: the plugin's `CallFn` contract holds: self is borrowed for the
    // call (exclusively for `&mut self`), so `this` is its initialised value;
    // the values fit the parameters and the result is a scalar, needing no
    // slot (this function's contract); attached.
    let outcome = unsafe {
        (data.desc.call)(
            instance::header(slf).value,
            RSlice::from_slice(values),
            ptr::null_mut(),
        )
    };
    drop(waited);
    finish(outcome)
}

/// `call` for a `scalar_to_value` function (a constructor from scalars):
/// the new instance is allocated first and the plugin moves the value into
/// it; no borrow, no scratch.
///
/// # Safety
/// The thread is attached; `data` is a function on the
/// [`super::CallPath::ScalarsToValue`] path (no receiver, scalar
/// parameters, a class result by value), and `args` points at `n` valid
/// objects, one per parameter, which the caller keeps alive for the call.
#[inline(always)]
pub(super) unsafe fn call_scalar_to_value(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // SAFETY: the thread is attached and `args` holds `n` valid objects the
    // caller keeps alive for the call (this function's contract).
    let Some(values) = (unsafe { convert_positional(data, args, n, &mut storage) }) else {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    };
    // SAFETY: the thread is attached (this function's contract).
    let Ok(record) = (unsafe { data.result_record() }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached (this function's contract).
    let Some(obj) = (unsafe { new_instance(record) }) else {
        return ptr::null_mut();
    };
    // SAFETY: `obj` is a new instance of `record`'s class, an oxbind class.
    let slot = unsafe { instance::header(obj.as_ptr()) }.value;
    // SAFETY: the plugin's `CallFn` contract holds: one scalar value per
    // parameter (`n` of them), converted above; no receiver; `slot` is the
    // uninitialised value of a fresh instance of the result's class, whose
    // record was checked against the plugin's class when resolved; attached.
    match unsafe { (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), slot) } {
        CallOutcome::Ok(RetValue::Written) => {
            // SAFETY: allocated by this call, not yet handed out.
            unsafe { instance::mark_ready(obj.as_ptr()) };
            obj.into_raw()
        }
        // The instance was never made ready: dropping it drops no value.
        CallOutcome::Ok(_) => {
            // SAFETY: the thread is attached (this function's contract), and
            // `PyExc_RuntimeError` is an exception class CPython sets at
            // startup and never changes.
            unsafe {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!("{}() did not write the result it returns", data.name),
                )
            };
            ptr::null_mut()
        }
        // SAFETY: the thread is attached (this function's contract).
        other => unsafe { finish_scalar(other) },
    }
}

/// Gathers the arguments of a call on a shared path
/// ([`super::CallPath::Shared`], [`super::CallPath::SharedOne`]) into
/// `storage`, with no side effect: each object argument must be an exact,
/// ready instance of its class, and the receiver (for a method) ready.
/// `object` is called with each object whose value is passed, the receiver
/// first. `None` (no error set) hands the call to the general path, which
/// converts again and reports what did not fit as the mode requires
/// (TypeError, NotImplemented, no match, or the next overload).
///
/// # Safety
/// As for [`call_shared_positional`]; `'a` does not outlive the caller's
/// hold on the arguments.
#[inline(always)]
unsafe fn gather_shared<'s, 'a>(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
    storage: &'s mut [std::mem::MaybeUninit<ArgValue<'a>>; INLINE_PARAMS],
    mut object: impl FnMut(*mut ffi::PyObject),
) -> Option<&'s [ArgValue<'a>]> {
    if data.desc.receiver != Receiver::NONE {
        // SAFETY: `slf`, not null, is an instance of the method's class, so
        // an oxbind instance (this function's contract).
        if slf.is_null() || !unsafe { instance::is_ready(slf) } {
            return None;
        }
        object(slf);
    }
    for (i, param) in data.desc.params.as_slice().iter().enumerate().take(n) {
        // SAFETY: `i < n`, and `args` holds `n` objects (this function's
        // contract).
        let obj = unsafe { *args.add(i) };
        if param.ty.kind == TypeKind::OBJECT {
            // SAFETY: the thread is attached (this function's contract).
            let Ok(record) = (unsafe { data.record(i, param.ty.class.expect("checked at load")) })
            else {
                // SAFETY: the thread is attached; this clears the error
                // `record` set (the class is not loaded).
                unsafe { ffi::PyErr_Clear() };
                return None;
            };
            // SAFETY: `obj` is a valid object (this function's contract);
            // `is_ready` reads it only once `is_instance` found it exactly of
            // `record`'s class, an oxbind class.
            if !unsafe { instance::is_instance(obj, record) } || !unsafe { instance::is_ready(obj) }
            {
                return None;
            }
            // SAFETY: `obj` is a ready oxbind instance (checked just above).
            storage[i].write(ArgValue::Object(unsafe { instance::header(obj) }.value));
            object(obj);
            // SAFETY: `obj` is a valid object the caller keeps alive for the
            // call, on an attached thread (this function's contract); the
            // storage slot is valid for a write.
        } else if let Err(failure) = unsafe { to_arg_into(obj, &param.ty, storage[i].as_mut_ptr()) }
        {
            if let ArgFailure::Raised = failure {
                // SAFETY: the thread is attached; this clears the error the
                // conversion set.
                unsafe { ffi::PyErr_Clear() };
            }
            return None;
        }
    }
    // SAFETY: the first `n` values were written above (`n` is the parameter
    // count, this function's contract, so the loop ran `n` times).
    Some(unsafe { std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'a>, n) })
}

/// The value a method's receiver passes: self's value, or null for a
/// function.
///
/// # Safety
/// For a method, `slf` is a ready oxbind instance (checked by
/// [`gather_shared`]).
#[inline(always)]
unsafe fn receiver_value(data: &FunctionData, slf: *mut ffi::PyObject) -> *mut std::ffi::c_void {
    if data.desc.receiver != Receiver::NONE {
        // SAFETY: `slf` is a ready oxbind instance (this function's
        // contract).
        unsafe { instance::header(slf) }.value
    } else {
        ptr::null_mut()
    }
}

/// The object a `&T` result stands for, among the instances the call
/// borrowed (`candidates`); null with the error set if it is none of them,
/// or the result's class cannot be resolved.
///
/// # Safety
/// The thread is attached, and the candidates are live oxbind instances the
/// call borrowed, still borrowed.
#[inline(always)]
unsafe fn ref_result(
    data: &FunctionData,
    p: *const std::ffi::c_void,
    candidates: &[*mut ffi::PyObject],
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract).
    match unsafe { data.result_record() } {
        // SAFETY: attached, and the candidates are live, borrowed instances
        // (this function's contract).
        Ok(record) => unsafe {
            crate::runtime::instance_map::object_for_ref(p, record, candidates, &data.name)
        },
        Err(()) => ptr::null_mut(),
    }
}

/// `call` for a `shared_only` function or method, all arguments given
/// positionally. Each object argument must be an exact, ready instance of
/// its class, and every borrow must be free of other threads' exclusive
/// borrows; otherwise it returns `None` having done nothing (no borrow
/// held, no error set), and the general path takes over: implicit
/// conversions, waiting for borrows, and the error messages.
///
/// # Safety
/// The thread is attached; `data` is a function on the
/// [`super::CallPath::Shared`] path; for a method, `slf` is null or an
/// instance of its class (CPython's method descriptor checks the type);
/// `args` points at `n` valid objects, one per parameter (`n` is the
/// parameter count); the caller keeps all of them alive for the call.
#[inline(always)]
pub(super) unsafe fn call_shared_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // The objects whose values are passed: the receiver first, if any.
    let mut objects = [ptr::null_mut(); INLINE_PARAMS + 1];
    let mut count = 0;
    // SAFETY: this function's contract is `gather_shared`'s.
    let values = unsafe {
        gather_shared(data, slf, args, n, &mut storage, |obj| {
            objects[count] = obj;
            count += 1;
        })
    }?;
    let objects = &objects[..count];
    crate::instance::borrow::BorrowSet::with(|set| {
        for &obj in objects {
            // SAFETY: each object is a ready oxbind instance (checked by
            // `gather_shared`) that the caller keeps alive, on an attached
            // thread (this function's contract); there are at most
            // `INLINE_PARAMS + 1`, within `BorrowSet::CAPACITY` (asserted in
            // `call/mod.rs`).
            match unsafe { set.try_add(obj, false) } {
                Ok(()) => {}
                Err(crate::instance::borrow::BorrowFail::Raised) => return Some(ptr::null_mut()),
                Err(crate::instance::borrow::BorrowFail::Busy) => return None, // the set releases
            }
        }
        // SAFETY: `slf` was checked by `gather_shared`.
        let this = unsafe { receiver_value(data, slf) };
        // SAFETY: the plugin's `CallFn` contract holds: one value per
        // parameter, each of its kind (scalars, and the values of ready
        // instances of each `&T` parameter's class, shared-borrowed in the
        // set); `this` is self's value, borrowed likewise, or null for a
        // function; no result slot, the result being a scalar or a `&T`;
        // attached.
        let outcome =
            unsafe { (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut()) };
        if let Taken::Ref(p) = peek(&outcome) {
            // A `Ref` owns nothing: there is nothing to drop.
            std::mem::forget(outcome);
            // SAFETY: attached (this function's contract); the objects are
            // live oxbind instances the call borrowed, still held in the set.
            return Some(unsafe { ref_result(data, p, objects) });
        }
        set.release_all();
        // SAFETY: forgotten just below (see `call_positional`); attached.
        let result = unsafe { finish_in_place(&outcome) };
        std::mem::forget(outcome);
        Some(result)
    })
}

/// [`call_shared_positional`] for a call with exactly one object to borrow
/// (`shared_one`): one borrow through [`crate::instance::borrow::with_one_borrow`], no
/// list of objects, and a scalar outcome read where the plugin wrote it.
/// The same contract: `None`, with nothing held and no error set, hands the
/// call to the general path.
///
/// # Safety
/// As for [`call_shared_positional`], with `data` on the
/// [`super::CallPath::SharedOne`] path: exactly one object to borrow, the
/// receiver or one `&T` argument.
#[inline(always)]
pub(super) unsafe fn call_shared_one_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // The one object whose value is passed.
    let mut object = ptr::null_mut();
    // SAFETY: this function's contract is `gather_shared`'s.
    let values = unsafe { gather_shared(data, slf, args, n, &mut storage, |obj| object = obj) }?;
    // SAFETY: `slf` was checked by `gather_shared`.
    let this = unsafe { receiver_value(data, slf) };
    let mut pending = Pending::new();
    let mut result = None;
    let call = || {
        // SAFETY: `object` is borrowed until this closure returns; a `&T`
        // result becomes its object before then, as on the several-object
        // path. The plugin's `CallFn` contract holds: one value per
        // parameter, each of its kind (scalars, or the value of the one
        // ready, borrowed `&T` argument); `this` is self's value (self being
        // the one object then) or null; no result slot; attached.
        let outcome =
            unsafe { (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut()) };
        // SAFETY: forgotten just below, with nothing between that unwinds.
        unsafe { pending.keep(&outcome) };
        std::mem::forget(outcome);
        if let Taken::Ref(p) = pending.taken {
            // SAFETY: attached (this function's contract), and `object` is a
            // live oxbind instance this call borrowed (this closure runs
            // inside the borrow).
            result = Some(unsafe { ref_result(data, p, &[object]) });
        }
    };
    // SAFETY: `object` is a ready oxbind instance (checked by
    // `gather_shared`: the receiver, or the one `&T` argument the path
    // guarantees) that the caller keeps alive, on an attached thread (this
    // function's contract).
    match unsafe { crate::instance::borrow::with_one_borrow(object, false, call) } {
        Ok(()) => {}
        Err(crate::instance::borrow::BorrowFail::Raised) => return Some(ptr::null_mut()),
        Err(crate::instance::borrow::BorrowFail::Busy) => return None,
    }
    Some(match result {
        Some(r) => r,
        // SAFETY: the thread is attached; `pending` holds the outcome `call`
        // kept.
        None => unsafe { pending.finish() },
    })
}
