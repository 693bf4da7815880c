//! Instances of oxbind classes: their layout, allocation, deallocation,
//! borrow flags, and the reference wrappers that give interior references
//! a Python identity.
//!
//! Layout of every instance (`spec/ABI.md`, "Instances"):
//!
//! ```text
//! PyObject header | InstanceHeader | padding | T (owned instances only)
//! ```
//!
//! - **Owned instances.** They are created by constructors and by functions
//!   that return a class by value. They hold their value inline and are
//!   *not* registered anywhere: construction touches no shared structure.
//! - **Reference wrappers.** They are created when a function returns `&T`
//!   that is not the value of one of its arguments. They point into another
//!   object's value, hold a strong reference to that owner (keep-alive), and
//!   are registered in the sharded instance map under (address, type), so
//!   the same interior reference always comes back as the same object.
//!
//! Borrow flags live in the header of the *root* owner: borrowing a wrapper
//! borrows the instance whose value it points into.

use std::{
    ffi::c_void,
    mem::size_of,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
    sync::atomic::Ordering,
};

use oxbind_internals::{instance_flags, InstanceHeader, TypeRecord_Ref};
use pyo3_ffi as ffi;

use crate::{classes::ClassData, internals, py::errors};

/// Offset of the [`InstanceHeader`] in every instance.
pub const HEADER_OFFSET: usize = size_of::<ffi::PyObject>();

/// The largest value alignment an instance can honour: CPython's object
/// allocators align to 16 bytes.
pub const MAX_VALUE_ALIGN: usize = 16;

/// Where the inline value starts for a value of alignment `align`.
pub const fn value_offset(align: usize) -> usize {
    let end = HEADER_OFFSET + size_of::<InstanceHeader>();
    let align = if align < 8 { 8 } else { align };
    (end + align - 1) / align * align
}

/// The header of an oxbind instance.
///
/// # Safety
/// `obj` is an instance of an oxbind class.
#[inline]
pub unsafe fn header<'a>(obj: *mut ffi::PyObject) -> &'a InstanceHeader {
    &*((obj as *mut u8).add(HEADER_OFFSET) as *const InstanceHeader)
}

#[inline]
unsafe fn header_mut<'a>(obj: *mut ffi::PyObject) -> &'a mut InstanceHeader {
    &mut *((obj as *mut u8).add(HEADER_OFFSET) as *mut InstanceHeader)
}

/// Whether `obj` is exactly an instance of the class `record` describes.
#[inline]
pub unsafe fn is_instance(obj: *mut ffi::PyObject, record: TypeRecord_Ref) -> bool {
    ffi::Py_TYPE(obj) as *mut c_void == record.py_type()
}

/// `TypeRecord::new_instance` of classes this copy creates: an instance with
/// its header initialised, its value uninitialised.
pub unsafe extern "C" fn new_instance(record: TypeRecord_Ref) -> *mut c_void {
    let ty = record.py_type() as *mut ffi::PyTypeObject;
    let alloc = (*ty).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
    let obj = alloc(ty, 0);
    if obj.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: this copy created the record (`new_instance` is its own), so
    // the class data is ours.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::count(class.leak_index, 1);
    let h = header_mut(obj);
    h.value = (obj as *mut u8).add(record.value_offset()) as *mut c_void;
    h.owner = ptr::null_mut();
    ptr::write(ptr::addr_of_mut!(h.record), record);
    h.flags.store(instance_flags::OWNED, Ordering::Relaxed);
    h.borrow.store(0, Ordering::Relaxed);
    obj as *mut c_void
}

/// Marks a freshly initialised owned instance as ready.
///
/// A plain load and a release store, not a locked `fetch_or`: no other
/// thread can write the flags of an instance that has not been handed out
/// yet, and the release store still orders the value's initialisation
/// before any acquire load that sees `READY`. (The locked instruction was
/// about 8% of a `Counter()` call under perf.)
///
/// # Safety
/// `obj` is an oxbind instance that the running call allocated and has not
/// yet handed to Python or to any other thread.
#[inline]
pub unsafe fn mark_ready(obj: *mut ffi::PyObject) {
    let flags = &header(obj).flags;
    flags.store(
        flags.load(Ordering::Relaxed) | instance_flags::READY,
        Ordering::Release,
    );
}

/// Whether the instance's value is initialised.
#[inline]
pub unsafe fn is_ready(obj: *mut ffi::PyObject) -> bool {
    header(obj).flags.load(Ordering::Acquire) & instance_flags::READY != 0
}

