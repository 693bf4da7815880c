//! Detaching from the interpreter around a wait, and re-attaching safely
//! even while the interpreter finalizes (spec/THREADING.md, "Waiting
//! detached", and spec/SOUNDNESS.md).
//!
//! Every wait of the shim's own (a borrow held by another thread, a
//! contended lock, a plugin another thread is building, file I/O in the
//! loader) runs through [`detached`]. On CPython 3.11 to 3.13 a thread that
//! re-attaches after finalization has begun is ended by `pthread_exit`,
//! whose forced unwind cannot cross the shim's `extern "C"` frames: the
//! process aborts. So re-attaching goes through a gate:
//!
//! - [`install_exit_gate`] registers, once per shim copy, an `atexit`
//!   callback. `atexit` callbacks run after `threading` has joined every
//!   non-daemon thread and before CPython marks the runtime finalizing.
//! - The callback closes the gate, then waits, detached, until no thread is
//!   inside `PyEval_RestoreThread` through the gate. From then on, a thread
//!   that would re-attach through the gate parks forever instead: it is a
//!   daemon thread (or one the plugin spawned) that CPython would have ended
//!   anyway, and CPython 3.14 itself parks such threads the same way.
//! - The thread that ran the callback (the one finalizing) always passes.
//!
//! Plugin code detaches too ([`plugin_region`], behind `oxbind::detach` and
//! `#[oxbind(detach)]`), through the same gate. Unlike the shim's own waits
//! it may need the interpreter inside: a critical section re-attaches for
//! its length ([`reattach_in_region`], [`redetach_in_region`]). A region
//! never suspends a critical section: inside one (counted in `REGION`)
//! plugin code runs attached.
//!
//! Shared state (all atomics, one set per shim copy): `CLOSED` is written
//! once, by the exit callback; `PASSING` counts threads between the gate
//! check and the end of their `PyEval_RestoreThread`; `FINALIZER` is the
//! callback thread's id. No lock is held while parked. `REGION` is a
//! thread-local.

use std::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use pyo3_ffi as ffi;

static CLOSED: AtomicBool = AtomicBool::new(false);
static PASSING: AtomicUsize = AtomicUsize::new(0);
static FINALIZER: AtomicUsize = AtomicUsize::new(0);
/// Threads attached for a host object operation by [`attach_foreign`] or
/// [`try_reattach_in_region`], until they detach again. The exit callback
/// waits (a bounded time) for them: such a thread may be running Python
/// code, and a thread CPython meets attached while it finalizes is ended
/// mid-call.
static IN_OPS: AtomicUsize = AtomicUsize::new(0);

/// How long the exit callback waits for host object operations still
/// running on threads that are not Python's own.
const OPS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A per-thread id that is never 0 (the address of a thread-local).
pub(crate) fn this_thread() -> usize {
    thread_local!(static MARK: u8 = const { 0 });
    MARK.with(|m| m as *const u8 as usize)
}

/// Runs `f` detached from the interpreter, then re-attaches through the
/// exit gate. `f` must not touch Python objects or call the C API.
///
/// # Safety
/// The calling thread is attached.
pub unsafe fn detached<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: as the caller promises.
    unsafe { detached_holding(f, |_| {}) }
}

/// [`detached`] for a wait that acquires something (a lock): if the thread
/// must park at the gate instead of re-attaching, `give_back` releases it
/// first. A parked thread holds nothing, so no thread that finalization
/// waits for (one attached in plugin code, say) can be stuck behind it.
///
/// # Safety
/// As for [`detached`].
pub unsafe fn detached_holding<R>(f: impl FnOnce() -> R, give_back: impl FnOnce(&R)) -> R {
    // SAFETY: the caller is attached; `f` uses no Python API.
    let state = unsafe { ffi::PyEval_SaveThread() };
    let result = f();
    if !enter_gate() {
        give_back(&result);
        park_forever();
    }
    // SAFETY: `state` is this thread's, saved just above; the gate is open
    // (or this thread is the one finalizing), so CPython will not end the
    // thread while it re-attaches.
    unsafe { ffi::PyEval_RestoreThread(state) };
    PASSING.fetch_sub(1, Ordering::SeqCst);
    result
}

