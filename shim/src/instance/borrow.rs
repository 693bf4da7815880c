//! The borrow protocol: each call borrows the values it passes, shared for
//! `&T` (and `&self`), exclusive for `&mut T` (and `&mut self`), on the
//! borrow flag of the root instance.

use std::{ffi::c_void, sync::atomic::Ordering};

use oxbind_internals::InstanceHeader;
use pyo3_ffi as ffi;

use crate::py::errors;

use crate::instance::header;
use crate::instance::is_ours;

// ---------------------------------------------------------------------------
// Borrows.
//
// Each call borrows the values it passes: shared for `&T` (and `&self`),
// exclusive for `&mut T` (and `&mut self`). A conflicting borrow held by
// *another* thread is waited for, detached from the interpreter; one held by
// this thread (say `p.set_to(p)`) is a re-entrant borrow and raises
// RuntimeError. Threads record their own borrows in `HELD` to tell the two
// apart.

/// The roots this thread has borrowed, and whether exclusively: a small
/// inline stack (a call holds a few borrows), spilling to a Vec.
pub(crate) struct Held {
    pub(crate) len: std::cell::Cell<usize>,
    pub(crate) inline: [std::cell::Cell<(usize, bool)>; HELD_INLINE],
    pub(crate) spill: std::cell::RefCell<Vec<(usize, bool)>>,
}

pub(crate) const HELD_INLINE: usize = 8;

impl Held {
    #[inline(always)]
    pub(crate) fn push(&self, entry: (usize, bool)) {
        let n = self.len.get();
        if n < HELD_INLINE {
            self.inline[n].set(entry);
        } else {
            self.spill.borrow_mut().push(entry);
        }
        self.len.set(n + 1);
    }

    #[inline(always)]
    pub(crate) fn remove(&self, entry: (usize, bool)) {
        let n = self.len.get();
        // Borrows are released in reverse order: the entry is usually last.
        if n > 0 && n <= HELD_INLINE && self.inline[n - 1].get() == entry {
            self.len.set(n - 1);
            return;
        }
        self.remove_slow(entry);
    }

    #[cold]
    pub(crate) fn remove_slow(&self, entry: (usize, bool)) {
        let n = self.len.get();
        let spilled = n.saturating_sub(HELD_INLINE);
        if spilled > 0 {
            let mut spill = self.spill.borrow_mut();
            if let Some(i) = spill.iter().rposition(|e| *e == entry) {
                spill.remove(i);
                self.len.set(n - 1);
                return;
            }
        }
        let inline_len = n.min(HELD_INLINE);
        if let Some(i) = (0..inline_len)
            .rev()
            .find(|&i| self.inline[i].get() == entry)
        {
            for j in i..inline_len - 1 {
                self.inline[j].set(self.inline[j + 1].get());
            }
            if spilled > 0 {
                // Keep the inline part full: pull the first spilled entry in.
                let first = self.spill.borrow_mut().remove(0);
                self.inline[inline_len - 1].set(first);
            }
            self.len.set(n - 1);
        }
    }

    pub(crate) fn holds_conflicting(&self, root: usize, exclusive: bool) -> bool {
        let n = self.len.get();
        let inline = (0..n.min(HELD_INLINE)).any(|i| {
            let (r, e) = self.inline[i].get();
            r == root && (e || exclusive)
        });
        inline
            || (n > HELD_INLINE
                && self
                    .spill
                    .borrow()
                    .iter()
                    .any(|&(r, e)| r == root && (e || exclusive)))
    }
}

impl Held {
    /// The first held root for which `f` is true.
    pub(crate) fn find(&self, f: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.len.get();
        (0..n.min(HELD_INLINE))
            .map(|i| self.inline[i].get().0)
            .find(|&r| f(r))
            .or_else(|| {
                if n > HELD_INLINE {
                    self.spill.borrow().iter().map(|e| e.0).find(|&r| f(r))
                } else {
                    None
                }
            })
    }
}

thread_local! {
    static HELD: Held = const {
        Held {
            len: std::cell::Cell::new(0),
            inline: [const { std::cell::Cell::new((0, false)) }; HELD_INLINE],
            spill: std::cell::RefCell::new(Vec::new()),
        }
    };
}

