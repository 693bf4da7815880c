//! Locks that obey oxbind's lock rules (`spec/THREADING.md`).
//!
//! [`RawPyLock`] is the primitive, and [`PyLock<T>`] a thin RAII layer over
//! it, in the style of `lock_api`:
//!
//! - **3.13 and newer:** the primitive is CPython's `PyMutex`.
//! - **Before 3.13** (GIL builds only): a `parking_lot` raw mutex.
//!
//! Either is taken with a try-lock first; on contention the thread waits
//! detached ([`crate::sync::detach::detached`]), so a waiter never stalls the
//! interpreter (a stop-the-world GC, say), and re-attaches through the exit
//! gate.
//!
//! Either way the lock must live in memory that only this shim copy's code
//! locks. Shared internals reach it through the creating copy's function
//! table, never by locking it inline from another copy. A `parking_lot` waiter
//! parks in the parking table of its own `.so`, and the unlocking copy would
//! never wake it.
//!
//! Rules for holders: while a guard is alive, run no Python code. That
//! includes `Py_DECREF` (finalizers) and allocations that may trigger the GC.
//! Collect the work and do it after the guard is dropped.

use std::{
    cell::UnsafeCell,
    ops::{Deref, DerefMut},
};

#[cfg(Py_3_13)]
use pyo3_ffi as ffi;

/// The raw lock. Lock and unlock only while attached to the interpreter.
pub struct RawPyLock {
    #[cfg(Py_3_13)]
    mutex: UnsafeCell<ffi::PyMutex>,
    #[cfg(not(Py_3_13))]
    mutex: parking_lot::Mutex<()>,
}

// SAFETY: the lock exists to be shared between threads; its state is only
// touched through CPython's or parking_lot's thread-safe operations.
unsafe impl Sync for RawPyLock {}
// SAFETY: the lock holds no thread-bound state (a `PyMutex` byte, or a
// parking_lot mutex), so it may move to another thread while unlocked.
unsafe impl Send for RawPyLock {}

impl RawPyLock {
    pub const fn new() -> Self {
        RawPyLock {
            #[cfg(Py_3_13)]
            mutex: UnsafeCell::new(ffi::PyMutex::new()),
            #[cfg(not(Py_3_13))]
            mutex: parking_lot::const_mutex(()),
        }
    }

    /// Acquires the lock, detaching from the interpreter while waiting.
    ///
    /// # Safety
    /// The calling thread is attached to the interpreter, and later calls
    /// [`RawPyLock::unlock`] exactly once.
    #[inline]
    pub unsafe fn lock(&self) {
        if self.try_lock() {
            return;
        }
        // Contended: never block while attached. The wait goes through the
        // exit gate (`crate::sync::detach`), not CPython's own detach inside
        // `PyMutex_Lock`, so a daemon thread waiting here at exit is parked,
        // not ended by `pthread_exit` in the middle of the shim.
        // A thread parked at the exit gate gives the lock back first.
        let take = || {
            #[cfg(Py_3_13)]
            // SAFETY: the PyMutex is zero-initialised and never moved (it
            // lives in `self`, which is borrowed); with no attached thread
            // state PyMutex_Lock parks without attaching.
            unsafe {
                ffi::PyMutex_Lock(self.mutex.get())
            };
            #[cfg(not(Py_3_13))]
            // The guard is forgotten on purpose; `unlock` releases it.
            std::mem::forget(self.mutex.lock());
        };
        // SAFETY: `take` has just taken the lock, on this thread.
        let give_back = |_: &()| unsafe { self.unlock() };
        // SAFETY: the thread is attached (this function's contract); neither
        // closure touches a Python object or calls the C API beyond
        // PyMutex_Lock and PyMutex_Unlock, which need no thread state.
        unsafe { crate::sync::detach::detached_holding(take, give_back) };
    }

    /// Takes the lock if it is free, without waiting and without needing
    /// the thread to be attached (the leak report runs after finalization).
    pub fn try_lock(&self) -> bool {
        #[cfg(Py_3_13)]
        {
            // SAFETY: a PyMutex is one byte whose low bit is the locked bit
            // (CPython's `_Py_LOCKED`); taking it from 0 to 1 with a
            // compare-exchange is exactly CPython's uncontended fast path.
            let bits = unsafe { &*(self.mutex.get() as *const std::sync::atomic::AtomicU8) };
            bits.compare_exchange(
                0,
                1,
                std::sync::atomic::Ordering::Acquire,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
        }
        #[cfg(not(Py_3_13))]
        {
            self.mutex.try_lock().map(std::mem::forget).is_some()
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread holds the lock.
    #[inline]
    pub unsafe fn unlock(&self) {
        #[cfg(Py_3_13)]
        {
            // SAFETY: the calling thread holds the lock (this function's
            // contract); the PyMutex lives in `self` and has not moved.
            unsafe { ffi::PyMutex_Unlock(self.mutex.get()) };
        }
        #[cfg(not(Py_3_13))]
        {
            // SAFETY: the caller holds the lock (contract), taken in `lock`
            // or `try_lock`, which forgot its guard.
            unsafe { self.mutex.force_unlock() };
        }
    }
}

impl Default for RawPyLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Data protected by a [`RawPyLock`].
pub struct PyLock<T> {
    raw: RawPyLock,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw`.
unsafe impl<T: Send> Sync for PyLock<T> {}
// SAFETY: moving the lock moves the `T` it owns, which is `Send`; the raw
// lock is `Send`.
unsafe impl<T: Send> Send for PyLock<T> {}

impl<T> PyLock<T> {
    pub const fn new(value: T) -> Self {
        PyLock {
            raw: RawPyLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, detaching from the interpreter while waiting.
    ///
    /// # Safety
    /// The calling thread is attached to the interpreter. While the guard
    /// lives, run no Python code (see the module docs).
    #[inline]
    pub unsafe fn lock(&self) -> PyLockGuard<'_, T> {
        // SAFETY: the thread is attached (this function's contract); the
        // guard made next unlocks exactly once, when it drops.
        unsafe { self.raw.lock() };
        PyLockGuard { lock: self }
    }

    /// Locks if the lock is free; never waits and needs no thread state.
    pub fn try_lock(&self) -> Option<PyLockGuard<'_, T>> {
        self.raw.try_lock().then_some(PyLockGuard { lock: self })
    }
}

/// Holds a [`PyLock`] until dropped.
pub struct PyLockGuard<'a, T> {
    lock: &'a PyLock<T>,
}

impl<T> Deref for PyLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for PyLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that it
        // is not otherwise borrowed.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for PyLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard was created by a successful `lock`.
        unsafe { self.lock.raw.unlock() }
    }
}
