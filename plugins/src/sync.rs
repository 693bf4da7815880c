//! Locks for plugin state that free-threaded Python may touch from many
//! threads at once.
//!
//! [`PyMutex<T>`] is a one-byte raw lock under a thin RAII layer, in the
//! style of `lock_api`. Through the shim's host API it is CPython's own
//! `PyMutex`: a waiter detaches from the interpreter, so it never stalls
//! the garbage collector. It excludes with the GIL too: threads the plugin
//! spawns never hold the GIL, so the GIL cannot stand in for it.
//!
//! Before any shim has loaded the plugin (in plain Rust tests, say), it
//! falls back to a spin lock on the same byte.
//!
//! [`CriticalSection`] locks the Python objects that hold one or two class
//! values the running call borrowed (`&self`, `&T` arguments): the same
//! per-object lock that `#[oxbind(lock_self)]` and `#[oxbind(lock)]` take,
//! so a `&self` method that mutates through interior mutability can run
//! atomically with respect to them. With the GIL, holding the GIL is the
//! section. Inside [`crate::detach`] it re-attaches (takes the GIL) for its
//! length.

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

// SAFETY: access to `data` is serialised by the lock, on every build.
unsafe impl<T: Send> Sync for PyMutex<T> {}
// SAFETY: moving the mutex moves the `T` it owns, which is `Send`, and no
// guard can be alive while it moves; the lock byte has no owning thread
// (CPython's `PyMutex`, like the fallback spin lock, may be unlocked from
// any thread).
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
        PyMutexGuard {
            mutex: self,
            _not_send_sync: std::marker::PhantomData,
        }
    }

    /// The data, without locking: `&mut self` proves no one else has it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`PyMutex`] until dropped.
///
/// Like std's `MutexGuard`, it is `Sync` only when `T` is: sharing the
/// guard shares `&T` between threads, so a `PyMutex<Cell<u64>>` guard must
/// not be handed to scoped threads:
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// static C: oxbind::sync::PyMutex<std::cell::Cell<u64>> =
///     oxbind::sync::PyMutex::new(std::cell::Cell::new(0));
/// let guard = C.lock();
/// shared(&guard);
/// ```
///
/// ```
/// fn shared<T: Sync>(_: &T) {}
/// static C: oxbind::sync::PyMutex<u64> = oxbind::sync::PyMutex::new(0);
/// let guard = C.lock();
/// shared(&guard);
/// ```
pub struct PyMutexGuard<'a, T> {
    mutex: &'a PyMutex<T>,
    /// Not `Send` (the unlocking thread must be the locking one) and not
    /// automatically `Sync` (see the `Sync` impl).
    _not_send_sync: std::marker::PhantomData<*const ()>,
}

// SAFETY: a shared guard gives only `&T`, which may cross threads when
// `T: Sync`.
unsafe impl<T: Sync> Sync for PyMutexGuard<'_, T> {}

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

