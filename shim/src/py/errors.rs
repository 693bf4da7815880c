//! Raising Python exceptions: plugin errors, panics, and the shim's own
//! argument and import errors.
//!
//! Every helper here sets the Python error indicator and returns nothing; the
//! caller then returns NULL (or -1) to CPython.

use std::{
    ffi::CString,
    os::raw::c_char,
    path::Path,
    sync::atomic::{AtomicPtr, Ordering},
};

use oxbind_abi::{ErrorKind, ErrorRecord};
use pyo3_ffi as ffi;

use crate::py::owned::Owned;

/// `oxbind.PanicError` of the runtime this copy joined (`runtime/publish.rs`):
/// set once when the copy joins, then read-only.
static PANIC_ERROR: AtomicPtr<ffi::PyObject> = AtomicPtr::new(std::ptr::null_mut());

const PANIC_ERROR_DOC: &str = "Raised when Rust code in an oxbind plugin panics.\n\n\
The panic is caught at the plugin boundary, so the process and the plugin stay usable; \
the message is the panic's message. Subclass of RuntimeError. One class is shared by every \
oxbind module in the process.\0";

/// Creates a new `oxbind.PanicError` class (a new reference), or returns
/// null with a Python error set. Only a runtime's creator calls this.
///
/// # Safety
/// The thread is attached.
pub unsafe fn new_panic_error_type() -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract); the name and
    // the doc are NUL-terminated statics, and `PyExc_RuntimeError` is set by
    // CPython at start-up and only read afterwards.
    unsafe {
        ffi::PyErr_NewExceptionWithDoc(
            c"oxbind.PanicError".as_ptr(),
            PANIC_ERROR_DOC.as_ptr() as *const c_char,
            ffi::PyExc_RuntimeError,
            std::ptr::null_mut(),
        )
    }
}

/// Records the runtime's `PanicError` (borrowed; the runtime owns it forever).
pub fn set_panic_error(class: *mut ffi::PyObject) {
    let _ = PANIC_ERROR.compare_exchange(
        std::ptr::null_mut(),
        class,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// The runtime's `oxbind.PanicError` (borrowed), or null before this copy
/// has joined a runtime.
pub fn panic_error_type() -> *mut ffi::PyObject {
    PANIC_ERROR.load(Ordering::Acquire)
}

/// A Python `str` from Rust text, or null with an error set.
///
/// # Safety
/// The thread is attached.
pub unsafe fn new_str(text: &str) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract); the pointer
    // and length describe `text`, valid UTF-8 that outlives the call (CPython
    // copies it).
    unsafe {
        ffi::PyUnicode_FromStringAndSize(
            text.as_ptr() as *const c_char,
            text.len() as ffi::Py_ssize_t,
        )
    }
}

/// Raises `exc_type(message)`.
///
/// # Safety
/// The thread is attached and `exc_type` is an exception class.
pub unsafe fn raise(exc_type: *mut ffi::PyObject, message: &str) {
    // SAFETY: the thread is attached (this function's contract); the new str,
    // or null, goes straight into an `Owned`.
    let msg = unsafe { Owned::from_raw(new_str(message)) };
    // If it is null, the MemoryError from building the message stays set.
    if let Some(msg) = msg {
        // SAFETY: attached; `exc_type` is an exception class (contract) and
        // `msg` a live str; PyErr_SetObject takes its own references.
        unsafe { ffi::PyErr_SetObject(exc_type, msg.as_ptr()) };
    }
}

/// Raises `TypeError(message)`.
///
/// # Safety
/// The thread is attached.
pub unsafe fn type_error(message: &str) {
    // SAFETY: the thread is attached (this function's contract), and
    // `PyExc_TypeError` is an exception class, a CPython static that is only
    // read after start-up.
    unsafe { raise(ffi::PyExc_TypeError, message) }
}

/// Raises `ImportError(message)` with its `path` attribute set.
///
/// # Safety
/// The thread is attached.
pub unsafe fn import_error(message: &str, path: Option<&Path>) {
    // SAFETY: the thread is attached (this function's contract); the new str,
    // or null, goes straight into an `Owned`.
    let Some(msg) = (unsafe { Owned::from_raw(new_str(message)) }) else {
        return;
    };
    let path_obj = match path {
        // SAFETY: as for `msg`: attached, and the new str or null goes
        // straight into an `Owned`.
        Some(p) => match unsafe { Owned::from_raw(new_str(&p.to_string_lossy())) } {
            Some(o) => Some(o),
            None => return,
        },
        None => None,
    };
    let path_ptr = path_obj
        .as_ref()
        .map_or(std::ptr::null_mut(), Owned::as_ptr);
    // SAFETY: attached; `msg` is a live str and `path_ptr` a live str or null,
    // both kept alive by their `Owned` until after the call, which takes its
    // own references.
    unsafe { ffi::PyErr_SetImportError(msg.as_ptr(), std::ptr::null_mut(), path_ptr) };
}

