//! What Python threads still running at exit hold is Python's, not a
//! leak of binding code (`spec/LEAKS.md`, "Threads still running at
//! exit").
//!
//! Daemon threads run until finalization stops them, and CPython never
//! releases what their frames hold: their thread states are deleted
//! without clearing the frames. By the time [`super::report_at_exit`]
//! runs those thread states are freed, so the report cannot look at
//! them. Instead a Python `atexit` callback (registered when the report
//! is installed) looks at every other thread while they still exist:
//! after `threading` has joined the non-daemon threads, on the
//! finalizing thread. It walks each thread's frames, the locals of each
//! frame and everything they reach through `tp_traverse` (what
//! `gc.get_referents` returns), without entering modules or module
//! dicts (finalization clears those, so what only they hold is freed
//! anyway). Every oxbind instance found is pinned (given a strong
//! reference that is never released), so it is certainly still alive
//! when the report subtracts it.
//!
//! The walk must see the other threads stopped:
//! - with the GIL, the finalizing thread holds it for the whole walk
//!   (nothing in the walk runs Python code that could release it);
//! - on free-threaded builds, it runs inside `PyUnstable_GC_VisitObjects`,
//!   which stops the world around its callback; the walk runs in the
//!   first call and stops the visit. Nothing is released inside: every
//!   reference the walk takes is dropped after the world restarts. The
//!   walk calls no Python method and looks up no attribute: a lookup
//!   takes the type lock, which a stopped thread may have been handed,
//!   and the walk would then wait for a thread that waits for it. A
//!   function frame's locals (3.13+) are read with `PyFrame_GetVar`.
//!
//! What cannot be seen: objects a thread holds only on its evaluation
//! stack (a `for` loop's iterator, an argument being built, the
//! instance a call is making), and what threads do between the callback
//! and finalization. So when threads were running, the instances of a
//! class that they were seen holding, that outnumber the class's
//! unexplained instances at the callback, or whose live count changed
//! while the callback let the other threads run for a few milliseconds
//! (they were making and freeing them), are listed as "may be held by
//! threads still running", not as leaks.

use std::{
    collections::{HashMap, HashSet},
    ffi::{c_int, c_void},
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
};

use pyo3_ffi as ffi;

use super::{gather, Leaks};
use crate::{instance, py::module_def::CpythonStatic, sync::lock::PyLock};

/// What the callback found.
#[derive(Default)]
struct Held {
    /// Other threads that were running Python code.
    threads: usize,
    /// Class key of each instance found (and pinned).
    instances: Vec<String>,
    /// (wrapper class, owner class) of each reference wrapper found.
    keep_alive: Vec<(String, String)>,
    /// (class key, live count) when the callback ran.
    live_before: Vec<(String, i64)>,
    /// Classes whose live count changed while the callback let the
    /// other threads run for a moment: threads still running make and
    /// free their instances, and may hold some on their evaluation
    /// stacks, which no walk can see.
    churning: Vec<String>,
}

/// How often, and for how long each time, the callback lets other
/// threads run to see which classes they are making instances of.
/// Each pause lets some threads on (with the GIL, one at a time), so a
/// class they make and free shows a different live count only when the
/// number of threads holding one changes: many short samples make
/// missing it unlikely (at most 40 ms, once, at exit).
const CHURN_SAMPLES: usize = 20;
const CHURN_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Written once by the callback, read by the report; only ever
/// `try_lock`ed (the report runs without a thread state).
static HELD: PyLock<Option<Held>> = PyLock::new(None);

static SNAPSHOT_DEF: CpythonStatic<ffi::PyMethodDef> = CpythonStatic::new(ffi::PyMethodDef {
    ml_name: c"_oxbind_leak_snapshot".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: snapshot,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: ptr::null(),
});