/// A value initialised once, on first use, for plugin statics: like
/// `std::sync::OnceLock`, but a thread that finds another thread
/// initialising it waits detached from the interpreter (through
/// [`PyMutex`]), so it never stalls the garbage collector or, with the GIL,
/// every other thread, while the initialiser runs (PyO3's `PyOnceLock`).
///
/// ```
/// use oxbind::sync::OnceLock;
/// static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
/// let table = TABLE.get_or_init(|| (0..256).map(|i| i * i).collect());
/// assert_eq!(table[3], 9);
/// ```
///
/// The initialiser runs once, on the first thread to ask; the others wait
/// and then share its value. If it panics, nothing is stored and the next
/// caller runs it again. Calling `get_or_init` on the same cell from inside
/// its own initialiser panics (std's would deadlock).
pub struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    init: PyMutex<()>,
    /// The thread running the initialiser (see [`this_thread`]), or 0.
    initialiser: std::sync::atomic::AtomicUsize,
}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceLock {
            value: std::sync::OnceLock::new(),
            init: PyMutex::new(()),
            initialiser: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The value, if it is initialised.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, initialising it with `f` first if no thread has.
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        match self.get_or_try_init(|| Ok::<T, std::convert::Infallible>(f())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// [`OnceLock::get_or_init`] with an initialiser that may fail: an
    /// `Err` is returned and nothing is stored.
    pub fn get_or_try_init<E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<&T, E> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        let me = this_thread();
        if self.initialiser.load(Ordering::Acquire) == me {
            panic!("oxbind::sync::OnceLock: get_or_init called from inside its own initialiser");
        }
        let _guard = self.init.lock();
        if let Some(v) = self.value.get() {
            return Ok(v); // another thread initialised it while this one waited
        }
        /// Clears `initialiser` when the initialiser returns or panics.
        struct Running<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        self.initialiser.store(me, Ordering::Release);
        let running = Running(&self.initialiser);
        let value = f()?;
        drop(running);
        // Only the holder of `init` sets the value, and it was empty.
        Ok(self.value.get_or_init(|| value))
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A per-thread id that is never 0 (the address of a thread-local).
fn this_thread() -> usize {
    thread_local!(static MARK: u8 = const { 0 });
    MARK.with(|m| m as *const u8 as usize)
}

/// Pointer-aligned storage for one CPython critical section. It lives in a
/// `Box`, because CPython links an active section into the thread state by
/// address, and the guard that owns it may move.
#[repr(C, align(16))]
struct SectionStorage([u8; oxbind_abi::CRITICAL_SECTION_SIZE]);

/// Critical sections on the Python objects holding one or two values.
///
/// ```ignore
/// #[oxbind::methods]
/// impl Tally {
///     fn record(&self, hit: bool) -> oxbind::Result<()> {
///         oxbind::sync::CriticalSection::with(self, || {
///             // Runs alone with every other section or `lock_self` call on this object.
///         })
///     }
/// }
/// ```
///
/// A section is a closure, not a guard: CPython keeps a thread's sections
/// as a stack linked through their storage, so they must end in the
/// reverse order they began. Guards could be dropped out of order or
/// forgotten, leaving the thread's stack pointing at freed storage; a
/// closure ends every section it began, in order, even when it panics.
///
/// Blocking inside a section (on another lock, or by starting a section on
/// other objects that another thread holds) suspends the outer sections of
/// this thread until it resumes, as CPython does for its own sections: keep
/// sections short and do not nest them where atomicity across the nesting
/// matters.
pub struct CriticalSection {
    _private: (),
}

impl CriticalSection {
    /// Runs `f` holding the lock of the object holding `value`, which must
    /// be a class value the running call borrowed: `self`, a `&T`/`&mut T`
    /// argument, or a value inside one of them. Anything else (a clone, a
    /// local) is a `RuntimeError`, and `f` does not run.
    pub fn with<T, R>(value: &T, f: impl FnOnce() -> R) -> Result<R, crate::Error> {
        Self::run(
            value as *const T as *const std::ffi::c_void,
            std::ptr::null(),
            f,
        )
    }

    /// Runs `f` holding the locks of the objects holding `a` and `b`,
    /// taken together in an order that cannot deadlock with another thread
    /// locking the same two.
    pub fn with2<A, B, R>(a: &A, b: &B, f: impl FnOnce() -> R) -> Result<R, crate::Error> {
        Self::run(
            a as *const A as *const std::ffi::c_void,
            b as *const B as *const std::ffi::c_void,
            f,
        )
    }

    fn run<R>(
        a: *const std::ffi::c_void,
        b: *const std::ffi::c_void,
        f: impl FnOnce() -> R,
    ) -> Result<R, crate::Error> {
        let Some(h) = host() else {
            return Ok(f()); // no interpreter: nothing else can run
        };
        let (Some(begin), Some(end)) = (h.critical_begin(), h.critical_end()) else {
            return Err(crate::Error::runtime_error(
                "oxbind: this oxbind shim predates critical sections (plugin ABI 0.1.1); upgrade oxbind",
            ));
        };
        let mut storage = SectionStorage([0; oxbind_abi::CRITICAL_SECTION_SIZE]);
        let section = storage.0.as_mut_ptr() as *mut std::ffi::c_void;
        // SAFETY: the storage is CRITICAL_SECTION_SIZE pointer-aligned bytes
        // on this frame, which outlives the section: it ends below, before
        // the frame returns or unwinds.
        let status = unsafe { begin(a, b, section) };
        if status == oxbind_abi::CRITICAL_NOT_BORROWED {
            return Err(crate::Error::runtime_error(
                "oxbind::sync::CriticalSection: the value is not one this call borrowed \
                 (lock `self` or a reference argument, not a copy)",
            ));
        }
        struct End {
            end: unsafe extern "C" fn(*mut std::ffi::c_void),
            section: *mut std::ffi::c_void,
        }
        impl Drop for End {
            fn drop(&mut self) {
                // SAFETY: `critical_begin` began this section on this
                // thread; every section begun inside `f` has ended (each
                // is a closure too), so it is the thread's innermost.
                unsafe { (self.end)(self.section) }
            }
        }
        let _end = End { end, section };
        Ok(f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_lock_runs_one_initialiser_and_retries_after_a_panic() {
        static CELL: OnceLock<u64> = OnceLock::new();
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    *CELL.get_or_init(|| {
                        RUNS.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        42
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 42);
        }
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);

        let cell: OnceLock<u8> = OnceLock::new();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cell.get_or_init(|| panic!("first try"));
        }));
        assert!(panicked.is_err() && cell.get().is_none());
        assert_eq!(cell.get_or_try_init(|| Err::<u8, &str>("no")), Err("no"));
        assert_eq!(*cell.get_or_init(|| 7), 7);
    }

    #[test]
    fn once_lock_refuses_reentrant_initialisation() {
        let cell: OnceLock<u8> = OnceLock::new();
        let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cell.get_or_init(|| *cell.get_or_init(|| 1));
        }));
        assert!(nested.is_err());
        assert_eq!(*cell.get_or_init(|| 2), 2);
    }

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

    #[test]
    fn a_critical_section_without_a_shim_just_runs() {
        let value = 5u32;
        let got = CriticalSection::with(&value, || value + 1).expect("no host: runs f");
        assert_eq!(got, 6);
    }
}