/// Raises `ImportError(message)`, with its `path` attribute set, from the
/// exception that is set now: that exception becomes its `__cause__`.
///
/// # Safety
/// The thread is attached and an exception is set.
pub unsafe fn import_error_from_current(message: &str, path: Option<&Path>) {
    // SAFETY: the thread is attached (this function's contract); each call
    // needs nothing more. `import_error` always leaves an exception set (the
    // ImportError, or the MemoryError from building it) for the second take.
    let (cause, error) = unsafe {
        let cause = take_exception();
        import_error(message, path);
        (cause, take_exception())
    };
    if !error.is_null() && !cause.is_null() {
        // SetContext and SetCause each steal a reference: `cause` gives one
        // and one more is taken.
        // SAFETY: attached; `error` and `cause` are live exception instances,
        // references `take_exception` gave us.
        unsafe {
            ffi::Py_INCREF(cause);
            ffi::PyException_SetContext(error, cause);
            ffi::PyException_SetCause(error, cause);
        }
    } else if !cause.is_null() {
        // SAFETY: attached; `cause` is a reference we own and no longer need.
        unsafe { ffi::Py_DECREF(cause) };
    }
    // SAFETY: attached; `error` is null or the reference `take_exception` gave,
    // which `restore_exception` consumes.
    unsafe { restore_exception(error) };
}

/// Takes the exception that is set (a new reference, with its traceback),
/// clearing the error indicator; null if none is set.
///
/// # Safety
/// The thread is attached.
pub unsafe fn take_exception() -> *mut ffi::PyObject {
    #[cfg(Py_3_12)]
    {
        // SAFETY: the thread is attached (this function's contract).
        unsafe { ffi::PyErr_GetRaisedException() }
    }
    #[cfg(not(Py_3_12))]
    {
        let (mut ty, mut value, mut tb) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        // SAFETY: the thread is attached (this function's contract); the
        // three out-slots are locals.
        unsafe { ffi::PyErr_Fetch(&mut ty, &mut value, &mut tb) };
        if ty.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: attached; `ty`, `value` and `tb` are the references
        // PyErr_Fetch gave us (`value` and `tb` possibly null), which
        // normalisation replaces in place; SetTraceback takes its own
        // reference to `tb`, and `ty` and `tb` are each released once.
        unsafe {
            ffi::PyErr_NormalizeException(&mut ty, &mut value, &mut tb);
            if !tb.is_null() && !value.is_null() {
                ffi::PyException_SetTraceback(value, tb);
            }
            for obj in [ty, tb] {
                if !obj.is_null() {
                    ffi::Py_DECREF(obj);
                }
            }
        }
        value
    }
}

/// Sets `exception` (a reference taken by [`take_exception`], which this
/// consumes) as the current exception again; does nothing if it is null.
///
/// # Safety
/// The thread is attached.
pub unsafe fn restore_exception(exception: *mut ffi::PyObject) {
    if exception.is_null() {
        return;
    }
    #[cfg(Py_3_12)]
    {
        // SAFETY: attached (this function's contract); `exception` is a
        // non-null exception instance from `take_exception`, whose reference
        // PyErr_SetRaisedException steals.
        unsafe { ffi::PyErr_SetRaisedException(exception) };
    }
    #[cfg(not(Py_3_12))]
    {
        // SAFETY: attached (this function's contract); `exception` is a live
        // exception instance we own. Its type is increfed before PyErr_Restore
        // steals it, with `exception` and the traceback (a new reference or
        // null).
        unsafe {
            let ty = ffi::Py_TYPE(exception) as *mut ffi::PyObject;
            ffi::Py_INCREF(ty);
            let tb = ffi::PyException_GetTraceback(exception); // new reference or null
            ffi::PyErr_Restore(ty, exception, tb);
        }
    }
}

