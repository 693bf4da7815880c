//! The instance map, both sides: the creator's sharded map from (address,
//! type) to the reference wrapper that stands for it, and the client code
//! that gives a `&T` result its Python object (`spec/SOUNDNESS.md`, §2).

use std::{collections::HashMap, ffi::c_void, ptr, sync::atomic::Ordering};

use oxbind_internals::TypeRecord_Ref;
use pyo3_ffi as ffi;

use crate::{py::errors, sync::lock::PyLock};

use crate::instance::is_ours;
use crate::instance::{contains, header, header_mut, is_instance};
use crate::py::refcount::allow_try_incref;
use oxbind_internals::instance_flags;

use crate::runtime::creator::creator_state;

/// One shard of the instance map: (value address, type) → instance. Each
/// shard sits on its own cache line so that shards never contend.
#[repr(align(64))]
pub(crate) struct Shard {
    pub(crate) map: PyLock<HashMap<(usize, usize), usize>>,
}

/// MurmurHash3's 64-bit finaliser.
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The live instance of `py_type` whose value is at `addr`, as a new
/// reference; null if none. Never returns an instance being deallocated.
///
/// # Safety
/// Called through the `map_get` entry of the internals table of the runtime
/// this copy created: `state` is that table's `state` (this copy's leaked
/// creator state), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_map_get(
    state: *const c_void,
    addr: *const c_void,
    py_type: *mut c_void,
) -> *mut c_void {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives (`try_incref` only increments).
    let shard = unsafe { creator_state(state).shard(addr as usize).map.lock() };
    match shard.get(&(addr as usize, py_type as usize)) {
        // The entry's memory is valid while it is mapped: its dealloc removes
        // it under this lock before freeing. A dying entry counts as absent.
        // SAFETY: so `obj`'s memory is valid here, as `try_incref` needs.
        Some(&obj) if unsafe { crate::py::refcount::try_incref(obj as *mut ffi::PyObject) } => {
            obj as *mut c_void
        }
        _ => ptr::null_mut(),
    }
}

/// Maps (`addr`, type of `obj`) to `obj` unless a live instance is mapped
/// there; returns that instance as a new reference, or null if `obj` went
/// in.
///
/// # Safety
/// Called through the `map_insert` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked creator state), and the thread is attached. `obj` is a live oxbind
/// reference wrapper whose dealloc will remove its entry (flag `MAPPED`).
pub(crate) unsafe extern "C" fn creator_map_insert(
    state: *const c_void,
    addr: *const c_void,
    obj: *mut c_void,
) -> *mut c_void {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract).
    let state = unsafe { creator_state(state) };
    // SAFETY: `obj` is a live object (this function's contract).
    let ty = unsafe { ffi::Py_TYPE(obj as *mut ffi::PyObject) };
    let key = (addr as usize, ty as usize);
    // SAFETY: the thread is attached (this function's contract), and nothing
    // below runs Python code while the guard lives (`try_incref` only
    // increments).
    let mut shard = unsafe { state.shard(addr as usize).map.lock() };
    if let Some(&existing) = shard.get(&key) {
        // SAFETY: a mapped entry's memory is valid while it is mapped (its
        // dealloc removes it under this lock before freeing).
        if unsafe { crate::py::refcount::try_incref(existing as *mut ffi::PyObject) } {
            return existing as *mut c_void;
        }
        // The mapped instance is dying; its dealloc will not remove ours.
    }
    shard.insert(key, obj as usize);
    ptr::null_mut()
}

/// Removes the entry for (`addr`, type of `obj`) if it maps to `obj`.
///
/// # Safety
/// Called through the `map_remove` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked creator state), and the thread is attached. `obj`'s memory is valid
/// (its dealloc calls this before freeing it).
pub(crate) unsafe extern "C" fn creator_map_remove(
    state: *const c_void,
    addr: *const c_void,
    obj: *mut c_void,
) {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract).
    let state = unsafe { creator_state(state) };
    // SAFETY: `obj`'s memory is still valid (this function's contract).
    let ty = unsafe { ffi::Py_TYPE(obj as *mut ffi::PyObject) };
    let key = (addr as usize, ty as usize);
    // SAFETY: the thread is attached (this function's contract), and nothing
    // below runs Python code while the guard lives.
    let mut shard = unsafe { state.shard(addr as usize).map.lock() };
    if shard.get(&key) == Some(&(obj as usize)) {
        shard.remove(&key);
    }
}

