//! Reading `list` and `dict` arguments that another thread may be mutating.
//!
//! Both readers take a strong reference to every item while holding the
//! container's critical section (a no-op with the GIL), so what the call
//! converts is one consistent state of the container, and no item can be
//! freed under it. The section is ended before any item is converted:
//! conversion may run Python code (implicit conversions), which must never
//! run inside one of our locks (spec/THREADING.md).
//!
//! - Lists are read item by item with `PyList_GetItemRef` (3.13+; through
//!   pyo3-ffi's compat shim, `PyList_GetItem` plus an incref, on 3.11 and
//!   3.12).
//! - Dicts are iterated with `PyDict_Next`, which on free-threaded builds is
//!   only safe inside the dict's critical section.

use pyo3_ffi as ffi;

use super::critical;
use crate::py::owned::Owned;

/// Strong references to the items of `list`, in order.
///
/// # Safety
/// The thread is attached and `list` is a live `list`.
pub unsafe fn list_items(list: *mut ffi::PyObject) -> Result<Vec<Owned>, ()> {
    let mut slot = critical::SectionSlot::uninit();
    // SAFETY: attached, and `list` is live (this function's contract): the
    // caller's reference keeps it alive until the section ends below.
    let section = unsafe { critical::lock(&mut slot, list, None) };
    // SAFETY: `list` is a live list (contract) whose critical section is
    // held, so its size cannot change between this read and the reads below.
    let n = unsafe { ffi::PyList_GET_SIZE(list) };
    let mut items = Vec::with_capacity(n as usize);
    let mut failed = false;
    for k in 0..n {
        // SAFETY: attached; `k` is below `n`, read under the section that is
        // still held; the new reference, or null, goes straight into an
        // `Owned`.
        match unsafe { Owned::from_raw(ffi::compat::PyList_GetItemRef(list, k)) } {
            Some(item) => items.push(item),
            None => {
                failed = true;
                break;
            }
        }
    }
    drop(section);
    // The items are released (if at all) only after the section ended.
    if failed {
        return Err(());
    }
    Ok(items)
}

/// Strong references to the (key, value) pairs of `dict`, in its order.
///
/// # Safety
/// The thread is attached and `dict` is a live `dict`.
pub unsafe fn dict_items(dict: *mut ffi::PyObject) -> Vec<(Owned, Owned)> {
    let mut slot = critical::SectionSlot::uninit();
    // SAFETY: attached, and `dict` is live (this function's contract): the
    // caller's reference keeps it alive until the section ends below.
    let section = unsafe { critical::lock(&mut slot, dict, None) };
    // SAFETY: attached; `dict` is a live dict (contract).
    let size = unsafe { ffi::PyDict_Size(dict) };
    let mut items = Vec::with_capacity(size.max(0) as usize);
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key = std::ptr::null_mut();
    let mut value = std::ptr::null_mut();
    // SAFETY: PyDict_Next runs inside the dict's critical section, as
    // free-threaded CPython requires; it returns borrowed references, which
    // are made strong before the section ends. Increfs run no Python code.
    unsafe {
        while ffi::PyDict_Next(dict, &mut pos, &mut key, &mut value) != 0 {
            items.push((Owned::from_borrowed(key), Owned::from_borrowed(value)));
        }
    }
    drop(section);
    items
}
