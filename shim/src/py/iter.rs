//! `oxbind.LazyIterator`: the Python iterator of an `oxbind::LazyIter`
//! result (plugin ABI 0.1.9, `HostApi::new_iterator`). Each `next()` calls
//! the plugin's closure, which returns an item, or a sentinel object at the
//! end.
//!
//! CPython's own `iter(callable, sentinel)` is not used: on free-threaded
//! builds its `next()` clears its callable and sentinel fields with no
//! lock, so two threads sharing one iterator could lose an item, or compare
//! against a freed sentinel. Here both fields are written once, at
//! creation, and released only by `tp_dealloc` (or `tp_clear`, which runs
//! when no thread can be iterating); the end is a pointer comparison.

use std::{ffi::c_void, os::raw::c_int, ptr, sync::atomic::AtomicPtr};

use pyo3_ffi as ffi;

/// The instance layout: the closure to call and the sentinel it returns at
/// the end, both strong references.
#[repr(C)]
struct IterObject {
    base: ffi::PyObject,
    next: *mut ffi::PyObject,
    sentinel: *mut ffi::PyObject,
}

/// This copy's `oxbind.LazyIterator` type: null, then the type, set once.
static ITER_TYPE: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// `tp_iternext`: the closure's next item, or null with no exception at the
/// end (the closure keeps returning the sentinel once exhausted).
///
/// # Safety
/// Called by CPython on an attached thread with a live instance.
unsafe extern "C" fn iter_next(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let it = obj as *mut IterObject;
    // SAFETY: a live instance (the contract); its fields are set once at
    // creation and released only by dealloc or clear (which run when the
    // iterator is unreachable, so not while a thread is in here); a cleared
    // field reads as null.
    let (next, sentinel) = unsafe { ((*it).next, (*it).sentinel) };
    if next.is_null() || sentinel.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: attached; both are live objects the instance holds, and the
    // references taken here keep them for the call and the comparison.
    unsafe {
        let (next, sentinel) = (ffi::Py_NewRef(next), ffi::Py_NewRef(sentinel));
        let mut item = ffi::PyObject_CallNoArgs(next);
        if !item.is_null() && item == sentinel {
            ffi::Py_DECREF(item);
            item = ptr::null_mut();
        }
        ffi::Py_DECREF(next);
        ffi::Py_DECREF(sentinel);
        item
    }
}

/// `tp_traverse`: the two references.
///
/// # Safety
/// Called by the collector with a live instance.
unsafe extern "C" fn iter_traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let it = obj as *mut IterObject;
    // SAFETY: a live instance (the contract); each field is null or live.
    unsafe {
        for field in [(*it).next, (*it).sentinel] {
            if !field.is_null() {
                let r = visit(field, arg);
                if r != 0 {
                    return r;
                }
            }
        }
    }
    0
}

/// `tp_clear`: drops the two references (the collector breaking a cycle
/// through the closure's captures).
///
/// # Safety
/// Called by the collector, or by dealloc, with a live instance.
unsafe extern "C" fn iter_clear(obj: *mut ffi::PyObject) -> c_int {
    let it = obj as *mut IterObject;
    // SAFETY: a live instance (the contract); each field is null or a strong
    // reference we own, nulled before it is released.
    unsafe {
        let next = std::mem::replace(&mut (*it).next, ptr::null_mut());
        let sentinel = std::mem::replace(&mut (*it).sentinel, ptr::null_mut());
        ffi::Py_XDECREF(next);
        ffi::Py_XDECREF(sentinel);
    }
    0
}

/// `tp_dealloc`.
///
/// # Safety
/// Called by CPython when the last reference goes, attached.
unsafe extern "C" fn iter_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: a dying instance of our GC type: untracked first, then its
    // references dropped, then freed by the type's `tp_free`; the type is a
    // heap type whose reference the instance holds.
    unsafe {
        ffi::PyObject_GC_UnTrack(obj as *mut c_void);
        iter_clear(obj);
        let ty = ffi::Py_TYPE(obj);
        let free = (*ty).tp_free.expect("a heap type has tp_free");
        free(obj as *mut c_void);
        ffi::Py_DECREF(ty as *mut ffi::PyObject);
    }
}

/// This copy's `oxbind.LazyIterator` type.
///
/// # Safety
/// The thread is attached.
unsafe fn iter_type() -> Result<*mut ffi::PyTypeObject, ()> {
    // SAFETY: attached (this function's contract); the spec's name, slots
    // and doc are static or leaked, so they outlive the type.
    unsafe {
        crate::py::type_once(&ITER_TYPE, || {
            let slots: &'static mut [ffi::PyType_Slot] = Box::leak(Box::new([
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_iter,
                    pfunc: ffi::PyObject_SelfIter as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_iternext,
                    pfunc: iter_next as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_traverse,
                    pfunc: iter_traverse as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_clear,
                    pfunc: iter_clear as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_dealloc,
                    pfunc: iter_dealloc as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_doc,
                    pfunc: c"A Rust iterator a plugin returned (oxbind::LazyIter), yielding as it goes."
                        .as_ptr() as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: 0,
                    pfunc: ptr::null_mut(),
                },
            ]));
            ffi::PyType_Spec {
                name: c"oxbind.LazyIterator".as_ptr(),
                basicsize: std::mem::size_of::<IterObject>() as c_int,
                itemsize: 0,
                flags: (ffi::Py_TPFLAGS_DEFAULT
                    | ffi::Py_TPFLAGS_IMMUTABLETYPE
                    | ffi::Py_TPFLAGS_HAVE_GC
                    | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
                slots: slots.as_mut_ptr(),
            }
        })
    }
}

/// A new `oxbind.LazyIterator` calling `next` until it returns `sentinel`;
/// null with an error set on failure.
///
/// # Safety
/// The thread is attached; `next` and `sentinel` are live objects (the new
/// iterator takes its own references).
pub(crate) unsafe fn new_iterator(
    next: *mut ffi::PyObject,
    sentinel: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: attached (this function's contract).
    let Ok(ty) = (unsafe { iter_type() }) else {
        return ptr::null_mut();
    };
    // SAFETY: attached; `ty` is our GC heap type, whose allocation zeroes
    // the instance (both fields null, which traverse and next skip) and
    // takes a reference to the type; the fields are set before any other
    // code sees the object.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(ty, 0);
        if obj.is_null() {
            return ptr::null_mut();
        }
        let it = obj as *mut IterObject;
        (*it).next = ffi::Py_NewRef(next);
        (*it).sentinel = ffi::Py_NewRef(sentinel);
        obj
    }
}