/// Registers [`snapshot`] with Python's `atexit`. On failure the
/// report simply counts everything, as before.
///
/// # Safety
/// The thread is attached; no oxbind lock is held.
pub unsafe fn register_snapshot() {
    // SAFETY: the thread is attached (this function's contract).
    let saved = unsafe { crate::py::errors::take_exception() };
    // SAFETY: attached, and no oxbind lock is held while the import runs
    // Python code (this function's contract); `SNAPSHOT_DEF` is a static
    // method def, so it outlives the function object.
    let (func, atexit) = unsafe {
        (
            ffi::PyCFunction_NewEx(SNAPSHOT_DEF.get(), ptr::null_mut(), ptr::null_mut()),
            ffi::PyImport_ImportModule(c"atexit".as_ptr()),
        )
    };
    if !func.is_null() && !atexit.is_null() {
        // SAFETY: attached, no oxbind lock held; `atexit` and `func` are
        // the non-null new references just made, and the format "O"
        // takes the one object argument passed.
        unsafe {
            let r = ffi::PyObject_CallMethod(atexit, c"register".as_ptr(), c"O".as_ptr(), func);
            ffi::Py_XDECREF(r);
        }
    }
    // SAFETY: attached; `func` and `atexit` are our own new references
    // (or null), released once; then the exception saved above is put
    // back in place of any error raised since.
    unsafe {
        ffi::Py_XDECREF(func);
        ffi::Py_XDECREF(atexit);
        ffi::PyErr_Clear();
        crate::py::errors::restore_exception(saved);
    }
}

/// The `atexit` callback: records what other threads hold.
///
/// # Safety
/// Called by CPython as the `METH_NOARGS` function of [`SNAPSHOT_DEF`]
/// (from Python's `atexit`): on an attached thread, with no oxbind lock
/// held.
unsafe extern "C" fn snapshot(
    _m: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython, attached, with no oxbind lock held.
    let _ = catch_unwind(|| unsafe { take_snapshot() });
    // SAFETY: attached; `None` is a live (immortal) object.
    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
}

/// # Safety
/// The thread is attached; no oxbind lock is held.
unsafe fn take_snapshot() {
    let Some(j) = crate::runtime::joined() else {
        return;
    };
    // Threads the plugins spawned attach for Python operations by creating
    // thread states (`PyGILState_Ensure`), which the walk below must not
    // meet half-built: close the exit gate first (this callback runs before
    // the gate's own, registered earlier), so none starts attaching now.
    // SAFETY: attached, no oxbind lock held, on the thread running the
    // `atexit` callbacks (this function's contract).
    unsafe { crate::sync::detach::close_gate() };
    // Runs no Python code and takes locks only with try_lock.
    let before = gather();
    // Only classes with live instances can be found.
    let mut types = HashMap::new();
    for (key, _, _) in &before.instances {
        // SAFETY: attached (this function's contract), and this copy
        // has joined `j`.
        if let Some(record) = unsafe { crate::runtime::registry::find_type_by_key(j, key) } {
            types.insert(record.py_type() as usize, key.clone());
        }
    }
    let mut walk = Walk {
        types,
        ..Walk::default()
    };
    // SAFETY: attached, with no oxbind lock held (this function's
    // contract).
    unsafe { walk.run_stopped() };
    // The world runs again: drop the walk's own references.
    let Walk {
        threads,
        found,
        owned,
        ..
    } = walk;
    for o in owned {
        // SAFETY: attached; each is a strong reference the walk took
        // (`Walk::own`) and released only here, with the world running.
        unsafe { ffi::Py_DECREF(o) };
    }
    let live_before: Vec<(String, i64)> = before
        .instances
        .into_iter()
        .map(|(k, _, n)| (k, n))
        .collect();
    let churning = if threads > 0 {
        // SAFETY: attached, with no oxbind lock held (this function's
        // contract).
        unsafe { churning(&live_before) }
    } else {
        Vec::new()
    };
    let mut held = Held {
        threads,
        live_before,
        churning,
        ..Held::default()
    };
    for (obj, key) in found {
        // SAFETY: `obj` is a live instance of an oxbind class (its
        // type is registered), pinned by the walk.
        let h = unsafe { instance::header(obj) };
        if !h.owner.is_null() {
            // SAFETY: a wrapper's owner is an oxbind instance it keeps
            // alive with a strong reference.
            let owner = unsafe { instance::header(h.owner as *mut ffi::PyObject) };
            held.keep_alive
                .push((key.clone(), owner.record.key().as_str().to_owned()));
        }
        held.instances.push(key);
    }
    if let Some(mut slot) = HELD.try_lock() {
        *slot = Some(held);
    }
}

