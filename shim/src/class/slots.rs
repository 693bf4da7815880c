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

/// Whether `obj`, an instance of a class this copy created, defines slot
/// `kind`.
///
/// # Safety
/// `obj` is a live instance of a class this copy created.
unsafe fn defines(obj: *mut ffi::PyObject, kind: SlotKind) -> bool {
    // SAFETY: as this function's contract.
    unsafe { class_of(obj) }.slots[kind.0 as usize].is_some()
}

/// A new reference to `NotImplemented`.
///
/// # Safety
/// The thread is attached.
unsafe fn not_implemented() -> *mut ffi::PyObject {
    // SAFETY: the thread is attached; `Py_NotImplemented` is a static
    // singleton, and we return the new reference taken on it.
    unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) }
}

/// A binary operator, as CPython's own classes run one: `a.__op__(b)` if
/// `a` is an instance of a class this copy created that defines it; then,
/// if that gave `NotImplemented` (or `a` is not such an instance) and `b`
/// is one of another type, `b.__rop__(a)`. `NotImplemented` if neither
/// applies, so Python tries the next candidate and raises `TypeError` in
/// the end. Operands a method does not take give `NotImplemented` too.
///
/// # Safety
/// The thread is attached; `a` and `b` are live objects (of any type) the
/// caller keeps alive for the call.
pub(crate) unsafe fn binary(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    kind: SlotKind,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `a` and `b` are live
    // (the contract); `defines` and `invoke` run only on an operand
    // `is_ours` has just shown to be an instance of a class this copy
    // created.
    unsafe {
        if is_ours(a) && defines(a, kind) {
            let r = invoke(a, kind, &[b], Mode::NotImplemented);
            if r != ffi::Py_NotImplemented() {
                return r;
            }
            ffi::Py_DECREF(r);
        }
        let reflected = kind.reflected().expect("a binary operator");
        if ffi::Py_TYPE(a) != ffi::Py_TYPE(b) && is_ours(b) && defines(b, reflected) {
            return invoke(b, reflected, &[a], Mode::NotImplemented);
        }
        not_implemented()
    }
}

/// The number slot of binary operator `K` (`nb_add`, `nb_subtract`, …):
/// [`binary`].
///
/// # Safety
/// Called by CPython as a binary number slot of a class this copy created:
/// `a` and `b` are live objects, one of them an instance of that class
/// (either side), on an attached thread.
pub(crate) unsafe extern "C" fn slot_binary<const K: u8>(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and both operands are live objects that
    // CPython keeps alive for the call (the contract).
    unsafe { binary(a, b, SlotKind(K)) }
}

/// `nb_power`: [`binary`] for `__pow__`, when the modulus is `None`
/// (a three-argument `pow` gets `NotImplemented`, so `TypeError`).
///
/// # Safety
/// As for [`slot_binary`]; `m` is a live object.
pub(crate) unsafe extern "C" fn slot_power(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    m: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and the operands are live (the
    // contract); `Py_None` only returns the singleton's address.
    unsafe {
        if m != ffi::Py_None() {
            return not_implemented();
        }
        binary(a, b, SlotKind::POW)
    }
}

/// An in-place operator `K` (`nb_inplace_add`, …): `a.__iop__(b)`. A
/// method returning `()` (Python `None`) leaves `a` as the expression's
/// value, as `x += y` on a mutable Python object does; operands it does not
/// take give `NotImplemented`, so Python falls back to the binary operator.
///
/// # Safety
/// Called by CPython as an in-place number slot of a class this copy
/// created: `a` is a live instance of it (the left operand's type supplies
/// the slot) and `b` a live object, on an attached thread.
pub(crate) unsafe extern "C" fn slot_in_place<const K: u8>(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached; `a` is a live instance of
    // a class this copy created and `b` live (the contract); `r` is a new
    // reference we either return or release once.
    unsafe {
        let r = invoke(a, SlotKind(K), &[b], Mode::NotImplemented);
        if r == ffi::Py_None() {
            ffi::Py_DECREF(r);
            return ffi::Py_NewRef(a);
        }
        r
    }
}

/// `nb_inplace_power`: [`slot_in_place`] for `__ipow__`, when the modulus
/// is `None`.
///
/// # Safety
/// As for [`slot_in_place`]; `m` is a live object.
pub(crate) unsafe extern "C" fn slot_in_place_power(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    m: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as this function's contract.
    unsafe {
        if m != ffi::Py_None() {
            return not_implemented();
        }
        slot_in_place::<IPOW>(a, b)
    }
}

/// `__ipow__`'s slot number.
const IPOW: u8 = match SlotKind::POW.in_place() {
    Some(k) => k.0,
    None => 0,
};

/// A unary slot `K` (`nb_negative`, `nb_absolute`, `nb_int`, `nb_index`,
/// …): the plugin's method on `obj`, with no arguments.
///
/// # Safety
/// Called by CPython as a unary slot of a class this copy created: `obj`
/// is a live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_unary<const K: u8>(
    obj: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); no arguments.
    unsafe { invoke(obj, SlotKind(K), &[], Mode::Raise) }
}

