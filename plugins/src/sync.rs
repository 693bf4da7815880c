//! Locks for plugin state that free-threaded Python may touch from many
//! threads at once.
//!
//! [`PyMutex<T>`] is a one-byte raw lock under a thin RAII layer, in the
//! style of `lock_api`. Through the shim's host API it is CPython's own
//! `PyMutex`: a waiter detaches from the interpreter, so it never stalls
//! the garbage collector. With the GIL, locking is a no-op, because the GIL
//! already serialises plugin code.
//!
//! Before any shim has loaded the plugin (in plain Rust tests, say), it
//! falls back to a spin lock on the same byte.

use std::{
    cell::UnsafeCell,
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicU8, Ordering},
};

use crate::private::host;

/// Data behind a `PyMutex`.
///
/// ```ignore
/// static TOTAL: oxbind::sync::PyMutex<i64> = oxbind::sync::PyMutex::new(0);
/// *TOTAL.lock() += 1;
/// ```
pub struct PyMutex<T> {
    raw: AtomicU8,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by the lock (or by the GIL, when
// the host says locking is a no-op).
unsafe impl<T: Send> Sync for PyMutex<T> {}
unsafe impl<T: Send> Send for PyMutex<T> {}

impl<T> PyMutex<T> {
    pub const fn new(value: T) -> Self {
        PyMutex {
            raw: AtomicU8::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting (detached from the interpreter) if another thread holds it.
    pub fn lock(&self) -> PyMutexGuard<'_, T> {
        let byte = &self.raw as *const AtomicU8 as *const u8;
        match host() {
            // SAFETY: the byte is a zero-initialised PyMutex that never moves
            // while locked (it lives in `self`, which the guard borrows).
            Some(h) => unsafe { (h.mutex_lock())(byte) },
            None => {
                while self
                    .raw
                    .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    std::thread::yield_now();
                }
            }
        }
        PyMutexGuard { mutex: self }
    }

    /// The data, without locking: `&mut self` proves no one else has it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`PyMutex`] until dropped.
pub struct PyMutexGuard<'a, T> {
    mutex: &'a PyMutex<T>,
}

impl<T> Deref for PyMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for PyMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that it
        // is not otherwise borrowed.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for PyMutexGuard<'_, T> {
    fn drop(&mut self) {
        let byte = &self.mutex.raw as *const AtomicU8 as *const u8;
        match host() {
            // SAFETY: this guard holds the lock taken through the same host.
            Some(h) => unsafe { (h.mutex_unlock())(byte) },
            None => self.mutex.raw.store(0, Ordering::Release),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_lock_serialises_threads() {
        static COUNT: PyMutex<u64> = PyMutex::new(0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..10_000 {
                        *COUNT.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*COUNT.lock(), 40_000);
    }
}
