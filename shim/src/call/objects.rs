//! Values to objects and back outside a call: what the host API's
//! `object_extract` and `object_from_value` do for `oxbind::Object`, with
//! exactly the rules (and messages) of argument and result conversion.
//!
//! Both run the call path's own conversions on a *converter*: the
//! [`FunctionData`] of a synthetic function with one parameter and a result
//! of the type asked for, built once per type description (the plugin's
//! static `TypeDesc`) and kept, so that its class records are resolved once.
//!
//! Shared state: [`CONVERTERS`] maps a `TypeDesc` address to its converter.
//! It is a [`PyLock`](crate::sync::lock::PyLock), held only to look up or
//! insert (never while a converter is built, which runs Python code).
//! Converters are leaked and read-only, as every function's data.

use std::{ffi::c_void, ptr};

use oxbind_abi::{
    abi_stable::std_types::{RNone, RSlice, RStr},
    ArgValue, CallOutcome, FunctionDesc, ParamDesc, Passing, Receiver, RetValue, TypeDesc,
    TypeKind,
};
use pyo3_ffi as ffi;

use super::args::convert_arg;
use super::general::{is_object_ref, list_result, moved_instance, Mismatch, Scratch};
use super::outcome::from_ret;
use super::signature::expected_name;
use super::FunctionData;
use crate::py::errors;

/// Converters by the address of the `TypeDesc` they were built for.
/// (Addresses, since function data holds references and is not `Sync`; each
/// converter is leaked and only read, on attached threads.)
static CONVERTERS: crate::sync::lock::PyLock<Vec<(usize, usize)>> =
    crate::sync::lock::PyLock::new(Vec::new());

/// The `call` of a converter's synthetic descriptor: never called (a
/// converter only converts).
///
/// # Safety
/// Never to be called; it returns an error outcome if it is.
unsafe extern "C" fn no_call(
    _: *mut c_void,
    _: RSlice<'_, ArgValue<'_>>,
    _: *mut c_void,
) -> CallOutcome {
    CallOutcome::Err(oxbind_abi::ErrorRecord {
        kind: oxbind_abi::ErrorKind::RUNTIME_ERROR,
        message: "oxbind: a converter was called".into(),
    })
}

/// The converter for `ty`, built on first use.
///
/// # Safety
/// The thread is attached and holds no lock of ours; `ty` is a static type
/// description (it lives for good at this address).
unsafe fn converter(ty: &'static TypeDesc) -> Result<&'static FunctionData, ()> {
    let key = ty as *const TypeDesc as usize;
    let find = |list: &[(usize, usize)]| {
        list.iter().find(|(k, _)| *k == key).map(|&(_, d)| {
            // SAFETY: the address of a converter, leaked below: it lives for
            // good and is only read.
            unsafe { &*(d as *const FunctionData) }
        })
    };
    // SAFETY: attached (this function's contract); nothing runs Python code
    // under the guard.
    if let Some(d) = find(&unsafe { CONVERTERS.lock() }) {
        return Ok(d);
    }
    let params: &'static [ParamDesc] = Box::leak(Box::new([ParamDesc {
        name: RStr::from_str("value"),
        ty: *ty,
        default: RNone,
        lock: false,
    }]));
    let desc: &'static FunctionDesc = Box::leak(Box::new(FunctionDesc {
        name: RStr::from_str("extract"),
        doc: RStr::from_str(""),
        params: RSlice::from_slice(params),
        ret: *ty,
        receiver: Receiver::NONE,
        lock_self: false,
        call: no_call,
    }));
    // SAFETY: attached, no lock of ours held (this function's contract).
    let data = unsafe {
        super::new_data(desc, vec![None], "extract".to_owned(), "oxbind", "extract", None)
    }?;
    // SAFETY: attached; nothing runs Python code under the guard.
    let mut list = unsafe { CONVERTERS.lock() };
    if let Some(d) = find(&list) {
        return Ok(d); // another thread built one first; ours stays leaked
    }
    list.push((key, data as *const FunctionData as usize));
    Ok(data)
}

