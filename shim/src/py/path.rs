//! Filesystem paths (`TypeKind::PATH`, plugin ABI 0.1.6): a `str`,
//! `bytes` or `os.PathLike` argument to the path's bytes in the filesystem
//! encoding, and a path result's bytes to a `pathlib.Path`; and complex
//! numbers (`TypeKind::COMPLEX`).
//!
//! The bytes are those of `os.fsencode` and `os.fsdecode` (the filesystem
//! encoding with `surrogateescape`), so a path that is not valid UTF-8
//! crosses both ways unchanged.

use std::ffi::c_char;

use pyo3_ffi as ffi;

use super::owned::Owned;

/// The path `obj` names, as a new `bytes` object in the filesystem
/// encoding: `Ok(None)` if `obj` is not a `str`, `bytes` or `os.PathLike`
/// (no error set), `Err` with the Python error set if its `__fspath__` or
/// the encoding failed.
///
/// # Safety
/// The thread is attached, no oxbind lock is held (`__fspath__` may run
/// Python code), and `obj` is a valid object.
pub(crate) unsafe fn fs_bytes(obj: *mut ffi::PyObject) -> Result<Option<Owned>, ()> {
    // SAFETY: attached, and `obj` is valid (this function's contract).
    let plain = unsafe { ffi::PyUnicode_Check(obj) != 0 || ffi::PyBytes_Check(obj) != 0 };
    // SAFETY: as above; `Py_TYPE` reads the type of a valid object.
    if !plain && !unsafe { has_fspath(obj) } {
        return Ok(None);
    }
    // SAFETY: as above; the new reference (or null with an error set) goes
    // straight into an `Owned`.
    let path = unsafe { Owned::from_raw(ffi::PyOS_FSPath(obj)) }.ok_or(())?;
    // SAFETY: attached; `path` is a live str or bytes (`PyOS_FSPath`
    // returns nothing else).
    unsafe {
        if ffi::PyBytes_Check(path.as_ptr()) != 0 {
            return Ok(Some(path));
        }
        Owned::from_raw(ffi::PyUnicode_EncodeFSDefault(path.as_ptr()))
            .map(Some)
            .ok_or(())
    }
}

/// Whether `obj`'s type defines `__fspath__`.
///
/// # Safety
/// The thread is attached and `obj` is a valid object.
unsafe fn has_fspath(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: attached, `obj` valid (this function's contract); the name is
    // a NUL-terminated C string; `PyObject_HasAttrString` never raises (it
    // swallows errors), so there is nothing to clear.
    unsafe {
        ffi::PyObject_HasAttrString(
            ffi::Py_TYPE(obj) as *mut ffi::PyObject,
            c"__fspath__".as_ptr() as *const c_char,
        ) != 0
    }
}

/// A new `pathlib.Path` for the path whose bytes (filesystem encoding) are
/// `bytes`; null with the Python error set on failure.
///
/// # Safety
/// The thread is attached and no oxbind lock is held (importing `pathlib`
/// and calling `Path` run Python code).
pub(crate) unsafe fn path_object(bytes: &[u8]) -> *mut ffi::PyObject {
    // SAFETY: attached (this function's contract); each call returns a new
    // reference or null with an error set, taken over by `Owned`; the text
    // is `bytes.len()` bytes at `bytes`' pointer; the name strings are
    // NUL-terminated.
    unsafe {
        let Some(text) = Owned::from_raw(ffi::PyUnicode_DecodeFSDefaultAndSize(
            bytes.as_ptr() as *const c_char,
            bytes.len() as ffi::Py_ssize_t,
        )) else {
            return std::ptr::null_mut();
        };
        let Some(module) = Owned::from_raw(ffi::PyImport_ImportModule(c"pathlib".as_ptr())) else {
            return std::ptr::null_mut();
        };
        let Some(class) = Owned::from_raw(ffi::PyObject_GetAttrString(
            module.as_ptr(),
            c"Path".as_ptr(),
        )) else {
            return std::ptr::null_mut();
        };
        let arg = text.as_ptr();
        ffi::PyObject_Vectorcall(class.as_ptr(), &arg, 1, std::ptr::null_mut())
    }
}

/// The real and imaginary parts of `obj` as `complex()` reads them: a
/// `complex`, a `float`, an `int`, or an object with `__complex__`,
/// `__float__` or `__index__`. `Ok(None)` for anything else (no error
/// set); `Err` with the Python error set if one of those methods raised.
///
/// # Safety
/// The thread is attached, no oxbind lock is held (those methods may run
/// Python code), and `obj` is a valid object.
pub(crate) unsafe fn complex_parts(obj: *mut ffi::PyObject) -> Result<Option<(f64, f64)>, ()> {
    // SAFETY: attached, `obj` valid (this function's contract).
    unsafe {
        // `str` and `bytes` are refused before asking: `complex("1")`
        // parses text, which a parameter must not.
        if ffi::PyUnicode_Check(obj) != 0 || ffi::PyBytes_Check(obj) != 0 {
            return Ok(None);
        }
        // `__complex__`, else `__float__`, else `__index__`, as `complex()`
        // reads a number (on every supported version).
        let c = ffi::PyComplex_AsCComplex(obj);
        if c.real == -1.0 && !ffi::PyErr_Occurred().is_null() {
            if ffi::PyErr_ExceptionMatches(ffi::PyExc_TypeError) != 0 {
                ffi::PyErr_Clear();
                return Ok(None);
            }
            return Err(());
        }
        Ok(Some((c.real, c.imag)))
    }
}

/// A new `complex` from its parts; null with the Python error set on
/// failure.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn complex_object(re: f64, im: f64) -> *mut ffi::PyObject {
    // SAFETY: attached (this function's contract).
    unsafe { ffi::PyComplex_FromDoubles(re, im) }
}
