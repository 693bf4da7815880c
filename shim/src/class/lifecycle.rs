//! The life of an instance: allocation with an uninitialised value,
//! `tp_dealloc` (with a depth limit, as CPython's trashcan), and the
//! collector's `tp_traverse` and `tp_clear`, and the live-instance counts
//! of the leak report.

use std::{
    ffi::c_void,
    os::raw::c_int,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
    sync::atomic::Ordering,
};

use oxbind_internals::{instance_flags, TypeRecord_Ref};
use pyo3_ffi as ffi;

use crate::instance;

use crate::class::{class_of, ClassData};
use crate::instance::{header, header_mut};
use crate::runtime::instance_map::unmap;

/// `tp_traverse` of GC classes: the type (a heap type), a wrapper's owner,
/// and the handles the plugin's value holds. It never changes a reference
/// count, as free-threaded CPython's collector requires, and takes no lock:
/// on free-threaded builds the collector has stopped every other thread.
pub(crate) unsafe extern "C" fn slot_traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let ty = ffi::Py_TYPE(obj) as *mut ffi::PyObject;
    let r = visit(ty, arg);
    if r != 0 {
        return r;
    }
    let h = instance::header(obj);
    // A freshly allocated instance is tracked before its header is written;
    // the allocator zeroed it, so its flags read as "not ready".
    let flags = h.flags.load(std::sync::atomic::Ordering::Acquire);
    let owner = h.owner as *mut ffi::PyObject;
    if !owner.is_null() {
        let r = visit(owner, arg);
        if r != 0 {
            return r;
        }
    }
    let both = instance_flags::READY | instance_flags::OWNED;
    // A value borrowed exclusively is being changed by a call that is
    // waiting somewhere (detached) with `&mut` to it: reading it here would
    // alias that `&mut`. Its handles go unvisited this time, which only
    // makes their objects look referenced from outside (never collected
    // wrongly); the call in progress keeps this object alive anyway.
    let exclusively_borrowed = h.borrow.load(std::sync::atomic::Ordering::Acquire) == u32::MAX;
    if flags & both == both && !exclusively_borrowed {
        let class = class_of(obj);
        if let Some(traverse) = class.gc.traverse.into_option() {
            // Handle releases (and clones) inside the hook are pooled, never
            // applied: a count changed mid-collection corrupts it.
            return crate::sync::refpool::traversing(|| {
                traverse(h.value, visit as *const c_void, arg)
            });
        }
    }
    0
}

/// `tp_clear` of GC classes: drops the handles the value holds, through the
/// plugin's `Traverse::clear`, holding an exclusive borrow of the value.
///
/// The collector's verdict is not trusted for memory safety: a `traverse`
/// hook written in safe code can visit one handle twice, or visit a handle
/// that another object (or a thread, through an `Arc`) also holds, and then
/// a live object looks like garbage. So:
/// - a value someone has borrowed is left alone, and the borrow is taken
///   with the same atomic operation calls use, so no call can begin
///   borrowing it while `clear` runs (on 3.13t `tp_clear` runs after the
///   collector has restarted the world);
/// - a reference wrapper keeps its owner: a thread that is using the wrapper
///   relies on that reference, and no cycle needs it broken (a cycle through
///   a wrapper also passes through a value that holds a handle, and that
///   value's own `clear` breaks it).
///
/// A wrong verdict therefore costs at most a live value's handles, which is
/// what `clear` is allowed to do at any time (`spec/SOUNDNESS.md`, §3).
pub(crate) unsafe extern "C" fn slot_clear(obj: *mut ffi::PyObject) -> c_int {
    use std::sync::atomic::Ordering;
    let h = instance::header(obj);
    let flags = h.flags.load(Ordering::Acquire);
    let both = instance_flags::READY | instance_flags::OWNED;
    if flags & both == both {
        let class = class_of(obj);
        if let Some(clear) = class.gc.clear.into_option() {
            let value = h.value;
            instance::with_exclusive_value(obj, || clear(value));
        }
    }
    0
}

/// `TypeRecord::live_instances` of the classes this copy creates.
pub(crate) unsafe extern "C" fn live_instances(record: TypeRecord_Ref) -> i64 {
    // SAFETY: this copy created the record, so its class data is ours.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::live(class.leak_index).unwrap_or(0)
}