/// Raises `oxbind.PanicError(message)`.
///
/// # Safety
/// The thread is attached.
pub unsafe fn raise_panic(message: &str) {
    let ty = panic_error_type();
    if ty.is_null() {
        // SAFETY: attached (this function's contract); `PyExc_RuntimeError` is
        // an exception class, a CPython static only read after start-up.
        unsafe { raise(ffi::PyExc_RuntimeError, &format!("Rust panic: {message}")) };
    } else {
        // SAFETY: attached; `ty` is the runtime's PanicError class, which the
        // runtime keeps alive for good.
        unsafe { raise(ty, message) };
    }
}

/// Raises the exception a plugin's error record describes.
///
/// # Safety
/// The thread is attached.
pub unsafe fn raise_record(record: &ErrorRecord) {
    if record.kind == ErrorKind::RAISED {
        let exception = take_raised();
        if !exception.is_null() {
            // SAFETY: attached (this function's contract); the exception is
            // the reference the plugin handed over with `set_raised`.
            unsafe { restore_exception(exception) };
            return;
        }
    }
    // SAFETY: attached (this function's contract); `exception_for` gives a
    // built-in exception class.
    unsafe { raise(exception_for(record.kind), record.message.as_str()) };
}

thread_local! {
    /// The exception plugin code handed over with `HostApi::set_raised`
    /// for the `ErrorKind::RAISED` record it is about to return on this
    /// thread: a strong reference, or null. `const` and without `Drop`, so
    /// reachable during thread teardown; a reference left here when the
    /// thread exits leaks (the leak report shows it).
    static RAISED: std::cell::Cell<*mut ffi::PyObject> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Keeps `exception` (a strong reference, taken over) for the next
/// `ErrorKind::RAISED` record on this thread; returns the one it replaces
/// (a strong reference the caller releases), or null.
pub fn keep_raised(exception: *mut ffi::PyObject) -> *mut ffi::PyObject {
    RAISED.with(|r| r.replace(exception))
}

/// Takes the exception [`keep_raised`] kept on this thread (a strong
/// reference), or null.
pub fn take_raised() -> *mut ffi::PyObject {
    RAISED.with(|r| r.replace(std::ptr::null_mut()))
}

/// The built-in exception class for an error kind; unknown kinds, from a
/// plugin newer than this shim, become `RuntimeError`.
///
/// # Safety
/// The thread is attached.
pub unsafe fn exception_for(kind: ErrorKind) -> *mut ffi::PyObject {
    // SAFETY: only reads CPython's exception-class statics, which it sets at
    // start-up and never writes again while the interpreter runs (the
    // thread is attached: this function's contract).
    unsafe {
        match kind {
            ErrorKind::EXCEPTION => ffi::PyExc_Exception,
            ErrorKind::TYPE_ERROR => ffi::PyExc_TypeError,
            ErrorKind::VALUE_ERROR => ffi::PyExc_ValueError,
            ErrorKind::KEY_ERROR => ffi::PyExc_KeyError,
            ErrorKind::INDEX_ERROR => ffi::PyExc_IndexError,
            ErrorKind::RUNTIME_ERROR => ffi::PyExc_RuntimeError,
            ErrorKind::OVERFLOW_ERROR => ffi::PyExc_OverflowError,
            ErrorKind::ZERO_DIVISION_ERROR => ffi::PyExc_ZeroDivisionError,
            ErrorKind::NOT_IMPLEMENTED_ERROR => ffi::PyExc_NotImplementedError,
            ErrorKind::ATTRIBUTE_ERROR => ffi::PyExc_AttributeError,
            ErrorKind::LOOKUP_ERROR => ffi::PyExc_LookupError,
            ErrorKind::ARITHMETIC_ERROR => ffi::PyExc_ArithmeticError,
            ErrorKind::OS_ERROR => ffi::PyExc_OSError,
            ErrorKind::ASSERTION_ERROR => ffi::PyExc_AssertionError,
            ErrorKind::PERMISSION_ERROR => ffi::PyExc_PermissionError,
            ErrorKind::FILE_NOT_FOUND_ERROR => ffi::PyExc_FileNotFoundError,
            ErrorKind::TIMEOUT_ERROR => ffi::PyExc_TimeoutError,
            ErrorKind::UNICODE_ERROR => ffi::PyExc_UnicodeError,
            _ => ffi::PyExc_RuntimeError,
        }
    }
}

/// The name of an object's type, for error messages ("str", "NoneType").
///
/// # Safety
/// The thread is attached and `obj` is valid.
pub unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    // As in CPython's own messages: "str", "geometry.Point".
    // SAFETY: `obj` is valid (this function's contract), so its type is a
    // valid type object, kept alive by `obj`.
    unsafe { type_name_of_type(ffi::Py_TYPE(obj) as *mut ffi::PyObject) }
}