/// `mp_ass_subscript` of classes that define `__setitem__` or
/// `__delitem__`: `value` is null for `del obj[key]`.
///
/// # Safety
/// Called by CPython as `mp_ass_subscript` of a class this copy created:
/// `obj` is a live instance of it, `key` a live object and `value` null or
/// a live object, on an attached thread.
pub(crate) unsafe extern "C" fn slot_ass_subscript(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> c_int {
    let (kind, what) = if value.is_null() {
        (SlotKind::DELITEM, "deletion")
    } else {
        (SlotKind::SETITEM, "assignment")
    };
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract).
    if !unsafe { defines(obj, kind) } {
        // SAFETY: the thread is attached; `PyExc_TypeError` is an exception
        // class CPython initialised at start-up and never reassigns; `obj`
        // is live.
        unsafe {
            errors::type_error(&format!(
                "'{}' object doesn't support item {what}",
                errors::type_name(obj)
            ))
        };
        return -1;
    }
    let with_value = [key, value];
    let args: &[*mut ffi::PyObject] = if value.is_null() {
        &with_value[..1]
    } else {
        &with_value
    };
    // SAFETY: the thread is attached, `obj` is a live instance of a class
    // this copy created and the arguments live objects CPython keeps alive
    // (the contract); `invoke` returns a new reference or null, which
    // `Owned` takes over.
    match unsafe { Owned::from_raw(invoke(obj, kind, args, Mode::Raise)) } {
        Some(_) => 0,
        None => -1,
    }
}

/// `sq_contains` of classes that define `__contains__`. An item that does
/// not convert to the parameter's type is not contained.
///
/// # Safety
/// Called by CPython as `sq_contains` of a class this copy created: `obj`
/// is a live instance of it and `item` a live object, on an attached thread.
pub(crate) unsafe extern "C" fn slot_contains(
    obj: *mut ffi::PyObject,
    item: *mut ffi::PyObject,
) -> c_int {
    // SAFETY: the thread is attached, `obj` is a live instance of a class
    // this copy created and `item` a live object CPython keeps alive (the
    // contract); `invoke` returns a new reference or null, which `Owned`
    // takes over.
    let Some(result) = (unsafe {
        Owned::from_raw(invoke(
            obj,
            SlotKind::CONTAINS,
            &[item],
            Mode::NotImplemented,
        ))
    }) else {
        return -1;
    };
    // SAFETY: `Py_NotImplemented` only returns the singleton's address.
    if result.as_ptr() == unsafe { ffi::Py_NotImplemented() } {
        return 0;
    }
    // SAFETY: the thread is attached and `result` is a live object we own.
    unsafe { ffi::PyObject_IsTrue(result.as_ptr()) }
}