/// Removes a reference wrapper's entry from the instance map, so that no
/// later `&T` result at its address finds it.
///
/// # Safety
/// `obj` is an oxbind instance that was mapped (`instance_flags::MAPPED`),
/// and the thread is attached.
pub(crate) unsafe fn unmap(obj: *mut ffi::PyObject) {
    if let Some(j) = crate::runtime::joined() {
        let i = j.internals;
        // SAFETY: `obj` is an oxbind instance and the thread is attached
        // (this function's contract); `map_remove` is the joined runtime's
        // own function, called with its own state.
        unsafe { (i.map_remove())(i.state(), header(obj).value, obj as *mut c_void) };
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
pub(crate) unsafe fn object_for_ref(
    ptr_value: *const c_void,
    record: TypeRecord_Ref,
    candidates: &[*mut ffi::PyObject],
    function: &str,
) -> *mut ffi::PyObject {
    for &c in candidates {
        // SAFETY: every candidate is a live oxbind instance, and the thread
        // is attached (this function's contract).
        if unsafe { std::ptr::eq(header(c).value, ptr_value) && is_instance(c, record) } {
            // SAFETY: as above: `c` is live and the thread attached.
            return unsafe { crate::py::owned::new_ref(c) };
        }
    }
    let Some(joined) = crate::runtime::joined() else {
        // SAFETY: attached (this function's contract); `PyExc_RuntimeError`
        // is set once by CPython at startup and only read.
        unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind: no runtime") };
        return ptr::null_mut();
    };
    let i = joined.internals;
    // SAFETY: `map_get` is the joined runtime's own function, called with
    // its own state on an attached thread.
    let found =
        unsafe { (i.map_get())(i.state(), ptr_value, record.py_type()) } as *mut ffi::PyObject;
    if !found.is_null() {
        return found;
    }
    let Some(owner) = candidates
        .iter()
        .copied()
        // SAFETY: every candidate is a live oxbind instance the running
        // call has borrowed (this function's contract).
        .find(|&c| unsafe { is_ref_field_of(c, ptr_value, record) })
    else {
        // SAFETY: the thread is attached (this function's contract).
        unsafe { refuse_ref_result(function, record) };
        return ptr::null_mut();
    };
    let Some(new_instance) = record.new_instance().into_option() else {
        // SAFETY: attached (this function's contract); `PyExc_RuntimeError`
        // is set once by CPython at startup and only read.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                "oxbind: class record cannot create instances",
            )
        };
        return ptr::null_mut();
    };
    // SAFETY: the record's own allocator, called on an attached thread with
    // the record it belongs to; it returns a new instance or null with an
    // error set.
    let obj = unsafe { new_instance(record) } as *mut ffi::PyObject;
    if obj.is_null() {
        return obj;
    }
    // SAFETY: `obj` is the instance just allocated, with an initialised
    // header, which nothing else can see yet.
    let h = unsafe { header_mut(obj) };
    h.value = ptr_value as *mut c_void;
    // SAFETY: `owner` is a live candidate and the thread is attached.
    h.owner = unsafe { ffi::Py_NewRef(owner) } as *mut c_void;
    h.flags.store(
        instance_flags::READY | instance_flags::MAPPED,
        Ordering::Release,
    );
    // SAFETY: `obj` is the live instance just allocated.
    unsafe { allow_try_incref(obj) };
    // SAFETY: `map_insert` is the joined runtime's own function, called with
    // its own state on an attached thread; `obj` is a live wrapper flagged
    // `MAPPED`, whose dealloc removes its entry.
    let existing =
        unsafe { (i.map_insert())(i.state(), ptr_value, obj as *mut c_void) } as *mut ffi::PyObject;
    if existing.is_null() {
        return obj;
    }
    // Another thread mapped a wrapper first: use it, and drop ours unmapped.
    h.flags
        .fetch_and(!instance_flags::MAPPED, Ordering::Release);
    // SAFETY: attached; we own the only reference to `obj`, which was not
    // mapped, so its dealloc touches no map entry.
    unsafe { ffi::Py_DECREF(obj) };
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
pub(crate) unsafe fn is_ref_field_of(
    obj: *mut ffi::PyObject,
    ptr_value: *const c_void,
    record: TypeRecord_Ref,
) -> bool {
    // SAFETY: `obj` is a live oxbind instance (this function's contract).
    if unsafe { !contains(obj, ptr_value) || !is_ours(obj) } {
        return false;
    }
    // SAFETY: `obj` is a live oxbind instance (this function's contract).
    let h = unsafe { header(obj) };
    // SAFETY: `obj` is a live instance of a class this copy created
    // (`is_ours` above).
    let desc = unsafe { crate::instance::class_desc(obj) };
    let key = record.key().as_str();
    for prop in desc.properties.as_slice() {
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
        let outcome = unsafe {
            (prop.get.call)(
                h.value,
                oxbind_abi::abi_stable::std_types::RSlice::from_slice(&[]),
                ptr::null_mut(),
            )
        };
        if matches!(outcome, oxbind_abi::CallOutcome::Ok(oxbind_abi::RetValue::Ref(q)) if q == ptr_value)
        {
            return true;
        }
    }
    false
}

/// Raises the TypeError for a `&T` result oxbind cannot give an object.
///
/// # Safety
/// The thread is attached.
#[cold]
#[inline(never)]
pub(crate) unsafe fn refuse_ref_result(function: &str, record: TypeRecord_Ref) {
    let class = record.key().as_str();
    // SAFETY: the thread is attached (this function's contract);
    // `PyExc_TypeError` is set once by CPython at startup and only read.
    unsafe {
        errors::raise(
            ffi::PyExc_TypeError,
            &format!(
                "{function}() returned a reference (&{class}) that is neither self, an argument, \
             nor a #[oxbind(get_ref)] field of one: oxbind cannot keep such memory alive or \
             stop it being mutated or freed underneath Python, so it refuses the result. \
             Return the value ({class}) instead, or expose the field with #[oxbind(get_ref)]"
            ),
        )
    };
}
