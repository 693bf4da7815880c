//! The leak report the runtime's creator prints at exit (`spec/LEAKS.md`):
//! the top of the shim, reading what the layers below keep.
//!
//! The copy that created the runtime registers [`report_at_exit`] with
//! `Py_AtExit` ([`install_if_created`], called by each entry point after it
//! joins the runtime). It runs after the interpreter is finalized, when
//! every object that can be freed has been: what is still alive then is
//! leaked. [`gather`] reads the creator's type registry (each record's
//! `live_instances`, implemented by the copy that created the type from its
//! `crate::instance::counts`) and the instance map (reference wrappers that
//! keep an owner alive). What threads still running at exit hold is
//! Python's, not leaked: a Python `atexit` callback records it beforehand
//! ([`threads`]), and the report leaves it out.
//!
//! Shared state: [`INSTALLED`] is an atomic of the creating copy; whether
//! the report prints is the creator's `LEAK_WARNINGS`
//! (`crate::runtime::creator`).

use std::sync::atomic::{AtomicBool, Ordering};

use oxbind_abi::abi_stable::std_types::RSome;
use pyo3_ffi as ffi;

use crate::instance;
use crate::runtime::creator::{CREATED_STATE, LEAK_WARNINGS};

mod threads;

/// The environment variable that turns a leak into exit status
/// [`LEAK_EXIT_STATUS`].
pub const FATAL_VARIABLE: &str = "OXBIND_LEAKS_FATAL";

/// The exit status of a process that leaked, with [`FATAL_VARIABLE`] set.
pub const LEAK_EXIT_STATUS: i32 = 70;

/// What the report lists, gathered by the runtime's creator.
#[derive(Default, Debug, PartialEq)]
pub struct Leaks {
    /// (type key, owning plugin and version, live count), by key.
    pub instances: Vec<(String, String, i64)>,
    /// Types whose instances could not be counted, by key.
    pub uncounted: Vec<String>,
    /// (wrapper type, owner type) per live keep-alive record.
    pub keep_alive: Vec<(String, String)>,
    /// (type key, owning plugin and version, count) of instances that
    /// threads still running at exit may hold: not called leaks
    /// ("Threads still running at exit" in `spec/LEAKS.md`).
    pub maybe_held: Vec<(String, String, i64)>,
}

impl Leaks {
    /// Whether there is nothing to print.
    pub fn is_empty(&self) -> bool {
        !self.leaked() && self.maybe_held.is_empty()
    }

    /// Whether anything leaked (what `OXBIND_LEAKS_FATAL` acts on).
    pub fn leaked(&self) -> bool {
        !(self.instances.is_empty() && self.keep_alive.is_empty())
    }

    /// The report's lines (`spec/LEAKS.md`, "Format").
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let total: i64 = self.instances.iter().map(|i| i.2).sum();
        if total > 0 {
            out.push(format!(
                "oxbind: leaked {total} instance{}",
                if total == 1 { "" } else { "s" }
            ));
        }
        for (key, owner, n) in &self.instances {
            out.push(format!("oxbind:   {n} x {key} (plugin {owner})"));
        }
        let k = self.keep_alive.len();
        if k > 0 {
            out.push(format!(
                "oxbind: leaked {k} keep-alive record{}",
                if k == 1 { "" } else { "s" }
            ));
            for (wrapper, owner) in &self.keep_alive {
                out.push(format!(
                    "oxbind:   a {wrapper} reference keeps a {owner} alive"
                ));
            }
        }
        let maybe: i64 = self.maybe_held.iter().map(|i| i.2).sum();
        if maybe > 0 {
            out.push(format!(
                "oxbind: {maybe} more instance{} still alive may be held by threads still running at exit (not counted as leaked)",
                if maybe == 1 { "" } else { "s" }
            ));
            for (key, owner, n) in &self.maybe_held {
                out.push(format!("oxbind:   {n} x {key} (plugin {owner})"));
            }
        }
        for key in &self.uncounted {
            out.push(format!(
                "oxbind: (instances of {key} are not counted: its oxbind predates the leak report)"
            ));
        }
        out.push(
            "oxbind: turn this report off with oxbind.set_leak_warnings(False); see spec/LEAKS.md"
                .to_string(),
        );
        out
    }
}

