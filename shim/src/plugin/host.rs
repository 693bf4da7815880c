//! The host API this shim copy offers plugin code (`oxbind_abi::host`), and
//! its installation in each plugin it loads.
//!
//! Shared state: [`HOST`] is immutable static data; a plugin's host slot is
//! set once with a compare-exchange, so the first shim to load a plugin
//! serves it for good (every copy in one process implements the same
//! operations for the same interpreter).

use std::{
    ffi::c_void,
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
};

use oxbind_abi::{
    abi_stable::prefix_type::WithMetadata, HostApi, HostApi_Ref, CRITICAL_NOT_BORROWED,
};

static HOST_TABLE: WithMetadata<HostApi> = WithMetadata::new(HostApi {
    mutex_lock,
    mutex_unlock,
    critical_begin,
    critical_end,
    incref,
    decref,
    detach,
    object_getattr: super::objects::object_getattr,
    object_setattr: super::objects::object_setattr,
    object_call: super::objects::object_call,
    object_call_method: super::objects::object_call_method,
    object_unary: super::objects::object_unary,
    object_test: super::objects::object_test,
    import: super::objects::import,
    object_from_value: super::objects::object_from_value,
    object_extract: super::objects::object_extract,
    set_raised: super::objects::set_raised,
    new_function: super::objects::new_function,
    object_call_values: super::objects::object_call_values,
    int_to_wide: super::objects::int_to_wide,
    int_from_wide: super::objects::int_from_wide,
    new_iterator: super::objects::new_iterator,
});
static HOST: HostApi_Ref = HostApi_Ref(HOST_TABLE.static_as_prefix());