/// This thread's plugin regions: one thread-local, so that a region looks
/// it up once.
struct Region {
    /// The thread state a plugin's detached region saved, while this thread
    /// is detached in it; null when attached or in no region.
    saved: Cell<*mut ffi::PyThreadState>,
    /// How many critical sections this thread holds that plugin code must
    /// not see suspended: a call's `lock_self` and `#[oxbind(lock)]`
    /// sections, and the plugin's own (`critical_begin`). Detaching would
    /// suspend them, so [`plugin_region`] does not detach while any is held.
    sections: Cell<u32>,
}

thread_local! {
    // `const` and without `Drop`: it has no destructor, so it is reachable
    // for the thread's whole life, teardown included (`with` never fails).
    static REGION: Region = const {
        Region {
            saved: Cell::new(std::ptr::null_mut()),
            sections: Cell::new(0),
        }
    };
}

/// Counts a critical section plugin code relies on as held by this thread
/// (until [`section_left`]): no plugin region detaches meanwhile.
pub(crate) fn section_entered() {
    REGION.with(|r| r.sections.set(r.sections.get() + 1));
}

/// Ends what [`section_entered`] counted.
pub(crate) fn section_left() {
    REGION.with(|r| r.sections.set(r.sections.get().saturating_sub(1)));
}

/// [`section_entered`] until the guard drops.
pub(crate) fn hold_section() -> SectionHeld {
    section_entered();
    SectionHeld(())
}

/// See [`hold_section`].
pub(crate) struct SectionHeld(());

impl Drop for SectionHeld {
    fn drop(&mut self) {
        section_left();
    }
}

/// Runs plugin code `f` detached, if the thread is attached and holds no
/// critical section plugin code relies on (otherwise `f` runs as it is),
/// then re-attaches through the gate. Inside, critical sections re-attach
/// for their length ([`reattach_in_region`]). A thread that would re-attach
/// once the gate has closed parks forever.
///
/// # Safety
/// `f` does not unwind (plugin code catches its own panics), and touches
/// Python only through the host API, whose operations work detached.
pub(crate) unsafe fn plugin_region(f: impl FnOnce()) {
    REGION.with(|region| {
        if region.sections.get() > 0 || !crate::sync::refpool::attached() {
            f();
            return;
        }
        // SAFETY: the thread is attached (checked just above).
        let state = unsafe { ffi::PyEval_SaveThread() };
        let outer = region.saved.replace(state);
        f();
        // Every section begun inside has ended (sections are closures in
        // the SDK), so the thread is detached again and `saved` holds its
        // state (a thread's state is the same object every time it
        // detaches).
        if region.saved.replace(outer).is_null() {
            return; // a section re-attached and is still open: stay attached
        }
        if !enter_gate() {
            park_forever();
        }
        // SAFETY: `state` is this thread's, saved above; the thread is
        // detached (`saved` held it); the gate is open (or this thread
        // finalizes), so CPython will not end the thread while it
        // re-attaches.
        unsafe { ffi::PyEval_RestoreThread(state) };
        PASSING.fetch_sub(1, Ordering::SeqCst);
        // References the region took while detached (pooled, with the GIL)
        // count from here on: the call's arguments they were taken from may
        // be released as soon as it returns.
        // SAFETY: attached again, just above.
        unsafe { crate::sync::refpool::apply_increments() };
    })
}

/// Re-attaches a thread detached in a plugin region, through the gate: true
/// if it did (the caller then calls [`redetach_in_region`] when done),
/// false if the thread is in no region (attached, or a thread of its own).
pub(crate) fn reattach_in_region() -> bool {
    let state = REGION.with(|r| r.saved.replace(std::ptr::null_mut()));
    if state.is_null() {
        return false;
    }
    if !enter_gate() {
        park_forever();
    }
    // SAFETY: `state` is this thread's own, saved when it detached in the
    // region; the gate is open, so CPython will not end the thread.
    unsafe { ffi::PyEval_RestoreThread(state) };
    PASSING.fetch_sub(1, Ordering::SeqCst);
    true
}

