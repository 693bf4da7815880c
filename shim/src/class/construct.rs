//! Calling a class: its `tp_vectorcall` (one generated entry point per class
//! slot, like functions' in `call::entry`), `tp_new`, and the constructor
//! call.
//!
//! Shared state: [`CLASS_SLOTS`] and [`NEXT_CLASS_SLOT`] follow the rules of
//! function slots: claimed once, written once (release), read (acquire).

use std::{
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

use pyo3_ffi as ffi;

use crate::{
    call::{self, Mode},
    py::errors,
    py::owned::Owned,
};

use crate::class::ClassData;

include!(concat!(env!("OUT_DIR"), "/class_entry_points.rs"));

/// Class data by constructor slot, for [`class_entry_point`]. Written once
/// per slot (before the type is visible), never freed.
pub(crate) static CLASS_SLOTS: [AtomicPtr<ClassData>; CLASS_SLOT_COUNT] =
    [const { AtomicPtr::new(ptr::null_mut()) }; CLASS_SLOT_COUNT];

pub(crate) static NEXT_CLASS_SLOT: AtomicUsize = AtomicUsize::new(0);

/// The `tp_vectorcall` for a new class: a direct entry point that knows
/// its class, or, once every slot is taken, the registry-based one.
pub(crate) fn class_entry(data: &'static ClassData) -> ffi::vectorcallfunc {
    let slot = NEXT_CLASS_SLOT.fetch_add(1, Ordering::Relaxed);
    if slot >= CLASS_SLOT_COUNT {
        return class_vectorcall;
    }
    CLASS_SLOTS[slot].store(
        data as *const ClassData as *mut ClassData,
        Ordering::Release,
    );
    CLASS_ENTRY_POINTS[slot]
}

/// Construction through a class's own slot: no registry lookup.
///
/// # Safety
/// Called by CPython as the `tp_vectorcall` that [`class_entry`] installed
/// for slot `I`: the thread is attached, `callable` is that class's type,
/// and `args`/`nargsf`/`kwnames` follow the vectorcall convention.
pub(crate) unsafe extern "C" fn class_entry_point<const I: usize>(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before its entry point was installed.
    let data = unsafe { &*CLASS_SLOTS[I].load(Ordering::Acquire) };
    // SAFETY: the thread is attached, `callable` is the class's type and the
    // arguments follow the vectorcall convention (this function's contract).
    unsafe { construct(data, callable, args, nargsf, kwnames) }
}

/// Calls the constructor of `data`'s class.
///
/// # Safety
/// The thread is attached; `callable` is the class's type object, and
/// `args`/`nargsf`/`kwnames` follow the vectorcall convention.
#[inline(always)]
pub(crate) unsafe fn construct(
    data: &ClassData,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(ctor) = data.ctor else {
        // SAFETY: the thread is attached and `callable` is a valid type
        // object (the contract).
        unsafe {
            errors::type_error(&format!(
                "cannot create '{}' instances: the class has no constructor",
                errors::type_name_of_type(callable)
            ));
        }
        return ptr::null_mut();
    };
    // SAFETY: `PyVectorcall_NARGS` only masks a flag bit out of `nargsf`.
    let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf) };
    // SAFETY: the thread is attached and the arguments follow the vectorcall
    // convention (the contract); a constructor has no receiver.
    unsafe { call::dispatch::dispatch(ctor, ptr::null_mut(), args, nargs, kwnames, Mode::Raise) }
}

/// The `tp_vectorcall` of classes created once every constructor slot was
/// taken: finds the class data through the registry.
///
/// # Safety
/// Called by CPython as `tp_vectorcall` of a class this copy created (or by
/// [`class_new`]): the thread is attached, `callable` is that class's type,
/// and `args`/`nargsf`/`kwnames` follow the vectorcall convention.
pub(crate) unsafe extern "C" fn class_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(joined) = crate::runtime::joined() else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached (the contract) and `joined` shows this
    // copy has joined a runtime.
    let Some(record) = (unsafe { crate::runtime::registry::find_type_by_object(joined, callable) })
    else {
        // SAFETY: the thread is attached.
        unsafe { errors::type_error("oxbind: unregistered class") };
        return ptr::null_mut();
    };
    // SAFETY: `callable` is a type this copy created (the contract), so its
    // record's class data is a `ClassData` this copy leaked, never freed.
    let data = unsafe { &*(record.class_data() as *const ClassData) };
    // SAFETY: the thread is attached, `callable` is the class's type and the
    // arguments follow the vectorcall convention (the contract).
    unsafe { construct(data, callable, args, nargsf, kwnames) }
}

