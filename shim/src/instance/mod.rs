//! What every instance of an oxbind class looks like, whichever copy made
//! it: the layout, readiness, and (in [`borrow`]) the borrow protocol.
//! Allocation and deallocation are the class's (`crate::class::lifecycle`);
//! the instance map of reference wrappers is the runtime's
//! (`crate::runtime::instance_map`). This layer knows nothing of either:
//! the class layer registers its `tp_dealloc` here ([`register_dealloc`]),
//! which is how [`is_ours`] recognises this copy's instances, and its class
//! data starts with the class's descriptor ([`class_desc`]).
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
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

use oxbind_abi::ClassDesc;
use oxbind_internals::{instance_flags, InstanceHeader, TypeRecord_Ref};
use pyo3_ffi as ffi;

use crate::instance::borrow::try_acquire;

pub(crate) mod borrow;
pub(crate) mod counts;

/// Offset of the [`InstanceHeader`] in every instance.
pub(crate) const HEADER_OFFSET: usize = size_of::<ffi::PyObject>();

/// The largest value alignment an instance can honour: CPython's object
/// allocators align to 16 bytes.
pub(crate) const MAX_VALUE_ALIGN: usize = 16;

/// Where the inline value starts for a value of alignment `align`.
pub(crate) const fn value_offset(align: usize) -> usize {
    let end = HEADER_OFFSET + size_of::<InstanceHeader>();
    let align = if align < 8 { 8 } else { align };
    end.div_ceil(align) * align
}

/// The header of an oxbind instance.
///
/// # Safety
/// `obj` is an instance of an oxbind class.
#[inline]
pub(crate) unsafe fn header<'a>(obj: *mut ffi::PyObject) -> &'a InstanceHeader {
    // SAFETY: `obj` is an oxbind instance (this function's contract), so its
    // allocation holds an `InstanceHeader` at HEADER_OFFSET, right after the
    // `PyObject` header; the offset stays inside that allocation.
    unsafe { &*((obj as *mut u8).add(HEADER_OFFSET) as *const InstanceHeader) }
}

/// The header of an oxbind instance, for writing.
///
/// # Safety
/// `obj` is an instance of an oxbind class that no other thread can reach
/// yet (it was just allocated, not handed out), and no other reference to
/// its header is used while the returned one is.
#[inline]
pub(crate) unsafe fn header_mut<'a>(obj: *mut ffi::PyObject) -> &'a mut InstanceHeader {
    // SAFETY: `obj` is an oxbind instance, so an `InstanceHeader` sits at
    // HEADER_OFFSET inside its allocation; the caller guarantees that this
    // is the only reference to it in use (the contract above).
    unsafe { &mut *((obj as *mut u8).add(HEADER_OFFSET) as *mut InstanceHeader) }
}

