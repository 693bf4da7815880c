//! Function objects and their entry points.
//!
//! A fast-call C function receives `self`, not the function object, yet each
//! function needs its own data. So that `self` can stay the plugin module
//! (which gives the usual `<built-in function add>` repr) or the instance,
//! each function takes a *slot*: an index into [`SLOTS`], with its own
//! generated entry point `entry_point::<I>` (see `build.rs`) that reads slot
//! `I`. Slots are claimed only once a plugin's init has succeeded
//! ([`claim_entries`]); until then a definition carries a placeholder entry
//! point that raises.
//!
//! Shared state: [`SLOTS`] and [`NEXT_SLOT`] are process-global to this shim
//! copy. A slot is claimed once with an atomic increment (or taken back from
//! [`FREE_SLOTS`]), written once with a release store before its function
//! object exists, and never changed; calls read it with an acquire load.

use std::{
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

use pyo3_ffi as ffi;

use super::dispatch::dispatch;
use super::{FunctionData, Mode};
use crate::{py::errors, py::owned::Owned};

include!(concat!(env!("OUT_DIR"), "/entry_points.rs"));

/// Function data by slot. Written once per slot, never cleared.
pub(super) static SLOTS: [AtomicPtr<FunctionData>; SLOT_COUNT] =
    [const { AtomicPtr::new(ptr::null_mut()) }; SLOT_COUNT];

/// The next unclaimed slot.
pub(super) static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// The entry point for slot `I`; CPython calls it for the function in that slot.
///
/// # Safety
/// Called by CPython as the `METH_FASTCALL | METH_KEYWORDS` function of a
/// definition that [`claim_entries`] gave slot `I` (so the slot is filled):
/// on an attached thread, with `slf` the module or the receiver and
/// `args`/`nargs`/`kwnames` following the vectorcall convention.
pub(super) unsafe extern "C" fn entry_point<const I: usize>(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before the function object that calls this
    // entry point was created, and is never changed afterwards.
    let data = unsafe { &*SLOTS[I].load(Ordering::Acquire) };
    // SAFETY: CPython calls this with the thread attached, the receiver (for
    // a method) and vectorcall arguments (this function's contract), which
    // is what `dispatch` needs.
    unsafe { dispatch(data, slf, args, nargs, kwnames, Mode::Raise) }
}

/// A method definition for `data`. Its entry point is a placeholder that
/// raises RuntimeError until [`claim_entries`] gives it one of the direct
/// entry points: a build claims them only once the plugin's init has
/// succeeded, so a failed load uses none (spec/SOUNDNESS.md, "Failed
/// loads"). The caller registers the definition's final address with
/// [`defer_entry`]. `flags` adds to `METH_FASTCALL | METH_KEYWORDS`
/// (`METH_STATIC`, say).
pub(crate) fn method_def(
    data: &'static FunctionData,
    flags: std::os::raw::c_int,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: data.ml_name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: unpublished_entry,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS | flags,
        ml_doc: data.ml_doc.as_ptr(),
    }
}