/// Runs `f` holding an exclusive borrow of `obj`'s own value, taken
/// without waiting: `false` (and `f` not run) if anyone holds a borrow of it.
/// `tp_clear` uses it, so that even a wrong verdict of the collector (a
/// `traverse` hook that visits a handle twice makes a live object look like
/// garbage) never changes a value another thread is reading.
///
/// # Safety
/// `obj` is a live, owned oxbind instance (not a reference wrapper); the
/// thread is attached.
pub unsafe fn with_exclusive_value(obj: *mut ffi::PyObject, f: impl FnOnce()) -> bool {
    let h = header(obj);
    if !try_acquire(h, true) {
        return false;
    }
    // Released even if `f` panics (the plugin's clear hook catches its own).
    struct Release<'a>(&'a InstanceHeader);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.borrow.store(0, Ordering::Release);
        }
    }
    let _release = Release(h);
    f();
    true
}

/// Removes a reference wrapper's entry from the instance map, so that no
/// later `&T` result at its address finds it.
///
/// # Safety
/// `obj` is an oxbind instance that was mapped (`instance_flags::MAPPED`).
pub unsafe fn unmap(obj: *mut ffi::PyObject) {
    if let Some(j) = internals::joined() {
        let i = j.internals;
        (i.map_remove())(i.state(), header(obj).value, obj as *mut c_void);
    }
}

/// `tp_dealloc` of every class this copy creates.
///
/// Freeing a value can free the objects it holds (`Instance` handles), whose
/// deallocation runs inside this one, and so on: a chain of 200,000 nodes
/// would recurse 200,000 frames deep. Like CPython's trashcan, a thread
/// nested more than [`DEALLOC_DEPTH`] deallocations deep defers the object
/// to a per-thread list (unmapped and untracked first, so nothing can find
/// it), and the outermost deallocation on the thread frees the deferred
/// objects in a loop.
pub unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let ty = ffi::Py_TYPE(obj);
    if ffi::PyType_IS_GC(ty) != 0 {
        // Untracked first: the collector must never see a half-freed object.
        ffi::PyObject_GC_UnTrack(obj as *mut c_void);
    }
    let h = header(obj);
    if h.flags.load(Ordering::Acquire) & instance_flags::MAPPED != 0 {
        // Unmapped before anything else: no lookup may find it again.
        unmap(obj);
        h.flags
            .fetch_and(!instance_flags::MAPPED, Ordering::Release);
    }
    let outermost = DEALLOCS.try_with(|d| {
        let depth = d.depth.get();
        if depth >= DEALLOC_DEPTH {
            d.deferred.borrow_mut().push(obj as usize);
            return None;
        }
        d.depth.set(depth + 1);
        Some(depth == 0)
    });
    match outermost {
        // The thread is exiting (its list is gone): free it here.
        Err(_) => dealloc_now(obj),
        Ok(None) => {} // deferred
        Ok(Some(outermost)) => {
            dealloc_now(obj);
            if outermost {
                // Still counted as one level deep while the deferred objects
                // go, so their own nested frees nest from here.
                while let Some(next) = DEALLOCS.with(|d| d.deferred.borrow_mut().pop()) {
                    dealloc_now(next as *mut ffi::PyObject);
                }
            }
            DEALLOCS.with(|d| d.depth.set(d.depth.get() - 1));
        }
    }
}

/// How deep deallocations may nest on one thread before they are deferred.
const DEALLOC_DEPTH: u32 = 50;

struct Deallocs {
    depth: std::cell::Cell<u32>,
    deferred: std::cell::RefCell<Vec<usize>>,
}

thread_local! {
    static DEALLOCS: Deallocs = const {
        Deallocs {
            depth: std::cell::Cell::new(0),
            deferred: std::cell::RefCell::new(Vec::new()),
        }
    };
}

