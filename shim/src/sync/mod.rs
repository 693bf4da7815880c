//! Threading primitives, and the rules every wait obeys
//! (`spec/THREADING.md`): never run Python code, a `Py_DECREF` included,
//! while holding one of our locks; never block on a lock while attached
//! (try first, then wait detached); re-attach only through the exit gate.
//!
//! - [`lock`]: [`lock::PyLock`], the shim's own lock (a `PyMutex` on 3.13+).
//! - [`critical`]: critical sections on the objects a call locks.
//! - [`detach`]: waiting detached, re-attaching through the exit gate, and
//!   the callbacks that close it; plugin code's detached regions
//!   (`oxbind::detach`).
//! - [`refpool`]: reference counts changed by threads not attached.
//! - [`serial`]: the per-plugin lock of plugins that are not thread-safe.
//! - [`containers`]: reading `list` and `dict` arguments that other threads
//!   may be mutating, under their critical sections.
//!
//! The other two waits live with what they protect: the borrow flags of
//! instances in [`crate::instance`], and the `PyMutex` and critical sections
//! the host API gives plugins in [`crate::plugin::host`].

pub(crate) mod containers;
pub(crate) mod critical;
pub(crate) mod detach;
pub(crate) mod lock;
pub(crate) mod refpool;
pub(crate) mod serial;