/// This thread's borrow record, as a plain reference: the fast paths use it
/// directly instead of through a `LocalKey::with` closure, which the
/// compiler kept out of line with every value the call needs captured in
/// it.
///
/// # Safety
/// The reference is used only by the running call, on this thread: never
/// kept past it (the record lives until the thread exits, and no call runs
/// during that). `Held` is not `Sync`, so the reference cannot be sent to
/// another thread.
#[inline(always)]
pub(crate) unsafe fn this_thread_held<'a>() -> &'a Held {
    // SAFETY: `HELD` lives until this thread exits, and the caller uses the
    // reference only in the running call, on this thread (the contract).
    unsafe { &*HELD.with(|held| held as *const Held) }
}

/// How long a borrow waits for other threads before it reports a likely
/// lock-order deadlock.
pub(crate) const BORROW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A held borrow of an instance's value; released on drop.
pub(crate) struct Borrow {
    pub(crate) root: *mut ffi::PyObject,
    pub(crate) exclusive: bool,
}

impl Drop for Borrow {
    fn drop(&mut self) {
        // SAFETY: the root outlives the borrow: the caller holds a strong
        // reference to the borrowed object, which keeps its owner alive.
        HELD.with(|held| unsafe { release(held, self.root, self.exclusive) });
    }
}

/// The borrows one call holds (a list argument holds one per item),
/// released newest first: the thread's record then finds each at its end,
/// so releasing N borrows costs O(N), not O(N²) (spec/SOUNDNESS.md).
#[derive(Default)]
pub(crate) struct Borrows(smallvec::SmallVec<[Borrow; 3]>);

impl Borrows {
    /// Releases the borrows taken after the first `base`, newest first.
    pub(crate) fn release_to(&mut self, base: usize) {
        while self.0.len() > base {
            drop(self.0.pop());
        }
    }
}

impl Drop for Borrows {
    fn drop(&mut self) {
        self.release_to(0);
    }
}

/// Up to [`BorrowSet::CAPACITY`] borrows taken by one call on the fast
/// paths, with a single lookup of this thread's borrow record; released
/// in reverse order on drop.
pub(crate) struct BorrowSet<'h> {
    pub(crate) held: &'h Held,
    pub(crate) roots: [std::mem::MaybeUninit<(*mut ffi::PyObject, bool)>; BorrowSet::CAPACITY],
    pub(crate) len: usize,
}

impl BorrowSet<'_> {
    pub const CAPACITY: usize = 9;

    /// Runs `f` with an empty set on this thread's borrow record.
    #[inline(always)]
    pub(crate) fn with<R>(f: impl FnOnce(&mut BorrowSet<'_>) -> R) -> R {
        // SAFETY: used only by this call, on this thread.
        let held = unsafe { this_thread_held() };
        f(&mut BorrowSet {
            held,
            roots: [const { std::mem::MaybeUninit::uninit() }; BorrowSet::CAPACITY],
            len: 0,
        })
    }

    /// Tries to borrow `obj`'s value, without waiting; on failure nothing
    /// is added (the borrows already in the set stay).
    ///
    /// # Safety
    /// As for [`try_borrow`]; at most `CAPACITY` borrows are added.
    #[inline(always)]
    pub(crate) unsafe fn try_add(
        &mut self,
        obj: *mut ffi::PyObject,
        exclusive: bool,
    ) -> Result<(), BorrowFail> {
        // SAFETY: `obj` is a ready oxbind instance the caller keeps alive and
        // the thread is attached (the contract); `self.held` is this
        // thread's record (`BorrowSet::with`).
        let root = unsafe { acquire(self.held, obj, exclusive) }?;
        self.roots[self.len].write((root, exclusive));
        self.len += 1;
        Ok(())
    }
}

