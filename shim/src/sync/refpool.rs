//! Reference counts changed by threads that are not attached to the
//! interpreter: the `oxbind::Instance` handles a plugin clones and drops on
//! threads of its own (spec/SOUNDNESS.md, "Handles on any thread").
//!
//! Such a thread never attaches to change a count. Attaching could
//! deadlock (the thread that started it may be attached and joining it),
//! and during finalization CPython ends a thread that attaches. Instead:
//!
//! - **Releasing** a reference pushes it onto a lock-free pool, and asks
//!   CPython (`Py_AddPendingCall`) to run [`drain`] on the main thread soon.
//! - **Taking** a reference, on a free-threaded build, is CPython's atomic
//!   `Py_INCREF`: the handle being cloned keeps the object alive, and an
//!   increment never frees anything. With the GIL an unattached increment
//!   would race with the GIL holder's plain `ob_refcnt` updates, so it is
//!   pooled too. A pooled increment is safe because the handle it was
//!   cloned from still holds its own reference, and every path that could
//!   drop the count applies the pool first: an attached handle operation
//!   drains before its own, the collector drains at the start of every
//!   collection (a `gc.callbacks` entry, so that no collection sees a
//!   handle whose reference is still pending), and the exit gate drains
//!   before finalization (`crate::sync::detach`).
//! - **Attached** threads drain the pool, then change the count directly.
//!
//! Whether a thread is attached: 3.13 and newer read the thread's own
//! thread state (`PyThreadState_GetUnchecked`, a thread-local). On 3.11
//! that function returns whichever thread state holds the GIL, on any
//! thread, so before 3.13 the answer is whether this thread's own state
//! (`PyGILState_GetThisThreadState`) is that one.
//!
//! Shared state: `HEAD`, a Treiber stack of boxed operations (pushed with a
//! compare-exchange, taken whole with a swap: no ABA), and `SCHEDULED`,
//! whether a pending call is queued. One pool per shim copy; a plugin's
//! handles always go through the copy that installed its host API.

use std::{
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};

use pyo3_ffi as ffi;

struct Op {
    obj: *mut ffi::PyObject,
    incref: bool,
    next: *mut Op,
}

static HEAD: AtomicPtr<Op> = AtomicPtr::new(ptr::null_mut());
static SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Whether the calling thread is attached to the interpreter (during
/// finalization too, when `Py_IsInitialized` already reads 0).
#[inline]
pub fn attached() -> bool {
    #[cfg(Py_3_13)]
    // SAFETY: reads this thread's own thread-state variable; valid on any
    // thread, at any time.
    unsafe {
        !ffi::PyThreadState_GetUnchecked().is_null()
    }
    #[cfg(not(Py_3_13))]
    // SAFETY: both read thread-local or runtime-global state and are valid
    // on any thread; `PyGILState_GetThisThreadState` is null once the
    // runtime is finalized (where `PyGILState_Check` would answer 1).
    unsafe {
        let mine = ffi::PyGILState_GetThisThreadState();
        !mine.is_null() && mine == ffi::compat::PyThreadState_GetUnchecked()
    }
}

thread_local! {
    /// Whether this thread is inside a plugin's `traverse` hook.
    static TRAVERSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a plugin's `traverse` hook: handle operations inside it are pooled
/// (the collector is counting references; changing one now, or freeing an
/// object, corrupts the collection), and applied after it.
pub fn traversing<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            TRAVERSING.with(|t| t.set(self.0));
        }
    }
    let _reset = Reset(TRAVERSING.with(|t| t.replace(true)));
    f()
}

fn in_traverse() -> bool {
    TRAVERSING.try_with(|t| t.get()).unwrap_or(false)
}

/// Takes a reference to `obj` on behalf of a handle, from any thread.
///
/// # Safety
/// `obj` is alive, kept so by a reference the caller holds.
pub unsafe fn incref(obj: *mut ffi::PyObject) {
    if in_traverse() {
        push(obj, true);
        return;
    }
    if attached() {
        // SAFETY: attached; the pool's own operations come first.
        unsafe {
            drain();
            ffi::Py_INCREF(obj);
        }
        return;
    }
    #[cfg(Py_GIL_DISABLED)]
    // SAFETY: the free-threaded increment is atomic (or a plain store by
    // the owning thread), and the caller's reference keeps `obj` alive.
    unsafe {
        ffi::Py_INCREF(obj)
    };
    #[cfg(not(Py_GIL_DISABLED))]
    push(obj, true);
}

/// Releases a reference a handle owned, from any thread.
///
/// # Safety
/// The caller owns one reference to `obj` and gives it up.
pub unsafe fn decref(obj: *mut ffi::PyObject) {
    if in_traverse() {
        push(obj, false);
        return;
    }
    if attached() {
        // SAFETY: attached; the caller owns the reference released. The
        // release may run any Python code: no lock of ours is held here.
        unsafe {
            drain();
            ffi::Py_DECREF(obj);
        }
        return;
    }
    push(obj, false);
}

fn push(obj: *mut ffi::PyObject, incref: bool) {
    let op = Box::into_raw(Box::new(Op {
        obj,
        incref,
        next: ptr::null_mut(),
    }));
    // SAFETY: `op` is a new node of ours, a chain of one.
    unsafe { push_chain(op, op) };
}

