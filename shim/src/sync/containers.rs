//! Reading `list`, `dict` and `set` arguments that another thread may be
//! mutating.
//!
//! Both readers take a strong reference to every item while holding the
//! container's critical section (a no-op with the GIL), so what the call
//! converts is one consistent state of the container, and no item can be
//! freed under it. The section is ended before any item is converted:
//! conversion may run Python code (implicit conversions), which must never
//! run inside one of our locks (spec/THREADING.md).
//!
//! - Lists are read item by item in place (`PyList_GET_ITEM` plus an
//!   incref) inside the list's critical section, as CPython's own readers
//!   do under it (see [`list_items`] for why not `PyList_GetItemRef`).
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
    // Read in place, not with `PyList_GetItemRef`: on free-threaded 3.13
    // that may lock the list again (`list_item_impl`), and CPython 3.13.5
    // takes a critical section on a mutex the thread's own top section
    // holds by suspending that section: another thread could then resize
    // the list between the reads (an `IndexError`, or a torn snapshot).
    // SAFETY: `list` is a live list whose critical section is held, so no
    // writer can change its size or items during these reads (writers hold
    // the section too); `k` is below `n`; each item is alive (the list owns
    // a reference) and is made strong before the section ends. Increfs run
    // no Python code and never detach.
    let items: Vec<Owned> = (0..n)
        .map(|k| unsafe { Owned::from_borrowed(ffi::PyList_GET_ITEM(list, k)) })
        .collect();
    drop(section);
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

/// Strong references to the items of `set` (a `set` or `frozenset`, or a
/// subclass), in its iteration order.
///
/// Read with `PySequence_List`, that is `list(set)`: for an exact set,
/// CPython copies the items inside the set's critical section
/// (`list_extend_set` on free-threaded builds), so a set another thread
/// mutates is read in one consistent state; a subclass is iterated as
/// Python code would iterate it (its `__iter__` may run).
///
/// # Safety
/// The thread is attached, no oxbind lock is held (a subclass's `__iter__`
/// may run Python code), and `set` is a live set or frozenset.
pub unsafe fn set_items(set: *mut ffi::PyObject) -> Result<Vec<Owned>, ()> {
    // SAFETY: attached and `set` is live (this function's contract); the
    // new list (or null with an error set) goes straight into an `Owned`.
    let list = unsafe { Owned::from_raw(ffi::PySequence_List(set)) }.ok_or(())?;
    // SAFETY: `list` is a new list no other thread can see, so its size and
    // items cannot change under these reads; each borrowed item is made
    // strong before the list is released.
    unsafe {
        let n = ffi::PyList_GET_SIZE(list.as_ptr());
        Ok((0..n)
            .map(|k| Owned::from_borrowed(ffi::PyList_GET_ITEM(list.as_ptr(), k)))
            .collect())
    }
}
