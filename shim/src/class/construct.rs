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
pub(crate) unsafe extern "C" fn class_entry_point<const I: usize>(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before its entry point was installed.
    let data = &*CLASS_SLOTS[I].load(Ordering::Acquire);
    construct(data, callable, args, nargsf, kwnames)
}

/// Calls the constructor of `data`'s class.
#[inline(always)]
pub(crate) unsafe fn construct(
    data: &ClassData,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(ctor) = data.ctor else {
        errors::type_error(&format!(
            "cannot create '{}' instances: the class has no constructor",
            errors::type_name_of_type(callable)
        ));
        return ptr::null_mut();
    };
    let nargs = ffi::PyVectorcall_NARGS(nargsf);
    call::dispatch::dispatch(ctor, ptr::null_mut(), args, nargs, kwnames, Mode::Raise)
}

pub(crate) unsafe extern "C" fn class_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(joined) = crate::runtime::joined() else {
        return ptr::null_mut();
    };
    let Some(record) = crate::runtime::registry::find_type_by_object(joined, callable) else {
        errors::type_error("oxbind: unregistered class");
        return ptr::null_mut();
    };
    let data = &*(record.class_data() as *const ClassData);
    construct(data, callable, args, nargsf, kwnames)
}

/// `tp_new`, for calls that do not go through vectorcall.
pub(crate) unsafe extern "C" fn class_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let nargs = ffi::PyTuple_GET_SIZE(args) as usize;
    let mut all: Vec<*mut ffi::PyObject> = (0..nargs)
        .map(|k| ffi::PyTuple_GET_ITEM(args, k as _))
        .collect();
    let mut kwnames = ptr::null_mut();
    let _names;
    if !kwargs.is_null() && ffi::PyDict_Size(kwargs) > 0 {
        let Some(names) = Owned::from_raw(ffi::PyTuple_New(ffi::PyDict_Size(kwargs))) else {
            return ptr::null_mut();
        };
        let (mut pos, mut key, mut value) = (0, ptr::null_mut(), ptr::null_mut());
        let mut k = 0;
        while ffi::PyDict_Next(kwargs, &mut pos, &mut key, &mut value) != 0 {
            ffi::PyTuple_SetItem(names.as_ptr(), k, ffi::Py_NewRef(key));
            all.push(value);
            k += 1;
        }
        kwnames = names.as_ptr();
        _names = names;
    }
    class_vectorcall(ty as *mut ffi::PyObject, all.as_ptr(), nargs, kwnames)
}
