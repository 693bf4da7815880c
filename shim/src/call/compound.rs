//! Results to Python objects: scalars, object references, class values
//! moved out of the plugin, and containers of any of them (`list`, `tuple`,
//! `set`, `dict`), nested to any depth `plugin::build` accepts.
//!
//! A container result holds only owned values: scalars, object references
//! the plugin gave up, and class values moved out as bytes. It never holds
//! a reference into another object (`plugin::build` refuses `&T` items in
//! results), so it is converted *after* the call has released its borrows
//! and critical sections: building it may run Python code (a dict key's
//! `__hash__`, the finaliser of a reference released on failure), which
//! must never run inside one of our locks (spec/THREADING.md).
//!
//! On failure midway, what was not converted is discarded ([`discard`]):
//! object references in it are released; class values moved out as bytes
//! are leaked, never dropped twice (spec/PLUGIN-ABI.md, "Containers").

use std::{ffi::c_char, ptr};

use oxbind_abi::{Passing, RetValue, TypeDesc, TypeKind};
use pyo3_ffi as ffi;

use super::general::{is_object_ref, moved_instance, take_object};
use super::signature::expected_name;
use super::FunctionData;
use crate::py::{errors, owned::Owned};

/// Whether a result of type `ty` is built only after the call has released
/// its borrows and locks, by [`to_py`]: a container, or a path or complex
/// number (building a `pathlib.Path` runs Python code). As parameters,
/// these kinds (and a slice, never a result) are not scalars: they cross
/// as lists the call's scratch keeps.
pub(crate) fn built_after_call(ty: &TypeDesc) -> bool {
    is_container(ty)
        || matches!(
            ty.kind,
            TypeKind::PATH
                | TypeKind::COMPLEX
                | TypeKind::BUFFER
                | TypeKind::SLICE
                | TypeKind::ENUM
        )
}

/// Whether `ty` is a container kind, whose values cross as `RetValue::List`.
pub(crate) fn is_container(ty: &TypeDesc) -> bool {
    matches!(
        ty.kind,
        TypeKind::LIST | TypeKind::TUPLE | TypeKind::SET | TypeKind::DICT
    )
}

/// The object for `value`, a result of type `ty` of `data`'s function (or
/// converter); null with the Python error set on failure. Takes `value`
/// over.
///
/// # Safety
/// The thread is attached and holds no lock of ours, nor any argument
/// borrow or critical section of the call (see the module doc); `ty` passed
/// `plugin::build`'s checks, and `value` is a value of `ty` the plugin gave
/// up (its object references and moved class values included).
pub(crate) unsafe fn to_py(
    data: &FunctionData,
    ty: &TypeDesc,
    value: RetValue,
) -> *mut ffi::PyObject {
    // Converted by reference, in place: the value's items are read with the
    // widths the plugin wrote them with (a whole copy right after its narrow
    // stores stalls, as `outcome.rs` explains). Object references are taken
    // over by the conversion; the buffers are freed when `value` drops.
    // SAFETY: this function's contract, for the value read in place, which
    // is dropped right after (a `RetValue`'s drop frees buffers only, never
    // the object references `to_py_in_place` took over).
    unsafe { to_py_in_place(data, ty, &value) }
}