/// The classes whose live count changes while other threads run: the
/// callback waits detached a few times, briefly, and gathers again.
///
/// # Safety
/// The thread is attached; no oxbind lock is held.
unsafe fn churning(before: &[(String, i64)]) -> Vec<String> {
    let mut last: HashMap<String, i64> = before.iter().cloned().collect();
    let mut changed: Vec<String> = Vec::new();
    for _ in 0..CHURN_SAMPLES {
        // SAFETY: the thread is attached (this function's contract), and
        // the closure touches no Python object. This is the finalizing
        // thread, which always passes the exit gate, so it re-attaches
        // even once the gate has closed.
        unsafe { crate::sync::detach::detached(|| std::thread::sleep(CHURN_PAUSE)) };
        let now: HashMap<String, i64> = gather()
            .instances
            .into_iter()
            .map(|(k, _, n)| (k, n))
            .collect();
        for key in last.keys().chain(now.keys()) {
            let moved = last.get(key).copied().unwrap_or(0) != now.get(key).copied().unwrap_or(0);
            if moved && !changed.contains(key) {
                changed.push(key.clone());
            }
        }
        last = now;
    }
    changed
}

/// A walk over what other threads' frames reach.
#[derive(Default)]
struct Walk {
    /// Type object address -> class key, of the classes to look for.
    types: HashMap<usize, String>,
    /// Module dicts: never entered.
    module_dicts: HashSet<usize>,
    /// Frame globals whose values were pushed already.
    globals_seen: HashSet<usize>,
    /// Objects to visit (borrowed; kept alive by `owned` and the
    /// stopped threads).
    stack: Vec<*mut ffi::PyObject>,
    visited: HashSet<usize>,
    /// Strong references the walk took, dropped after it.
    owned: Vec<*mut ffi::PyObject>,
    /// Oxbind instances found, pinned.
    found: Vec<(*mut ffi::PyObject, String)>,
    threads: usize,
    ran: bool,
}

#[cfg(Py_GIL_DISABLED)]
extern "C" {
    fn PyUnstable_GC_VisitObjects(
        callback: unsafe extern "C" fn(*mut ffi::PyObject, *mut c_void) -> c_int,
        arg: *mut c_void,
    );
}

