//! CPython glue: the bottom layer. Nothing here knows about plugins,
//! classes or calls, or uses any other module of the shim.
//!
//! - [`ffi`]: CPython declarations that `pyo3-ffi` lacks.
//! - [`owned`]: [`owned::Owned`], a strong reference released on drop.
//! - [`errors`]: raising exceptions (`oxbind.PanicError` included) and the
//!   text helpers messages use.
//! - [`module_def`]: what every module definition of a shim copy shares.
//! - [`wide`]: ints beyond `i64` to and from `WideInt`.
//! - [`buffer`]: the buffer protocol: argument exports checked against a
//!   buffer parameter, and `oxbind.Array` for array results.
//! - [`iter`]: `oxbind.LazyIterator`, the iterator of lazy-iterator results.
//! - [`type_once`] (here): a type of this copy, made on first use.

pub(crate) mod buffer;
pub(crate) mod dict;
pub(crate) mod errors;
pub(crate) mod ffi;
pub(crate) mod iter;
pub(crate) mod module_def;
pub(crate) mod owned;
pub(crate) mod path;
pub(crate) mod refcount;
pub(crate) mod wide;

use std::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

/// The type `cell` holds, made from `spec` on first use and immortal: a type
/// of this copy (`oxbind.Array`, `oxbind.LazyIterator`). Two threads may
/// both make one; the first stored wins and the other stays, unused.
///
/// # Safety
/// The thread is attached; `spec` and everything it points to (name, slots,
/// doc) are static or leaked, so they outlive the type.
pub(crate) unsafe fn type_once(
    cell: &AtomicPtr<pyo3_ffi::PyObject>,
    spec: impl FnOnce() -> pyo3_ffi::PyType_Spec,
) -> Result<*mut pyo3_ffi::PyTypeObject, ()> {
    let ty = cell.load(Ordering::Acquire);
    if !ty.is_null() {
        return Ok(ty as *mut pyo3_ffi::PyTypeObject);
    }
    let mut spec = spec();
    // SAFETY: attached, and the spec outlives the type (this function's
    // contract).
    let new = unsafe { pyo3_ffi::PyType_FromSpec(&mut spec) };
    if new.is_null() {
        return Err(());
    }
    // SAFETY: a fresh type no other thread has seen; attached.
    unsafe { refcount::immortalize(new) };
    match cell.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(new as *mut pyo3_ffi::PyTypeObject),
        // Another thread made one first: use it (ours stays, unused).
        Err(winner) => Ok(winner as *mut pyo3_ffi::PyTypeObject),
    }
}
