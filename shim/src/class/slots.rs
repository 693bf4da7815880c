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

/// Runs the plugin function in slot `kind` of `obj`'s class with `args`;
/// `NotImplemented` (a new reference) if the class does not define it.
/// Returns a new reference, or null with an exception set.
///
/// # Safety
/// The thread is attached; `obj` is a live instance of a class this copy
/// created; every pointer in `args` is a live object the caller keeps alive
/// for the call.
pub(crate) unsafe fn invoke(
    obj: *mut ffi::PyObject,
    kind: SlotKind,
    args: &[*mut ffi::PyObject],
    mode: Mode,
) -> *mut ffi::PyObject {
    // SAFETY: `obj` is a live instance of a class this copy created (this
    // function's contract).
    match unsafe { class_of(obj) }.slots[kind.0 as usize] {
        // SAFETY: the thread is attached; `obj` is the receiver, and `args`
        // is a live slice of objects the caller keeps alive, passed with its
        // length and no keywords (the vectorcall convention).
        Some(data) => unsafe {
            call::dispatch::dispatch(
                data,
                obj,
                args.as_ptr(),
                args.len() as _,
                ptr::null_mut(),
                mode,
            )
        },
        // SAFETY: the thread is attached; `Py_NotImplemented` is a static
        // singleton, and we return the new reference taken on it.
        None => unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) },
    }
}

/// The getter of a class's property (`PyGetSetDef::get`).
///
/// # Safety
/// Called by CPython as the `get` of a `PyGetSetDef` that `create::prepare`
/// built: the thread is attached, `obj` is a live instance of the class
/// (the descriptor checked its type), and `closure` is that property's
/// leaked [`PropertyData`].
pub(crate) unsafe extern "C" fn property_get(
    obj: *mut ffi::PyObject,
    closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: `closure` is the `PropertyData` that `prepare` leaked for this
    // getset (the contract); it is never freed or mutated.
    let p = unsafe { &*(closure as *const PropertyData) };
    // SAFETY: the thread is attached and `obj` is the getter's receiver, a
    // live instance CPython keeps alive for the call; no arguments.
    unsafe { call::dispatch::dispatch(p.get, obj, ptr::null(), 0, ptr::null_mut(), Mode::Raise) }
}

/// The setter of a class's property (`PyGetSetDef::set`); `value` is null
/// for `del`.
///
/// # Safety
/// Called by CPython as the `set` of a `PyGetSetDef` that `create::prepare`
/// built: the thread is attached, `obj` is a live instance of the class
/// (the descriptor checked its type), `value` is null or a live object, and
/// `closure` is that property's leaked [`PropertyData`].
pub(crate) unsafe extern "C" fn property_set(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    closure: *mut c_void,
) -> c_int {
    // SAFETY: `closure` is the `PropertyData` that `prepare` leaked for this
    // getset (the contract); it is never freed or mutated.
    let p = unsafe { &*(closure as *const PropertyData) };
    let Some(set) = p.set else {
        // SAFETY: the thread is attached; `PyExc_AttributeError` is an
        // exception class CPython initialised at start-up and never
        // reassigns; `obj` is live.
        unsafe {
            errors::raise(
                ffi::PyExc_AttributeError,
                &format!(
                    "property '{}' of '{}' object is read-only",
                    p.name,
                    errors::type_name(obj)
                ),
            );
        }
        return -1;
    };
    if value.is_null() {
        // SAFETY: the thread is attached; `PyExc_AttributeError` is an
        // exception class CPython initialised at start-up and never
        // reassigns.
        unsafe {
            errors::raise(
                ffi::PyExc_AttributeError,
                &format!("cannot delete property '{}'", p.name),
            );
        }
        return -1;
    }
    let args = [value];
    // SAFETY: the thread is attached; `obj` is the receiver and `args` holds
    // one live object (`value`, which CPython keeps alive for the call);
    // `dispatch` returns a new reference or null, which `Owned` takes over.
    match unsafe {
        Owned::from_raw(call::dispatch::dispatch(
            set,
            obj,
            args.as_ptr(),
            1,
            ptr::null_mut(),
            Mode::Raise,
        ))
    } {
        Some(_) => 0,
        None => -1,
    }
}

/// `tp_repr` of classes that define `__repr__`.
///
/// # Safety
/// Called by CPython as `tp_repr` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); no arguments.
    unsafe { invoke(obj, SlotKind::REPR, &[], Mode::Raise) }
}