/// The body of [`dealloc`]: drops the value, frees the object, and releases
/// the type and the owner.
unsafe fn dealloc_now(obj: *mut ffi::PyObject) {
    let ty = ffi::Py_TYPE(obj);
    let h = header(obj);
    let flags = h.flags.load(Ordering::Acquire);
    let record = h.record;
    if flags & (instance_flags::READY | instance_flags::OWNED)
        == instance_flags::READY | instance_flags::OWNED
    {
        let class = &*(record.class_data() as *const ClassData);
        let drop_value = class.desc.drop;
        let value = h.value;
        // A panicking Drop must not unwind into CPython; the value is gone
        // either way. (The SDK's drop hook catches its own panics too.)
        let _ = catch_unwind(AssertUnwindSafe(|| drop_value(value)));
    }
    // SAFETY: `dealloc` is the tp_dealloc of classes this copy created.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::count(class.leak_index, -1);
    let owner = h.owner as *mut ffi::PyObject;
    match (*ty).tp_free {
        Some(free) => free(obj as *mut c_void),
        None => ffi::PyObject_Free(obj as *mut c_void),
    }
    ffi::Py_DECREF(ty as *mut ffi::PyObject);
    if !owner.is_null() {
        // Releasing the keep-alive may run any Python code; no lock is held.
        ffi::Py_DECREF(owner);
    }
}

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
pub struct Held {
    len: std::cell::Cell<usize>,
    inline: [std::cell::Cell<(usize, bool)>; HELD_INLINE],
    spill: std::cell::RefCell<Vec<(usize, bool)>>,
}

const HELD_INLINE: usize = 8;

impl Held {
    #[inline(always)]
    fn push(&self, entry: (usize, bool)) {
        let n = self.len.get();
        if n < HELD_INLINE {
            self.inline[n].set(entry);
        } else {
            self.spill.borrow_mut().push(entry);
        }
        self.len.set(n + 1);
    }

    #[inline(always)]
    fn remove(&self, entry: (usize, bool)) {
        let n = self.len.get();
        // Borrows are released in reverse order: the entry is usually last.
        if n > 0 && n <= HELD_INLINE && self.inline[n - 1].get() == entry {
            self.len.set(n - 1);
            return;
        }
        self.remove_slow(entry);
    }

