//! The per-plugin lock that runs the calls of a plugin declaring
//! `free_threading_safe: false` one at a time (`spec/THREADING.md`,
//! "Plugins that are not thread-safe").
//!
//! It is re-entrant: a call that reaches the same plugin again on its own
//! thread (through a callback, once plugins can call Python) goes on. A
//! thread that finds it held by another waits detached, through the exit
//! gate, so the waiter never stalls the interpreter and a waiter at exit
//! parks holding nothing.
//!
//! Shared state: `owner` (the holding thread's id, 0 when free) is changed
//! only by compare-exchange (to take it) and by its holder (to free it);
//! `depth` is read and written only by the holding thread.

use std::{
    cell::Cell,
    sync::atomic::{AtomicUsize, Ordering},
};

/// A re-entrant lock private to this shim copy (plugins never see it).
pub(crate) struct SerialLock {
    owner: AtomicUsize,
    depth: Cell<u32>,
}

// SAFETY: `depth` is touched only by the thread that holds the lock (its id
// is in `owner`, set by compare-exchange), so never by two threads at once;
// `owner` is atomic.
unsafe impl Sync for SerialLock {}

impl SerialLock {
    /// A free lock, leaked: it lives as long as the plugin's functions.
    pub(crate) fn leaked() -> &'static SerialLock {
        Box::leak(Box::new(SerialLock {
            owner: AtomicUsize::new(0),
            depth: Cell::new(0),
        }))
    }

    /// Runs `f` holding the lock: at once if this thread holds it already,
    /// else after waiting for it detached.
    ///
    /// # Safety
    /// The thread is attached, and holds no lock of ours (it may detach).
    pub(crate) unsafe fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let me = crate::sync::detach::this_thread();
        if self.owner.load(Ordering::Relaxed) != me {
            // SAFETY: attached, holding no lock of ours (this function's
            // contract).
            unsafe { self.acquire(me) };
        }
        // Only the holder reaches here, so only it touches `depth`.
        self.depth.set(self.depth.get() + 1);
        /// Frees the lock when the outermost call ends, even by a panic.
        struct Release<'a>(&'a SerialLock);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let depth = self.0.depth.get() - 1;
                self.0.depth.set(depth);
                if depth == 0 {
                    self.0.owner.store(0, Ordering::Release);
                }
            }
        }
        let _release = Release(self);
        f()
    }

    /// Takes the lock for thread `me`, which does not hold it.
    ///
    /// # Safety
    /// As for [`SerialLock::run`].
    unsafe fn acquire(&self, me: usize) {
        // SAFETY: attached, holding no lock of ours (this function's
        // contract); the wait reads only `owner`.
        unsafe {
            super::take_waiting_detached(
                || {
                    self.owner
                        .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                },
                || self.owner.load(Ordering::Relaxed) == 0,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_reentrant_and_freed_by_the_outermost_call_or_a_panic() {
        let lock = SerialLock::leaked();
        // Uncontended, so no wait (which would need an interpreter).
        // SAFETY: the lock is free or held by this thread, so it never
        // waits, and nothing here touches Python.
        let n = unsafe { lock.run(|| lock.run(|| lock.run(|| 5))) };
        assert_eq!(n, 5);
        assert_eq!(lock.owner.load(Ordering::Relaxed), 0);
        assert_eq!(lock.depth.get(), 0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: as above.
            unsafe { lock.run(|| lock.run(|| panic!("inside"))) }
        }));
        assert!(caught.is_err());
        assert_eq!(lock.owner.load(Ordering::Relaxed), 0);
        assert_eq!(lock.depth.get(), 0);
    }
}