impl Walk {
    /// Runs the walk with every other thread stopped.
    ///
    /// # Safety
    /// The thread is attached; no oxbind lock is held.
    unsafe fn run_stopped(&mut self) {
        #[cfg(Py_GIL_DISABLED)]
        {
            /// Runs the walk on the first visit, then stops the visit.
            ///
            /// # Safety
            /// Called by `PyUnstable_GC_VisitObjects` below, with the
            /// world stopped, on the walking thread: `arg` is the
            /// `Walk` passed there.
            unsafe extern "C" fn first(_o: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
                // SAFETY: `arg` is the `Walk` passed below, used only
                // on this thread for the duration of the visit.
                let walk = unsafe { &mut *(arg as *mut Walk) };
                if !walk.ran {
                    walk.ran = true;
                    // SAFETY: the world is stopped around this callback.
                    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { walk.run() }));
                }
                0 // stop the visit
            }
            // SAFETY: attached; the callback neither collects nor
            // releases anything (see the module docs).
            unsafe { PyUnstable_GC_VisitObjects(first, self as *mut Walk as *mut c_void) };
        }
        #[cfg(not(Py_GIL_DISABLED))]
        {
            self.ran = true;
            // SAFETY: this thread holds the GIL for the whole walk (it
            // is attached and nothing in the walk releases the GIL).
            unsafe { self.run() };
        }
    }

    /// Takes a strong reference `obj` (may be null) for the walk.
    fn own(&mut self, obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
        if !obj.is_null() {
            self.owned.push(obj);
        }
        obj
    }

    /// # Safety
    /// Attached, and no other thread runs Python code meanwhile.
    unsafe fn run(&mut self) {
        // SAFETY: the thread is attached (this function's contract).
        let saved = unsafe { crate::py::errors::take_exception() };
        // SAFETY: the thread is attached (this function's contract).
        let modules = unsafe { ffi::PyImport_GetModuleDict() };
        if !modules.is_null() {
            let (mut pos, mut k, mut v) = (0, ptr::null_mut(), ptr::null_mut());
            // SAFETY: attached, and no other thread runs Python code, so
            // `sys.modules` does not change during the iteration; `v` is
            // a borrowed value of the dict, live while it is.
            while unsafe { ffi::PyDict_Next(modules, &mut pos, &mut k, &mut v) } != 0 {
                // SAFETY: as above, `v` is a live value of the dict.
                if unsafe { ffi::PyModule_Check(v) } != 0 {
                    // SAFETY: `v` is a live module.
                    let d = unsafe { ffi::PyModule_GetDict(v) };
                    if !d.is_null() {
                        self.module_dicts.insert(d as usize);
                    }
                }
            }
        }
        // SAFETY: attached (this function's contract), and no other
        // thread runs meanwhile, so the interpreter's thread list is
        // stable while we walk it.
        let (me, mut t) = unsafe {
            (
                ffi::PyThreadState_Get(),
                ffi::PyInterpreterState_ThreadHead(ffi::PyInterpreterState_Get()),
            )
        };
        while !t.is_null() {
            if t != me {
                // SAFETY: `t` is a thread state of the stable list
                // above, whose thread does not run meanwhile.
                unsafe { self.thread(t) };
            }
            // SAFETY: `t` is a live thread state of that list.
            t = unsafe { ffi::PyThreadState_Next(t) };
        }
        // SAFETY: attached, and no other thread runs (this function's
        // contract); the stack holds what the frames reach.
        unsafe { self.traverse() };
        // SAFETY: attached; puts back the exception saved above in place
        // of any error raised since.
        unsafe {
            ffi::PyErr_Clear();
            crate::py::errors::restore_exception(saved);
        }
    }

    /// Adds the locals of every frame of `t` to the stack.
    ///
    /// # Safety
    /// Attached, and no other thread runs Python code meanwhile; `t` is
    /// a live thread state of this interpreter, not this thread's.
    unsafe fn thread(&mut self, t: *mut ffi::PyThreadState) {
        // SAFETY: `t` is a live thread state whose thread is stopped
        // (this function's contract); the new reference is kept in
        // `owned`.
        let mut frame = self.own(unsafe { ffi::PyThreadState_GetFrame(t) } as *mut ffi::PyObject);
        if !frame.is_null() {
            self.threads += 1;
        }
        while !frame.is_null() {
            let f = frame as *mut ffi::PyFrameObject;
            // SAFETY: `f` is a frame we hold a strong reference to (in
            // `owned`), on an attached thread; the new references these
            // return are kept in `owned` too.
            let (globals, locals) = unsafe {
                (
                    self.own(ffi::PyFrame_GetGlobals(f)),
                    self.own(ffi::PyFrame_GetLocals(f)),
                )
            };
            if locals.is_null() {
                // SAFETY: attached; drops the error of the failed call.
                unsafe { ffi::PyErr_Clear() };
            } else if locals != globals {
                // SAFETY: attached, others stopped (this function's
                // contract); `locals` is a mapping we hold, and `f` a
                // frame we hold.
                unsafe {
                    if ffi::PyDict_Check(locals) != 0 {
                        self.values_of(locals);
                    } else {
                        self.frame_vars(f);
                    }
                }
            }
            // What the frame's module namespace names, one level: a
            // running thread may hold any of it on its evaluation stack
            // (`item.bump()` on a global `item` holds `item` for the
            // call), which no public API shows. The namespace itself is
            // not entered further (modules and module dicts stop the
            // walk), so only the values it names and what they reach
            // count as held.
            if !globals.is_null() && self.globals_seen.insert(globals as usize) {
                // SAFETY: attached, others stopped (this function's
                // contract); `globals` is a dict we hold.
                unsafe { self.values_of(globals) };
            }
            // SAFETY: `f` is a frame we hold; the new reference to its
            // caller is kept in `owned`.
            frame = self.own(unsafe { ffi::PyFrame_GetBack(f) } as *mut ffi::PyObject);
        }
    }

    /// Pushes the values of the variables of frame `f` whose locals are
    /// not a dict (3.13+: a function frame's `FrameLocalsProxy`), read
    /// one by one with `PyFrame_GetVar`. Never through the proxy's
    /// `values()`: calling a method looks it up on the type, which takes
    /// the type lock, and on 3.13t a stopped thread may have been handed
    /// that lock, so the walk would wait for a thread that waits for the
    /// walk (a hang at exit, seen with busy daemon threads).
    ///
    /// # Safety
    /// Attached, and no other thread runs Python code meanwhile; `f` is a
    /// live frame the walk holds a strong reference to.
    #[cfg(Py_3_12)]
    unsafe fn frame_vars(&mut self, f: *mut ffi::PyFrameObject) {
        use crate::py::ffi::{PyCode_GetCellvars, PyCode_GetFreevars, PyCode_GetVarnames};
        // SAFETY: `f` is a frame we hold, on an attached thread; the new
        // reference is kept in `owned`.
        let code = self.own(unsafe { ffi::PyFrame_GetCode(f) } as *mut ffi::PyObject);
        if code.is_null() {
            // SAFETY: attached; drops the error of the failed call.
            unsafe { ffi::PyErr_Clear() };
            return;
        }
        let getters: [unsafe extern "C" fn(*mut ffi::PyCodeObject) -> *mut ffi::PyObject; 3] =
            [PyCode_GetVarnames, PyCode_GetCellvars, PyCode_GetFreevars];
        for names_of in getters {
            // SAFETY: `code` is a code object we hold; the new tuple (or
            // null) is kept in `owned`.
            let names = self.own(unsafe { names_of(code as *mut ffi::PyCodeObject) });
            if names.is_null() {
                // SAFETY: attached; drops the error of the failed call.
                unsafe { ffi::PyErr_Clear() };
                continue;
            }
            // SAFETY: `names` is a tuple we hold; each index is within
            // its size.
            for i in 0..unsafe { ffi::PyTuple_GET_SIZE(names) } {
                // SAFETY: as above; `f` is a frame we hold. An unbound
                // variable gives NameError, cleared; a value is a new
                // reference kept in `owned`.
                let value =
                    self.own(unsafe { ffi::PyFrame_GetVar(f, ffi::PyTuple_GET_ITEM(names, i)) });
                if value.is_null() {
                    // SAFETY: attached; drops the NameError.
                    unsafe { ffi::PyErr_Clear() };
                } else {
                    self.stack.push(value);
                }
            }
        }
    }

    /// Before 3.12 a frame's locals are always a dict.
    ///
    /// # Safety
    /// None: it does nothing.
    #[cfg(not(Py_3_12))]
    unsafe fn frame_vars(&mut self, _f: *mut ffi::PyFrameObject) {}

    /// Pushes the values of `m` if it is a dict (a frame's globals, or its
    /// locals before 3.13).
    ///
    /// # Safety
    /// Attached, and no other thread runs Python code meanwhile; `m` is
    /// a live mapping the walk holds a strong reference to.
    unsafe fn values_of(&mut self, m: *mut ffi::PyObject) {
        // SAFETY: `m` is live and the thread attached (this function's
        // contract).
        if unsafe { ffi::PyDict_Check(m) } != 0 {
            let (mut pos, mut k, mut v) = (0, ptr::null_mut(), ptr::null_mut());
            // SAFETY: `m` is a live dict that nothing changes meanwhile
            // (other threads are stopped).
            while unsafe { ffi::PyDict_Next(m, &mut pos, &mut k, &mut v) } != 0 {
                self.stack.push(v);
            }
        }
        // Any other mapping is left alone: reading it would call its
        // methods, and the walk calls no method (see `frame_vars`).
    }

    /// Visits everything the stack reaches.
    ///
    /// # Safety
    /// Attached, and no other thread runs Python code meanwhile; every
    /// object on the stack is alive (kept so by `owned` or by the stopped
    /// threads).
    unsafe fn traverse(&mut self) {
        /// Pushes each object a `tp_traverse` visits.
        ///
        /// # Safety
        /// Called as the `visitproc` of a `tp_traverse` call below: `arg`
        /// is the walk's stack, `o` null or a live object.
        unsafe extern "C" fn push(o: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
            if !o.is_null() {
                // SAFETY: `arg` is the walk's stack, borrowed for the
                // duration of one `tp_traverse` call.
                let stack = unsafe { &mut *(arg as *mut Vec<*mut ffi::PyObject>) };
                let _ = catch_unwind(AssertUnwindSafe(|| stack.push(o)));
            }
            0
        }
        while let Some(o) = self.stack.pop() {
            if o.is_null() || !self.visited.insert(o as usize) {
                continue;
            }
            // SAFETY: `o` is alive (this function's contract: what the
            // stack holds is alive, and so is what a live object's
            // `tp_traverse` visits, while nothing runs).
            let ty = unsafe { ffi::Py_TYPE(o) };
            if let Some(key) = self.types.get(&(ty as usize)) {
                // SAFETY: `o` is alive and the thread attached.
                unsafe { ffi::Py_INCREF(o) }; // pinned for good
                self.found.push((o, key.clone()));
            }
            // SAFETY: `o` is alive and the thread attached.
            if unsafe { ffi::PyModule_Check(o) } != 0 || self.module_dicts.contains(&(o as usize)) {
                continue;
            }
            // SAFETY: `o` is alive, and `ty` is its type, which it keeps
            // alive.
            if unsafe { ffi::PyObject_IS_GC(o) } != 0 {
                // SAFETY: as above.
                if let Some(traverse) = unsafe { (*ty).tp_traverse } {
                    // SAFETY: `traverse` is `o`'s own `tp_traverse`, and
                    // `push` reads `arg` as the stack it is given here.
                    unsafe { traverse(o, push, &mut self.stack as *mut Vec<_> as *mut c_void) };
                }
            }
        }
    }
}