/// [`reattach_in_region`] for a host operation that may fail instead of
/// parking: `Some(true)` if the thread re-attached (then call
/// [`redetach_in_region`] when done), `Some(false)` if it is in no region,
/// `None` if it is detached in one but the gate has closed (it stays
/// detached, and the operation reports that the interpreter is going away).
pub(crate) fn try_reattach_in_region() -> Option<bool> {
    let state = REGION.with(|r| r.saved.get());
    if state.is_null() {
        return Some(false);
    }
    if !enter_gate() {
        return None;
    }
    REGION.with(|r| r.saved.set(std::ptr::null_mut()));
    IN_OPS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: `state` is this thread's own, saved when it detached in the
    // region; the gate is open, so CPython will not end the thread.
    unsafe { ffi::PyEval_RestoreThread(state) };
    PASSING.fetch_sub(1, Ordering::SeqCst);
    Some(true)
}

/// Detaches again after [`try_reattach_in_region`] returned `Some(true)`.
///
/// # Safety
/// As for [`redetach_in_region`].
pub(crate) unsafe fn redetach_after_op() {
    // SAFETY: as the caller promises.
    unsafe { redetach_in_region() };
    IN_OPS.fetch_sub(1, Ordering::SeqCst);
}

/// Attaches a thread that has no thread state of its own in use (one the
/// plugin spawned) through the gate, with `PyGILState_Ensure`: `None` if
/// the gate has closed or the interpreter is gone, and then nothing
/// happened. Release with [`release_foreign`].
pub(crate) fn attach_foreign() -> Option<ffi::PyGILState_STATE> {
    if !enter_gate() {
        return None;
    }
    // SAFETY: `Py_IsInitialized` only reads a runtime flag, valid on any
    // thread at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        PASSING.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    IN_OPS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the interpreter is initialised and the gate is open (this
    // thread is counted as passing it), so finalization has not begun and
    // waits for this thread to finish attaching: CPython will not end it.
    let state = unsafe { ffi::PyGILState_Ensure() };
    PASSING.fetch_sub(1, Ordering::SeqCst);
    Some(state)
}

/// Detaches what [`attach_foreign`] attached.
///
/// # Safety
/// `state` is what [`attach_foreign`] returned on this thread, and the
/// thread has not detached since.
pub(crate) unsafe fn release_foreign(state: ffi::PyGILState_STATE) {
    // SAFETY: as the caller promises.
    unsafe { ffi::PyGILState_Release(state) };
    IN_OPS.fetch_sub(1, Ordering::SeqCst);
}

/// Detaches again after [`reattach_in_region`] returned true.
///
/// # Safety
/// The thread re-attached with [`reattach_in_region`] and has not detached
/// since.
pub(crate) unsafe fn redetach_in_region() {
    // SAFETY: attached (this function's contract).
    let state = unsafe { ffi::PyEval_SaveThread() };
    REGION.with(|r| r.saved.set(state));
}