/// `repr(obj)` for a message; a placeholder if the repr itself raises (that
/// error is cleared, so the caller's own error is the one raised).
///
/// # Safety
/// The thread is attached, `obj` is valid, and no oxbind lock is held:
/// `repr` may run Python code.
pub unsafe fn repr(obj: *mut ffi::PyObject) -> String {
    // SAFETY: attached, `obj` valid and no oxbind lock held (this function's
    // contract), so the repr may run Python code.
    unsafe { text(obj, ffi::PyObject_Repr) }
        // SAFETY: attached and `obj` valid (contract).
        .unwrap_or_else(|| unsafe { format!("<{} object>", type_name(obj)) })
}

/// `str(obj)`, or None (with no error left set) if that fails.
///
/// # Safety
/// As for [`repr`].
pub unsafe fn str_text(obj: *mut ffi::PyObject) -> Option<String> {
    // SAFETY: as this function's contract.
    unsafe { text(obj, ffi::PyObject_Str) }
}

/// The text `to_str(obj)` (`repr` or `str`) gives, or None (with no error
/// left set) if that fails.
///
/// # Safety
/// As for [`repr`].
unsafe fn text(
    obj: *mut ffi::PyObject,
    to_str: unsafe extern "C" fn(*mut ffi::PyObject) -> *mut ffi::PyObject,
) -> Option<String> {
    // SAFETY: attached, `obj` valid and no oxbind lock held (this function's
    // contract), so the conversion may run Python code; its result, a new
    // reference or null, goes straight into an `Owned`.
    let Some(text) = (unsafe { crate::py::owned::Owned::from_raw(to_str(obj)) }) else {
        // SAFETY: attached; the error cleared is the one the call raised.
        unsafe { ffi::PyErr_Clear() };
        return None;
    };
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: attached; `text` is a live str (the result, owned above) and
    // `len` a local out-slot.
    let utf8 = unsafe { ffi::PyUnicode_AsUTF8AndSize(text.as_ptr(), &mut len) };
    if utf8.is_null() {
        // SAFETY: attached; the error cleared is the one the encoding raised.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: PyUnicode_AsUTF8AndSize succeeded, so `utf8` points at `len`
    // bytes cached in `text`, which is alive until the end of this function.
    let bytes = unsafe { std::slice::from_raw_parts(utf8 as *const u8, len as usize) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Replaces the exception that is set with one of the same class whose
/// message `rewrite(class, text)` gives, or leaves it as it is where
/// `rewrite` gives None (or its text cannot be read).
///
/// # Safety
/// The thread is attached, an error is set, and no oxbind lock is held.
pub unsafe fn rewrite_exception(rewrite: impl FnOnce(*mut ffi::PyObject, &str) -> Option<String>) {
    // SAFETY: attached, an error is set (this function's contract).
    let exc = unsafe { take_exception() };
    if exc.is_null() {
        return;
    }
    // SAFETY: attached; `exc` is a live exception we own; its class lives
    // while it does, and our reference is given back (restored) or released.
    unsafe {
        let class = ffi::Py_TYPE(exc) as *mut ffi::PyObject;
        match str_text(exc).and_then(|t| rewrite(class, &t)) {
            Some(message) => {
                raise(class, &message);
                ffi::Py_DECREF(exc);
            }
            None => restore_exception(exc),
        }
    }
}

/// The name of a type object, for messages.
///
/// # Safety
/// `ty` is a valid type object.
pub unsafe fn type_name_of_type(ty: *mut ffi::PyObject) -> String {
    // SAFETY: `ty` is a valid type object (this function's contract), so it
    // can be read as a `PyTypeObject`.
    let name = unsafe { (*(ty as *mut ffi::PyTypeObject)).tp_name };
    if name.is_null() {
        return "<unknown>".to_owned();
    }
    // SAFETY: a non-null `tp_name` is a NUL-terminated C string that lives as
    // long as the type, which outlives this call.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A C string from Rust text, with interior NULs replaced, for the few C APIs
/// that take `const char*`.
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).expect("NULs were replaced")
}
