//! Dict access that is atomic on every build: a get that returns a strong
//! reference, and set-default.

use std::ptr;

use pyo3_ffi as ffi;

use crate::py::owned::Owned;

// ---------------------------------------------------------------------------
// Dict helpers shared with the loader.

/// `dict[key]` as a new reference, if present.
///
/// # Safety
/// The thread is attached; `dict` is a live `dict` and `key` a live object.
pub(crate) unsafe fn dict_get(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> Result<Option<Owned>, ()> {
    let mut value = ptr::null_mut();
    // SAFETY: attached, and `dict` and `key` are live (this function's
    // contract); `value` is a local out-slot.
    match unsafe { ffi::compat::PyDict_GetItemRef(dict, key, &mut value) } {
        r if r < 0 => Err(()),
        0 => Ok(None),
        // SAFETY: a positive result stored a new reference in `value`.
        _ => Ok(unsafe { Owned::from_raw(value) }),
    }
}

/// Stores `value` under `key` unless present, atomically; returns what is
/// stored now.
///
/// # Safety
/// The thread is attached; `dict` is a live `dict`, and `key` and `value`
/// are live objects.
pub(crate) unsafe fn dict_set_default(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> Result<Owned, ()> {
    #[cfg(Py_3_13)]
    {
        let mut result = ptr::null_mut();
        // SAFETY: attached, and the three objects are live (this function's
        // contract); `result` is a local out-slot.
        if unsafe { crate::py::ffi::PyDict_SetDefaultRef(dict, key, value, &mut result) } < 0 {
            return Err(());
        }
        // SAFETY: on success PyDict_SetDefaultRef stored a new reference in
        // `result`.
        unsafe { Owned::from_raw(result) }.ok_or(())
    }
    #[cfg(not(Py_3_13))]
    {
        // Before 3.13 every supported build has a GIL, which makes this atomic.
        // SAFETY: attached, and the three objects are live (this function's
        // contract).
        let stored = unsafe { crate::py::ffi::PyDict_SetDefault(dict, key, value) };
        if stored.is_null() {
            return Err(());
        }
        // SAFETY: `stored` is a borrowed reference to the value now in
        // `dict`; the GIL is still held and nothing ran since the call, so it
        // is alive.
        Ok(unsafe { Owned::from_borrowed(stored) })
    }
}
