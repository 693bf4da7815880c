//! Garbage-collector support for classes whose values hold Python
//! references ([`Instance`] handles), so that reference cycles through them
//! are collected.
//!
//! ```ignore
//! #[oxbind::class(module = "graph", gc)]
//! pub struct Node { next: Option<oxbind::Instance<Node>> }
//!
//! impl oxbind::gc::Traverse for Node {
//!     fn traverse(&self, visit: &mut oxbind::gc::Visit<'_>) {
//!         if let Some(next) = &self.next { visit.instance(next) }
//!     }
//!     fn clear(&mut self) { self.next = None }
//! }
//! ```
//!
//! A class declared `gc` must implement [`Traverse`]; the shim then makes its
//! type a GC type whose `tp_traverse` and `tp_clear` call these methods.

use std::{ffi::c_void, marker::PhantomData};

use oxbind_abi::VisitProc;

use crate::{Class, Instance};

/// How a `gc` class shows the collector its references.
pub trait Traverse {
    /// Calls `visit.instance(h)` once for every handle the value holds, and
    /// nothing else: it runs inside the collector, which is counting
    /// references. Cloning a handle here panics (ending the traversal, which
    /// is safe); a handle dropped here (through interior mutability) is
    /// released only after the collection.
    ///
    /// A hook that reports wrongly (a handle twice, or one this value shares
    /// with another through an `Arc`) can make the collector judge a live
    /// object garbage and `clear` it early: a logic error, never a memory
    /// error (`spec/SOUNDNESS.md`, §3a).
    fn traverse(&self, visit: &mut Visit<'_>);
    /// Drops every handle the value holds (typically by setting fields to
    /// `None` or clearing collections), breaking the cycle. The value must
    /// stay valid: methods may still be called on it afterwards.
    fn clear(&mut self);
}

/// The collector's visitor, given to [`Traverse::traverse`].
pub struct Visit<'a> {
    visit: VisitProc,
    arg: *mut c_void,
    status: i32,
    _call: PhantomData<&'a mut ()>,
}

impl Visit<'_> {
    /// Reports one held Python object to the collector.
    pub fn object(&mut self, object: &crate::Object) {
        if self.status == 0 {
            // SAFETY: `visit` and `arg` are the collector's, valid for this
            // traversal; the handle keeps its object alive.
            self.status = unsafe { (self.visit)(object.as_ptr(), self.arg) };
        }
    }

    /// Reports a callback's callable to the collector.
    pub fn callback<A, R>(&mut self, callback: &crate::Callback<A, R>) {
        self.object(callback.object_ref());
    }

    /// Reports one held reference to the collector.
    pub fn instance<T: Class>(&mut self, handle: &Instance<T>) {
        if self.status == 0 {
            // SAFETY: `visit` and `arg` are the collector's, valid for this
            // traversal; the handle keeps its object alive.
            self.status = unsafe { (self.visit)(handle.as_ptr(), self.arg) };
        }
    }
}

thread_local! {
    /// Whether this thread runs a `Traverse::traverse` hook: cloning an
    /// `Instance` there panics (the collector is counting references).
    static TRAVERSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How many threads run a `Traverse::traverse` hook of this plugin binary
/// now. Collections are rare, so it is almost always zero, and
/// [`traversing`] then answers without the thread-local (a call into the
/// dynamic loader in a plugin). A thread counts itself before it sets
/// `TRAVERSING`, so it always sees its own count.
static HOOKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether this thread is inside a `Traverse::traverse` hook.
#[inline]
pub(crate) fn traversing() -> bool {
    HOOKS.load(std::sync::atomic::Ordering::Relaxed) != 0 && in_hook()
}

/// This thread's `TRAVERSING`: out of line, so that the thread-local's
/// address is not computed on the common path.
#[cold]
#[inline(never)]
fn in_hook() -> bool {
    TRAVERSING.try_with(|t| t.get()).unwrap_or(false)
}

/// `ClassGc::traverse` for `T`.
///
/// # Safety
/// `value` is a live `T`; `visit` and `arg` come from CPython's collector.
#[doc(hidden)]
pub unsafe extern "C" fn traverse_value<T: Traverse>(
    value: *const c_void,
    visit: *const c_void,
    arg: *mut c_void,
) -> i32 {
    // SAFETY: the shim passes CPython's visitproc (`ClassGc::traverse`), a
    // non-null function pointer of `VisitProc`'s signature, as a data pointer
    // of the same size.
    let visit = unsafe { std::mem::transmute::<*const c_void, VisitProc>(visit) };
    let mut v = Visit {
        visit,
        arg,
        status: 0,
        _call: PhantomData,
    };
    // A panic must not unwind into the collector; what was visited stands.
    HOOKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let was = TRAVERSING.with(|t| t.replace(true));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller passes a live, initialised `T` (the value of an
        // instance the collector is traversing), alive for this call.
        unsafe { (*(value as *const T)).traverse(&mut v) }
    }));
    TRAVERSING.with(|t| t.set(was));
    HOOKS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    v.status
}

/// `ClassGc::clear` for `T`.
///
/// # Safety
/// `value` is a live `T` that no one else borrows.
#[doc(hidden)]
pub unsafe extern "C" fn clear_value<T: Traverse>(value: *mut c_void) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller passes a live `T` that no one else borrows, so
        // this exclusive reference is the only one while `clear` runs.
        unsafe { (*(value as *mut T)).clear() }
    }));
}