/// [`to_py`] for a value read in place: its object references are taken
/// over (the caller drops the value afterwards, which frees only buffers);
/// on failure, the references not yet taken over are released.
///
/// # Safety
/// As for [`to_py`], for the value `value` points at, which the caller
/// drops, and never converts or discards again, afterwards.
pub(crate) unsafe fn to_py_in_place(
    data: &FunctionData,
    ty: &TypeDesc,
    value: &RetValue,
) -> *mut ffi::PyObject {
    match value {
        // SAFETY: attached (this function's contract).
        RetValue::List(items) if is_container(ty) => unsafe { container(data, ty, items) },
        // SAFETY: attached, no lock held (this function's contract): the
        // path's bytes, alive while `value` is.
        RetValue::Bytes(b) if ty.kind == TypeKind::PATH => unsafe {
            crate::py::path::path_object(b.as_slice())
        },
        RetValue::Int(v) if ty.kind == TypeKind::ENUM => {
            let class = ty.class.expect("checked at load");
            // SAFETY: attached, and no lock held (this function's contract):
            // looking the member up runs the enum's Python code.
            match unsafe { crate::runtime::enums::resolve(class, data.plugin, &data.name) } {
                // SAFETY: as above; `ty` is a registered enum type.
                Ok(enum_type) => unsafe { crate::runtime::enums::member(enum_type, *v) },
                Err(()) => ptr::null_mut(),
            }
        }
        RetValue::List(parts) if ty.kind == TypeKind::COMPLEX => match parts.as_slice() {
            // SAFETY: attached (this function's contract).
            [RetValue::Float(re), RetValue::Float(im)] => unsafe {
                crate::py::path::complex_object(*re, *im)
            },
            // SAFETY: attached (this function's contract).
            _ => unsafe { mismatch(data, ty) },
        },
        RetValue::Moved(bytes) if ty.kind == TypeKind::OBJECT && ty.passing == Passing::VALUE => {
            let class = ty.class.expect("checked at load");
            // SAFETY: attached (this function's contract).
            match unsafe { data.record(data.desc.params.len(), class) } {
                // SAFETY: attached; `record` is registered, and the bytes
                // are a value of its class the plugin gave up (this
                // function's contract).
                Ok(record) => unsafe { moved_instance(data, record, bytes) },
                Err(()) => ptr::null_mut(), // leaked, never dropped twice
            }
        }
        // SAFETY: attached (this function's contract); an object-reference
        // value is a new reference the plugin gave up, taken over here.
        RetValue::Ref(p) if is_object_ref(ty) => unsafe { take_object(data, *p) },
        // SAFETY: attached (this function's contract); an array result's
        // export, given up by the plugin (checked at load to be OWNED, of a
        // valid element), taken over here.
        RetValue::Ref(p) if ty.kind == TypeKind::BUFFER => unsafe { array_result(ty, *p) },
        // SAFETY: attached (this function's contract); each conversion runs
        // on its own variant, copying text and bytes from their buffers,
        // alive while `value` is.
        RetValue::None => unsafe { ffi::Py_NewRef(ffi::Py_None()) },
        // SAFETY: as above.
        RetValue::Int(v) => unsafe { ffi::PyLong_FromLongLong(*v) },
        // SAFETY: as above.
        RetValue::Float(v) => unsafe { ffi::PyFloat_FromDouble(*v) },
        // SAFETY: as above.
        RetValue::Bool(v) => unsafe { ffi::PyBool_FromLong(*v as std::os::raw::c_long) },
        // SAFETY: as above.
        RetValue::Str(s) => unsafe {
            ffi::PyUnicode_FromStringAndSize(
                s.as_ptr() as *const c_char,
                s.len() as ffi::Py_ssize_t,
            )
        },
        // SAFETY: as above.
        RetValue::Bytes(b) => unsafe {
            ffi::PyBytes_FromStringAndSize(b.as_ptr() as *const c_char, b.len() as ffi::Py_ssize_t)
        },
        other => {
            // SAFETY: `other` is the plugin's value, given up and not yet
            // taken over (this function's contract).
            unsafe { discard_ref(ty, other) };
            // SAFETY: attached (this function's contract).
            unsafe { mismatch(data, ty) }
        }
    }
}

/// Raises the RuntimeError for a value that does not match its type;
/// returns null.
///
/// # Safety
/// The thread is attached.
#[cold]
unsafe fn mismatch(data: &FunctionData, ty: &TypeDesc) -> *mut ffi::PyObject {
    // SAFETY: attached (this function's contract); `PyExc_RuntimeError` is
    // an exception class.
    unsafe {
        errors::raise(
            ffi::PyExc_RuntimeError,
            &format!(
                "{}() returned a value that does not match its type {}",
                data.name,
                expected_name(ty)
            ),
        )
    };
    ptr::null_mut()
}

/// The type of item `k` of a container of type `ty`.
fn item_type(ty: &TypeDesc, k: usize) -> Option<&'static TypeDesc> {
    match ty.kind {
        TypeKind::TUPLE => ty.tuple_types()?.get(k),
        TypeKind::DICT => ty
            .dict_types()
            .map(|(key, value)| if k % 2 == 0 { key } else { value }),
        _ => ty.item,
    }
}