/// Gives a plugin this copy's host API, unless it already has one.
pub fn install(slot: &AtomicUsize) {
    let _ = slot.compare_exchange(
        0,
        &HOST as *const HostApi_Ref as usize,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// Locks a plugin's `oxbind::sync::PyMutex` byte, on every build and from
/// any thread: a thread the plugin spawned holds no GIL, so the GIL cannot
/// stand in for the lock. The byte is a `PyMutex` (bit 0: locked). An
/// attached waiter waits detached, through the exit gate.
///
/// # Safety
/// Called by plugin code through the host table, on any thread, attached or
/// not: `mutex` points at a plugin's `PyMutex` byte, zero-initialised, that
/// does not move while locked and is touched only through [`mutex_lock`] and
/// [`mutex_unlock`].
unsafe extern "C" fn mutex_lock(mutex: *const u8) {
    // SAFETY: the plugin passes a zero-initialised byte that never moves
    // while locked, and touches it only through these two functions.
    let byte = unsafe { &*(mutex as *const AtomicU8) };
    let take = || {
        byte.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    };
    if take() {
        return;
    }
    if crate::sync::refpool::attached() {
        // SAFETY: attached, and a plugin holds no lock of ours while it
        // locks its own; the wait touches only the byte.
        unsafe {
            crate::sync::take_waiting_detached(take, || byte.load(Ordering::Relaxed) & 1 == 0)
        }
    } else {
        // SAFETY: as above; not attached, so nothing to release.
        unsafe { lock_contended(mutex) }
    }
}

/// Waits for the byte lock, not attached to the interpreter.
///
/// # Safety
/// As for [`mutex_lock`]; the thread is not attached.
unsafe fn lock_contended(mutex: *const u8) {
    #[cfg(Py_3_13)]
    // SAFETY: a PyMutex byte; with no attached thread state PyMutex_Lock
    // parks without attaching.
    unsafe {
        pyo3_ffi::PyMutex_Lock(mutex as *mut pyo3_ffi::PyMutex)
    };
    #[cfg(not(Py_3_13))]
    {
        // SAFETY: as for `mutex_lock`.
        let byte = unsafe { &*(mutex as *const AtomicU8) };
        let mut rounds = 0u32;
        while byte
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            crate::sync::backoff(&mut rounds);
        }
    }
}

/// Unlocks a plugin's `oxbind::sync::PyMutex` byte.
///
/// # Safety
/// As for [`mutex_lock`], and the calling thread holds the lock (it took it
/// with [`mutex_lock`]).
unsafe extern "C" fn mutex_unlock(mutex: *const u8) {
    #[cfg(Py_3_13)]
    // SAFETY: the calling thread holds this PyMutex; unlocking wakes a
    // parked waiter and needs no thread state.
    unsafe {
        pyo3_ffi::PyMutex_Unlock(mutex as *mut pyo3_ffi::PyMutex)
    };
    #[cfg(not(Py_3_13))]
    {
        // SAFETY: as for `mutex_lock`; the calling thread holds the lock.
        let byte = unsafe { &*(mutex as *const AtomicU8) };
        byte.store(0, Ordering::Release);
    }
}

/// Where, in the plugin's section storage, the number of objects locked is
/// kept (after the `PyCriticalSection2` itself).
#[cfg(Py_GIL_DISABLED)]
const LOCKED_COUNT_OFFSET: usize = oxbind_abi::CRITICAL_SECTION_SIZE - 8;

/// Where, in the plugin's section storage, whether `critical_begin`
/// re-attached a thread detached in a plugin region is kept (1 if so).
const REATTACHED_OFFSET: usize = oxbind_abi::CRITICAL_SECTION_SIZE - 7;

#[cfg(Py_GIL_DISABLED)]
const _: () = assert!(
    std::mem::size_of::<pyo3_ffi::PyCriticalSection2>() <= LOCKED_COUNT_OFFSET,
    "the plugin's section storage is too small for this CPython"
);

/// The guard behind `oxbind::sync::CriticalSection`: locks the instances
/// that hold `a` and `b`, which the running call must have borrowed.
///
/// # Safety
/// Called by plugin code through the host table: `section` points at
/// `CRITICAL_SECTION_SIZE` writable, pointer-aligned bytes that stay put
/// until the matching [`critical_end`] on this thread; `a` and `b` (`b` may
/// be null) are addresses, only compared. The thread need not be attached:
/// a thread with no call running gets `CRITICAL_NOT_BORROWED`.
unsafe extern "C" fn critical_begin(
    a: *const c_void,
    b: *const c_void,
    section: *mut c_void,
) -> u32 {
    let Some(root_a) = crate::instance::borrow::borrowed_root_holding(a) else {
        return CRITICAL_NOT_BORROWED;
    };
    let root_b = if b.is_null() {
        None
    } else {
        match crate::instance::borrow::borrowed_root_holding(b) {
            Some(r) => Some(r),
            None => return CRITICAL_NOT_BORROWED,
        }
    };
    // Inside a detached region (`oxbind::detach`), the section needs the
    // thread attached (with the GIL: holding the GIL is the section).
    let reattached = crate::sync::detach::reattach_in_region();
    // SAFETY: the plugin gives CRITICAL_SECTION_SIZE writable bytes that stay
    // put until `critical_end` (this function's contract); the offset is
    // inside them.
    unsafe { *((section as *mut u8).add(REATTACHED_OFFSET)) = u8::from(reattached) };
    crate::sync::detach::section_entered();
    #[cfg(Py_GIL_DISABLED)]
    {
        use pyo3_ffi as ffi;
        let two = matches!(root_b, Some(r) if r != root_a);
        let cs = section as *mut ffi::PyCriticalSection2;
        // SAFETY: the plugin gives CRITICAL_SECTION_SIZE pointer-aligned bytes
        // that stay put until `critical_end` (this function's contract), and
        // the count's offset lies past the `PyCriticalSection2` inside them
        // (checked at compile time above); the roots are alive (borrowed by
        // the running call) and the thread is attached (it has a call
        // running, or `borrowed_root_holding` would have found no root, and
        // if that call detached, it re-attached just above).
        unsafe {
            match root_b {
                Some(rb) if two => ffi::PyCriticalSection2_Begin(cs, root_a, rb),
                _ => ffi::PyCriticalSection_Begin(cs as *mut ffi::PyCriticalSection, root_a),
            }
            *((section as *mut u8).add(LOCKED_COUNT_OFFSET)) = if two { 2 } else { 1 };
        }
    }
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = (root_a, root_b); // holding the GIL is the section (re-taken above in a region)
    0
}

/// Ends the section [`critical_begin`] began in `section`.
///
/// # Safety
/// Called by plugin code through the host table, on the thread that began
/// the section: `section` is storage in which [`critical_begin`] succeeded
/// (returned 0), not yet ended, and the sections this thread began after it
/// have ended.
unsafe extern "C" fn critical_end(section: *mut c_void) {
    #[cfg(Py_GIL_DISABLED)]
    {
        use pyo3_ffi as ffi;
        // SAFETY: `critical_begin` began a section in this storage on this
        // thread and recorded how many objects it locked (this function's
        // contract).
        unsafe {
            if *((section as *const u8).add(LOCKED_COUNT_OFFSET)) == 2 {
                ffi::PyCriticalSection2_End(section as *mut ffi::PyCriticalSection2);
            } else {
                ffi::PyCriticalSection_End(section as *mut ffi::PyCriticalSection);
            }
        }
    }
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = section;
    crate::sync::detach::section_left();
    // SAFETY: `critical_begin` recorded there whether it re-attached (this
    // function's contract: the storage it succeeded in).
    if unsafe { *((section as *const u8).add(REATTACHED_OFFSET)) } == 1 {
        // SAFETY: `critical_begin` re-attached this thread for the section,
        // which has just ended; nothing detached it since (sections nest).
        unsafe { crate::sync::detach::redetach_in_region() };
    }
}

/// Runs `f(data)` detached (`oxbind::detach`): see `HostApi::detach`.
///
/// # Safety
/// Called by plugin code through the host table, on any thread: `f` does not
/// unwind and touches Python only through this host API; `data` is what `f`
/// expects.
unsafe extern "C" fn detach(f: oxbind_abi::DetachedFn, data: *mut c_void) {
    // SAFETY: `f` does not unwind and uses Python only through the host API
    // (this function's contract); `data` is its own.
    unsafe { crate::sync::detach::plugin_region(|| (f.func)(data)) }
}

/// Takes a reference to `obj` for a plugin handle (a clone), from any thread.
///
/// # Safety
/// Called by plugin code through the host table, on any thread: `obj` is a
/// live object, kept alive by a reference the plugin holds (the handle being
/// cloned) or was just passed.
unsafe extern "C" fn incref(obj: *mut c_void) {
    // SAFETY: `obj` is a live object the plugin holds (or was just passed)
    // (this function's contract); the pool takes the reference without
    // attaching (`crate::sync::refpool`).
    unsafe { crate::sync::refpool::incref(obj as *mut pyo3_ffi::PyObject) };
}

/// Releases the reference a plugin handle owned, from any thread.
///
/// # Safety
/// Called by plugin code through the host table, on any thread: the plugin
/// owns one reference to `obj` (taken with [`incref`], or given with the
/// handle) and gives it up, holding no lock of ours.
unsafe extern "C" fn decref(obj: *mut c_void) {
    // SAFETY: the plugin owns one reference to `obj`, taken with `incref`,
    // and holds no lock of ours while dropping a handle (this function's
    // contract).
    unsafe { crate::sync::refpool::decref(obj as *mut pyo3_ffi::PyObject) };
}