/// Moves what threads still running at exit hold out of `leaks`:
/// instances (and keep-alive records) found in their frames are dropped;
/// the rest of a class they were seen holding, or that outnumbers the
/// class's unexplained instances at the callback, goes to `maybe_held`.
/// Runs without a thread state: reads only Rust data.
pub fn discount(leaks: &mut Leaks) {
    let Some(slot) = HELD.try_lock() else { return };
    let Some(held) = slot.as_ref() else { return };
    apply(leaks, held);
}

fn apply(leaks: &mut Leaks, held: &Held) {
    let mut found: HashMap<&str, i64> = HashMap::new();
    for key in &held.instances {
        *found.entry(key.as_str()).or_default() += 1;
    }
    for pair in &held.keep_alive {
        if let Some(i) = leaks.keep_alive.iter().position(|k| k == pair) {
            leaks.keep_alive.remove(i);
        }
    }
    let before: HashMap<&str, i64> = held
        .live_before
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    let mut kept = Vec::new();
    for (key, owner, n) in leaks.instances.drain(..) {
        let f = found.get(key.as_str()).copied().unwrap_or(0);
        let rest = (n - f).max(0);
        if rest == 0 {
            continue;
        }
        let unexplained_before = before.get(key.as_str()).copied().unwrap_or(0) - f;
        let churned = held.churning.iter().any(|k| k == &key);
        if held.threads > 0 && (f > 0 || churned || rest > unexplained_before) {
            leaks.maybe_held.push((key, owner, rest));
        } else {
            kept.push((key, owner, rest));
        }
    }
    leaks.instances = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaks(instances: &[(&str, i64)]) -> Leaks {
        Leaks {
            instances: instances
                .iter()
                .map(|(k, n)| (k.to_string(), "p 0.1.0".to_string(), *n))
                .collect(),
            ..Leaks::default()
        }
    }

    #[test]
    fn found_instances_are_not_leaks() {
        let mut l = leaks(&[("a.A", 2), ("b.B", 1)]);
        let held = Held {
            threads: 1,
            instances: vec!["a.A".into(), "a.A".into()],
            live_before: vec![("a.A".into(), 2), ("b.B".into(), 1)],
            ..Held::default()
        };
        apply(&mut l, &held);
        assert_eq!(l.instances, [("b.B".into(), "p 0.1.0".into(), 1)]);
        assert!(l.maybe_held.is_empty());
        assert!(l.leaked());
    }

    #[test]
    fn classes_threads_hold_or_made_later_may_be_held() {
        let mut l = leaks(&[("a.A", 3), ("b.B", 2), ("c.C", 1)]);
        let held = Held {
            threads: 2,
            instances: vec!["a.A".into()],
            live_before: vec![("a.A".into(), 1), ("b.B".into(), 1), ("c.C".into(), 1)],
            ..Held::default()
        };
        apply(&mut l, &held);
        assert_eq!(l.instances, [("c.C".into(), "p 0.1.0".into(), 1)]);
        assert_eq!(
            l.maybe_held,
            [
                ("a.A".into(), "p 0.1.0".into(), 2),
                ("b.B".into(), "p 0.1.0".into(), 2)
            ]
        );
    }

    #[test]
    fn classes_running_threads_were_making_may_be_held() {
        let mut l = leaks(&[("a.A", 2), ("b.B", 1)]);
        let held = Held {
            threads: 1,
            live_before: vec![("a.A".into(), 3), ("b.B".into(), 1)],
            churning: vec!["a.A".into()],
            ..Held::default()
        };
        apply(&mut l, &held);
        assert_eq!(l.instances, [("b.B".into(), "p 0.1.0".into(), 1)]);
        assert_eq!(l.maybe_held, [("a.A".into(), "p 0.1.0".into(), 2)]);
    }

    #[test]
    fn without_threads_nothing_moves() {
        let mut l = leaks(&[("b.B", 2)]);
        let held = Held::default();
        apply(&mut l, &held);
        assert_eq!(l.instances, [("b.B".into(), "p 0.1.0".into(), 2)]);
    }
}