/// A new container of `ty`'s kind from the plugin's `items`, read in
/// place (see [`to_py_in_place`]).
///
/// # Safety
/// As for [`to_py_in_place`], with `items` the plugin's container value.
unsafe fn container(data: &FunctionData, ty: &TypeDesc, items: &[RetValue]) -> *mut ffi::PyObject {
    let n = items.len();
    let shape_ok = match ty.kind {
        TypeKind::TUPLE => ty.tuple_types().map_or(0, <[TypeDesc]>::len) == n,
        TypeKind::DICT => n % 2 == 0,
        _ => true,
    };
    // SAFETY: attached (this function's contract); each constructor returns
    // a new reference, or null with an error set, which `Owned` takes over.
    let made = shape_ok
        .then(|| unsafe {
            Owned::from_raw(match ty.kind {
                TypeKind::LIST => ffi::PyList_New(n as ffi::Py_ssize_t),
                TypeKind::TUPLE => ffi::PyTuple_New(n as ffi::Py_ssize_t),
                TypeKind::SET => ffi::PySet_New(ptr::null_mut()),
                _ => ffi::PyDict_New(),
            })
        })
        .flatten();
    let Some(out) = made else {
        if !shape_ok {
            // SAFETY: attached; `PyExc_RuntimeError` is an exception class.
            unsafe {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!(
                        "{}() returned {n} items for a {}",
                        data.name,
                        expected_name(ty)
                    ),
                )
            };
        }
        // SAFETY: the items are the plugin's, given up and not taken over.
        unsafe { discard_items(ty, items, 0) };
        return ptr::null_mut();
    };
    let mut key: Option<Owned> = None;
    for (k, item) in items.iter().enumerate() {
        let item_ty = item_type(ty, k).expect("checked at load");
        // SAFETY: attached, no lock held (this function's contract); the
        // item is a value of `item_ty` given up by the plugin, converted
        // once, here.
        let obj = unsafe { Owned::from_raw(to_py_in_place(data, item_ty, item)) };
        // SAFETY: attached; `out` is the new container of `ty`'s kind made
        // above, not yet shared; list and tuple slots `k < n` are empty
        // and take over the reference; `PySet_Add` and `PyDict_SetItem`
        // take their own references (ours drop after, with no lock held).
        let ok = obj.is_some_and(|obj| unsafe {
            match ty.kind {
                TypeKind::LIST => {
                    ffi::PyList_SET_ITEM(out.as_ptr(), k as ffi::Py_ssize_t, obj.into_raw());
                    true
                }
                TypeKind::TUPLE => {
                    ffi::PyTuple_SET_ITEM(out.as_ptr(), k as ffi::Py_ssize_t, obj.into_raw());
                    true
                }
                TypeKind::SET => ffi::PySet_Add(out.as_ptr(), obj.as_ptr()) == 0,
                _ => match key.take() {
                    None => {
                        key = Some(obj);
                        true
                    }
                    Some(key) => ffi::PyDict_SetItem(out.as_ptr(), key.as_ptr(), obj.as_ptr()) == 0,
                },
            }
        });
        if !ok {
            // SAFETY: the rest are the plugin's items, not yet taken over.
            unsafe { discard_items(ty, items, k + 1) };
            return ptr::null_mut();
        }
    }
    out.into_raw()
}

/// Discards items `from..` of a container value of type `ty`, read in
/// place.
///
/// # Safety
/// As for [`discard_ref`], for each of those items.
unsafe fn discard_items(ty: &TypeDesc, items: &[RetValue], from: usize) {
    for (k, item) in items.iter().enumerate().skip(from) {
        if let Some(item_ty) = item_type(ty, k) {
            // SAFETY: an item of the plugin's value, given up and not taken
            // over.
            unsafe { discard_ref(item_ty, item) };
        }
    }
}

/// Drops a value of type `ty` the plugin gave up that will not be
/// converted: every object reference in it is released (directly if the
/// thread is attached, else through the handle pool); class values moved
/// out as bytes are leaked (the plugin will never drop them, and no
/// instance owns them); nothing else owns a Python reference.
///
/// # Safety
/// `value` is a value of `ty` the plugin gave up, `ty` passed
/// `plugin::build`'s checks, and the caller holds no lock of ours.
pub(crate) unsafe fn discard(ty: &TypeDesc, value: RetValue) {
    // SAFETY: this function's contract; `value` drops right after, freeing
    // only buffers.
    unsafe { discard_ref(ty, &value) }
}

/// [`discard`] for a value read in place, which the caller then drops (or
/// never touches again).
///
/// # Safety
/// As for [`discard`]; no object reference in `value` was taken over.
unsafe fn discard_ref(ty: &TypeDesc, value: &RetValue) {
    match value {
        RetValue::Ref(p) if is_object_ref(ty) && !p.is_null() => {
            // SAFETY: a strong reference the plugin gave up (this function's
            // contract); the pool takes it on any thread.
            unsafe { crate::sync::refpool::decref(*p as *mut ffi::PyObject) };
        }
        RetValue::List(items) if is_container(ty) => {
            // SAFETY: the items of the plugin's value, given up.
            unsafe { discard_items(ty, items, 0) };
        }
        RetValue::Ref(p) if ty.kind == TypeKind::BUFFER => {
            // SAFETY: an array result's export the plugin gave up, released
            // once here; `release` runs on any thread (plugin ABI).
            unsafe { crate::py::buffer::release_export(*p as *mut oxbind_abi::ArrayExport) };
        }
        _ => {}
    }
}

/// The `oxbind.Array` for an array result `p` of type `ty`; null with an
/// exception set on failure (the export is released then).
///
/// # Safety
/// The thread is attached; `ty` is a `BUFFER` result that passed the load
/// checks and `p` the export the plugin gave up for it, taken over here.
pub(crate) unsafe fn array_result(ty: &TypeDesc, p: *const std::ffi::c_void) -> *mut ffi::PyObject {
    let (_, element, _) = ty.buffer_element().expect("checked at load");
    // SAFETY: this function's contract: attached, and the plugin's export of
    // `element`s, whose layout the SDK's `Array` guarantees and
    // `array_object` checks.
    unsafe { crate::py::buffer::array_object(p as *mut oxbind_abi::ArrayExport, element) }
}
