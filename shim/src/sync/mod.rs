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
//! - [`attach`]: attaching for one host object operation, from any thread.
//! - [`serial`]: the per-plugin lock of plugins that are not thread-safe.
//! - [`take_waiting_detached`] and [`backoff`]: how every lock of ours is
//!   waited for (detached, never taken detached) and how a wait spins,
//!   yields, then sleeps.
//! - [`containers`]: reading `list` and `dict` arguments that other threads
//!   may be mutating, under their critical sections.
//!
//! The other two waits live with what they protect: the borrow flags of
//! instances in [`crate::instance`], and the `PyMutex` and critical sections
//! the host API gives plugins in [`crate::plugin::host`].

pub(crate) mod attach;
pub(crate) mod containers;
pub(crate) mod critical;
pub(crate) mod detach;
pub(crate) mod lock;
pub(crate) mod refpool;
pub(crate) mod serial;

/// Takes a lock (`try_take` attempts it) on an attached thread. On
/// contention the thread waits detached, through the exit gate, until the
/// lock looks free (`is_free`), re-attaches and tries again: it never takes
/// the lock detached. A thread that took it detached would re-attach
/// holding it, and re-attaching waits for any stop-the-world pause, which
/// waits for every attached thread, one of which may be joining threads
/// that need this very lock: a deadlock (and at exit, a hang).
///
/// # Safety
/// The thread is attached and holds no lock of ours; `is_free` touches no
/// Python object (it runs detached).
pub(crate) unsafe fn take_waiting_detached(
    try_take: impl Fn() -> bool,
    is_free: impl Fn() -> bool,
) {
    let mut rounds = 0u32;
    while !try_take() {
        // SAFETY: attached, holding no lock of ours (this function's
        // contract); the wait touches no Python object.
        unsafe {
            detach::detached(|| {
                while !is_free() {
                    backoff(&mut rounds);
                }
            })
        };
    }
}

/// One round of waiting for something another thread will soon free (a
/// lock byte, a lock's holder): spin for the first rounds, then yield, then
/// sleep 50 µs a round. Call it detached, or on a thread that is not
/// attached.
pub(crate) fn backoff(rounds: &mut u32) {
    *rounds += 1;
    if *rounds < 64 {
        std::hint::spin_loop();
    } else if *rounds < 256 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}