impl BorrowSet<'_> {
    /// Releases every borrow in the set, newest first.
    #[inline(always)]
    pub(crate) fn release_all(&mut self) {
        for slot in self.roots[..self.len].iter().rev() {
            // SAFETY: the first `len` slots were written by `try_add`, whose
            // roots are borrowed; the caller keeps the borrowed objects
            // (hence their roots) alive.
            unsafe {
                let (root, exclusive) = slot.assume_init();
                release(self.held, root, exclusive)
            };
        }
        self.len = 0;
    }
}

impl Drop for BorrowSet<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Runs `f` holding one borrow of `obj`'s value (the receiver of a method
/// on scalars), with a single lookup of this thread's borrow record; the
/// borrow is released when `f` returns, or if it panics. `Err` when the
/// borrow was not taken: [`BorrowFail::Busy`] (another thread holds it;
/// nothing held, no error set) or [`BorrowFail::Raised`]. `f` returns
/// nothing: a result written to the caller's storage stays where it was
/// written (returning a call outcome through here copied it bytewise).
///
/// # Safety
/// As for [`try_borrow`].
#[inline(always)]
pub(crate) unsafe fn with_one_borrow(
    obj: *mut ffi::PyObject,
    exclusive: bool,
    f: impl FnOnce(),
) -> Result<(), BorrowFail> {
    {
        // SAFETY: the reference is used only in this call, on this thread,
        // and dropped (with `Release`) before it returns.
        let held = unsafe { this_thread_held() };
        // SAFETY: `obj` is a ready oxbind instance the caller keeps alive and
        // the thread is attached (the contract); `held` is this thread's
        // record.
        let root = unsafe { acquire(held, obj, exclusive) }?;
        struct Release<'h> {
            held: &'h Held,
            root: *mut ffi::PyObject,
            exclusive: bool,
        }
        impl Drop for Release<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: taken by `acquire` above; the caller keeps the
                // borrowed object (hence its root) alive.
                unsafe { release(self.held, self.root, self.exclusive) }
            }
        }
        let _release = Release {
            held,
            root,
            exclusive,
        };
        f();
        Ok(())
    }
}

