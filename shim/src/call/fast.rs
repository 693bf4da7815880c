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
        if let Err(failure) = to_arg_into(*args.add(i), &params[i].ty, storage[i].as_mut_ptr()) {
            report_scalar_failure(data, i, *args.add(i), &params[i].ty, failure);
            return None;
        }
    }
    // SAFETY: the first `n` values were written above.
    Some(std::slice::from_raw_parts(
        storage.as_ptr() as *const ArgValue<'a>,
        n,
    ))
}

/// `call` for a simple function whose arguments are all positional.
#[inline(always)]
pub(super) unsafe fn call_positional(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let outcome = (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut());
    // SAFETY: forgotten just below; `finish_in_place` never unwinds after
    // taking it over.
    let result = finish_in_place(&outcome);
    std::mem::forget(outcome);
    result
}

/// `call` for a method whose other parameters and result are scalars, all
/// passed positionally.
///
/// `LOCKED` is the method's `lock_self`: self's critical section is then
/// taken before the arguments are converted and held through the call and
/// the result conversion, as on the general path (`spec/THREADING.md`,
/// "Locks a call takes"). The borrow inside it is still needed: unlocked
/// `&self` calls on other threads take only their shared borrow.
#[inline(always)]
pub(super) unsafe fn call_method_positional<const LOCKED: bool>(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    if slf.is_null() || !instance::is_ready(slf) {
        return raise_uninitialised(data);
    }
    let mut slot = critical::SectionSlot::uninit();
    // Ends after the result below is converted (locals drop in reverse).
    let _section =
        LOCKED.then(|| critical::lock(&mut slot, crate::instance::borrow::lock_root(slf), None));
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let exclusive = data.desc.receiver == Receiver::MUT;
    let mut pending = Pending::new();
    // SAFETY (of the call): self is borrowed for the call; the values are
    // scalars converted above.
    let call = || {
        let outcome = (data.desc.call)(
            instance::header(slf).value,
            RSlice::from_slice(values),
            ptr::null_mut(),
        );
        // SAFETY: forgotten just below, with nothing between that unwinds.
        pending.keep(&outcome);
        std::mem::forget(outcome);
    };
    // The borrow is released before the outcome is converted: converting
    // may allocate, and a collection may run Python code that uses `self`.
    match crate::instance::borrow::with_one_borrow(slf, exclusive, call) {
        Ok(()) => pending.finish(),
        Err(crate::instance::borrow::BorrowFail::Raised) => ptr::null_mut(),
        Err(crate::instance::borrow::BorrowFail::Busy) => {
            call_method_after_wait(data, slf, values, exclusive)
        }
    }
}

/// RuntimeError for a method called on an instance whose value was never
/// written (`Counter.__new__(Counter)`); returns NULL.
#[cold]
#[inline(never)]
pub(super) unsafe fn raise_uninitialised(data: &FunctionData) -> *mut ffi::PyObject {
    errors::raise(
        ffi::PyExc_RuntimeError,
        &format!("{}() called on an uninitialised instance", data.name),
    );
    ptr::null_mut()
}

/// [`call_method_positional`] when another thread holds a conflicting
/// borrow of `self`: waits for it (detached), then calls. Out of line, so
/// that the uncontended path carries none of its state.
#[cold]
#[inline(never)]
pub(super) unsafe fn call_method_after_wait(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    values: &[ArgValue<'_>],
    exclusive: bool,
) -> *mut ffi::PyObject {
    let mut waited = crate::instance::borrow::Borrows::default();
    if crate::instance::borrow::borrow_all(&[(slf, exclusive)], &mut waited).is_err() {
        return ptr::null_mut();
    }
    // SAFETY: self is borrowed for the call.
    let outcome = (data.desc.call)(
        instance::header(slf).value,
        RSlice::from_slice(values),
        ptr::null_mut(),
    );
    drop(waited);
    finish_scalar(outcome)
}

/// `call` for a `scalar_to_value` function (a constructor from scalars):
/// the new instance is allocated first and the plugin moves the value into
/// it; no borrow, no scratch.
#[inline(always)]
pub(super) unsafe fn call_scalar_to_value(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let Ok(record) = data.classes[n].get(
        data.desc.ret.class.expect("checked at load"),
        data.plugin,
        &data.name,
    ) else {
        return ptr::null_mut();
    };
    let Some(obj) = new_instance(record) else {
        return ptr::null_mut();
    };
    let slot = instance::header(obj.as_ptr()).value;
    match (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), slot) {
        CallOutcome::Ok(RetValue::Written) => {
            // SAFETY: allocated by this call, not yet handed out.
            instance::mark_ready(obj.as_ptr());
            obj.into_raw()
        }
        // The instance was never made ready: dropping it drops no value.
        CallOutcome::Ok(_) => {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!("{}() did not write the result it returns", data.name),
            );
            ptr::null_mut()
        }
        other => finish_scalar(other),
    }
}

