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
    ArgValue, CallOutcome, FunctionDesc, ParamDesc, Receiver, RetValue, TypeDesc, TypeKind,
};
use pyo3_ffi as ffi;

use super::args::convert_arg;
use super::general::{is_object_ref, Mismatch, Scratch};
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
    if let Err(why) = super::types::check_value_type(ty) {
        // SAFETY: attached (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "oxbind: cannot convert a {}: {why}",
                ty.rust_name.as_str()
            ))
        };
        return Err(());
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
        super::new_data(
            desc,
            vec![None],
            "extract".to_owned(),
            "oxbind",
            "extract",
            None,
        )
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
#[inline]
pub(crate) unsafe fn extract(
    obj: *mut ffi::PyObject,
    ty: &'static TypeDesc,
    visit: impl FnOnce(&ArgValue<'_>),
) -> Result<(), ()> {
    if !super::is_scalar(ty) {
        // SAFETY: this function's contract.
        return unsafe { extract_converted(obj, ty, visit) };
    }
    // Plain kinds convert on their own, borrowing nothing but `obj`: no
    // converter is needed (the common case: a callback's result).
    let mut value = std::mem::MaybeUninit::<ArgValue<'_>>::uninit();
    // SAFETY: attached; `obj` is live for this function; `value` is local
    // storage the conversion writes in place (no copy after its narrow
    // stores, see `args::to_arg_into`).
    match unsafe { super::args::to_arg_into(obj, ty, value.as_mut_ptr()) } {
        Ok(()) => {
            // SAFETY: written on success.
            visit(unsafe { value.assume_init_ref() });
            Ok(())
        }
        Err(failure) => {
            // SAFETY: attached; `obj` is live.
            unsafe { scalar_failed(obj, ty, failure) };
            Err(())
        }
    }
}

/// Raises the error for a plain value that did not convert (the error is
/// already set for `Raised`).
///
/// # Safety
/// The thread is attached; `obj` is a live object.
#[cold]
unsafe fn scalar_failed(
    obj: *mut ffi::PyObject,
    ty: &'static TypeDesc,
    failure: super::args::ArgFailure,
) {
    match failure {
        // SAFETY: attached; `obj` is live.
        super::args::ArgFailure::WrongType => unsafe {
            errors::type_error(&format!(
                "cannot extract {} from {}: expected {}",
                ty.rust_name.as_str(),
                errors::type_name(obj),
                expected_name(ty)
            ))
        },
        // SAFETY: attached; `PyExc_OverflowError` is an exception class.
        super::args::ArgFailure::Overflow => unsafe {
            errors::raise(
                ffi::PyExc_OverflowError,
                &format!(
                    "cannot extract {}: the int is out of range",
                    ty.rust_name.as_str()
                ),
            )
        },
        super::args::ArgFailure::Raised => {}
    }
}

/// [`extract`] for a value that needs a converter (containers, class
/// instances): out of line, to keep the plain path small.
///
/// # Safety
/// As for [`extract`].
#[inline(never)]
unsafe fn extract_converted(
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
    scratch.release_buffers();
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
    // SAFETY: attached, an error is set (this function's contract); `obj`
    // is live for the message.
    unsafe {
        errors::rewrite_exception(|_, text| {
            let rest = text.strip_prefix(PREFIX)?;
            Some(format!(
                "cannot extract {} from {}: {rest}",
                ty.rust_name.as_str(),
                errors::type_name(obj)
            ))
        })
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
            // A reference taken by a thread not attached is pooled: it must
            // count before Python can release it.
            // SAFETY: attached (this function's contract).
            unsafe { crate::sync::refpool::apply_increments() };
            if p.is_null() {
                // SAFETY: attached; `PyExc_RuntimeError` is an exception class.
                unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind: a null object") };
            }
            return p as *mut ffi::PyObject;
        }
        // SAFETY: attached (this function's contract); an array result's
        // export, given up.
        RetValue::Ref(p) if ty.kind == TypeKind::BUFFER => unsafe {
            return super::compound::array_result(ty, p);
        },
        // Paths and complex numbers are built as results are.
        v if super::compound::built_after_call(ty) => v,
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
        RetValue::Written => {
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
        // SAFETY: attached, no lock of ours held (this function's contract);
        // the value is of `ty`, given up by the plugin; `data`'s result type
        // is `ty`, checked when the converter was built.
        value => unsafe { super::compound::to_py(data, &data.desc.ret, value) },
    }
}

/// The most arguments a typed callback call passes (`oxbind::Args` has at
/// most eight).
const MAX_VALUES: usize = 8;

/// Calls `callable` with values converted as results of `types`, and shows
/// its result, converted as an argument of `ret` (unless `ret` is `UNIT`),
/// to `visit`: `HostApi::object_call_values`. Err with the Python error
/// set on failure. Takes every value over.
///
/// # Safety
/// The thread is attached and holds no lock of ours; `callable` is a live
/// object; `values` are values of the static `types` that the plugin gave
/// up; `ret` is a static type description.
pub(crate) unsafe fn call_with_values(
    callable: *mut ffi::PyObject,
    values: *const RetValue,
    types: &'static [TypeDesc],
    ret: &'static TypeDesc,
    visit: impl FnOnce(&ArgValue<'_>),
) -> Result<(), ()> {
    /// The arguments made so far, released when it drops (after the call,
    /// or on a failure midway).
    struct Made {
        objs: [*mut ffi::PyObject; MAX_VALUES],
        len: usize,
    }
    impl Made {
        /// Releases the arguments (in place: the array is not moved).
        fn release(&mut self) {
            for &obj in &self.objs[..self.len] {
                // SAFETY: new references made below, on the attached thread
                // that drops this, with no lock of ours held.
                unsafe { crate::py::owned::release(obj) };
            }
            self.len = 0;
        }
    }
    impl Drop for Made {
        fn drop(&mut self) {
            self.release();
        }
    }
    let mut made = Made {
        objs: [ptr::null_mut(); MAX_VALUES],
        len: 0,
    };
    let mut failed = types.len() > MAX_VALUES;
    if failed {
        // SAFETY: attached; `PyExc_TypeError` is an exception class.
        unsafe { errors::type_error(&format!("a callback takes at most {MAX_VALUES} arguments")) };
    }
    for (k, ty) in types.iter().enumerate() {
        // SAFETY: `values` holds one value per type (this function's
        // contract); each is read once, here. The common values are read
        // in place, by reference, with the widths the plugin wrote them
        // with: a whole copy right after the plugin's narrow stores stalls
        // on a failed store-forward (as `outcome.rs` explains).
        let slot = unsafe { values.add(k) };
        if failed {
            // The rest is dropped unconverted; object references in it are
            // released (attached, no lock of ours held).
            // SAFETY: read once (see above); a value of `ty` given up.
            unsafe { super::compound::discard(ty, ptr::read(slot)) };
            continue;
        }
        // SAFETY: attached; a value of the static `ty` (the contract).
        let obj = unsafe {
            match (&*slot, ty.kind) {
                (RetValue::Int(v), TypeKind::INT) => ffi::PyLong_FromLongLong(*v),
                (RetValue::Float(v), TypeKind::FLOAT) => ffi::PyFloat_FromDouble(*v),
                (RetValue::Bool(v), TypeKind::BOOL) => {
                    ffi::PyBool_FromLong(*v as std::os::raw::c_long)
                }
                _ => from_value(ty, ptr::read(slot)),
            }
        };
        if obj.is_null() {
            failed = true;
        } else {
            made.objs[made.len] = obj;
            made.len += 1;
        }
    }
    if failed {
        return Err(());
    }
    // SAFETY: attached; `callable` and the arguments are live (held by
    // `made` across the call).
    let result = unsafe {
        crate::py::owned::Owned::from_raw(ffi::PyObject_Vectorcall(
            callable,
            made.objs.as_ptr(),
            made.len,
            ptr::null_mut(),
        ))
    }
    .ok_or(())?;
    // The arguments go now, in place (`made` is not moved: it is larger
    // than the registers it would be copied through).
    made.release();
    if ret.kind == TypeKind::UNIT {
        return Ok(());
    }
    // SAFETY: attached, no lock held; `result` is live until dropped after.
    let extracted = unsafe { extract(result.as_ptr(), ret, visit) };
    if extracted.is_err() {
        // SAFETY: attached, and `extract` set the error.
        unsafe { prefix_error("callback result: ") };
    }
    extracted
}

/// Prefixes the message of the `TypeError` or `OverflowError` a conversion
/// raised ("cannot extract ..."), keeping its class; any other exception (one
/// Python code raised during the conversion) stays as it is.
///
/// # Safety
/// The thread is attached and an error is set.
unsafe fn prefix_error(prefix: &str) {
    // SAFETY: attached, an error is set (this function's contract).
    unsafe {
        errors::rewrite_exception(|class, text| {
            let ours = class == ffi::PyExc_TypeError || class == ffi::PyExc_OverflowError;
            (ours && text.starts_with("cannot extract ")).then(|| format!("{prefix}{text}"))
        })
    }
}
