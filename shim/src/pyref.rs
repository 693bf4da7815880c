//! [`Owned`]: a strong reference that is released when dropped.

use std::ptr::NonNull;

use pyo3_ffi::{PyObject, Py_DECREF};

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
        pyo3_ffi::Py_INCREF(ptr);
        Owned(NonNull::new_unchecked(ptr))
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
        unsafe { Py_DECREF(self.0.as_ptr()) }
    }
}
