//! Critical sections on one or two objects: the argument locks of
//! `lock_self`, `#[oxbind(lock)]` and `&mut` parameters.
//!
//! On free-threaded builds this is `PyCriticalSection{,2}_Begin`. It locks
//! the objects' own mutexes (two of them in address order, so `merge(a, b)`
//! and `merge(b, a)` cannot deadlock), waits detached, and is suspended
//! whenever the thread blocks. With the GIL it is a no-op: holding the GIL
//! is the section. Plugin code releases the GIL only in a detached region
//! (`oxbind::detach`), which does not detach while the call holds a section
//! it asked for (`crate::sync::detach::hold_section`).
//!
//! CPython links an active section into the thread state by address, so its
//! storage must not move: [`Section`] borrows a slot the caller keeps on its
//! own stack frame, in the style of a lock_api guard over a raw primitive.

use std::mem::MaybeUninit;

use pyo3_ffi as ffi;

/// Stack storage for one section.
#[cfg(Py_GIL_DISABLED)]
pub type SectionSlot = MaybeUninit<ffi::PyCriticalSection2>;
#[cfg(not(Py_GIL_DISABLED))]
pub type SectionSlot = MaybeUninit<()>;

/// An active critical section on one or two objects; ended on drop.
pub struct Section<'a> {
    #[cfg(Py_GIL_DISABLED)]
    slot: &'a mut ffi::PyCriticalSection2,
    #[cfg(Py_GIL_DISABLED)]
    two: bool,
    #[cfg(not(Py_GIL_DISABLED))]
    _slot: std::marker::PhantomData<&'a mut ()>,
}

/// Locks `a` (and `b`, if given and different) until the section drops.
///
/// # Safety
/// The thread is attached; the objects stay alive for the section.
pub unsafe fn lock<'a>(
    slot: &'a mut SectionSlot,
    a: *mut ffi::PyObject,
    b: Option<*mut ffi::PyObject>,
) -> Section<'a> {
    #[cfg(Py_GIL_DISABLED)]
    {
        let cs = slot.as_mut_ptr();
        let two = matches!(b, Some(b) if b != a);
        // SAFETY: `cs` points at stack storage that outlives the section and
        // is not moved while it is active (the guard only borrows it, for
        // 'a); the thread is attached and the objects stay alive for the
        // section (this function's contract). The guard never reads the
        // slot: it only hands it back to the matching End.
        unsafe {
            match b {
                Some(b) if b != a => ffi::PyCriticalSection2_Begin(cs, a, b),
                _ => ffi::PyCriticalSection_Begin(cs as *mut ffi::PyCriticalSection, a),
            }
            Section {
                slot: &mut *cs,
                two,
            }
        }
    }
    #[cfg(not(Py_GIL_DISABLED))]
    {
        let _ = (slot, a, b);
        Section {
            _slot: std::marker::PhantomData,
        }
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        #[cfg(Py_GIL_DISABLED)]
        // SAFETY: the section was begun on this slot, by this thread.
        unsafe {
            if self.two {
                ffi::PyCriticalSection2_End(self.slot);
            } else {
                ffi::PyCriticalSection_End(
                    self.slot as *mut ffi::PyCriticalSection2 as *mut ffi::PyCriticalSection,
                );
            }
        }
    }
}
