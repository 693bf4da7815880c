//! Conversions between Python objects and the plugin ABI's values.
//!
//! Arguments are converted by the shim, so a plugin never sees a Python
//! object: [`to_arg`] checks the object against the parameter's declared
//! kind and borrows its contents; [`from_ret`] turns a result into a new
//! object and frees the plugin's buffer through its own allocator.

use std::os::raw::c_char;

use oxbind_abi::{
    abi_stable::std_types::{RSlice, RStr},
    ArgValue, RetValue, TypeDesc, TypeKind,
};
use pyo3_ffi as ffi;

/// Why an object could not become an argument.
pub enum ArgFailure {
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
pub unsafe fn to_arg<'a>(
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
pub unsafe fn to_arg_into<'a>(
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
unsafe fn convert_kind<'a>(
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
static COMPACT_INTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Enables [`compact_int`] if this interpreter's ints have 4-byte digits
/// (`sys.int_info.sizeof_digit`). Called when function data is built,
/// before any call can convert an argument; idempotent.
///
/// # Safety
/// The thread is attached.
pub unsafe fn check_int_layout() {
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
unsafe fn compact_int(obj: *mut ffi::PyObject) -> Option<i64> {
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

/// A new reference to `None`. From 3.12 `None` is immortal, so no count is
/// taken (on free-threaded builds `Py_INCREF` would be a call).
#[inline(always)]
pub unsafe fn none() -> *mut ffi::PyObject {
    #[cfg(Py_3_12)]
    {
        ffi::Py_None()
    }
    #[cfg(not(Py_3_12))]
    {
        ffi::Py_NewRef(ffi::Py_None())
    }
}

/// How a parameter of type `ty` is described in an error message
/// ("int", "str or None").
pub fn expected_name(ty: &TypeDesc) -> String {
    let base = match ty.kind {
        TypeKind::FLOAT => "float",
        k => k.python_name(),
    };
    if ty.optional {
        format!("{base} or None")
    } else {
        base.to_owned()
    }
}

/// Turns a plugin result into a new reference; null with an error set on
/// failure. Buffers are freed by the plugin's allocator when `value` drops.
///
/// # Safety
/// The thread is attached.
#[inline(always)]
pub unsafe fn from_ret(value: RetValue) -> *mut ffi::PyObject {
    match value {
        RetValue::None => none(),
        RetValue::Int(v) => ffi::PyLong_FromLongLong(v),
        RetValue::Float(v) => ffi::PyFloat_FromDouble(v),
        RetValue::Bool(v) => ffi::PyBool_FromLong(v as std::os::raw::c_long),
        RetValue::Str(s) => ffi::PyUnicode_FromStringAndSize(
            s.as_ptr() as *const c_char,
            s.len() as ffi::Py_ssize_t,
        ),
        RetValue::Bytes(b) => {
            ffi::PyBytes_FromStringAndSize(b.as_ptr() as *const c_char, b.len() as ffi::Py_ssize_t)
        }
        RetValue::Written | RetValue::Ref(_) | RetValue::List(_) | RetValue::Moved(_) => {
            crate::py::errors::raise(
                ffi::PyExc_RuntimeError,
                "oxbind: a plugin returned an object for a non-object result",
            );
            std::ptr::null_mut()
        }
    }
}

/// The Python literal for a default value, for `__text_signature__`.
pub fn default_literal(value: &ArgValue<'_>) -> String {
    match value {
        ArgValue::None => "None".to_owned(),
        ArgValue::Int(v) => v.to_string(),
        ArgValue::Float(v) if v.is_finite() => format!("{v:?}"),
        ArgValue::Float(v) => format!(
            "float('{}')",
            if v.is_nan() {
                "nan"
            } else if *v > 0.0 {
                "inf"
            } else {
                "-inf"
            }
        ),
        ArgValue::Bool(true) => "True".to_owned(),
        ArgValue::Bool(false) => "False".to_owned(),
        ArgValue::Str(s) => {
            let mut out = String::from("'");
            for c in s.as_str().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        ArgValue::Object(_) | ArgValue::List(_) => "...".to_owned(),
        ArgValue::Bytes(b) => {
            let mut out = String::from("b'");
            for &byte in b.as_slice() {
                match byte {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    0x20..=0x7e => out.push(byte as char),
                    _ => out.push_str(&format!("\\x{byte:02x}")),
                }
            }
            out.push('\'');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_literals_are_python_syntax() {
        assert_eq!(
            default_literal(&ArgValue::Str(RStr::from_str("it's\n"))),
            r"'it\'s\n'"
        );
        assert_eq!(default_literal(&ArgValue::Float(2.0)), "2.0");
        assert_eq!(default_literal(&ArgValue::Bool(false)), "False");
        assert_eq!(
            default_literal(&ArgValue::Bytes(RSlice::from_slice(b"a\x00"))),
            r"b'a\x00'"
        );
    }
}