/// `call` for a `shared_only` function or method, all arguments given
/// positionally. Each object argument must be an exact, ready instance of
/// its class, and every borrow must be free of other threads' exclusive
/// borrows; otherwise it returns `None` having done nothing (no borrow
/// held, no error set), and the general path takes over: implicit
/// conversions, waiting for borrows, and the error messages.
#[inline(always)]
pub(super) unsafe fn call_shared_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let params = data.desc.params.as_slice();
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // The objects whose values are passed: the receiver first, if any.
    let mut objects = [ptr::null_mut(); INLINE_PARAMS + 1];
    let mut count = 0;
    let has_self = data.desc.receiver != Receiver::NONE;
    if has_self {
        if slf.is_null() || !instance::is_ready(slf) {
            return None;
        }
        objects[0] = slf;
        count = 1;
    }
    for (i, param) in params.iter().enumerate().take(n) {
        let obj = *args.add(i);
        if param.ty.kind == TypeKind::OBJECT {
            let Ok(record) = data.classes[i].get(
                param.ty.class.expect("checked at load"),
                data.plugin,
                &data.name,
            ) else {
                // The class is not loaded: the general path reports it as
                // the mode requires (an overload of several tries the next).
                ffi::PyErr_Clear();
                return None;
            };
            if !instance::is_instance(obj, record) || !instance::is_ready(obj) {
                return None;
            }
            storage[i].write(ArgValue::Object(instance::header(obj).value));
            objects[count] = obj;
            count += 1;
        } else if let Err(failure) = to_arg_into(obj, &param.ty, storage[i].as_mut_ptr()) {
            // The general path converts again and reports the failure as
            // the mode requires (TypeError, NotImplemented, no match).
            if let ArgFailure::Raised = failure {
                ffi::PyErr_Clear();
            }
            return None;
        }
    }
    let objects = &objects[..count];
    crate::instance::borrow::BorrowSet::with(|set| {
        for &obj in objects {
            match set.try_add(obj, false) {
                Ok(()) => {}
                Err(crate::instance::borrow::BorrowFail::Raised) => return Some(ptr::null_mut()),
                Err(crate::instance::borrow::BorrowFail::Busy) => return None, // the set releases
            }
        }
        // SAFETY: the first `n` values were written above; the objects they
        // point into are borrowed until the set is released, after the
        // result is converted.
        let values = std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'_>, n);
        let this = if has_self {
            instance::header(slf).value
        } else {
            ptr::null_mut()
        };
        let outcome = (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut());
        if let Taken::Ref(p) = peek(&outcome) {
            // A `Ref` owns nothing: there is nothing to drop.
            std::mem::forget(outcome);
            return Some(
                match data.classes[n].get(
                    data.desc.ret.class.expect("checked at load"),
                    data.plugin,
                    &data.name,
                ) {
                    Ok(record) => {
                        crate::runtime::instance_map::object_for_ref(p, record, objects, &data.name)
                    }
                    Err(()) => ptr::null_mut(),
                },
            );
        }
        set.release_all();
        // SAFETY: forgotten just below (see `call_positional`).
        let result = finish_in_place(&outcome);
        std::mem::forget(outcome);
        Some(result)
    })
}

/// [`call_shared_positional`] for a call with exactly one object to borrow
/// (`shared_one`): one borrow through [`crate::instance::borrow::with_one_borrow`], no
/// list of objects, and a scalar outcome read where the plugin wrote it.
/// The same contract: `None`, with nothing held and no error set, hands the
/// call to the general path.
#[inline(always)]
pub(super) unsafe fn call_shared_one_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let params = data.desc.params.as_slice();
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let has_self = data.desc.receiver != Receiver::NONE;
    // The one object whose value is passed.
    let mut object = ptr::null_mut();
    if has_self {
        if slf.is_null() || !instance::is_ready(slf) {
            return None;
        }
        object = slf;
    }
    for (i, param) in params.iter().enumerate().take(n) {
        let obj = *args.add(i);
        if param.ty.kind == TypeKind::OBJECT {
            let Ok(record) = data.classes[i].get(
                param.ty.class.expect("checked at load"),
                data.plugin,
                &data.name,
            ) else {
                // The class is not loaded: the general path reports it as
                // the mode requires (an overload of several tries the next).
                ffi::PyErr_Clear();
                return None;
            };
            if !instance::is_instance(obj, record) || !instance::is_ready(obj) {
                return None;
            }
            storage[i].write(ArgValue::Object(instance::header(obj).value));
            object = obj;
        } else if let Err(failure) = to_arg_into(obj, &param.ty, storage[i].as_mut_ptr()) {
            // As in `call_shared_positional`: the general path reports it.
            if let ArgFailure::Raised = failure {
                ffi::PyErr_Clear();
            }
            return None;
        }
    }
    // SAFETY: the first `n` values were written above.
    let values = std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'_>, n);
    let this = if has_self {
        instance::header(slf).value
    } else {
        ptr::null_mut()
    };
    let mut pending = Pending::new();
    let mut result = None;
    let call = || {
        // SAFETY: `object` is borrowed until this closure returns; a `&T`
        // result becomes its object before then, as on the several-object
        // path.
        let outcome = (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut());
        // SAFETY: forgotten just below, with nothing between that unwinds.
        pending.keep(&outcome);
        std::mem::forget(outcome);
        if let Taken::Ref(p) = pending.taken {
            result = Some(
                match data.classes[n].get(
                    data.desc.ret.class.expect("checked at load"),
                    data.plugin,
                    &data.name,
                ) {
                    Ok(record) => crate::runtime::instance_map::object_for_ref(
                        p,
                        record,
                        &[object],
                        &data.name,
                    ),
                    Err(()) => ptr::null_mut(),
                },
            );
        }
    };
    match crate::instance::borrow::with_one_borrow(object, false, call) {
        Ok(()) => {}
        Err(crate::instance::borrow::BorrowFail::Raised) => return Some(ptr::null_mut()),
        Err(crate::instance::borrow::BorrowFail::Busy) => return None,
    }
    Some(match result {
        Some(r) => r,
        None => pending.finish(),
    })
}