/// Counts this thread as passing the gate, unless it must park: false if
/// the gate is closed to it (then it is not counted).
fn enter_gate() -> bool {
    PASSING.fetch_add(1, Ordering::SeqCst);
    if CLOSED.load(Ordering::SeqCst) && FINALIZER.load(Ordering::SeqCst) != this_thread() {
        PASSING.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    true
}

/// Whether the exit gate has closed: the interpreter is about to finalize.
pub fn closing() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

fn park_forever() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// The `atexit` callback: closes the gate, lets threads already passing it
/// finish, and releases the references threads not attached left to the
/// pool ([`crate::sync::refpool`]).
///
/// # Safety
/// Called by CPython through `atexit`, as the METH_NOARGS function made from
/// `AT_EXIT_DEF`: on an attached thread, before the runtime starts
/// finalizing, with no oxbind lock held.
unsafe extern "C" fn at_exit(
    _module: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as this function's contract.
    unsafe { close_gate() };
    // SAFETY: atexit callbacks run attached (this function's contract), and
    // no lock of ours is held, so the drain's releases may run Python code.
    unsafe {
        crate::sync::refpool::drain();
        ffi::Py_NewRef(ffi::Py_None())
    }
}

/// Closes the gate: from now on only this thread re-attaches through it,
/// and threads that are not attached no longer attach for host object
/// operations. Waits (detached) for threads already passing it, and (at
/// most `OPS_GRACE`) for those attached for an operation. Called by the
/// exit callback, and first by any other exit step that needs the other
/// threads' thread states to stay put (the leak report's thread walk);
/// calling it again only repeats the waits.
///
/// # Safety
/// The thread is attached, holds no lock of ours, and is the one running
/// `atexit` callbacks (before the runtime starts finalizing).
pub(crate) unsafe fn close_gate() {
    FINALIZER.store(this_thread(), Ordering::SeqCst);
    CLOSED.store(true, Ordering::SeqCst);
    let mut rounds = 0u32;
    while PASSING.load(Ordering::SeqCst) != 0 {
        // A passing thread needs the interpreter (the GIL, on GIL builds)
        // to finish re-attaching: let it have it.
        // SAFETY: the callback runs attached.
        let state = unsafe { ffi::PyEval_SaveThread() };
        rounds += 1;
        if rounds < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        // SAFETY: this thread is FINALIZER, and the runtime is not yet
        // finalizing (atexit callbacks run before that).
        unsafe { ffi::PyEval_RestoreThread(state) };
    }
    // Host object operations of threads that are not Python's own (they
    // attached for the operation) finish before finalization begins, for a
    // bounded time; new ones are refused (the gate is closed).
    let started = std::time::Instant::now();
    while IN_OPS.load(Ordering::SeqCst) != 0 && started.elapsed() < OPS_GRACE {
        // SAFETY: the callback runs attached; the operation's thread may
        // need the interpreter (the GIL) to finish.
        let state = unsafe { ffi::PyEval_SaveThread() };
        std::thread::sleep(std::time::Duration::from_micros(200));
        // SAFETY: this thread is FINALIZER; the runtime is not finalizing.
        unsafe { ffi::PyEval_RestoreThread(state) };
    }
}

static mut AT_EXIT_DEF: ffi::PyMethodDef = ffi::PyMethodDef {
    ml_name: c"_oxbind_exit_gate".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: at_exit,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"Closes oxbind's re-attach gate before the interpreter finalizes.".as_ptr(),
};

/// Registers this copy's exit callback with `atexit`, once. On failure the
/// error is cleared: the copy works, without the exit gate.
///
/// # Safety
/// The thread is attached.
pub unsafe fn install_exit_gate() {
    static DONE: AtomicBool = AtomicBool::new(false);
    // SAFETY: attached; the def is a static CPython only reads.
    unsafe {
        register_once(
            &DONE,
            std::ptr::addr_of_mut!(AT_EXIT_DEF),
            c"atexit",
            &[c"register"],
        )
    }
}

/// Passes a function made from `def` to `module.<path...>` (a callback
/// registry), the first time only (`done`). A failure is cleared: the
/// callbacks make oxbind sturdier, and the copy works without them.
///
/// # Safety
/// The thread is attached; `def` is a static that CPython only reads.
pub(crate) unsafe fn register_once(
    done: &AtomicBool,
    def: *mut ffi::PyMethodDef,
    module: &std::ffi::CStr,
    path: &[&std::ffi::CStr],
) {
    if done.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: attached; `def` outlives the function object.
    unsafe {
        let func = ffi::PyCFunction_New(def, std::ptr::null_mut());
        if func.is_null() || !call_in_module(module, path, func) {
            ffi::PyErr_Clear();
        }
        if !func.is_null() {
            ffi::Py_DECREF(func);
        }
    }
}

/// Calls `module.<path...>(arg)` (`atexit.register(f)`,
/// `gc.callbacks.append(f)`); false with a Python error set on failure.
///
/// # Safety
/// The thread is attached; `arg` is a live object.
pub(crate) unsafe fn call_in_module(
    module: &std::ffi::CStr,
    path: &[&std::ffi::CStr],
    arg: *mut ffi::PyObject,
) -> bool {
    use crate::py::owned::Owned;
    // SAFETY: attached; every object is owned by an `Owned` until dropped.
    unsafe {
        let Some(mut target) = Owned::from_raw(ffi::PyImport_ImportModule(module.as_ptr())) else {
            return false;
        };
        let Some((last, attrs)) = path.split_last() else {
            return false;
        };
        for attr in attrs {
            match Owned::from_raw(ffi::PyObject_GetAttrString(target.as_ptr(), attr.as_ptr())) {
                Some(next) => target = next,
                None => return false,
            }
        }
        let Some(method) =
            Owned::from_raw(ffi::PyObject_GetAttrString(target.as_ptr(), last.as_ptr()))
        else {
            return false;
        };
        Owned::from_raw(ffi::PyObject_CallOneArg(method.as_ptr(), arg)).is_some()
    }
}
