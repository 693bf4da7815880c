//! [`Owned`]: a strong reference that is released when dropped.

use std::ptr::NonNull;

use pyo3_ffi::PyObject;

/// A strong reference to a Python object. Dropping it calls `Py_DECREF`, so
/// it may only be dropped while attached to the interpreter and while holding
/// none of oxbind's locks.
pub struct Owned(NonNull<PyObject>);

impl Owned {
    /// Takes ownership of a new reference; `None` if `ptr` is null (a Python
    /// error is then set).
    ///
    /// # Safety
    /// `ptr` is null or a strong reference the caller owns.
    #[inline]
    pub unsafe fn from_raw(ptr: *mut PyObject) -> Option<Owned> {
        NonNull::new(ptr).map(Owned)
    }

    /// Takes a new strong reference to a borrowed object.
    ///
    /// # Safety
    /// `ptr` is a valid object and the thread is attached.
    #[inline]
    pub unsafe fn from_borrowed(ptr: *mut PyObject) -> Owned {
        // SAFETY: `ptr` is a valid object and the thread is attached (this
        // function's contract), so it can be increfed and is not null.
        unsafe {
            pyo3_ffi::Py_INCREF(ptr);
            Owned(NonNull::new_unchecked(ptr))
        }
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// Gives up ownership without releasing the reference.
    #[inline]
    pub fn into_raw(self) -> *mut PyObject {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: we own one strong reference; the type's contract requires
        // the thread to be attached when an `Owned` is dropped.
        unsafe { release(self.0.as_ptr()) }
    }
}

/// `Py_DECREF`, inlined on free-threaded builds as CPython 3.13's own is
/// (pyo3-ffi calls the out-of-line `_Py_DecRef` there): an immortal object
/// is left alone, the owning thread lowers its local count with a plain
/// store (merging at zero, which may free the object), any other thread
/// goes through the shared count. With the GIL, pyo3-ffi's inline
/// `Py_DECREF`.
///
/// # Safety
/// The caller owns one strong reference to `obj` and gives it up; the
/// thread is attached and holds no lock of ours (freeing may run Python
/// code).
#[inline(always)]
pub unsafe fn release(obj: *mut PyObject) {
    #[cfg(Py_GIL_DISABLED)]
    {
        use std::sync::atomic::Ordering;
        // SAFETY: `obj` is a valid object (this function's contract); the
        // refcount fields are atomics, and `ob_tid` is read plainly, as
        // CPython's own `Py_DECREF` reads it.
        let o = unsafe { &*obj };
        let local = o.ob_ref_local.load(Ordering::Relaxed);
        if local == u32::MAX {
            return; // immortal (_Py_IMMORTAL_REFCNT_LOCAL)
        }
        if o.ob_tid == crate::py::refcount::thread_id() {
            let local = local - 1;
            o.ob_ref_local.store(local, Ordering::Relaxed);
            if local == 0 {
                // SAFETY: the owning thread's local count reached zero,
                // as CPython's `Py_DECREF` calls it; attached.
                unsafe { crate::py::ffi::_Py_MergeZeroLocalRefcount(obj) };
            }
        } else {
            // SAFETY: attached; one reference the caller gives up.
            unsafe { crate::py::ffi::_Py_DecRefShared(obj) };
        }
    }
    #[cfg(not(Py_GIL_DISABLED))]
    // SAFETY: the caller gives up one reference, attached (this function's
    // contract).
    unsafe {
        pyo3_ffi::Py_DECREF(obj)
    }
}

/// `Py_NewRef`, inlined on free-threaded builds as CPython 3.13's own
/// `Py_INCREF` is (pyo3-ffi calls the out-of-line `_Py_IncRef` there): an
/// immortal object is left alone, the owning thread bumps its local count
/// with a plain store, any other thread adds to the shared count
/// atomically. With the GIL, pyo3-ffi's inline `Py_INCREF`.
///
/// # Safety
/// `obj` is a valid object and the thread is attached.
#[inline(always)]
pub unsafe fn new_ref(obj: *mut PyObject) -> *mut PyObject {
    #[cfg(Py_GIL_DISABLED)]
    {
        use std::sync::atomic::Ordering;
        // SAFETY: `obj` is a valid object (this function's contract); the
        // refcount fields changed below are atomics, and `ob_tid` is read
        // plainly, as CPython's own `Py_INCREF` reads it.
        let o = unsafe { &*obj };
        let local = o.ob_ref_local.load(Ordering::Relaxed);
        let new_local = local.wrapping_add(1);
        if new_local == 0 {
            return obj; // immortal
        }
        if o.ob_tid == crate::py::refcount::thread_id() {
            o.ob_ref_local.store(new_local, Ordering::Relaxed);
        } else {
            // _Py_REF_SHARED_SHIFT is 2.
            o.ob_ref_shared.fetch_add(1 << 2, Ordering::Relaxed);
        }
        obj
    }
    #[cfg(not(Py_GIL_DISABLED))]
    {
        // SAFETY: `obj` is a valid object and the thread is attached (this
        // function's contract).
        unsafe { pyo3_ffi::Py_NewRef(obj) }
    }
}
