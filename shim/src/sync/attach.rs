//! Attaching for one host operation, from whatever thread plugin code runs
//! on (the object operations of `crate::plugin::objects`).
//!
//! - An attached thread runs the operation as it is.
//! - A thread detached in a plugin region (`oxbind::detach`) re-attaches
//!   through the exit gate for the operation, then detaches again.
//! - Any other thread (one the plugin spawned, a thread pool's worker)
//!   attaches with `PyGILState_Ensure`, through the gate, and releases its
//!   thread state afterwards.
//!
//! Once the gate has closed (the interpreter is about to finalize), a thread
//! that is not attached no longer attaches: the operation reports
//! [`Unavailable`] instead, and plugin code gets an error it can handle.
//! Unlike the shim's own waits, nothing parks here: such a thread holds no
//! thread state the interpreter waits for.

use pyo3_ffi as ffi;

use crate::sync::detach;

/// The interpreter is finalizing and this thread may no longer attach.
#[derive(Debug)]
pub(crate) struct Unavailable;

/// How the thread came to be attached, to be undone in reverse.
enum How {
    Already,
    Region,
    Foreign(ffi::PyGILState_STATE),
}

/// Runs `f` attached to the interpreter, from any thread (see the module
/// doc). `f` must not unwind.
///
/// # Safety
/// No lock of ours is held (the operation may run Python code), and a
/// thread that is attached is attached to the interpreter this shim copy
/// serves.
pub(crate) unsafe fn with_attached<R>(f: impl FnOnce() -> R) -> Result<R, Unavailable> {
    let how = if crate::sync::refpool::attached() {
        How::Already
    } else {
        match detach::try_reattach_in_region() {
            Some(true) => How::Region,
            None => return Err(Unavailable),
            Some(false) => How::Foreign(detach::attach_foreign().ok_or(Unavailable)?),
        }
    };
    let result = f();
    match how {
        How::Already => {}
        // SAFETY: the thread re-attached in its region just above and has
        // not detached since (`f` returns attached: every detach inside it
        // is undone before it returns).
        How::Region => unsafe { detach::redetach_after_op() },
        // SAFETY: `state` is what `attach_foreign` returned on this thread,
        // which has not detached since.
        How::Foreign(state) => unsafe { detach::release_foreign(state) },
    }
    Ok(result)
}
