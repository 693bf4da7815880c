//! Function objects made at run time from plugin closures
//! (`oxbind::Object::function`, the host API's `new_function`).
//!
//! A plugin function lives in one of the generated entry points' slots
//! (`entry.rs`), claimed for good: right for the functions a plugin exports,
//! wrong for closures, which come and go. A closure is instead a built-in
//! function object whose `self` is a capsule owning a [`Closure`]: the
//! function's data, its method definition, and the plugin's data pointer.
//! One entry point serves every closure, reading the capsule it is given.
//! When the function object is freed, it releases the capsule, whose
//! destructor drops the data and hands the plugin's data back to the plugin
//! (`release`), which frees the closure and its descriptor.
//!
//! Calls take the general path with the plugin's data as `this`.
//!
//! Shared state: none. A `Closure` is written before its function object
//! exists and only read afterwards, by calls, until the capsule's
//! destructor (no call can be running then: each holds a reference).

use std::{ffi::c_void, ptr};

use oxbind_abi::{DetachedFn, FunctionDesc, Receiver};
use pyo3_ffi as ffi;

use super::{build_data, dispatch::dispatch, CallPath, FunctionData, Mode, This};
use crate::py::{errors, owned::Owned};

/// The capsule's name, checked on every call.
const CAPSULE: &std::ffi::CStr = c"oxbind.closure";

/// What a closure's function object owns, through its capsule.
struct Closure {
    data: FunctionData,
    def: ffi::PyMethodDef,
    release: DetachedFn,
}

/// A new function object calling `desc` with `this` (see the module doc).
/// Null with a Python error set on failure, and then `release` has been
/// called with `this` already.
///
/// # Safety
/// The thread is attached and holds no lock of ours. `desc` was checked as
/// a module function is (`plugin::build::check_closure`, which gave
/// `defaults`); it and all it points to stay valid until
/// `release.func(this)` is called; `desc.call` accepts `this`; `release`
/// does not unwind.
pub(crate) unsafe fn new_function(
    desc: *const FunctionDesc,
    defaults: Vec<Option<oxbind_abi::ArgValue<'static>>>,
    this: *mut c_void,
    release: DetachedFn,
) -> *mut ffi::PyObject {
    let give_back = || {
        // SAFETY: the plugin's own release for its own data, called once
        // (the contract); it does not unwind.
        unsafe { (release.func)(this) }
    };
    // SAFETY: valid until released (this function's contract); the data
    // built from it is dropped before `release` runs (the capsule's
    // destructor), so treating it as static here never outlives it.
    let desc: &'static FunctionDesc = unsafe { &*desc };
    if desc.receiver != Receiver::NONE {
        give_back();
        // SAFETY: attached.
        unsafe { errors::type_error("oxbind: a closure takes no receiver") };
        return ptr::null_mut();
    }
    let name = desc.name.as_str().to_owned();
    // SAFETY: attached (this function's contract).
    let mut data = match unsafe { build_data(desc, defaults, name.clone(), "closure", &name, None) }
    {
        Ok(d) => d,
        Err(()) => {
            give_back();
            return ptr::null_mut();
        }
    };
    data.this = This(this);
    data.path = CallPath::General;
    let mut closure = Box::new(Closure {
        def: ffi::PyMethodDef {
            ml_name: data.ml_name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: closure_entry,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: data.ml_doc.as_ptr(),
        },
        data,
        release,
    });
    let def: *mut ffi::PyMethodDef = &mut closure.def;
    let raw = Box::into_raw(closure);
    // SAFETY: attached; `raw` is a live allocation the capsule owns from
    // here on (its destructor frees it); on failure we still own it.
    let Some(capsule) = (unsafe {
        Owned::from_raw(ffi::PyCapsule_New(
            raw.cast(),
            CAPSULE.as_ptr(),
            Some(destroy),
        ))
    }) else {
        // SAFETY: the capsule was not made, so `raw` is still ours alone.
        drop(unsafe { Box::from_raw(raw) });
        give_back();
        return ptr::null_mut();
    };
    // SAFETY: attached; `def` lives in the closure the capsule owns, and the
    // function object holds the capsule (its `self`), so the definition
    // outlives it. On failure, dropping the capsule frees everything.
    unsafe { ffi::PyCFunction_NewEx(def, capsule.as_ptr(), ptr::null_mut()) }
}

/// The entry point of every closure: its `self` is the capsule.
///
/// # Safety
/// Called by CPython as the `METH_FASTCALL | METH_KEYWORDS` function of a
/// closure's definition, attached, with `capsule` its `self` and the
/// arguments in the vectorcall convention.
unsafe extern "C" fn closure_entry(
    capsule: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: attached; `capsule` is a live object (the function's self).
    let raw = unsafe { ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()) } as *const Closure;
    if raw.is_null() {
        return ptr::null_mut(); // not our capsule: the error is set
    }
    // SAFETY: the capsule owns the closure, alive while the function object
    // (which holds the capsule and is being called) lives; it is only read.
    let closure = unsafe { &*raw };
    // SAFETY: attached, vectorcall arguments, no lock of ours held: what
    // `dispatch` needs (this function's contract).
    unsafe { dispatch(&closure.data, capsule, args, nargs, kwnames, Mode::Raise) }
}

/// The capsule's destructor: frees the closure's data, then gives the
/// plugin's data back to it.
///
/// # Safety
/// Called by CPython when the capsule is freed, attached.
unsafe extern "C" fn destroy(capsule: *mut ffi::PyObject) {
    // SAFETY: attached; the capsule is being freed and still valid.
    let raw = unsafe { ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()) } as *mut Closure;
    if raw.is_null() {
        // SAFETY: attached; nothing to report from a destructor.
        unsafe { ffi::PyErr_Clear() };
        return;
    }
    // SAFETY: the capsule owned the closure (`Box::into_raw` above); no call
    // can run now (each holds a reference to the function, which holds the
    // capsule).
    let closure = unsafe { Box::from_raw(raw) };
    let Closure { data, release, .. } = *closure;
    let this = data.this.0;
    drop(data); // its descriptor is the plugin's, freed by `release` next
                // SAFETY: the plugin's own release for its own data, called once; it
                // does not unwind (`HostApi::new_function`'s contract).
    unsafe { (release.func)(this) };
}