/// Whether the report is registered (once per process, by the creator).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Registers the report at exit if this copy created the runtime (and has
/// not registered it yet). Each entry point calls it after joining.
///
/// # Safety
/// The thread is attached, and no oxbind lock is held (registering the
/// `atexit` callback imports `atexit`).
pub(crate) unsafe fn install_if_created() {
    if CREATED_STATE.load(Ordering::Acquire).is_null() {
        return;
    }
    if INSTALLED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // SAFETY: `report_at_exit` is a plain `extern "C" fn()` that runs no
        // Python code, as `Py_AtExit` requires of its callbacks.
        unsafe { ffi::Py_AtExit(Some(report_at_exit)) };
        // SAFETY: attached, with no oxbind lock held (this function's
        // contract).
        unsafe { threads::register_snapshot() };
    }
}

/// The leaks of the runtime this copy created (`spec/LEAKS.md`); nothing if
/// it created none. Runs at exit, after finalization: it takes locks only
/// with `try_lock`, runs no Python code and changes no reference count.
/// What is still alive now was leaked.
pub(crate) fn gather() -> Leaks {
    let mut out = Leaks::default();
    let state = CREATED_STATE.load(Ordering::Acquire);
    if state.is_null() {
        return out;
    }
    // SAFETY: the creator's state is leaked, never freed.
    let state = unsafe { &*state };
    if let Some(registry) = state.registry.try_lock() {
        for (key, record) in &registry.by_key {
            if record.size() == 0 && record.new_instance().is_none() {
                continue; // not an oxbind class (the diagnostics registry)
            }
            match record.live_instances() {
                Some(RSome(live)) => {
                    // SAFETY: records and the code of every copy live as long
                    // as the process; the function only reads counters.
                    let n = unsafe { live(*record) };
                    if n > 0 {
                        out.instances.push((
                            key.clone(),
                            format!(
                                "{} {}",
                                record.owner().as_str(),
                                record.owner_version().as_str()
                            ),
                            n,
                        ));
                    }
                }
                _ => out.uncounted.push(key.clone()),
            }
        }
    }
    for shard in state.shards.iter() {
        let Some(map) = shard.map.try_lock() else {
            continue;
        };
        for &obj in map.values() {
            // SAFETY: mapped objects are alive (dealloc unmaps them first);
            // their headers, and their owners' headers, are readable.
            unsafe {
                let h = instance::header(obj as *mut ffi::PyObject);
                if !h.owner.is_null() {
                    let owner = instance::header(h.owner as *mut ffi::PyObject);
                    out.keep_alive.push((
                        h.record.key().as_str().to_owned(),
                        owner.record.key().as_str().to_owned(),
                    ));
                }
            }
        }
    }
    out.instances.sort();
    out.uncounted.sort();
    out.keep_alive.sort();
    out
}

/// Runs after the interpreter is finalized (`Py_AtExit`): prints the leaks,
/// and exits with [`LEAK_EXIT_STATUS`] if any leaked and the environment
/// asks for it. Runs no Python code and touches no Python object's
/// reference count.
extern "C" fn report_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if !LEAK_WARNINGS.load(Ordering::Acquire) {
            return;
        }
        let mut leaks = gather();
        threads::discount(&mut leaks);
        if leaks.is_empty() {
            return;
        }
        let text = leaks.lines().join("\n");
        eprintln!("{text}");
        let fatal = std::env::var(FATAL_VARIABLE).is_ok_and(|v| !v.is_empty() && v != "0");
        if fatal && leaks.leaked() {
            std::process::exit(LEAK_EXIT_STATUS);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_format() {
        let leaks = Leaks {
            instances: vec![
                ("leaky.Blob".into(), "leaky 0.1.0".into(), 2),
                ("leaky.Shelf".into(), "leaky 0.1.0".into(), 1),
            ],
            uncounted: vec![],
            keep_alive: vec![("leaky.Blob".into(), "leaky.Shelf".into())],
            maybe_held: vec![],
        };
        assert_eq!(
            leaks.lines(),
            [
                "oxbind: leaked 3 instances",
                "oxbind:   2 x leaky.Blob (plugin leaky 0.1.0)",
                "oxbind:   1 x leaky.Shelf (plugin leaky 0.1.0)",
                "oxbind: leaked 1 keep-alive record",
                "oxbind:   a leaky.Blob reference keeps a leaky.Shelf alive",
                "oxbind: turn this report off with oxbind.set_leak_warnings(False); see spec/LEAKS.md",
            ]
        );
        assert!(Leaks::default().lines().is_empty());
    }
}