/// `TypeRecord::new_instance` of classes this copy creates: an instance with
/// its header initialised, its value uninitialised.
pub(crate) unsafe extern "C" fn new_instance(record: TypeRecord_Ref) -> *mut c_void {
    let ty = record.py_type() as *mut ffi::PyTypeObject;
    let alloc = (*ty).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
    let obj = alloc(ty, 0);
    if obj.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: this copy created the record (`new_instance` is its own), so
    // the class data is ours.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::count(class.leak_index, 1);
    let h = header_mut(obj);
    h.value = (obj as *mut u8).add(record.value_offset()) as *mut c_void;
    h.owner = ptr::null_mut();
    ptr::write(ptr::addr_of_mut!(h.record), record);
    h.flags.store(instance_flags::OWNED, Ordering::Relaxed);
    h.borrow.store(0, Ordering::Relaxed);
    obj as *mut c_void
}

/// `tp_dealloc` of every class this copy creates.
///
/// Freeing a value can free the objects it holds (`Instance` handles), whose
/// deallocation runs inside this one, and so on: a chain of 200,000 nodes
/// would recurse 200,000 frames deep. Like CPython's trashcan, a thread
/// nested more than [`DEALLOC_DEPTH`] deallocations deep defers the object
/// to a per-thread list (unmapped and untracked first, so nothing can find
/// it), and the outermost deallocation on the thread frees the deferred
/// objects in a loop.
pub(crate) unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let ty = ffi::Py_TYPE(obj);
    if ffi::PyType_IS_GC(ty) != 0 {
        // Untracked first: the collector must never see a half-freed object.
        ffi::PyObject_GC_UnTrack(obj as *mut c_void);
    }
    let h = header(obj);
    if h.flags.load(Ordering::Acquire) & instance_flags::MAPPED != 0 {
        // Unmapped before anything else: no lookup may find it again.
        unmap(obj);
        h.flags
            .fetch_and(!instance_flags::MAPPED, Ordering::Release);
    }
    let outermost = DEALLOCS.try_with(|d| {
        let depth = d.depth.get();
        if depth >= DEALLOC_DEPTH {
            d.deferred.borrow_mut().push(obj as usize);
            return None;
        }
        d.depth.set(depth + 1);
        Some(depth == 0)
    });
    match outermost {
        // The thread is exiting (its list is gone): free it here.
        Err(_) => dealloc_now(obj),
        Ok(None) => {} // deferred
        Ok(Some(outermost)) => {
            dealloc_now(obj);
            if outermost {
                // Still counted as one level deep while the deferred objects
                // go, so their own nested frees nest from here.
                while let Some(next) = DEALLOCS.with(|d| d.deferred.borrow_mut().pop()) {
                    dealloc_now(next as *mut ffi::PyObject);
                }
            }
            DEALLOCS.with(|d| d.depth.set(d.depth.get() - 1));
        }
    }
}

/// How deep deallocations may nest on one thread before they are deferred.
pub(crate) const DEALLOC_DEPTH: u32 = 50;

pub(crate) struct Deallocs {
    pub(crate) depth: std::cell::Cell<u32>,
    pub(crate) deferred: std::cell::RefCell<Vec<usize>>,
}

thread_local! {
    static DEALLOCS: Deallocs = const {
        Deallocs {
            depth: std::cell::Cell::new(0),
            deferred: std::cell::RefCell::new(Vec::new()),
        }
    };
}

/// The body of [`dealloc`]: drops the value, frees the object, and releases
/// the type and the owner.
pub(crate) unsafe fn dealloc_now(obj: *mut ffi::PyObject) {
    let ty = ffi::Py_TYPE(obj);
    let h = header(obj);
    let flags = h.flags.load(Ordering::Acquire);
    let record = h.record;
    if flags & (instance_flags::READY | instance_flags::OWNED)
        == instance_flags::READY | instance_flags::OWNED
    {
        let class = &*(record.class_data() as *const ClassData);
        let drop_value = class.desc.drop;
        let value = h.value;
        // A panicking Drop must not unwind into CPython; the value is gone
        // either way. (The SDK's drop hook catches its own panics too.)
        let _ = catch_unwind(AssertUnwindSafe(|| drop_value(value)));
    }
    // SAFETY: `dealloc` is the tp_dealloc of classes this copy created.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::count(class.leak_index, -1);
    let owner = h.owner as *mut ffi::PyObject;
    match (*ty).tp_free {
        Some(free) => free(obj as *mut c_void),
        None => ffi::PyObject_Free(obj as *mut c_void),
    }
    ffi::Py_DECREF(ty as *mut ffi::PyObject);
    if !owner.is_null() {
        // Releasing the keep-alive may run any Python code; no lock is held.
        ffi::Py_DECREF(owner);
    }
}
