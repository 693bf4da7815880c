//! CPython declarations that `pyo3-ffi` 0.28.3 skips. Each is declared with
//! the exact C prototype of the versions it is gated on.

use pyo3_ffi::PyObject;

#[cfg(not(Py_3_13))]
extern "C" {
    /// `PyDict_SetDefault` (3.x; before 3.13, where `PyDict_SetDefaultRef`
    /// replaces it): returns a borrowed reference to the value now stored
    /// under `key`. Atomic under the GIL.
    pub fn PyDict_SetDefault(
        mp: *mut PyObject,
        key: *mut PyObject,
        default: *mut PyObject,
    ) -> *mut PyObject;
}

extern "C" {
    /// `PyThread_get_thread_ident` (3.x): the calling thread's identifier,
    /// as `threading.get_ident()` gives it.
    pub fn PyThread_get_thread_ident() -> std::os::raw::c_ulong;
}

#[cfg(Py_3_13)]
use std::os::raw::c_int;

#[cfg(Py_3_13)]
extern "C" {
    /// `PyDict_SetDefaultRef` (3.13+): stores `default` under `key` unless a
    /// value is present, and returns the value now stored as a new reference
    /// in `*result`. Atomic under free-threading. Returns -1 on error, 0 if
    /// it inserted, 1 if a value was already present.
    pub fn PyDict_SetDefaultRef(
        mp: *mut PyObject,
        key: *mut PyObject,
        default: *mut PyObject,
        result: *mut *mut PyObject,
    ) -> c_int;
}

#[cfg(Py_GIL_DISABLED)]
extern "C" {
    /// `_Py_DecRefShared` (3.13t+, exported for the inline `Py_DECREF`):
    /// drops one reference from the shared count of an object another
    /// thread owns.
    pub fn _Py_DecRefShared(op: *mut PyObject);
    /// `_Py_MergeZeroLocalRefcount` (3.13t+, exported for the inline
    /// `Py_DECREF`): called by the owning thread once the local count
    /// reaches zero; frees the object or hands it to the shared count.
    pub fn _Py_MergeZeroLocalRefcount(op: *mut PyObject);
}

#[cfg(Py_3_12)]
extern "C" {
    /// `PyCode_GetVarnames` (3.11+): a new tuple of the code's local
    /// variable names (arguments first).
    pub fn PyCode_GetVarnames(co: *mut pyo3_ffi::PyCodeObject) -> *mut PyObject;
    /// `PyCode_GetCellvars` (3.11+): a new tuple of the names of the
    /// code's cell variables.
    pub fn PyCode_GetCellvars(co: *mut pyo3_ffi::PyCodeObject) -> *mut PyObject;
    /// `PyCode_GetFreevars` (3.11+): a new tuple of the names of the
    /// code's free (closure) variables.
    pub fn PyCode_GetFreevars(co: *mut pyo3_ffi::PyCodeObject) -> *mut PyObject;
}