/// `tp_iternext` of classes that define `__next__`: what the plugin's
/// `__next__` returns, until it returns `None` (null with no exception set:
/// the end of the iteration).
///
/// # Safety
/// Called by CPython as `tp_iternext` of a class this copy created: `obj`
/// is a live instance of it, on an attached thread.
pub(crate) unsafe extern "C" fn slot_iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `obj` is a live instance of a class
    // this copy created (the contract); `r` is a new reference or null, and
    // a `None` result is released once.
    unsafe {
        let r = invoke(obj, SlotKind::NEXT, &[], Mode::Raise);
        if r == ffi::Py_None() {
            ffi::Py_DECREF(r);
            return ptr::null_mut();
        }
        r
    }
}

/// `tp_call` of classes that define `__call__`: the tuple and dict CPython
/// passes, rearranged into the vectorcall convention the dispatcher takes.
///
/// # Safety
/// Called by CPython as `tp_call` of a class this copy created: `obj` is a
/// live instance of it, `args` a tuple and `kwargs` null or a dict, on an
/// attached thread.
pub(crate) unsafe extern "C" fn slot_call(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `args` is a tuple (the contract), immutable, which CPython
    // keeps alive for the call; its items are live.
    let nargs = unsafe { ffi::PyTuple_GET_SIZE(args) };
    let mut vector: Vec<*mut ffi::PyObject> = (0..nargs)
        // SAFETY: as above, `k` is below the tuple's size.
        .map(|k| unsafe { ffi::PyTuple_GET_ITEM(args, k) })
        .collect();
    let mut kept = Vec::new();
    let mut kwnames = None;
    // SAFETY: `kwargs` is null or a dict (the contract).
    if !kwargs.is_null() && unsafe { ffi::PyDict_Size(kwargs) } > 0 {
        // The dict's pairs, each held by a strong reference (reading them
        // under the dict's critical section, as every dict read does).
        // SAFETY: the thread is attached and `kwargs` is a live dict.
        let pairs = unsafe { crate::sync::containers::dict_items(kwargs) };
        let names: Vec<*mut ffi::PyObject> = pairs.iter().map(|(k, _)| k.as_ptr()).collect();
        // SAFETY: the thread is attached; `names` are live strong
        // references held in `pairs`; the new tuple (or null) goes straight
        // into an `Owned`, and `PyTuple_Pack`-like filling takes its own
        // references.
        let tuple = unsafe { Owned::from_raw(ffi::PyTuple_New(names.len() as _)) };
        let Some(tuple) = tuple else {
            return ptr::null_mut();
        };
        for (j, name) in names.iter().enumerate() {
            // SAFETY: `tuple` is a new tuple of that size no other code has
            // seen; `PyTuple_SET_ITEM` steals the new reference taken here.
            unsafe { ffi::PyTuple_SET_ITEM(tuple.as_ptr(), j as _, ffi::Py_NewRef(*name)) };
        }
        vector.extend(pairs.iter().map(|(_, v)| v.as_ptr()));
        kwnames = Some(tuple);
        kept.push(pairs);
    }
    let kwnames_ptr = kwnames.as_ref().map_or(ptr::null_mut(), |t| t.as_ptr());
    // SAFETY: `obj` is a live instance of a class this copy created (the
    // contract); the slot is set only for classes that define `__call__`.
    let Some(data) = unsafe { class_of(obj) }.slots[SlotKind::CALL.0 as usize] else {
        // SAFETY: the thread is attached; `obj` is live.
        unsafe {
            errors::type_error(&format!(
                "'{}' object is not callable",
                errors::type_name(obj)
            ))
        };
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached; `obj` is the receiver; `vector` holds
    // `nargs` positional arguments then one value per name in `kwnames`,
    // all live (the tuple's items, and the dict's held in `kept`), the
    // vectorcall convention.
    unsafe { call::dispatch::dispatch(data, obj, vector.as_ptr(), nargs, kwnames_ptr, Mode::Raise) }
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