/// Converts `obj` for a parameter of type `ty` and passes the value to
/// `visit` while it is valid (strings borrowed from `obj`, instances
/// borrowed as `ty` says). Err with the Python error set if it does not
/// convert; then `visit` is not called.
///
/// # Safety
/// The thread is attached and holds no lock of ours; `obj` is a live
/// object; `ty` is a static type description.
pub(crate) unsafe fn extract(
    obj: *mut ffi::PyObject,
    ty: &'static TypeDesc,
    visit: impl FnOnce(&ArgValue<'_>),
) -> Result<(), ()> {
    // SAFETY: this function's contract is `converter`'s.
    let data = unsafe { converter(ty) }?;
    let mut scratch = Scratch::default();
    let param_ty = &data.desc.params.as_slice()[0].ty;
    // SAFETY: attached, no lock of ours held; `obj` is live for this
    // function, and so `scratch` (which holds what the value borrows) is
    // dropped before it returns.
    let value = match unsafe { convert_arg(data, 0, obj, param_ty, &mut scratch) } {
        Ok(v) => v,
        Err(Mismatch::Raised) => {
            // The message names the converter's synthetic function
            // ("extract() argument 'value' item 1 must be ..."): say what
            // was extracted instead.
            // SAFETY: attached; an error is set.
            unsafe { rename_error(obj, ty) };
            return Err(());
        }
        Err(Mismatch::WrongType) => {
            // SAFETY: attached; `obj` is a live object.
            unsafe {
                errors::type_error(&format!(
                    "cannot extract {} from {}: expected {}",
                    ty.rust_name.as_str(),
                    errors::type_name(obj),
                    expected_name(ty)
                ))
            };
            return Err(());
        }
    };
    if !scratch.wanted.is_empty()
        // SAFETY: attached; `wanted` holds only ready oxbind instances that
        // `convert_arg` found, kept alive by `obj` or `scratch.temps`.
        && unsafe { crate::instance::borrow::borrow_all(&scratch.wanted, &mut scratch.borrows) }
            .is_err()
    {
        return Err(());
    }
    visit(&value);
    // Borrows first, then the temporaries (whose release may run Python
    // code that uses the same objects).
    drop(std::mem::take(&mut scratch.borrows));
    drop(scratch);
    Ok(())
}

/// Rewrites a conversion error whose message starts with the converter's
/// name into "cannot extract T from type: ...", keeping its class.
///
/// # Safety
/// The thread is attached, an error is set, and `obj` is a live object.
unsafe fn rename_error(obj: *mut ffi::PyObject, ty: &TypeDesc) {
    const PREFIX: &str = "extract() argument 'value' ";
    // SAFETY: attached, an error is set (this function's contract).
    let exc = unsafe { errors::take_exception() };
    if exc.is_null() {
        return;
    }
    // SAFETY: attached; `exc` is a live exception we own.
    let text = unsafe {
        let s = ffi::PyObject_Str(exc);
        if s.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            let owned = crate::py::owned::Owned::from_raw(s);
            owned.and_then(|o| {
                let mut len = 0;
                let p = ffi::PyUnicode_AsUTF8AndSize(o.as_ptr(), &mut len);
                if p.is_null() {
                    ffi::PyErr_Clear();
                    None
                } else {
                    Some(String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len as usize)).into_owned())
                }
            })
        }
    };
    match text.as_deref().and_then(|t| t.strip_prefix(PREFIX)) {
        Some(rest) => {
            // SAFETY: attached; `obj` is live; the class is the original
            // exception's, a live type; our reference to `exc` is released.
            unsafe {
                let class = ffi::Py_TYPE(exc) as *mut ffi::PyObject;
                errors::raise(
                    class,
                    &format!(
                        "cannot extract {} from {}: {rest}",
                        ty.rust_name.as_str(),
                        errors::type_name(obj)
                    ),
                );
                ffi::Py_DECREF(exc);
            }
        }
        // SAFETY: attached; `exc` is the exception taken above, set again.
        None => unsafe { errors::restore_exception(exc) },
    }
}

/// The object for a result value of type `ty`, converted as a function
/// result is (a class value crosses as `Moved`); null with the Python error
/// set on failure. Takes `value` over.
///
/// # Safety
/// The thread is attached and holds no lock of ours; `ty` is a static type
/// description and `value` a value of that type the plugin gave up (object
/// references and moved class values included).
pub(crate) unsafe fn from_value(ty: &'static TypeDesc, value: RetValue) -> *mut ffi::PyObject {
    // Plain values and object references need no converter.
    let value = match value {
        RetValue::Ref(p) if is_object_ref(ty) => {
            if p.is_null() {
                // SAFETY: attached; `PyExc_RuntimeError` is an exception class.
                unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind: a null object") };
            }
            return p as *mut ffi::PyObject;
        }
        RetValue::Ref(_) | RetValue::Moved(_) | RetValue::List(_) | RetValue::Written => value,
        // SAFETY: attached (this function's contract).
        scalar => return unsafe { from_ret(scalar) },
    };
    // SAFETY: this function's contract is `converter`'s.
    let Ok(data) = (unsafe { converter(ty) }) else {
        return ptr::null_mut();
    };
    match value {
        RetValue::Ref(_) => {
            // SAFETY: attached.
            unsafe {
                errors::type_error(&format!(
                    "a reference to a {} value cannot become a Python object on its own: \
                     pass the value itself, or an oxbind::Instance",
                    ty.class.map_or("class", |c| c.key.as_str())
                ))
            };
            ptr::null_mut()
        }
        RetValue::Moved(bytes) if ty.kind == TypeKind::OBJECT && ty.passing == Passing::VALUE => {
            let class = ty.class.expect("an object type has its class");
            // SAFETY: attached.
            match unsafe { data.record(1, class) } {
                // SAFETY: attached; `record` is registered, and the bytes a
                // value of its class the plugin gave up (the contract).
                Ok(record) => unsafe { moved_instance(data, record, &bytes) },
                Err(()) => ptr::null_mut(),
            }
        }
        RetValue::List(items) if ty.kind == TypeKind::LIST => {
            let mut keep = smallvec::SmallVec::new();
            // SAFETY: attached; the items are of the list's item type, given
            // up by the plugin (the contract). What is left in `keep` on
            // failure is released below, with no lock held.
            let list = unsafe { list_result(data, items, &mut keep) };
            drop(keep);
            list
        }
        RetValue::Written | RetValue::Moved(_) | RetValue::List(_) => {
            // SAFETY: attached.
            unsafe {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!(
                        "oxbind: a value that does not match its type {}",
                        ty.rust_name.as_str()
                    ),
                )
            };
            ptr::null_mut()
        }
        // SAFETY: attached (plain values returned above already).
        scalar => unsafe { from_ret(scalar) },
    }
}