/// Releases a borrow taken by [`acquire`].
///
/// # Safety
/// `root` and `exclusive` are those of a borrow that [`acquire`] took and
/// recorded in `held` (this thread's record), not yet released; `root` is
/// still alive (the caller keeps the borrowed object, hence its root,
/// alive).
#[inline(always)]
pub(crate) unsafe fn release(held: &Held, root: *mut ffi::PyObject, exclusive: bool) {
    // SAFETY: `root` is a live oxbind instance, the root `acquire` borrowed
    // (the contract), so it has a header.
    let h = unsafe { header(root) };
    if exclusive {
        h.borrow.store(0, Ordering::Release);
    } else {
        #[cfg(Py_GIL_DISABLED)]
        h.borrow.fetch_sub(1, Ordering::Release);
        // See `try_acquire`: the GIL orders every access.
        #[cfg(not(Py_GIL_DISABLED))]
        h.borrow
            .store(h.borrow.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
    }
    held.remove((root as usize, exclusive));
}

/// The instance this thread has borrowed (in the call now running) whose
/// value holds the address `value`: the receiver or an object argument, or
/// the root owner of a reference wrapper. `None` if no borrowed value holds
/// it (a clone passed by value, say, or plugin-local data).
pub(crate) fn borrowed_root_holding(value: *const c_void) -> Option<*mut ffi::PyObject> {
    let p = value as usize;
    HELD.with(|held| {
        held.find(|root| {
            // SAFETY: a held root is alive: the call holding its borrow keeps
            // a strong reference to the borrowed object, hence to its root.
            let h = unsafe { header(root as *mut ffi::PyObject) };
            let start = h.value as usize;
            let size = h.record.size().max(1);
            start <= p && p < start + size
        })
    })
    .map(|root| root as *mut ffi::PyObject)
}

/// The object to lock for `obj`: the instance its value lives in, for a
/// reference wrapper; `obj` itself for anything else.
///
/// # Safety
/// `obj` is a live object.
pub(crate) unsafe fn lock_root(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // Instances of classes any copy created share this copy's layout, but
    // only this copy's dealloc identifies them without a registry lookup;
    // an instance of another copy's class is locked as itself (its borrows
    // still go to its root).
    // SAFETY: `obj` is a live object (the contract).
    if unsafe { is_ours(obj) } {
        // SAFETY: `is_ours` just showed that `obj` is an oxbind instance,
        // and it is live (the contract).
        unsafe { borrow_root(obj) }
    } else {
        obj
    }
}

/// The instance whose value `obj`'s value lives in (itself if owned).
///
/// # Safety
/// `obj` is a live oxbind instance (of a class any copy created).
#[inline(always)]
pub(crate) unsafe fn borrow_root(mut obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    loop {
        // SAFETY: `obj` is a live oxbind instance: the first one by this
        // function's contract, each later one the owner of a reference
        // wrapper, which holds a strong reference to it; an owner is always
        // an oxbind instance whose value holds the wrapper's.
        let owner = unsafe { header(obj).owner } as *mut ffi::PyObject;
        if owner.is_null() {
            return obj;
        }
        obj = owner;
    }
}

/// With the GIL, only the thread holding it ever touches borrow flags (a
/// call borrows and releases while attached, and waits only after
/// releasing), and the GIL's hand-over orders those accesses: a plain read
/// and write suffice, with no locked instruction. A free-threaded build
/// (even one running with the GIL re-enabled) always uses atomics.
#[cfg(not(Py_GIL_DISABLED))]
#[inline(always)]
pub(crate) fn try_acquire(h: &InstanceHeader, exclusive: bool) -> bool {
    let current = h.borrow.load(Ordering::Relaxed);
    let next = match (exclusive, current) {
        (true, 0) => u32::MAX,
        (false, n) if n < u32::MAX - 1 => n + 1,
        _ => return false,
    };
    h.borrow.store(next, Ordering::Relaxed);
    true
}

#[cfg(Py_GIL_DISABLED)]
#[inline(always)]
pub(crate) fn try_acquire(h: &InstanceHeader, exclusive: bool) -> bool {
    if exclusive {
        return h
            .borrow
            .compare_exchange(0, u32::MAX, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
    }
    let mut current = h.borrow.load(Ordering::Relaxed);
    loop {
        if current >= u32::MAX - 1 {
            return false;
        }
        match h.borrow.compare_exchange_weak(
            current,
            current + 1,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
}

/// Why a borrow was not taken.
pub(crate) enum BorrowFail {
    /// Another thread holds a conflicting borrow: release and retry.
    Busy,
    /// This thread holds a conflicting borrow; RuntimeError is set.
    Raised,
}

/// Tries to borrow `obj`'s value, shared or exclusive, without waiting.
///
/// # Safety
/// `obj` is a ready oxbind instance the caller keeps alive; the thread is
/// attached.
pub(crate) unsafe fn try_borrow(
    obj: *mut ffi::PyObject,
    exclusive: bool,
) -> Result<Borrow, BorrowFail> {
    // SAFETY: `obj` is a ready oxbind instance the caller keeps alive and the
    // thread is attached (the contract); `held` is this thread's record.
    let root = HELD.with(|held| unsafe { acquire(held, obj, exclusive) })?;
    Ok(Borrow { root, exclusive })
}

/// Borrows `obj`'s root and records it in `held`; returns the root.
///
/// # Safety
/// `obj` is a ready oxbind instance the caller keeps alive (which keeps its
/// root alive); `held` is this thread's record; the thread is attached.
#[inline(always)]
pub(crate) unsafe fn acquire(
    held: &Held,
    obj: *mut ffi::PyObject,
    exclusive: bool,
) -> Result<*mut ffi::PyObject, BorrowFail> {
    // SAFETY: `obj` is a live oxbind instance (the contract).
    let root = unsafe { borrow_root(obj) };
    // SAFETY: `root` is a live oxbind instance: `obj`'s root, which `obj`
    // keeps alive.
    let h = unsafe { header(root) };
    for _ in 0..64 {
        if try_acquire(h, exclusive) {
            held.push((root as usize, exclusive));
            return Ok(root);
        }
        if held.holds_conflicting(root as usize, exclusive) {
            // SAFETY: the thread is attached, and `obj` and `root` are live
            // (the contract).
            unsafe { raise_reentrant(obj, root, exclusive) };
            return Err(BorrowFail::Raised);
        }
        std::hint::spin_loop();
    }
    Err(BorrowFail::Busy)
}

/// Raises the RuntimeError for a borrow this thread already holds. The
/// object named is the one whose value is borrowed: `root`, the instance
/// `obj`'s value lives in (for a reference wrapper, its owner).
///
/// # Safety
/// The thread is attached; `obj` and `root` are live objects.
#[cold]
pub(crate) unsafe fn raise_reentrant(
    obj: *mut ffi::PyObject,
    root: *mut ffi::PyObject,
    exclusive: bool,
) {
    let type_name = |o: *mut ffi::PyObject| {
        // SAFETY: `o` is `obj` or `root`, both live objects (the contract),
        // so its type is live, and `tp_name` is a NUL-terminated C string
        // that lives as long as the type.
        unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(o)).tp_name) }
            .to_string_lossy()
            .into_owned()
    };
    let name = type_name(root);
    let through = if root == obj {
        String::new()
    } else {
        format!(" (the {} passed is a reference into it)", type_name(obj))
    };
    let message = if exclusive {
        format!("{name} is already borrowed by this thread{through}; it cannot also be borrowed mutably")
    } else {
        format!("{name} is already mutably borrowed by this thread{through}; it cannot also be borrowed")
    };
    // SAFETY: the thread is attached (the contract); `PyExc_RuntimeError` is
    // an exception class CPython initialised at start-up and never
    // reassigns.
    unsafe { errors::raise(ffi::PyExc_RuntimeError, &message) };
}

/// Takes every borrow in `wanted` (object, exclusive), or none: if another
/// thread holds any of them, releases those taken so far, waits detached
/// from the interpreter, and starts again. Never holding some borrows while
/// waiting for others is what keeps two calls that borrow the same objects
/// in opposite orders from deadlocking. A conflict with this thread's own
/// borrows raises RuntimeError at once.
///
/// # Safety
/// Every object is a ready oxbind instance the caller keeps alive; the
/// thread is attached.
pub(crate) unsafe fn borrow_all(
    wanted: &[(*mut ffi::PyObject, bool)],
    taken: &mut Borrows,
) -> Result<(), ()> {
    let base = taken.0.len();
    // The clock is read only once a wait begins: the uncontended path never pays for it.
    let mut started: Option<std::time::Instant> = None;
    let mut rounds = 0u32;
    'again: loop {
        for &(obj, exclusive) in wanted {
            // SAFETY: every object in `wanted` is a ready oxbind instance the
            // caller keeps alive, and the thread is attached (the contract).
            match unsafe { try_borrow(obj, exclusive) } {
                Ok(b) => taken.0.push(b),
                Err(BorrowFail::Raised) => {
                    taken.release_to(base);
                    return Err(());
                }
                Err(BorrowFail::Busy) => {
                    taken.release_to(base);
                    if started
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        > BORROW_TIMEOUT
                    {
                        // SAFETY: `obj` is live (the contract), so its type
                        // is live, and `tp_name` is a NUL-terminated C string
                        // that lives as long as the type.
                        let name =
                            unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj)).tp_name) }
                                .to_string_lossy();
                        // SAFETY: the thread is attached (the contract);
                        // `PyExc_RuntimeError` is an exception class CPython
                        // initialised at start-up and never reassigns.
                        unsafe {
                            errors::raise(
                                ffi::PyExc_RuntimeError,
                                &format!("timed out waiting for another thread's borrow of {name}"),
                            );
                        }
                        return Err(());
                    }
                    rounds += 1;
                    // SAFETY: the thread is attached (the contract), and the
                    // closure neither touches Python objects nor calls the C
                    // API; every borrow taken so far was released above.
                    unsafe {
                        crate::sync::detach::detached(|| {
                            if rounds < 16 {
                                std::thread::yield_now();
                            } else {
                                std::thread::sleep(std::time::Duration::from_micros(20));
                            }
                        });
                    }
                    continue 'again;
                }
            }
        }
        return Ok(());
    }
}