/// Pushes the chain `first` .. `last` (linked by `next`, newest first) on
/// the pool, older than anything pushed meanwhile, and schedules a drain.
///
/// # Safety
/// The chain is ours alone: boxed nodes that no other thread can reach.
unsafe fn push_chain(first: *mut Op, last: *mut Op) {
    let mut head = HEAD.load(Ordering::Relaxed);
    loop {
        // SAFETY: the chain is ours until the exchange publishes it.
        unsafe { (*last).next = head };
        match HEAD.compare_exchange_weak(head, first, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => head = now,
        }
    }
    schedule();
}

/// Asks CPython to drain the pool on the main thread, unless a request is
/// already queued or the interpreter is going away (then the operations
/// stay pooled: the references are leaked, never applied late).
fn schedule() {
    if SCHEDULED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: `Py_AddPendingCall` needs no thread state and no GIL; it is
    // called only while the runtime is initialised and not finalizing.
    let queued = unsafe {
        ffi::Py_IsInitialized() != 0
            && !crate::sync::detach::closing()
            && ffi::Py_AddPendingCall(Some(drain_pending), ptr::null_mut()) == 0
    };
    if !queued {
        SCHEDULED.store(false, Ordering::Release);
    }
}

extern "C" fn drain_pending(_arg: *mut c_void) -> std::os::raw::c_int {
    SCHEDULED.store(false, Ordering::Release);
    // SAFETY: pending calls run attached, on the main thread.
    unsafe { drain() };
    0
}

/// Applies every pooled operation, oldest first.
///
/// # Safety
/// The thread is attached. No lock of ours is held (a release may run any
/// Python code).
pub unsafe fn drain() {
    if HEAD.load(Ordering::Relaxed).is_null() {
        return;
    }
    let mut list = HEAD.swap(ptr::null_mut(), Ordering::Acquire);
    // The stack is newest first: reverse it.
    let mut ordered: *mut Op = ptr::null_mut();
    while !list.is_null() {
        // SAFETY: every node was boxed by `push` and is now ours alone.
        unsafe {
            let next = (*list).next;
            (*list).next = ordered;
            ordered = list;
            list = next;
        }
    }
    while !ordered.is_null() {
        // SAFETY: as above; the pooled reference (or the clone's source,
        // for an increment) keeps the object alive until it is applied.
        unsafe {
            let op = Box::from_raw(ordered);
            ordered = op.next;
            if op.incref {
                ffi::Py_INCREF(op.obj);
            } else {
                ffi::Py_DECREF(op.obj);
            }
        }
    }
}

/// Applies the pooled increments now, and leaves the releases pooled: it
/// runs no Python code, so it may run while a call holds borrows or locks.
/// An increment applied before an older pooled release never frees
/// anything early (it only keeps the object a little longer).
///
/// It runs where a pooled increment would otherwise come too late: when a
/// detached region ends (an `Object` taken from a borrowed argument there
/// must hold a real count before the call's arguments are released), and
/// before the shim takes over a reference a plugin hands it (a result, an
/// exception), which Python may release at once.
///
/// # Safety
/// The thread is attached.
pub unsafe fn apply_increments() {
    if HEAD.load(Ordering::Relaxed).is_null() {
        return;
    }
    let mut list = HEAD.swap(ptr::null_mut(), Ordering::Acquire);
    // The releases, kept newest first as they were.
    let (mut kept, mut kept_tail): (*mut Op, *mut Op) = (ptr::null_mut(), ptr::null_mut());
    while !list.is_null() {
        // SAFETY: every node was boxed by `push` and is now ours alone; an
        // increment's source handle keeps its object alive until applied,
        // and the thread is attached (this function's contract).
        unsafe {
            let next = (*list).next;
            if (*list).incref {
                ffi::Py_INCREF((*list).obj);
                drop(Box::from_raw(list));
            } else {
                (*list).next = ptr::null_mut();
                if kept.is_null() {
                    kept = list;
                } else {
                    (*kept_tail).next = list;
                }
                kept_tail = list;
            }
            list = next;
        }
    }
    if kept.is_null() {
        return;
    }
    // Put the releases back.
    // SAFETY: the kept chain is ours alone (swapped out above).
    unsafe { push_chain(kept, kept_tail) };
}

/// `gc.callbacks` entry: applies the pool before each collection.
///
/// # Safety
/// Called by CPython's collector through `gc.callbacks`, as the METH_VARARGS
/// function made from `GC_CALLBACK_DEF`: on an attached thread, before a
/// collection starts, with no oxbind lock held.
unsafe extern "C" fn gc_callback(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: collector callbacks run attached, outside any lock of ours.
    unsafe {
        drain();
        ffi::Py_NewRef(ffi::Py_None())
    }
}

static mut GC_CALLBACK_DEF: ffi::PyMethodDef = ffi::PyMethodDef {
    ml_name: c"_oxbind_refpool".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: gc_callback,
    },
    ml_flags: ffi::METH_VARARGS,
    ml_doc: c"Applies the reference counts oxbind pooled for threads not attached.".as_ptr(),
};

/// Adds this copy's collector callback, once. On failure the error is
/// cleared (pooled increments then wait for the next drain).
///
/// # Safety
/// The thread is attached.
pub unsafe fn install_gc_callback() {
    static DONE: AtomicBool = AtomicBool::new(false);
    // SAFETY: attached; the def is a static CPython only reads.
    unsafe {
        crate::sync::detach::register_once(
            &DONE,
            ptr::addr_of_mut!(GC_CALLBACK_DEF),
            c"gc",
            &[c"callbacks", c"append"],
        )
    }
}
