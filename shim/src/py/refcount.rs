//! CPython reference-count internals for free-threading, in one place (as
//! nanobind's `nb_ft`): immortal objects, and the try-incref that lets the
//! instance map hand out an object another thread may be freeing. Each has a
//! trivial form with the GIL.

#[cfg(Py_GIL_DISABLED)]
use std::{ffi::c_void, sync::atomic::Ordering};

use pyo3_ffi as ffi;

/// Makes `obj` immortal on free-threaded builds, as nanobind does for its
/// types and functions: its refcount is never touched again, so threads
/// calling a function or creating instances of a type never contend on
/// it. The object is never freed (spec/THREADING.md, "Immortal objects").
/// A no-op with the GIL.
///
/// # Safety
/// `obj` is a freshly created object that no other thread has seen, and the
/// thread is attached.
pub(crate) unsafe fn immortalize(obj: *mut ffi::PyObject) {
    #[cfg(Py_GIL_DISABLED)]
    // SAFETY: attached, and `obj` is a fresh object no other thread has seen
    // (this function's contract): untracking it and the plain writes to its
    // refcount fields race with nothing.
    unsafe {
        if ffi::PyObject_GC_IsTracked(obj) != 0 {
            ffi::PyObject_GC_UnTrack(obj as *mut c_void);
        }
        // CPython 3.13t's immortal state: unowned, local refcount
        // _Py_IMMORTAL_REFCNT_LOCAL, shared refcount zero.
        (*obj).ob_tid = 0;
        (*obj).ob_ref_local.store(u32::MAX, Ordering::Relaxed);
        (*obj).ob_ref_shared.store(0, Ordering::Relaxed);
    }
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = obj;
}

/// Lets [`try_incref`] succeed on `obj` while it is alive, whichever thread
/// owns it (3.13t: sets `_Py_REF_MAYBE_WEAKREF` in the shared refcount, as
/// `_PyObject_SetMaybeWeakref` does).
///
/// # Safety
/// `obj` is a live object (the caller holds a reference to it).
#[cfg(Py_GIL_DISABLED)]
pub(crate) unsafe fn allow_try_incref(obj: *mut ffi::PyObject) {
    const FLAG_MASK: isize = 0b11;
    const MAYBE_WEAKREF: isize = 0b01;
    // SAFETY: `obj` is live (this function's contract); its shared refcount
    // is an atomic, only ever changed with atomic operations.
    let shared = unsafe { &(*obj).ob_ref_shared };
    let mut current = shared.load(Ordering::Relaxed);
    loop {
        if current & FLAG_MASK != 0 {
            return;
        }
        match shared.compare_exchange_weak(
            current,
            current | MAYBE_WEAKREF,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => current = now,
        }
    }
}

/// With the GIL, [`try_incref`] needs nothing: a no-op.
///
/// # Safety
/// `obj` is a live object (the caller holds a reference to it), as for the
/// free-threaded form.
#[cfg(not(Py_GIL_DISABLED))]
pub(crate) unsafe fn allow_try_incref(_obj: *mut ffi::PyObject) {}

/// Takes a new reference to `obj` unless it is already being deallocated.
/// Called under an instance-map shard lock; touches only the refcount.
///
/// On 3.13t this follows CPython's `_Py_TryIncrefCompare`: an object whose
/// shared refcount is zero (and never flagged) or merged-to-zero is dead.
/// With the GIL, an exact refcount of zero means its dealloc has started.
///
/// # Safety
/// `obj`'s memory is valid (it is still mapped, so not yet freed).
#[cfg(Py_GIL_DISABLED)]
pub(crate) unsafe fn try_incref(obj: *mut ffi::PyObject) -> bool {
    const MERGED: isize = 0b11;
    const SHARED_SHIFT: u32 = 2;
    // SAFETY: `obj`'s memory is valid (this function's contract); the
    // refcount fields are atomics, and `ob_tid` is read plainly, as CPython's
    // own `_Py_IsOwnedByCurrentThread` reads it.
    let o = unsafe { &*obj };
    let local = o.ob_ref_local.load(Ordering::Relaxed);
    if local == u32::MAX {
        return true; // immortal
    }
    if o.ob_tid == thread_id() {
        if local == 0 {
            return false;
        }
        o.ob_ref_local.store(local + 1, Ordering::Relaxed);
        return true;
    }
    let mut shared = o.ob_ref_shared.load(Ordering::Relaxed);
    loop {
        if shared == 0 || shared == MERGED {
            return false;
        }
        match o.ob_ref_shared.compare_exchange_weak(
            shared,
            shared + (1 << SHARED_SHIFT),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => shared = now,
        }
    }
}

/// Takes a new reference to `obj` unless its dealloc has started (an exact
/// refcount of zero). Called under an instance-map shard lock; touches only
/// the refcount.
///
/// # Safety
/// `obj`'s memory is valid (it is still mapped, so not yet freed), and the
/// thread holds the GIL.
#[cfg(not(Py_GIL_DISABLED))]
pub(crate) unsafe fn try_incref(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: `obj`'s memory is valid and the GIL is held (this function's
    // contract), so its refcount can be read and, while above zero, bumped.
    unsafe {
        if ffi::Py_REFCNT(obj) <= 0 {
            return false;
        }
        ffi::Py_INCREF(obj);
    }
    true
}

/// CPython's `_Py_ThreadId()`: the thread pointer.
#[cfg(Py_GIL_DISABLED)]
#[inline]
pub(crate) fn thread_id() -> usize {
    let tid: usize;
    // SAFETY: reads the thread pointer register, as CPython's _Py_ThreadId does.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!("mov {}, fs:0", out(reg) tid, options(nostack, readonly, preserves_flags));
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tid, options(nostack, readonly, preserves_flags));
    }
    tid
}
