//! Detaching from the interpreter around long native work: [`detach`], and
//! the runner of `#[oxbind(detach)]` calls.
//!
//! A detached thread lets every other thread run Python meanwhile: with the
//! GIL it has released the GIL, and on free-threaded builds a
//! stop-the-world pause (the garbage collector's) need not wait for it.
//! The shim does the detaching (`HostApi::detach`); this side runs the
//! closure and carries its result, or its panic, back.

use std::{
    ffi::c_void,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
};

use crate::private::host;

/// Runs `f` detached from the interpreter: with the GIL released on GIL
/// builds, and with the thread state detached on free-threaded ones, so
/// other threads run Python code (and other plugin calls) meanwhile. Then
/// re-attaches and returns what `f` returned; a panic in `f` carries on
/// unwinding after the re-attach.
///
/// What `f` may do:
/// - use the values the call borrowed (`&self`, `&mut self`, `&T` and
///   `&mut T` arguments): they stay borrowed, so no other thread gets a
///   `&mut` to them, or a `&` to what this call may mutate;
/// - use `oxbind::sync::PyMutex` (it waits without holding up the
///   interpreter) and `CriticalSection::with`, which re-attaches for the
///   section's length;
/// - clone and drop `Instance<T>` handles, from this or any thread.
///
/// It runs `f` attached instead (still correct, only not in parallel) where
/// detaching cannot be sound or is meaningless: inside a critical section
/// (`CriticalSection::with`, or a call declared `lock_self` or with an
/// `#[oxbind(lock)]` parameter), whose lock detaching would suspend; on a
/// thread that is not attached (one the plugin spawned, or inside another
/// `detach`); and when no shim has loaded the plugin, or the shim predates
/// detaching (plugin ABI 0.1.3).
///
/// If the interpreter starts finalizing while `f` runs, the thread never
/// returns from `detach`: CPython ends daemon threads that re-attach at exit,
/// and oxbind parks them instead (`spec/THREADING.md`).
#[inline]
pub fn detach<F: FnOnce() -> R, R>(f: F) -> R {
    let Some(run) = detach_entry() else {
        return f();
    };
    let mut job = Job {
        f: Some(f),
        out: None,
    };
    // SAFETY: `run_job::<F, R>` is given a `Job<F, R>` that lives on this
    // frame across the call; it catches every panic, so it never unwinds
    // into the shim.
    unsafe {
        run(
            oxbind_abi::DetachedFn {
                func: run_job::<F, R>,
            },
            &mut job as *mut Job<F, R> as *mut c_void,
        )
    };
    match job.out {
        Some(Ok(r)) => r,
        Some(Err(payload)) => resume_unwind(payload),
        None => panic!("oxbind: the shim did not run the detached closure"),
    }
}

/// A closure handed to the shim, and what became of it.
/// `HostApi::detach`, resolved on first use: the shim sets a plugin's host
/// table once and never frees it, so the entry cannot change afterwards.
/// Null until resolved.
static DETACH: std::sync::atomic::AtomicPtr<()> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// `HostApi::detach`'s type.
type DetachEntry = unsafe extern "C" fn(oxbind_abi::DetachedFn, *mut c_void);

/// [`DETACH`], or None if no shim has loaded this plugin.
#[inline]
fn detach_entry() -> Option<DetachEntry> {
    let p = DETACH.load(std::sync::atomic::Ordering::Relaxed);
    if p.is_null() {
        return resolve_detach();
    }
    // SAFETY: only `resolve_detach` stores here, and only a `DetachEntry`
    // (a function pointer, the size of a data pointer).
    Some(unsafe { std::mem::transmute::<*mut (), DetachEntry>(p) })
}

/// Reads [`DETACH`] from the host table, once it has one.
#[cold]
fn resolve_detach() -> Option<DetachEntry> {
    let f = host()?.detach()?;
    DETACH.store(f as *mut (), std::sync::atomic::Ordering::Relaxed);
    Some(f)
}

struct Job<F, R> {
    f: Option<F>,
    out: Option<std::thread::Result<R>>,
}

/// Runs the job's closure once, catching a panic.
///
/// # Safety
/// `data` points at a live `Job<F, R>` that nothing else uses during the
/// call.
unsafe extern "C" fn run_job<F: FnOnce() -> R, R>(data: *mut c_void) {
    // SAFETY: the caller passes a live `Job<F, R>`, used only here meanwhile.
    let job = unsafe { &mut *(data as *mut Job<F, R>) };
    let f = job.f.take();
    job.out = Some(catch_unwind(AssertUnwindSafe(move || match f {
        Some(f) => f(),
        None => panic!("oxbind: a detached closure ran twice"),
    })));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_shim_it_runs_in_place() {
        assert_eq!(detach(|| 6 * 7), 42);
        let caught = catch_unwind(|| detach(|| -> u8 { panic!("inside") }));
        assert!(caught.is_err());
    }

    /// Runs `f` as the shim would: through `run_job`.
    fn run_as_shim<F: FnOnce() -> i32>(f: F) -> Option<std::thread::Result<i32>> {
        let mut job = Job {
            f: Some(f),
            out: None,
        };
        // SAFETY: a live job, used only by the call.
        unsafe { run_job::<F, i32>(&mut job as *mut Job<F, i32> as *mut c_void) };
        job.out
    }

    #[test]
    fn a_job_carries_its_result_and_its_panic() {
        assert!(matches!(run_as_shim(|| 5), Some(Ok(5))));
        assert!(matches!(run_as_shim(|| panic!("boom")), Some(Err(_))));
    }
}