/// `tp_str` of classes that define `__str__`.
///
/// # Safety
/// Called by CPython as `tp_str` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_str(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); no arguments.
    unsafe { invoke(obj, SlotKind::STR, &[], Mode::Raise) }
}

/// `tp_richcompare` of classes that define comparisons; `!=` is the
/// negation of `__eq__`.
///
/// # Safety
/// Called by CPython as `tp_richcompare` of a class this copy created: `a`
/// is a live instance of it (CPython calls the slot of the first argument's
/// type, swapping the operands for a reflected comparison), `b` is a live
/// object, on an attached thread.
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
        // SAFETY: the thread is attached; `Py_NotImplemented` is a static
        // singleton, and we return the new reference taken on it.
        _ => return unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) },
    };
    // SAFETY: the thread is attached, `a` is a live instance of a class this
    // copy created and `b` a live object CPython keeps alive (the contract).
    let result = unsafe { invoke(a, kind, &[b], Mode::NotImplemented) };
    // SAFETY: `Py_NotImplemented` only returns the singleton's address.
    if !negate || result.is_null() || result == unsafe { ffi::Py_NotImplemented() } {
        return result;
    }
    // SAFETY: `result` is a non-null new reference from `invoke`, which we
    // own: it is read, then released once; the thread is attached.
    let truth = unsafe {
        let truth = ffi::PyObject_IsTrue(result);
        ffi::Py_DECREF(result);
        truth
    };
    if truth < 0 {
        return ptr::null_mut();
    }
    // SAFETY: the thread is attached.
    unsafe { ffi::PyBool_FromLong((truth == 0) as c_long) }
}

/// `tp_hash` of classes that define `__hash__`: the hash of what the
/// plugin's `__hash__` returns.
///
/// # Safety
/// Called by CPython as `tp_hash` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_hash(obj: *mut ffi::PyObject) -> ffi::Py_hash_t {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); `invoke` returns a new reference or
    // null, which `Owned` takes over.
    let Some(result) = (unsafe { Owned::from_raw(invoke(obj, SlotKind::HASH, &[], Mode::Raise)) })
    else {
        return -1;
    };
    // SAFETY: the thread is attached and `result` is a live object we own.
    let h = unsafe { ffi::PyObject_Hash(result.as_ptr()) };
    // SAFETY: the thread is attached.
    if h == -1 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return -1;
    }
    if h == -1 {
        -2
    } else {
        h
    }
}

/// A binary number slot: runs slot `kind` of `a`'s class with `b`, if `a`
/// is an instance of a class this copy created; `NotImplemented` otherwise
/// (reflected operations are not supported).
///
/// # Safety
/// The thread is attached; `a` and `b` are live objects (of any type) the
/// caller keeps alive for the call.
pub(crate) unsafe fn binary(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    kind: SlotKind,
) -> *mut ffi::PyObject {
    // SAFETY: `a` is a live object (the contract).
    if !unsafe { is_ours(a) } {
        // Reflected operations (`3 + p`) are not supported.
        // SAFETY: the thread is attached; `Py_NotImplemented` is a static
        // singleton, and we return the new reference taken on it.
        return unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) };
    }
    // SAFETY: `is_ours` just showed that `a` is an instance of a class this
    // copy created; the thread is attached and `b` is live (the contract).
    unsafe { invoke(a, kind, &[b], Mode::NotImplemented) }
}

/// `nb_add` of classes that define `__add__`.
///
/// # Safety
/// Called by CPython as `nb_add` of a class this copy created: `a` and `b`
/// are live objects, one of them an instance of that class (either side),
/// on an attached thread.
pub(crate) unsafe extern "C" fn slot_add(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and both operands are live objects that
    // CPython keeps alive for the call (the contract).
    unsafe { binary(a, b, SlotKind::ADD) }
}

/// `nb_subtract` of classes that define `__sub__`.
///
/// # Safety
/// Called by CPython as `nb_subtract` of a class this copy created: `a` and
/// `b` are live objects, one of them an instance of that class (either
/// side), on an attached thread.
pub(crate) unsafe extern "C" fn slot_sub(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and both operands are live objects that
    // CPython keeps alive for the call (the contract).
    unsafe { binary(a, b, SlotKind::SUB) }
}

/// `nb_multiply` of classes that define `__mul__`.
///
/// # Safety
/// Called by CPython as `nb_multiply` of a class this copy created: `a` and
/// `b` are live objects, one of them an instance of that class (either
/// side), on an attached thread.
pub(crate) unsafe extern "C" fn slot_mul(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and both operands are live objects that
    // CPython keeps alive for the call (the contract).
    unsafe { binary(a, b, SlotKind::MUL) }
}