/// `tp_new`, for calls that do not go through vectorcall.
///
/// # Safety
/// Called by CPython as `tp_new` of a class this copy created: the thread
/// is attached, `ty` is that class, `args` is a tuple and `kwargs` is null
/// or a dict; the caller keeps both alive, and `kwargs` unchanged, for the
/// call.
pub(crate) unsafe extern "C" fn class_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `args` is a tuple (the contract).
    let nargs = unsafe { ffi::PyTuple_GET_SIZE(args) } as usize;
    let mut all: Vec<*mut ffi::PyObject> = (0..nargs)
        // SAFETY: `args` is a tuple and `k` is below its size; the items are
        // borrowed, kept alive by the tuple.
        .map(|k| unsafe { ffi::PyTuple_GET_ITEM(args, k as _) })
        .collect();
    let mut kwnames = ptr::null_mut();
    let _names;
    // SAFETY: the thread is attached and `kwargs`, when not null, is a dict
    // (the contract).
    if !kwargs.is_null() && unsafe { ffi::PyDict_Size(kwargs) } > 0 {
        // SAFETY: the thread is attached and `kwargs` is a dict; the new
        // tuple (or null) is taken over by `Owned`.
        let Some(names) = (unsafe { Owned::from_raw(ffi::PyTuple_New(ffi::PyDict_Size(kwargs))) })
        else {
            return ptr::null_mut();
        };
        let (mut pos, mut key, mut value) = (0, ptr::null_mut(), ptr::null_mut());
        let mut k = 0;
        // SAFETY: the thread is attached and `kwargs` is a dict the caller
        // keeps alive, and does not change, for the call (the contract);
        // `pos`, `key` and `value` are valid out-pointers. The values are
        // borrowed, kept alive by `kwargs`.
        while unsafe { ffi::PyDict_Next(kwargs, &mut pos, &mut key, &mut value) } != 0 {
            // SAFETY: `key` is a live key of `kwargs`; `names` is a fresh
            // tuple with one slot per entry, and slot `k` is not yet filled
            // (`PyTuple_SetItem` steals the new reference on `key`).
            unsafe { ffi::PyTuple_SetItem(names.as_ptr(), k, ffi::Py_NewRef(key)) };
            all.push(value);
            k += 1;
        }
        kwnames = names.as_ptr();
        _names = names;
    }
    // A Python subclass (of a class declared `subclass`) inherits this
    // `tp_new`: the oxbind class it derives from constructs the value,
    // which then moves into an instance of the subclass.
    // SAFETY: `ty` is a live type object (the contract).
    let Some(class) = (unsafe { oxbind_base(ty) }) else {
        // SAFETY: the thread is attached.
        unsafe { errors::type_error("oxbind: this tp_new belongs to no oxbind class") };
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached; `class` is this copy's class (found
    // above); `all` holds the positional then the keyword values, all
    // alive while `args` and `kwargs` are, with `kwnames` naming the last
    // ones: the vectorcall convention.
    let obj =
        unsafe { class_vectorcall(class as *mut ffi::PyObject, all.as_ptr(), nargs, kwnames) };
    if obj.is_null() || class == ty {
        return obj;
    }
    // SAFETY: `obj` is the new reference the constructor returned: an owned,
    // ready instance of `class` that nothing else has seen; `ty` is a live
    // subclass of `class`; attached.
    unsafe { crate::class::lifecycle::move_into_subclass(obj, ty) }
}

/// The class of this copy that `ty` is or derives from: the first type on
/// its `tp_base` chain whose `tp_dealloc` is this copy's.
///
/// # Safety
/// `ty` is a live type object.
unsafe fn oxbind_base(mut ty: *mut ffi::PyTypeObject) -> Option<*mut ffi::PyTypeObject> {
    let ours = crate::class::lifecycle::dealloc as unsafe extern "C" fn(*mut ffi::PyObject);
    while !ty.is_null() {
        // SAFETY: `ty` is a live type object (the contract, then a base that
        // its subclass keeps alive).
        let (dealloc, base) = unsafe { ((*ty).tp_dealloc, (*ty).tp_base) };
        if dealloc.is_some_and(|d| std::ptr::fn_addr_eq(d, ours)) {
            return Some(ty);
        }
        ty = base;
    }
    None
}
