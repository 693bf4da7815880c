//! Python objects to the plugin ABI's argument values.
//!
//! Arguments are converted by the shim, so a plugin never sees a Python
//! object: [`to_arg`] checks the object against the parameter's declared
//! kind and borrows its contents; objects of plugin classes are checked
//! against their class record, or converted implicitly.

use std::ffi::c_void;

use oxbind_abi::{
    abi_stable::std_types::{RSlice, RStr},
    ArgValue, Passing, TypeDesc, TypeKind,
};
use pyo3_ffi as ffi;

use super::general::{Mismatch, Scratch};
use super::signature::{expected_name, raise_overflow, raise_wrong_type};
use super::FunctionData;
use crate::{instance, py::containers, py::errors, py::owned::Owned};

/// Raises the error for a scalar argument that failed to convert.
#[cold]
pub(super) unsafe fn report_scalar_failure(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    failure: ArgFailure,
) {
    match failure {
        ArgFailure::WrongType => raise_wrong_type(data, i, obj),
        ArgFailure::Overflow => raise_overflow(data, i, ty),
        ArgFailure::Raised => {}
    }
}

/// A scalar argument, or its default; raises and returns None on failure.
#[inline]
pub(super) unsafe fn convert_scalar<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Option<ArgValue<'a>> {
    if obj.is_null() {
        return data.defaults[i];
    }
    match to_arg(obj, ty) {
        Ok(v) => Some(v),
        Err(ArgFailure::WrongType) => {
            raise_wrong_type(data, i, obj);
            None
        }
        Err(ArgFailure::Overflow) => {
            raise_overflow(data, i, ty);
            None
        }
        Err(ArgFailure::Raised) => None,
    }
}

/// Any argument: scalars, objects (with implicit conversions), lists.
pub(super) unsafe fn convert_arg<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    if ty.optional && obj == ffi::Py_None() {
        return Ok(ArgValue::None);
    }
    match ty.kind {
        TypeKind::OBJECT => convert_object(data, i, obj, ty, scratch),
        TypeKind::LIST => {
            let item_ty = ty.item.expect("checked at load");
            // Strong references to the items, taken under the list's lock:
            // a list another thread mutates cannot change under the call.
            let items: Vec<Owned> = if ffi::PyList_Check(obj) != 0 {
                containers::list_items(obj).map_err(|()| Mismatch::Raised)?
            } else if ffi::PyTuple_Check(obj) != 0 {
                (0..ffi::PyTuple_GET_SIZE(obj))
                    .map(|k| Owned::from_borrowed(ffi::PyTuple_GET_ITEM(obj, k)))
                    .collect()
            } else {
                return Err(Mismatch::WrongType);
            };
            let mut values = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                let v = convert_item(data, i, item.as_ptr(), item_ty, scratch, || {
                    format!("item {k}")
                })?;
                values.push(v);
            }
            scratch.temps.extend(items);
            Ok(ArgValue::List(scratch.keep_list(values)))
        }
        TypeKind::DICT => {
            let (key_ty, value_ty) = ty.dict_types().expect("checked at load");
            if ffi::PyDict_Check(obj) == 0 {
                return Err(Mismatch::WrongType);
            }
            let pairs = containers::dict_items(obj);
            let mut values = Vec::with_capacity(2 * pairs.len());
            for (key, value) in &pairs {
                values.push(convert_item(
                    data,
                    i,
                    key.as_ptr(),
                    key_ty,
                    scratch,
                    || "key".to_owned(),
                )?);
                values.push(convert_item(
                    data,
                    i,
                    value.as_ptr(),
                    value_ty,
                    scratch,
                    || format!("value for key {}", errors::repr(key.as_ptr())),
                )?);
            }
            for (key, value) in pairs {
                scratch.temps.push(key);
                scratch.temps.push(value);
            }
            Ok(ArgValue::List(scratch.keep_list(values)))
        }
        _ => match to_arg(obj, ty) {
            Ok(v) => Ok(v),
            Err(ArgFailure::WrongType) => Err(Mismatch::WrongType),
            Err(ArgFailure::Overflow) => {
                raise_overflow(data, i, ty);
                Err(Mismatch::Raised)
            }
            Err(ArgFailure::Raised) => Err(Mismatch::Raised),
        },
    }
}