/// The entry point of a function whose plugin has not finished loading
/// (or failed to): reachable only through `gc.get_objects()` and the like.
///
/// # Safety
/// Called by CPython as the `METH_FASTCALL | METH_KEYWORDS` function of a
/// definition without a slot, on an attached thread. The arguments are not
/// read.
pub(super) unsafe extern "C" fn unpublished_entry(
    _slf: *mut ffi::PyObject,
    _args: *const *mut ffi::PyObject,
    _nargs: ffi::Py_ssize_t,
    _kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this on an attached thread (this function's
    // contract); `PyExc_RuntimeError` is an exception class.
    unsafe {
        errors::raise(
            ffi::PyExc_RuntimeError,
            "oxbind: this function belongs to a plugin whose load did not complete",
        )
    };
    ptr::null_mut()
}

thread_local! {
    /// Definitions made by the build running on this thread (builds never
    /// nest on a thread), waiting for their entry points.
    static UNCLAIMED: std::cell::RefCell<Vec<(usize, &'static FunctionData)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Slots given back by builds that failed after claiming (registration
/// failures): reused before new ones. Locked only while attached.
pub(super) static FREE_SLOTS: crate::sync::lock::PyLock<Vec<usize>> =
    crate::sync::lock::PyLock::new(Vec::new());

/// Records that `def`, at its final address, waits for an entry point.
/// `def` is leaked: it lives for good at this address.
pub(crate) fn defer_entry(def: *const ffi::PyMethodDef, data: &'static FunctionData) {
    UNCLAIMED.with(|u| u.borrow_mut().push((def as usize, data)));
}

/// Forgets the definitions waiting on this thread (a build starts or
/// failed before claiming): they keep the placeholder for good.
pub(crate) fn discard_unclaimed() {
    UNCLAIMED.with(|u| u.borrow_mut().clear());
}

/// Gives every definition waiting on this thread a direct entry point.
/// Fails with ImportError, claiming none, if too few are left.
///
/// # Safety
/// The thread is attached; the definitions are not yet reachable by other
/// threads' calls (their module and types are not published). Every
/// definition [`defer_entry`] recorded on this thread is a leaked
/// `PyMethodDef` at the address given.
pub(crate) unsafe fn claim_entries() -> Result<(), ()> {
    let pending = UNCLAIMED.with(|u| std::mem::take(&mut *u.borrow_mut()));
    let mut slots = Vec::with_capacity(pending.len());
    {
        // SAFETY: the thread is attached (this function's contract), and
        // the guard only pops slot numbers: no Python code runs under it.
        let mut free = unsafe { FREE_SLOTS.lock() };
        while slots.len() < pending.len() {
            match free.pop() {
                Some(s) => slots.push(s),
                None => break,
            }
        }
    }
    while slots.len() < pending.len() {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        if slot >= SLOT_COUNT {
            NEXT_SLOT.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: the thread is attached (this function's contract), and
            // the guard only extends the list: no Python code runs under it.
            unsafe { FREE_SLOTS.lock() }.extend(slots);
            let name = pending.first().map_or("", |(_, d)| d.name.as_str());
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::import_error(
                    &format!(
                        "cannot export '{name}': this oxbind runtime dispatches at most {SLOT_COUNT} functions and methods per process"
                    ),
                    None,
                )
            };
            return Err(());
        }
        slots.push(slot);
    }
    for ((def, data), slot) in pending.into_iter().zip(slots) {
        SLOTS[slot].store(
            data as *const FunctionData as *mut FunctionData,
            Ordering::Release,
        );
        // The definition is read by calls through objects that may already
        // exist (not yet reachable from other threads' calls, but the
        // collector's lists can hand them out): one atomic store of the
        // whole pointer, after the slot is filled.
        // SAFETY: `def` is the address of a leaked `PyMethodDef` (this
        // function's contract), live for good; `ml_meth` is one pointer-sized,
        // pointer-aligned function pointer, so it can be stored to as an
        // `AtomicUsize`.
        unsafe {
            let meth =
                ptr::addr_of!((*(def as *const ffi::PyMethodDef)).ml_meth) as *const AtomicUsize;
            (*meth).store(ENTRY_POINTS[slot] as usize, Ordering::Release);
        }
    }
    Ok(())
}

/// Creates the module-level function object for `data`, owned by `module`.
///
/// # Safety
/// The thread is attached; `module` is a module object and `module_name` a str.
pub(crate) unsafe fn new_function(
    data: &'static FunctionData,
    module: *mut ffi::PyObject,
    module_name: *mut ffi::PyObject,
) -> Result<Owned, ()> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(method_def(data, 0)));
    defer_entry(def, data);
    // SAFETY: the thread is attached, `def` is leaked (it lives for good),
    // `module` is a module object and `module_name` a str (this function's
    // contract); the new reference (or null with an error set) goes to
    // `Owned`.
    let func =
        unsafe { Owned::from_raw(ffi::PyCFunction_NewEx(def, module, module_name)) }.ok_or(())?;
    // SAFETY: `func` was just created and no other thread has seen it.
    unsafe { crate::py::refcount::immortalize(func.as_ptr()) };
    Ok(func)
}