/// `nb_true_divide` of classes that define `__truediv__`.
///
/// # Safety
/// Called by CPython as `nb_true_divide` of a class this copy created: `a`
/// and `b` are live objects, one of them an instance of that class (either
/// side), on an attached thread.
pub(crate) unsafe extern "C" fn slot_truediv(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and both operands are live objects that
    // CPython keeps alive for the call (the contract).
    unsafe { binary(a, b, SlotKind::TRUEDIV) }
}

/// `nb_negative` of classes that define `__neg__`.
///
/// # Safety
/// Called by CPython as `nb_negative` of a class this copy created: `obj`
/// is a live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_neg(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); no arguments.
    unsafe { invoke(obj, SlotKind::NEG, &[], Mode::Raise) }
}

/// `nb_bool` of classes that define `__bool__`: the truth of what the
/// plugin's `__bool__` returns.
///
/// # Safety
/// Called by CPython as `nb_bool` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_bool(obj: *mut ffi::PyObject) -> c_int {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); `invoke` returns a new reference or
    // null, which `Owned` takes over.
    let Some(result) = (unsafe { Owned::from_raw(invoke(obj, SlotKind::BOOL, &[], Mode::Raise)) })
    else {
        return -1;
    };
    // SAFETY: the thread is attached and `result` is a live object we own.
    unsafe { ffi::PyObject_IsTrue(result.as_ptr()) }
}

/// `sq_length` and `mp_length` of classes that define `__len__`.
///
/// # Safety
/// Called by CPython as `sq_length` or `mp_length` of a class this copy
/// created: `obj` is a live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_len(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); `invoke` returns a new reference or
    // null, which `Owned` takes over.
    let Some(result) = (unsafe { Owned::from_raw(invoke(obj, SlotKind::LEN, &[], Mode::Raise)) })
    else {
        return -1;
    };
    // SAFETY: the thread is attached and `result` is a live object we own.
    let n = unsafe { ffi::PyLong_AsSsize_t(result.as_ptr()) };
    // SAFETY: the thread is attached.
    if n < 0 && unsafe { ffi::PyErr_Occurred() }.is_null() {
        // -1 without an exception would break CPython's error protocol.
        // SAFETY: the thread is attached; `PyExc_ValueError` is an exception
        // class CPython initialised at start-up and never reassigns; `obj`
        // is live.
        unsafe {
            errors::raise(
                ffi::PyExc_ValueError,
                &format!(
                    "{}.__len__() returned {n}; it should return >= 0",
                    errors::type_name(obj)
                ),
            );
        }
        return -1;
    }
    n
}

/// `tp_iter` of classes that define `__iter__`: an iterator over what the
/// plugin's `__iter__` returns.
///
/// # Safety
/// Called by CPython as `tp_iter` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_iter(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); `invoke` returns a new reference or
    // null, which `Owned` takes over.
    let Some(items) = (unsafe { Owned::from_raw(invoke(obj, SlotKind::ITER, &[], Mode::Raise)) })
    else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached and `items` is a live object we own.
    unsafe { ffi::PyObject_GetIter(items.as_ptr()) }
}

/// `mp_subscript` of classes that define `__getitem__`.
///
/// # Safety
/// Called by CPython as `mp_subscript` of a class this copy created: `obj`
/// is a live instance of it and `key` a live object, on an attached thread.
pub(crate) unsafe extern "C" fn slot_getitem(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached, `obj` is a live instance of a class
    // this copy created and `key` a live object CPython keeps alive (the
    // contract).
    unsafe { invoke(obj, SlotKind::GETITEM, &[key], Mode::Raise) }
}

/// `sq_item` of classes that define `__getitem__`: the index as an int key.
///
/// # Safety
/// Called by CPython as `sq_item` of a class this copy created: `obj` is a
/// live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_sq_item(
    obj: *mut ffi::PyObject,
    index: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached; `PyLong_FromSsize_t` returns a new
    // reference or null, which `Owned` takes over.
    let Some(key) = (unsafe { Owned::from_raw(ffi::PyLong_FromSsize_t(index)) }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached, `obj` is a live instance of a class
    // this copy created (the contract), and `key` is live: we own it until
    // after the call.
    unsafe { invoke(obj, SlotKind::GETITEM, &[key.as_ptr()], Mode::Raise) }
}