/// One item of a list or dict argument; `what` names it in the TypeError
/// ("item 3", "value for key 'a'").
pub(super) unsafe fn convert_item<'a>(
    data: &FunctionData,
    i: usize,
    item: *mut ffi::PyObject,
    item_ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
    what: impl FnOnce() -> String,
) -> Result<ArgValue<'a>, Mismatch> {
    match convert_arg(data, i, item, item_ty, scratch) {
        Err(Mismatch::WrongType) => {
            let param = &data.desc.params.as_slice()[i];
            errors::type_error(&format!(
                "{}() argument '{}' {} must be {}, not {}",
                data.name,
                param.name.as_str(),
                what(),
                expected_name(item_ty),
                errors::type_name(item)
            ));
            Err(Mismatch::Raised)
        }
        other => other,
    }
}

pub(super) unsafe fn convert_object<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    let class = ty.class.expect("checked at load");
    let record = data.classes[i]
        .get(class, data.plugin, &data.name)
        .map_err(|()| Mismatch::Raised)?;
    let target = if instance::is_instance(obj, record) {
        obj
    } else {
        // An implicit conversion registered by any plugin may apply; it
        // makes a temporary, which only a by-value or `&T` parameter takes.
        if ty.passing == Passing::MUT {
            return Err(Mismatch::WrongType);
        }
        match crate::call::implicit::convert_implicitly(obj, class, record)
            .map_err(|()| Mismatch::Raised)?
        {
            Some(temp) => {
                let p = temp.as_ptr();
                scratch.temps.push(temp);
                p
            }
            None => return Err(Mismatch::WrongType),
        }
    };
    if !instance::is_ready(target) {
        errors::raise(
            ffi::PyExc_RuntimeError,
            &format!(
                "{}() got an uninitialised {}",
                data.name,
                class.key.as_str()
            ),
        );
        return Err(Mismatch::Raised);
    }
    if ty.passing == Passing::HANDLE {
        // The object itself; the plugin takes its own strong reference.
        return Ok(ArgValue::Object(target as *mut c_void));
    }
    scratch.wanted.push((target, ty.passing == Passing::MUT));
    scratch.objects.push(target);
    Ok(ArgValue::Object(instance::header(target).value))
}

/// Why an object could not become an argument.
pub(crate) enum ArgFailure {
    /// The object is not of the expected Python type.
    WrongType,
    /// An integer is outside the 64-bit range.
    Overflow,
    /// CPython raised while converting (a `str` with lone surrogates, say);
    /// the Python error is set.
    Raised,
}

/// Converts `obj` for a parameter of type `ty`. The value borrows from `obj`,
/// which the caller keeps alive for the duration of the call.
///
/// # Safety
/// The thread is attached and `obj` is a valid object.
#[inline]
pub(crate) unsafe fn to_arg<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Result<ArgValue<'a>, ArgFailure> {
    let mut out = std::mem::MaybeUninit::uninit();
    to_arg_into(obj, ty, out.as_mut_ptr())?;
    // SAFETY: `to_arg_into` wrote the value on success.
    Ok(out.assume_init())
}

/// [`to_arg`], writing the value straight into `out`: the fast call paths
/// build their argument arrays in place, since copying a value just written
/// field by field stalls on store forwarding.
///
/// # Safety
/// As for [`to_arg`]; `out` is valid for a write.
#[inline(always)]
pub(crate) unsafe fn to_arg_into<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    out: *mut ArgValue<'a>,
) -> Result<(), ArgFailure> {
    // `None` is never a valid value of any scalar kind, so an optional
    // parameter's `None` is tested only after the kind's own check fails:
    // the common path (a real value) pays nothing for it.
    match convert_kind(obj, ty, out) {
        Err(ArgFailure::WrongType) if ty.optional && obj == ffi::Py_None() => {
            out.write(ArgValue::None);
            Ok(())
        }
        other => other,
    }
}