/// Whether `obj` is exactly an instance of the class `record` describes.
///
/// # Safety
/// `obj` is a live object (of any type).
#[inline]
pub(crate) unsafe fn is_instance(obj: *mut ffi::PyObject, record: TypeRecord_Ref) -> bool {
    // SAFETY: `obj` is a live object (the contract), so its `ob_type` may be
    // read.
    (unsafe { ffi::Py_TYPE(obj) }) as *mut c_void == record.py_type()
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
pub(crate) unsafe fn mark_ready(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is an oxbind instance the running call allocated (the
    // contract), so it has a header.
    let flags = unsafe { &header(obj).flags };
    flags.store(
        flags.load(Ordering::Relaxed) | instance_flags::READY,
        Ordering::Release,
    );
}

/// Whether the instance's value is initialised.
///
/// # Safety
/// `obj` is a live oxbind instance.
#[inline]
pub(crate) unsafe fn is_ready(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: `obj` is a live oxbind instance (the contract), so it has a
    // header; its flags are atomics, safe to read while others write them.
    let flags = unsafe { &header(obj).flags };
    flags.load(Ordering::Acquire) & instance_flags::READY != 0
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
pub(crate) unsafe fn with_exclusive_value(obj: *mut ffi::PyObject, f: impl FnOnce()) -> bool {
    // SAFETY: `obj` is a live oxbind instance (the contract), so it has a
    // header, which outlives this call.
    let h = unsafe { header(obj) };
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

/// The `tp_dealloc` of every class this copy creates, registered by the
/// class layer before it makes its first type (so before any instance of
/// one exists); null until then. Set once per copy, to the same function
/// each time.
static THIS_COPY_DEALLOC: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Registers `dealloc` as the `tp_dealloc` of this copy's classes: called by
/// `crate::class::create` before it creates a type.
pub(crate) fn register_dealloc(dealloc: unsafe extern "C" fn(*mut ffi::PyObject)) {
    THIS_COPY_DEALLOC.store(dealloc as *mut c_void, Ordering::Release);
}

/// Whether `obj` is an instance of a class this copy created, or of a
/// Python subclass of one (its type's `tp_dealloc`, or that of a base on
/// its `tp_base` chain, is the one this copy registered).
///
/// A Python subclass has CPython's `subtype_dealloc`, which calls its
/// base's; its solid base (`tp_base`) is the oxbind class whose layout its
/// instances share, so walking `tp_base` finds it. Only heap types are
/// walked: a built-in type is never one of ours nor derived from one.
///
/// # Safety
/// `obj` is a live object (of any type).
#[inline]
pub(crate) unsafe fn is_ours(obj: *mut ffi::PyObject) -> bool {
    let ours = THIS_COPY_DEALLOC.load(Ordering::Acquire);
    // SAFETY: `obj` is a live object (the contract), so its type is a live
    // type object.
    let mut ty = unsafe { ffi::Py_TYPE(obj) };
    loop {
        // SAFETY: `ty` is a live type object (`obj`'s type, or a base of
        // it, which its subclass keeps alive), whose fields may be read.
        let (dealloc, heap, base) = unsafe {
            (
                (*ty).tp_dealloc,
                ffi::PyType_HasFeature(ty, ffi::Py_TPFLAGS_HEAPTYPE) != 0,
                (*ty).tp_base,
            )
        };
        // Before registration no class of this copy exists, and the null
        // registered value matches no function.
        if matches!(dealloc, Some(d) if d as *mut c_void == ours) {
            return true;
        }
        if !heap || base.is_null() {
            return false;
        }
        ty = base;
    }
}

/// Whether `obj` is an instance of the class `record` describes or of a
/// Python subclass of it (only a class declared `subclass` has any).
///
/// # Safety
/// `obj` is a live object (of any type); the thread is attached.
#[inline]
pub(crate) unsafe fn is_instance_or_subclass(
    obj: *mut ffi::PyObject,
    record: TypeRecord_Ref,
) -> bool {
    // SAFETY: `obj` is a live object (the contract).
    if unsafe { is_instance(obj, record) } {
        return true;
    }
    // SAFETY: `obj` is live, so its type is; a registered record's type is a
    // live type object; attached (the contract).
    unsafe {
        ffi::PyType_IsSubtype(
            ffi::Py_TYPE(obj),
            record.py_type() as *mut ffi::PyTypeObject,
        ) != 0
    }
}

/// The descriptor of the class of `obj`, an instance of a class this copy
/// created. Every class data this copy makes starts with it
/// (`crate::class::ClassData` is `#[repr(C)]` with `desc` first, asserted
/// there).
///
/// # Safety
/// `obj` is a live instance of a class this copy created ([`is_ours`]).
pub(crate) unsafe fn class_desc(obj: *mut ffi::PyObject) -> &'static ClassDesc {
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract), so its record's class data is this copy's leaked
    // `ClassData`, whose first field is a `&'static ClassDesc`.
    unsafe { *(header(obj).record.class_data() as *const &'static ClassDesc) }
}

/// Whether `ptr` points inside `obj`'s value.
///
/// # Safety
/// `obj` is a live oxbind instance.
pub(crate) unsafe fn contains(obj: *mut ffi::PyObject, ptr_value: *const c_void) -> bool {
    // SAFETY: `obj` is a live oxbind instance (the contract), so it has a
    // header.
    let h = unsafe { header(obj) };
    let start = h.value as usize;
    let size = h.record.size().max(1);
    (start..start + size).contains(&(ptr_value as usize))
}