    #[cold]
    fn remove_slow(&self, entry: (usize, bool)) {
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

    fn holds_conflicting(&self, root: usize, exclusive: bool) -> bool {
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
    fn find(&self, f: impl Fn(usize) -> bool) -> Option<usize> {
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
unsafe fn this_thread_held<'a>() -> &'a Held {
    &*HELD.with(|held| held as *const Held)
}

/// How long a borrow waits for other threads before it reports a likely
/// lock-order deadlock.
const BORROW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A held borrow of an instance's value; released on drop.
pub struct Borrow {
    root: *mut ffi::PyObject,
    exclusive: bool,
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
pub struct Borrows(smallvec::SmallVec<[Borrow; 3]>);

impl Borrows {
    /// Releases the borrows taken after the first `base`, newest first.
    pub fn release_to(&mut self, base: usize) {
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
pub struct BorrowSet<'h> {
    held: &'h Held,
    roots: [std::mem::MaybeUninit<(*mut ffi::PyObject, bool)>; BorrowSet::CAPACITY],
    len: usize,
}

impl BorrowSet<'_> {
    pub const CAPACITY: usize = 9;

    /// Runs `f` with an empty set on this thread's borrow record.
    #[inline(always)]
    pub fn with<R>(f: impl FnOnce(&mut BorrowSet<'_>) -> R) -> R {
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
    pub unsafe fn try_add(
        &mut self,
        obj: *mut ffi::PyObject,
        exclusive: bool,
    ) -> Result<(), BorrowFail> {
        let root = acquire(self.held, obj, exclusive)?;
        self.roots[self.len].write((root, exclusive));
        self.len += 1;
        Ok(())
    }
}

impl BorrowSet<'_> {
    /// Releases every borrow in the set, newest first.
    #[inline(always)]
    pub fn release_all(&mut self) {
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
pub unsafe fn with_one_borrow(
    obj: *mut ffi::PyObject,
    exclusive: bool,
    f: impl FnOnce(),
) -> Result<(), BorrowFail> {
    {
        let held = this_thread_held();
        let root = acquire(held, obj, exclusive)?;
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
#[inline(always)]
unsafe fn release(held: &Held, root: *mut ffi::PyObject, exclusive: bool) {
    let h = header(root);
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
pub fn borrowed_root_holding(value: *const c_void) -> Option<*mut ffi::PyObject> {
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
pub unsafe fn lock_root(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // Instances of classes any copy created share this copy's layout, but
    // only this copy's dealloc identifies them without a registry lookup;
    // an instance of another copy's class is locked as itself (its borrows
    // still go to its root).
    if is_ours(obj) {
        borrow_root(obj)
    } else {
        obj
    }
}

/// Makes `obj` immortal on free-threaded builds, as nanobind does for its
/// types and functions: its refcount is never touched again, so threads
/// calling a function or creating instances of a type never contend on
/// it. The object is never freed (spec/THREADING.md, "Immortal objects").
/// A no-op with the GIL.
///
/// # Safety
/// `obj` is a freshly created object that no other thread has seen.
pub unsafe fn immortalize(obj: *mut ffi::PyObject) {
    #[cfg(Py_GIL_DISABLED)]
    {
        if ffi::PyObject_GC_IsTracked(obj) != 0 {
            ffi::PyObject_GC_UnTrack(obj as *mut c_void);
        }
        // CPython 3.13t's immortal state: unowned, local refcount
        // _Py_IMMORTAL_REFCNT_LOCAL, shared refcount zero.
        (*obj).ob_tid = 0;
        (*obj).ob_ref_local.store(u32::MAX, Ordering::Relaxed);
        (*obj).ob_ref_shared.store(0, Ordering::Relaxed);
    }
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = obj;
}

/// The instance whose value `obj`'s value lives in (itself if owned).
#[inline(always)]
unsafe fn borrow_root(mut obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    loop {
        let owner = header(obj).owner as *mut ffi::PyObject;
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
fn try_acquire(h: &InstanceHeader, exclusive: bool) -> bool {
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
fn try_acquire(h: &InstanceHeader, exclusive: bool) -> bool {
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
pub enum BorrowFail {
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
pub unsafe fn try_borrow(obj: *mut ffi::PyObject, exclusive: bool) -> Result<Borrow, BorrowFail> {
    let root = HELD.with(|held| acquire(held, obj, exclusive))?;
    Ok(Borrow { root, exclusive })
}

/// Borrows `obj`'s root and records it in `held`; returns the root.
#[inline(always)]
unsafe fn acquire(
    held: &Held,
    obj: *mut ffi::PyObject,
    exclusive: bool,
) -> Result<*mut ffi::PyObject, BorrowFail> {
    let root = borrow_root(obj);
    let h = header(root);
    for _ in 0..64 {
        if try_acquire(h, exclusive) {
            held.push((root as usize, exclusive));
            return Ok(root);
        }
        if held.holds_conflicting(root as usize, exclusive) {
            raise_reentrant(obj, root, exclusive);
            return Err(BorrowFail::Raised);
        }
        std::hint::spin_loop();
    }
    Err(BorrowFail::Busy)
}

/// Raises the RuntimeError for a borrow this thread already holds. The
/// object named is the one whose value is borrowed: `root`, the instance
/// `obj`'s value lives in (for a reference wrapper, its owner).
#[cold]
unsafe fn raise_reentrant(obj: *mut ffi::PyObject, root: *mut ffi::PyObject, exclusive: bool) {
    let type_name = |o: *mut ffi::PyObject| {
        std::ffi::CStr::from_ptr((*ffi::Py_TYPE(o)).tp_name)
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
    errors::raise(ffi::PyExc_RuntimeError, &message);
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
pub unsafe fn borrow_all(
    wanted: &[(*mut ffi::PyObject, bool)],
    taken: &mut Borrows,
) -> Result<(), ()> {
    let base = taken.0.len();
    // The clock is read only once a wait begins: the uncontended path never pays for it.
    let mut started: Option<std::time::Instant> = None;
    let mut rounds = 0u32;
    'again: loop {
        for &(obj, exclusive) in wanted {
            match try_borrow(obj, exclusive) {
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
                        let name = std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj)).tp_name)
                            .to_string_lossy();
                        errors::raise(
                            ffi::PyExc_RuntimeError,
                            &format!("timed out waiting for another thread's borrow of {name}"),
                        );
                        return Err(());
                    }
                    rounds += 1;
                    crate::sync::detach::detached(|| {
                        if rounds < 16 {
                            std::thread::yield_now();
                        } else {
                            std::thread::sleep(std::time::Duration::from_micros(20));
                        }
                    });
                    continue 'again;
                }
            }
        }
        return Ok(());
    }
}

// ---------------------------------------------------------------------------
// Reference wrappers and the instance map.

/// The object to return for a `&T` result pointing at `ptr_value`
/// (spec/SOUNDNESS.md, "Reference results"):
///
/// 1. `self` or an argument whose value is at `ptr_value`: that very object;
/// 2. the wrapper already mapped at (`ptr_value`, type): that wrapper;
/// 3. a `#[oxbind(get_ref)]` field of `self` or an argument: a new wrapper
///    that keeps that object alive and borrows through it;
/// 4. anything else (heap data a value owns, a `static`, plugin-local
///    memory): refused with TypeError. oxbind could neither keep such
///    memory alive nor stop a `&mut` call from moving or freeing it, nor
///    stop Python from mutating memory Rust holds immutable.
///
/// # Safety
/// The thread is attached; every candidate is a live oxbind instance that
/// the running call has borrowed.
#[inline]
pub unsafe fn object_for_ref(
    ptr_value: *const c_void,
    record: TypeRecord_Ref,
    candidates: &[*mut ffi::PyObject],
    function: &str,
) -> *mut ffi::PyObject {
    for &c in candidates {
        if header(c).value as *const c_void == ptr_value && is_instance(c, record) {
            return crate::py::owned::new_ref(c);
        }
    }
    let Some(joined) = internals::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind: no runtime");
        return ptr::null_mut();
    };
    let i = joined.internals;
    let found = (i.map_get())(i.state(), ptr_value, record.py_type()) as *mut ffi::PyObject;
    if !found.is_null() {
        return found;
    }
    let Some(owner) = candidates
        .iter()
        .copied()
        .find(|&c| is_ref_field_of(c, ptr_value, record))
    else {
        refuse_ref_result(function, record);
        return ptr::null_mut();
    };
    let Some(new_instance) = record.new_instance().into_option() else {
        errors::raise(
            ffi::PyExc_RuntimeError,
            "oxbind: class record cannot create instances",
        );
        return ptr::null_mut();
    };
    let obj = new_instance(record) as *mut ffi::PyObject;
    if obj.is_null() {
        return obj;
    }
    let h = header_mut(obj);
    h.value = ptr_value as *mut c_void;
    h.owner = ffi::Py_NewRef(owner) as *mut c_void;
    h.flags.store(
        instance_flags::READY | instance_flags::MAPPED,
        Ordering::Release,
    );
    allow_try_incref(obj);
    let existing = (i.map_insert())(i.state(), ptr_value, obj as *mut c_void) as *mut ffi::PyObject;
    if existing.is_null() {
        return obj;
    }
    // Another thread mapped a wrapper first: use it, and drop ours unmapped.
    h.flags
        .fetch_and(!instance_flags::MAPPED, Ordering::Release);
    ffi::Py_DECREF(obj);
    existing
}

/// Whether `ptr_value` is the address of a `#[oxbind(get_ref)]` field of
/// `obj`'s value whose class is `record`'s. Such a field is a place inside
/// the value's own storage that always holds a valid value of its type
/// while `obj` lives (a struct field never changes type or moves), so a
/// wrapper that keeps `obj` alive and borrows through it is sound. A `&T`
/// into an enum variant, a `Box` or a `Vec` is not such a place.
///
/// Asks the class's `get_ref` getters (generated code that only takes
/// `&value.field`), so it works only for classes of this copy; an instance
/// of another copy's class never qualifies.
///
/// # Safety
/// `obj` is a live oxbind instance the running call has borrowed.
unsafe fn is_ref_field_of(
    obj: *mut ffi::PyObject,
    ptr_value: *const c_void,
    record: TypeRecord_Ref,
) -> bool {
    if !contains(obj, ptr_value) || !is_ours(obj) {
        return false;
    }
    let h = header(obj);
    // SAFETY: `obj` is an instance of a class this copy created.
    let class = &*(h.record.class_data() as *const ClassData);
    let key = record.key().as_str();
    for prop in class.desc.properties.as_slice() {
        let ret = &prop.get.ret;
        let is_ref = ret.kind == oxbind_abi::TypeKind::OBJECT
            && ret.passing == oxbind_abi::Passing::REF
            && ret.class.is_some_and(|c| c.key.as_str() == key);
        if !is_ref {
            continue;
        }
        // SAFETY: a getter takes the value of a borrowed instance of its
        // class and no arguments; it writes no result slot (it returns a
        // reference), and catches its own panics.
        let outcome = (prop.get.call)(
            h.value,
            oxbind_abi::abi_stable::std_types::RSlice::from_slice(&[]),
            ptr::null_mut(),
        );
        if matches!(outcome, oxbind_abi::CallOutcome::Ok(oxbind_abi::RetValue::Ref(q)) if q == ptr_value)
        {
            return true;
        }
    }
    false
}

#[cold]
#[inline(never)]
unsafe fn refuse_ref_result(function: &str, record: TypeRecord_Ref) {
    let class = record.key().as_str();
    errors::raise(
        ffi::PyExc_TypeError,
        &format!(
            "{function}() returned a reference (&{class}) that is neither self, an argument, \
             nor a #[oxbind(get_ref)] field of one: oxbind cannot keep such memory alive or \
             stop it being mutated or freed underneath Python, so it refuses the result. \
             Return the value ({class}) instead, or expose the field with #[oxbind(get_ref)]"
        ),
    );
}

/// Whether `obj` is an instance of a class this copy created (its
/// `tp_dealloc` is this copy's).
#[inline]
unsafe fn is_ours(obj: *mut ffi::PyObject) -> bool {
    matches!((*ffi::Py_TYPE(obj)).tp_dealloc,
        Some(d) if std::ptr::fn_addr_eq(d, dealloc as unsafe extern "C" fn(*mut ffi::PyObject)))
}

/// Whether `ptr` points inside `obj`'s value.
unsafe fn contains(obj: *mut ffi::PyObject, ptr_value: *const c_void) -> bool {
    let h = header(obj);
    let start = h.value as usize;
    let size = h.record.size().max(1);
    (start..start + size).contains(&(ptr_value as usize))
}

/// Lets [`try_incref`] succeed on `obj` while it is alive, whichever thread
/// owns it (3.13t: sets `_Py_REF_MAYBE_WEAKREF` in the shared refcount, as
/// `_PyObject_SetMaybeWeakref` does).
#[cfg(Py_GIL_DISABLED)]
unsafe fn allow_try_incref(obj: *mut ffi::PyObject) {
    const FLAG_MASK: isize = 0b11;
    const MAYBE_WEAKREF: isize = 0b01;
    let shared = &(*obj).ob_ref_shared;
    let mut current = shared.load(Ordering::Relaxed);
    loop {
        if current & FLAG_MASK != 0 {
            return;
        }
        match shared.compare_exchange_weak(
            current,
            current | MAYBE_WEAKREF,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => current = now,
        }
    }
}

#[cfg(not(Py_GIL_DISABLED))]
unsafe fn allow_try_incref(_obj: *mut ffi::PyObject) {}

/// Takes a new reference to `obj` unless it is already being deallocated.
/// Called under an instance-map shard lock; touches only the refcount.
///
/// On 3.13t this follows CPython's `_Py_TryIncrefCompare`: an object whose
/// shared refcount is zero (and never flagged) or merged-to-zero is dead.
/// With the GIL, an exact refcount of zero means its dealloc has started.
///
/// # Safety
/// `obj`'s memory is valid (it is still mapped, so not yet freed).
#[cfg(Py_GIL_DISABLED)]
pub unsafe fn try_incref(obj: *mut ffi::PyObject) -> bool {
    const MERGED: isize = 0b11;
    const SHARED_SHIFT: u32 = 2;
    let o = &*obj;
    let local = o.ob_ref_local.load(Ordering::Relaxed);
    if local == u32::MAX {
        return true; // immortal
    }
    if o.ob_tid == thread_id() {
        if local == 0 {
            return false;
        }
        o.ob_ref_local.store(local + 1, Ordering::Relaxed);
        return true;
    }
    let mut shared = o.ob_ref_shared.load(Ordering::Relaxed);
    loop {
        if shared == 0 || shared == MERGED {
            return false;
        }
        match o.ob_ref_shared.compare_exchange_weak(
            shared,
            shared + (1 << SHARED_SHIFT),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => shared = now,
        }
    }
}

#[cfg(not(Py_GIL_DISABLED))]
pub unsafe fn try_incref(obj: *mut ffi::PyObject) -> bool {
    if ffi::Py_REFCNT(obj) <= 0 {
        return false;
    }
    ffi::Py_INCREF(obj);
    true
}

/// CPython's `_Py_ThreadId()`: the thread pointer.
#[cfg(Py_GIL_DISABLED)]
#[inline]
pub(crate) fn thread_id() -> usize {
    let tid: usize;
    // SAFETY: reads the thread pointer register, as CPython's _Py_ThreadId does.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!("mov {}, fs:0", out(reg) tid, options(nostack, readonly, preserves_flags));
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tid, options(nostack, readonly, preserves_flags));
    }
    tid
}