#[inline(always)]
pub(super) unsafe fn convert_kind<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    out: *mut ArgValue<'a>,
) -> Result<(), ArgFailure> {
    match ty.kind {
        TypeKind::INT => {
            if ffi::PyLong_Check(obj) == 0 {
                return Err(ArgFailure::WrongType);
            }
            if let Some(v) = compact_int(obj) {
                out.write(ArgValue::Int(v));
                return Ok(());
            }
            let v = ffi::PyLong_AsLongLong(obj);
            if v == -1 && !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                return Err(ArgFailure::Overflow);
            }
            out.write(ArgValue::Int(v));
        }
        TypeKind::FLOAT => {
            if ffi::PyFloat_Check(obj) != 0 {
                out.write(ArgValue::Float(ffi::PyFloat_AsDouble(obj)));
            } else if ffi::PyLong_Check(obj) != 0 {
                let v = ffi::PyLong_AsDouble(obj);
                if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                    return Err(ArgFailure::Overflow);
                }
                out.write(ArgValue::Float(v));
            } else {
                return Err(ArgFailure::WrongType);
            }
        }
        TypeKind::BOOL => {
            if obj == ffi::Py_True() {
                out.write(ArgValue::Bool(true));
            } else if obj == ffi::Py_False() {
                out.write(ArgValue::Bool(false));
            } else {
                return Err(ArgFailure::WrongType);
            }
        }
        TypeKind::STR => {
            if ffi::PyUnicode_Check(obj) == 0 {
                return Err(ArgFailure::WrongType);
            }
            let mut len: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
            if data.is_null() {
                return Err(ArgFailure::Raised);
            }
            // SAFETY: CPython returns valid UTF-8 of `len` bytes, cached in
            // the str object and valid while the object lives.
            let bytes = std::slice::from_raw_parts(data as *const u8, len as usize);
            out.write(ArgValue::Str(RStr::from_str(
                std::str::from_utf8_unchecked(bytes),
            )));
        }
        TypeKind::BYTES => {
            if ffi::PyBytes_Check(obj) == 0 {
                return Err(ArgFailure::WrongType);
            }
            let data = ffi::PyBytes_AsString(obj);
            let len = ffi::PyBytes_Size(obj);
            // SAFETY: a bytes object's buffer is immutable and lives as long as it.
            out.write(ArgValue::Bytes(RSlice::from_slice(
                std::slice::from_raw_parts(data as *const u8, len as usize),
            )));
        }
        _ => return Err(ArgFailure::WrongType),
    }
    Ok(())
}

/// Whether ints may be read in place ([`compact_int`]): CPython's digits
/// are 4 bytes (30-bit digits, the default on 64-bit platforms). Set by
/// [`check_int_layout`] before any function exists, read on every int
/// argument.
#[cfg(Py_3_12)]
pub(super) static COMPACT_INTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Enables [`compact_int`] if this interpreter's ints have 4-byte digits
/// (`sys.int_info.sizeof_digit`). Called when function data is built,
/// before any call can convert an argument; idempotent.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn check_int_layout() {
    #[cfg(Py_3_12)]
    {
        use std::sync::atomic::Ordering;
        if COMPACT_INTS.load(Ordering::Relaxed) {
            return;
        }
        let info = ffi::PyLong_GetInfo();
        if info.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        // sys.int_info is a struct sequence: (bits_per_digit, sizeof_digit, ...).
        let sizeof_digit = ffi::PyLong_AsLong(ffi::PyTuple_GetItem(info, 1));
        ffi::Py_DECREF(info);
        if sizeof_digit == 4 {
            COMPACT_INTS.store(true, Ordering::Relaxed);
        } else {
            ffi::PyErr_Clear();
        }
    }
}

/// The value of an int of at most one digit, read in place as CPython's
/// own `PyUnstable_Long_IsCompact` and `PyUnstable_Long_CompactValue`
/// (static inline functions of its 3.12+ headers) do; `None` for larger
/// ints, which go through `PyLong_AsLongLong`. An int is immutable, so the
/// read needs no synchronisation.
///
/// # Safety
/// `obj` is an int (`PyLong_Check`).
#[inline(always)]
pub(super) unsafe fn compact_int(obj: *mut ffi::PyObject) -> Option<i64> {
    #[cfg(Py_3_12)]
    {
        use std::sync::atomic::Ordering;
        // struct _longobject { PyObject_HEAD; uintptr_t lv_tag; digit ob_digit[1]; }
        let base = (obj as *const u8).add(std::mem::size_of::<ffi::PyObject>());
        let tag = *(base as *const usize);
        // Compact: fewer than two digits (the digit count is lv_tag >> 3).
        if tag < (2 << 3) && COMPACT_INTS.load(Ordering::Relaxed) {
            let digit = *(base.add(std::mem::size_of::<usize>()) as *const u32);
            // The sign is 1 - (lv_tag & 3): 0 positive, 1 zero, 2 negative.
            let sign = 1 - (tag & 3) as i64;
            return Some(sign * digit as i64);
        }
        None
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = obj;
        None
    }
}
