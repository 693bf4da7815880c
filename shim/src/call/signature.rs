//! What a function looks like from Python: its docstring and text
//! signature, default literals, the names of expected types, and the
//! argument errors that use them.

use std::os::raw::c_char;

use oxbind_abi::{ArgValue, FunctionDesc, Receiver, TypeDesc, TypeKind};
use pyo3_ffi as ffi;

use super::FunctionData;
use crate::py::errors;

/// The docstring with CPython's signature header, `name(a, b='x')\n--\n\n`,
/// from which `__text_signature__` is read. Methods get `$self` first.
pub(crate) fn docstring(desc: &FunctionDesc, name: &str) -> String {
    let mut params: Vec<String> = Vec::new();
    if desc.receiver != Receiver::NONE {
        params.push("$self".to_owned());
    }
    params.extend(
        desc.params
            .as_slice()
            .iter()
            .map(|p| match p.default.as_ref().into_option() {
                Some(d) => format!("{}={}", p.name.as_str(), default_literal(d)),
                None => p.name.as_str().to_owned(),
            }),
    );
    let mut doc = format!("{name}({})\n--\n\n", params.join(", "));
    doc.push_str(desc.doc.as_str());
    doc
}

/// Raises OverflowError for parameter `i`, whose argument is out of range
/// for `ty`.
///
/// # Safety
/// The thread is attached.
pub(super) unsafe fn raise_overflow(data: &FunctionData, i: usize, ty: &TypeDesc) {
    // SAFETY: the thread is attached (this function's contract).
    unsafe { raise_overflow_at(data, i, ty, "") }
}

/// [`raise_overflow`] for an item inside argument `i`, at the path `at`
/// ("item 1 of item 0"; empty for the argument itself).
///
/// # Safety
/// The thread is attached.
pub(super) unsafe fn raise_overflow_at(data: &FunctionData, i: usize, ty: &TypeDesc, at: &str) {
    // SAFETY: the thread is attached (this function's contract), and
    // `PyExc_OverflowError` is an exception class CPython sets at startup and
    // never changes.
    unsafe {
        errors::raise(
            ffi::PyExc_OverflowError,
            &format!(
                "{}() argument '{}'{}{} is out of range for {}",
                data.name,
                data.desc.params.as_slice()[i].name.as_str(),
                if at.is_empty() { "" } else { " " },
                at,
                ty.rust_name.as_str()
            ),
        )
    };
}

/// Raises TypeError for parameter `i`, whose argument `obj` is not of its
/// type.
///
/// # Safety
/// The thread is attached and `obj` is a valid object.
pub(super) unsafe fn raise_wrong_type(data: &FunctionData, i: usize, obj: *mut ffi::PyObject) {
    let param = &data.desc.params.as_slice()[i];
    // SAFETY: the thread is attached and `obj` is a valid object (this
    // function's contract).
    unsafe {
        errors::type_error(&format!(
            "{}() argument '{}' must be {}, not {}",
            data.name,
            param.name.as_str(),
            expected_name(&param.ty),
            errors::type_name(obj)
        ))
    };
}

/// How a parameter of type `ty` is described in messages.
pub(crate) fn expected_name(ty: &TypeDesc) -> String {
    let base = match ty.kind {
        TypeKind::OBJECT => ty
            .class
            .map_or("object".to_owned(), |c| c.key.as_str().to_owned()),
        TypeKind::LIST => format!(
            "list[{}]",
            ty.item.map_or("object".to_owned(), expected_name)
        ),
        TypeKind::DICT => match ty.dict_types() {
            Some((k, v)) => format!("dict[{}, {}]", expected_name(k), expected_name(v)),
            None => "dict".to_owned(),
        },
        TypeKind::TUPLE => match ty.tuple_types() {
            Some(items) => format!(
                "tuple[{}]",
                items
                    .iter()
                    .map(expected_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "tuple".to_owned(),
        },
        TypeKind::SET => format!(
            "set[{}]",
            ty.item.map_or("object".to_owned(), expected_name)
        ),
        TypeKind::CALLABLE => "a callable".to_owned(),
        TypeKind::PATH => "str, bytes or os.PathLike".to_owned(),
        TypeKind::ENUM => ty
            .class
            .map_or("an enum member".to_owned(), |c| c.key.as_str().to_owned()),
        TypeKind::BUFFER => match ty.buffer_element() {
            Some((mode, element, _)) => crate::py::buffer::expected(mode, element),
            None => "a buffer".to_owned(),
        },
        _ => return kind_name(ty),
    };
    if ty.optional {
        format!("{base} or None")
    } else {
        base
    }
}

/// `'name'` for a keyword in a message.
///
/// # Safety
/// The thread is attached and `key` is a valid object (a keyword name,
/// normally a `str`; anything else gives `<unprintable>`).
pub(super) unsafe fn quoted(key: *mut ffi::PyObject) -> String {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: the thread is attached and `key` is a valid object (this
    // function's contract); `len` is a valid place for the length.
    let text = unsafe { ffi::PyUnicode_AsUTF8AndSize(key, &mut len) };
    if text.is_null() {
        // SAFETY: the thread is attached; this clears the error the failed
        // conversion set.
        unsafe { ffi::PyErr_Clear() };
        return "<unprintable>".to_owned();
    }
    // SAFETY: `text` is not null, so it points at `len` bytes of UTF-8 that
    // `key` caches and keeps while it lives, which is past this function.
    let bytes =
        unsafe { std::slice::from_raw_parts(text as *const c_char as *const u8, len as usize) };
    format!("'{}'", String::from_utf8_lossy(bytes))
}

/// How a parameter of type `ty` is described in an error message
/// ("int", "str or None").
pub(crate) fn kind_name(ty: &TypeDesc) -> String {
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

/// The Python literal for a default value, for `__text_signature__`.
pub(crate) fn default_literal(value: &ArgValue<'_>) -> String {
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
    use oxbind_abi::abi_stable::std_types::{RSlice, RStr};

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
