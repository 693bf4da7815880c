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
///
/// # Safety
/// Called by CPython's collector as `tp_traverse` of a GC class this copy
/// created: `obj` is a live instance of it (possibly freshly allocated, its
/// header still zero), `visit` and `arg` are the collector's, on an attached
/// thread (with every other thread stopped on free-threaded builds).
pub(crate) unsafe extern "C" fn slot_traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: `obj` is a live object (the contract), so its type is a live
    // type object.
    let ty = unsafe { ffi::Py_TYPE(obj) } as *mut ffi::PyObject;
    // SAFETY: `visit` and `arg` are the collector's (the contract), and the
    // type is a live object that this instance references (a heap type).
    let r = unsafe { visit(ty, arg) };
    if r != 0 {
        return r;
    }
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract), so it has a header (zeroed by the allocator until
    // `new_instance` writes it).
    let h = unsafe { instance::header(obj) };
    // A freshly allocated instance is tracked before its header is written;
    // the allocator zeroed it, so its flags read as "not ready".
    let flags = h.flags.load(std::sync::atomic::Ordering::Acquire);
    let owner = h.owner as *mut ffi::PyObject;
    if !owner.is_null() {
        // SAFETY: a wrapper holds a strong reference to its owner, a live
        // object; `visit` and `arg` are the collector's (the contract).
        let r = unsafe { visit(owner, arg) };
        if r != 0 {
            return r;
        }
    }
    if flags & (instance_flags::READY | instance_flags::OWNED) != 0 {
        // SAFETY: the header was written (a flag is set), so its record is
        // the class's, whose class data is this copy's (the contract).
        let class = unsafe { class_of(obj) };
        if class.dict_offset != 0 {
            // SAFETY: the class has a dict slot at `dict_offset`, inside the
            // instance; null or a dict this instance holds a reference to.
            let dict =
                unsafe { *((obj as *mut u8).add(class.dict_offset) as *mut *mut ffi::PyObject) };
            if !dict.is_null() {
                // SAFETY: `dict` is a live object the instance references;
                // `visit` and `arg` are the collector's (the contract).
                let r = unsafe { visit(dict, arg) };
                if r != 0 {
                    return r;
                }
            }
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
        // SAFETY: `obj` is a live instance of a class this copy created (the
        // contract).
        let class = unsafe { class_of(obj) };
        if let Some(traverse) = class.gc.traverse.into_option() {
            // Handle releases (and clones) inside the hook are pooled, never
            // applied: a count changed mid-collection corrupts it.
            return crate::sync::refpool::traversing(|| {
                // SAFETY: the value is ready and owned, so initialised, and
                // not exclusively borrowed, so reading it aliases no `&mut`
                // (on free-threaded builds the other threads are stopped);
                // `visit` is the collector's visitproc, passed as the data
                // pointer the hook expects, with its `arg`.
                unsafe { traverse(h.value, visit as *const c_void, arg) }
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
///
/// # Safety
/// Called by CPython's collector as `tp_clear` of a GC class this copy
/// created: `obj` is a live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_clear(obj: *mut ffi::PyObject) -> c_int {
    use std::sync::atomic::Ordering;
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract), so it has a header.
    let h = unsafe { instance::header(obj) };
    let flags = h.flags.load(Ordering::Acquire);
    if flags & (instance_flags::READY | instance_flags::OWNED) != 0 {
        // SAFETY: the header was written (a flag is set), so its record's
        // class data is this copy's (the contract).
        let class = unsafe { class_of(obj) };
        // SAFETY: as for `clear_dict`: `obj` is a live instance of `class`.
        unsafe { clear_dict(obj, class) };
    }
    let both = instance_flags::READY | instance_flags::OWNED;
    if flags & both == both {
        // SAFETY: `obj` is a live instance of a class this copy created (the
        // contract).
        let class = unsafe { class_of(obj) };
        if let Some(clear) = class.gc.clear.into_option() {
            let value = h.value;
            // SAFETY: `obj` is a live, owned instance (OWNED is set) and the
            // thread is attached (the contract); the plugin's clear hook
            // gets the value, initialised (READY is set), only while the
            // exclusive borrow is held, so nothing else reads it meanwhile.
            unsafe { instance::with_exclusive_value(obj, || clear(value)) };
        }
    }
    0
}

/// Drops an instance's `__dict__` (classes declared `dict`), leaving the
/// slot null. The release may run any Python code; no lock is held.
///
/// # Safety
/// `obj` is a live (or dying, not yet freed) instance of `class`, a class
/// this copy created, whose header is written; the thread is attached.
unsafe fn clear_dict(obj: *mut ffi::PyObject, class: &ClassData) {
    if class.dict_offset == 0 {
        return;
    }
    // SAFETY: the class has a dict slot at `dict_offset` inside the instance
    // (the contract). The slot is emptied before the release, so code that
    // the release runs sees no freed dict there.
    let dict = unsafe {
        let at = (obj as *mut u8).add(class.dict_offset) as *mut *mut ffi::PyObject;
        std::mem::replace(&mut *at, ptr::null_mut())
    };
    if !dict.is_null() {
        // SAFETY: the instance held this one reference to its dict, taken out
        // of the slot above; the thread is attached.
        unsafe { ffi::Py_DECREF(dict) };
    }
}

/// Takes `obj` out of its class's live-instance count, if it is an owned
/// instance of a class this copy created: a class attribute or a module
/// constant, which lives as long as its class or module, is no leak. Its
/// deallocation (if the module attribute is deleted) then leaves the count
/// alone.
///
/// # Safety
/// `obj` is a live object; the thread is attached.
pub(crate) unsafe fn uncount(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is live (the contract).
    if !unsafe { instance::is_ours(obj) } {
        return;
    }
    // SAFETY: `obj` is an instance of a class this copy created, so it has a
    // header.
    let h = unsafe { header(obj) };
    let flags = h.flags.load(Ordering::Acquire);
    if flags & instance_flags::OWNED == 0 || flags & instance_flags::UNCOUNTED != 0 {
        return;
    }
    if h.flags
        .fetch_or(instance_flags::UNCOUNTED, Ordering::AcqRel)
        & instance_flags::UNCOUNTED
        == 0
    {
        // SAFETY: `obj` is an owned instance of a class this copy created.
        let class = unsafe { class_of(obj) };
        crate::instance::counts::count(class.leak_index, -1);
    }
}

/// `TypeRecord::live_instances` of the classes this copy creates.
///
/// # Safety
/// Called through the `live_instances` of a record this copy created (so
/// `record`'s class data is this copy's [`ClassData`]).
pub(crate) unsafe extern "C" fn live_instances(record: TypeRecord_Ref) -> i64 {
    // SAFETY: this copy created the record, so its class data is ours.
    let class = unsafe { &*(record.class_data() as *const ClassData) };
    crate::instance::counts::live(class.leak_index).unwrap_or(0)
}

/// `TypeRecord::new_instance` of classes this copy creates: an instance with
/// its header initialised, its value uninitialised.
///
/// # Safety
/// Called (by any shim copy) through the `new_instance` of a record this
/// copy created, on an attached thread: `record`'s type is a live class of
/// this copy and its class data this copy's [`ClassData`].
pub(crate) unsafe extern "C" fn new_instance(record: TypeRecord_Ref) -> *mut c_void {
    let ty = record.py_type() as *mut ffi::PyTypeObject;
    // SAFETY: `ty` is the live type object of a class this copy created (the
    // contract), whose `tp_alloc` (or the generic one) allocates an
    // instance; the thread is attached.
    let obj = unsafe {
        let alloc = (*ty).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        alloc(ty, 0)
    };
    if obj.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: this copy created the record (`new_instance` is its own), so
    // the class data is ours.
    let class = unsafe { &*(record.class_data() as *const ClassData) };
    crate::instance::counts::count(class.leak_index, 1);
    // SAFETY: `obj` was just allocated as an instance of the class, and no
    // other thread has seen it: this is the only reference to its header.
    let h = unsafe { header_mut(obj) };
    // SAFETY: the type's basic size is the value offset plus the value's
    // size, so the offset stays inside the object's allocation.
    h.value = unsafe { (obj as *mut u8).add(record.value_offset()) } as *mut c_void;
    h.owner = ptr::null_mut();
    // SAFETY: `h.record` is a field of the header we have exclusive access
    // to; `write` neither reads nor drops the zeroed bytes it replaces.
    unsafe { ptr::write(ptr::addr_of_mut!(h.record), record) };
    h.flags.store(instance_flags::OWNED, Ordering::Relaxed);
    h.borrow.store(0, Ordering::Relaxed);
    obj as *mut c_void
}

/// Moves the value of `obj`, a new instance the constructor just made, into
/// a new instance of `subtype`, a Python subclass of its class; returns the
/// new instance (a new reference; null with an error set if allocation
/// failed) and releases `obj`.
///
/// A Rust value may move bytewise: nothing points into it (a value that did
/// would need `unsafe` to build), and `obj` was seen by no one else. The
/// old instance then loses `READY`, so its deallocation drops nothing.
///
/// # Safety
/// `obj` is a new reference to an owned, ready instance of a class this
/// copy created, made by the running call and handed to no one; `subtype`
/// is a live type deriving from that class; the thread is attached.
pub(crate) unsafe fn move_into_subclass(
    obj: *mut ffi::PyObject,
    subtype: *mut ffi::PyTypeObject,
) -> *mut ffi::PyObject {
    // SAFETY: `obj` is a new reference (the contract), released once, when
    // `old` drops.
    let old = unsafe { crate::py::owned::Owned::from_raw(obj) }.expect("not null");
    // SAFETY: `obj` is an instance of a class this copy created, its header
    // written (the contract).
    let h = unsafe { header(obj) };
    let record = h.record;
    // SAFETY: `subtype` is a live type (the contract); its `tp_alloc`
    // (inherited: CPython's generic allocator) makes a zeroed instance of
    // it, at least as large as the base's, with the same header and value
    // offsets; attached.
    let new = unsafe {
        let alloc = (*subtype).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        alloc(subtype, 0)
    };
    if new.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `record` is the class's record, this copy's (the contract).
    let class = unsafe { &*(record.class_data() as *const ClassData) };
    crate::instance::counts::count(class.leak_index, 1);
    // SAFETY: `new` was just allocated, seen by no other thread: this is the
    // only reference to its header.
    let nh = unsafe { header_mut(new) };
    // SAFETY: the subclass's instances are laid out as the class's, so the
    // value offset is inside the allocation.
    nh.value = unsafe { (new as *mut u8).add(record.value_offset()) } as *mut c_void;
    nh.owner = ptr::null_mut();
    // SAFETY: a field of the header we have exclusive access to; `write`
    // neither reads nor drops the zeroed bytes it replaces.
    unsafe { ptr::write(ptr::addr_of_mut!(nh.record), record) };
    nh.borrow.store(0, Ordering::Relaxed);
    // SAFETY: `h.value` is `obj`'s initialised value (ready, the contract)
    // and `nh.value` storage for one value of the same class in `new`; the
    // two allocations are distinct. The bytes move: `obj` loses READY
    // below, so they are dropped once, by `new`.
    unsafe { ptr::copy_nonoverlapping(h.value as *const u8, nh.value as *mut u8, record.size()) };
    h.flags.fetch_and(!instance_flags::READY, Ordering::Release);
    nh.flags.store(instance_flags::OWNED, Ordering::Relaxed);
    // SAFETY: `new` is an instance this call allocated and has not handed
    // out; its value is initialised (copied above).
    unsafe { instance::mark_ready(new) };
    drop(old);
    new
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
///
/// # Safety
/// Called by CPython as `tp_dealloc` of a class this copy created: `obj` is
/// an instance whose refcount reached zero, on an attached thread.
pub(crate) unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is not freed yet (the contract), so its type is a live
    // type object.
    let ty = unsafe { ffi::Py_TYPE(obj) };
    // SAFETY: `ty` is a live type object.
    if unsafe { ffi::PyType_IS_GC(ty) } != 0 {
        // Untracked first: the collector must never see a half-freed object.
        // SAFETY: `obj` is an instance of a GC type, not yet freed; the
        // thread is attached.
        unsafe { ffi::PyObject_GC_UnTrack(obj as *mut c_void) };
    }
    // SAFETY: `obj` is an instance of a class this copy created, not yet
    // freed (the contract), so it has a header.
    let h = unsafe { header(obj) };
    if h.flags.load(Ordering::Acquire) & (instance_flags::READY | instance_flags::OWNED) != 0 {
        // SAFETY: the header was written (a flag is set), so its record's
        // class data is this copy's.
        let class = unsafe { class_of(obj) };
        if class.weaklist_offset != 0 {
            // SAFETY: the class keeps a weak-reference list at
            // `weaklist_offset`; `obj`'s refcount reached zero, and its
            // weak references are cleared (their callbacks run) before any
            // of it is freed, as CPython requires of `tp_dealloc`.
            unsafe {
                let list = (obj as *mut u8).add(class.weaklist_offset) as *mut *mut ffi::PyObject;
                if !(*list).is_null() {
                    ffi::PyObject_ClearWeakRefs(obj);
                }
            }
        }
    }
    if h.flags.load(Ordering::Acquire) & instance_flags::MAPPED != 0 {
        // Unmapped before anything else: no lookup may find it again.
        // SAFETY: MAPPED is set, so `obj` is an oxbind instance that was
        // mapped.
        unsafe { unmap(obj) };
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
        // SAFETY: `obj` is ours, its refcount reached zero (the contract), and
        // it was untracked and unmapped above; it is freed once, here.
        Err(_) => unsafe { dealloc_now(obj) },
        Ok(None) => {} // deferred
        Ok(Some(outermost)) => {
            // SAFETY: `obj` is ours, its refcount reached zero (the
            // contract), and it was untracked and unmapped above; it is freed
            // once, here (it was not deferred).
            unsafe { dealloc_now(obj) };
            if outermost {
                // Still counted as one level deep while the deferred objects
                // go, so their own nested frees nest from here.
                while let Some(next) = DEALLOCS.with(|d| d.deferred.borrow_mut().pop()) {
                    // SAFETY: only `dealloc` defers objects: each is an
                    // instance of a class this copy created whose refcount
                    // reached zero, untracked and unmapped before it was
                    // pushed, and popped (so freed) once.
                    unsafe { dealloc_now(next as *mut ffi::PyObject) };
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
///
/// # Safety
/// `obj` is an instance of a class this copy created whose refcount reached
/// zero, already untracked and unmapped (as [`dealloc`] leaves it), and not
/// yet freed; nothing uses it after this call, which frees it. The thread is
/// attached.
pub(crate) unsafe fn dealloc_now(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is not freed yet (the contract), so its type is a live
    // type object.
    let ty = unsafe { ffi::Py_TYPE(obj) };
    // SAFETY: `obj` is an instance of a class this copy created, not yet
    // freed (the contract), so it has a header.
    let h = unsafe { header(obj) };
    let flags = h.flags.load(Ordering::Acquire);
    let record = h.record;
    if flags & (instance_flags::READY | instance_flags::OWNED)
        == instance_flags::READY | instance_flags::OWNED
    {
        // SAFETY: `dealloc` is the tp_dealloc of classes this copy created,
        // so the record's class data is a `ClassData` this copy leaked.
        let class = unsafe { &*(record.class_data() as *const ClassData) };
        let drop_value = class.desc.drop;
        let value = h.value;
        // A panicking Drop must not unwind into CPython; the value is gone
        // either way. (The SDK's drop hook catches its own panics too.)
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the value is owned and ready, so initialised; the
            // refcount reached zero, so nothing else can reach it, and it is
            // dropped once, here, by its owner's drop glue.
            unsafe { drop_value(value) }
        }));
    }
    // SAFETY: `dealloc` is the tp_dealloc of classes this copy created.
    let class = unsafe { &*(record.class_data() as *const ClassData) };
    // SAFETY: `obj` is a dying instance of `class`, its header written
    // (its record was just read), not yet freed; attached.
    unsafe { clear_dict(obj, class) };
    if flags & instance_flags::UNCOUNTED == 0 {
        crate::instance::counts::count(class.leak_index, -1);
    }
    let owner = h.owner as *mut ffi::PyObject;
    // SAFETY: `obj` is dead (refcount zero, value dropped, nothing uses it
    // after this: the contract) and allocated by its type's allocator, so
    // its type's `tp_free` (or the default) frees it, once.
    unsafe {
        match (*ty).tp_free {
            Some(free) => free(obj as *mut c_void),
            None => ffi::PyObject_Free(obj as *mut c_void),
        }
    }
    // SAFETY: every instance holds a strong reference to its heap type,
    // released here, once, now that the instance is freed; the thread is
    // attached.
    unsafe { ffi::Py_DECREF(ty as *mut ffi::PyObject) };
    if !owner.is_null() {
        // Releasing the keep-alive may run any Python code; no lock is held.
        // SAFETY: a reference wrapper holds one strong reference to its
        // owner, released here, once; the thread is attached.
        unsafe { ffi::Py_DECREF(owner) };
    }
}
