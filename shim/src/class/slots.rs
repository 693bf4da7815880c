//! The type slots and properties of plugin classes: each runs the plugin's
//! function through [`crate::call::dispatch`].

use std::{
    ffi::c_void,
    os::raw::{c_int, c_long},
    ptr,
};

use oxbind_abi::SlotKind;
use pyo3_ffi as ffi;

use crate::{
    call::{self, Mode},
    py::errors,
    py::owned::Owned,
};

use crate::class::{class_of, PropertyData};
use crate::instance::is_ours;

pub(crate) unsafe fn invoke(
    obj: *mut ffi::PyObject,
    kind: SlotKind,
    args: &[*mut ffi::PyObject],
    mode: Mode,
) -> *mut ffi::PyObject {
    match class_of(obj).slots[kind.0 as usize] {
        Some(data) => call::dispatch::dispatch(
            data,
            obj,
            args.as_ptr(),
            args.len() as _,
            ptr::null_mut(),
            mode,
        ),
        None => ffi::Py_NewRef(ffi::Py_NotImplemented()),
    }
}

pub(crate) unsafe extern "C" fn property_get(
    obj: *mut ffi::PyObject,
    closure: *mut c_void,
) -> *mut ffi::PyObject {
    let p = &*(closure as *const PropertyData);
    call::dispatch::dispatch(p.get, obj, ptr::null(), 0, ptr::null_mut(), Mode::Raise)
}

pub(crate) unsafe extern "C" fn property_set(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    closure: *mut c_void,
) -> c_int {
    let p = &*(closure as *const PropertyData);
    let Some(set) = p.set else {
        errors::raise(
            ffi::PyExc_AttributeError,
            &format!(
                "property '{}' of '{}' object is read-only",
                p.name,
                errors::type_name(obj)
            ),
        );
        return -1;
    };
    if value.is_null() {
        errors::raise(
            ffi::PyExc_AttributeError,
            &format!("cannot delete property '{}'", p.name),
        );
        return -1;
    }
    let args = [value];
    match Owned::from_raw(call::dispatch::dispatch(
        set,
        obj,
        args.as_ptr(),
        1,
        ptr::null_mut(),
        Mode::Raise,
    )) {
        Some(_) => 0,
        None => -1,
    }
}

pub(crate) unsafe extern "C" fn slot_repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::REPR, &[], Mode::Raise)
}

pub(crate) unsafe extern "C" fn slot_str(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::STR, &[], Mode::Raise)
}

pub(crate) unsafe extern "C" fn slot_richcompare(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    op: c_int,
) -> *mut ffi::PyObject {
    let (kind, negate) = match op {
        ffi::Py_EQ => (SlotKind::EQ, false),
        ffi::Py_NE => (SlotKind::EQ, true),
        ffi::Py_LT => (SlotKind::LT, false),
        ffi::Py_LE => (SlotKind::LE, false),
        ffi::Py_GT => (SlotKind::GT, false),
        ffi::Py_GE => (SlotKind::GE, false),
        _ => return ffi::Py_NewRef(ffi::Py_NotImplemented()),
    };
    let result = invoke(a, kind, &[b], Mode::NotImplemented);
    if !negate || result.is_null() || result == ffi::Py_NotImplemented() {
        return result;
    }
    let truth = ffi::PyObject_IsTrue(result);
    ffi::Py_DECREF(result);
    if truth < 0 {
        return ptr::null_mut();
    }
    ffi::PyBool_FromLong((truth == 0) as c_long)
}

pub(crate) unsafe extern "C" fn slot_hash(obj: *mut ffi::PyObject) -> ffi::Py_hash_t {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::HASH, &[], Mode::Raise)) else {
        return -1;
    };
    let h = ffi::PyObject_Hash(result.as_ptr());
    if h == -1 && !ffi::PyErr_Occurred().is_null() {
        return -1;
    }
    if h == -1 {
        -2
    } else {
        h
    }
}

pub(crate) unsafe fn binary(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    kind: SlotKind,
) -> *mut ffi::PyObject {
    if !is_ours(a) {
        // Reflected operations (`3 + p`) are not supported.
        return ffi::Py_NewRef(ffi::Py_NotImplemented());
    }
    invoke(a, kind, &[b], Mode::NotImplemented)
}

pub(crate) unsafe extern "C" fn slot_add(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::ADD)
}

pub(crate) unsafe extern "C" fn slot_sub(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::SUB)
}

pub(crate) unsafe extern "C" fn slot_mul(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::MUL)
}

pub(crate) unsafe extern "C" fn slot_truediv(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::TRUEDIV)
}

pub(crate) unsafe extern "C" fn slot_neg(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::NEG, &[], Mode::Raise)
}

pub(crate) unsafe extern "C" fn slot_bool(obj: *mut ffi::PyObject) -> c_int {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::BOOL, &[], Mode::Raise)) else {
        return -1;
    };
    ffi::PyObject_IsTrue(result.as_ptr())
}

pub(crate) unsafe extern "C" fn slot_len(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::LEN, &[], Mode::Raise)) else {
        return -1;
    };
    let n = ffi::PyLong_AsSsize_t(result.as_ptr());
    if n < 0 && ffi::PyErr_Occurred().is_null() {
        // -1 without an exception would break CPython's error protocol.
        errors::raise(
            ffi::PyExc_ValueError,
            &format!(
                "{}.__len__() returned {n}; it should return >= 0",
                errors::type_name(obj)
            ),
        );
        return -1;
    }
    n
}

pub(crate) unsafe extern "C" fn slot_iter(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let Some(items) = Owned::from_raw(invoke(obj, SlotKind::ITER, &[], Mode::Raise)) else {
        return ptr::null_mut();
    };
    ffi::PyObject_GetIter(items.as_ptr())
}

pub(crate) unsafe extern "C" fn slot_getitem(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::GETITEM, &[key], Mode::Raise)
}

pub(crate) unsafe extern "C" fn slot_sq_item(
    obj: *mut ffi::PyObject,
    index: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let Some(key) = Owned::from_raw(ffi::PyLong_FromSsize_t(index)) else {
        return ptr::null_mut();
    };
    invoke(obj, SlotKind::GETITEM, &[key.as_ptr()], Mode::Raise)
}
