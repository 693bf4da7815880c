//! Exported functions as `PyCFunction`s, and the dispatch of one call.
//!
//! Every plugin function becomes a built-in function object
//! (`METH_FASTCALL | METH_KEYWORDS`): CPython calls it through vectorcall
//! with no argument tuple or dict, its specializing interpreter recognises it,
//! and `help()` and `inspect.signature` read its `__text_signature__`.
//!
//! A fast-call C function receives `self`, not the function object, yet each
//! function needs its own descriptor. So that `self` can stay the plugin
//! module (which gives the usual `<built-in function add>` repr), each
//! function takes a *slot*: an index into [`SLOTS`], with its own generated
//! entry point `entry_point::<I>` (see `build.rs`) that reads slot `I`.
//!
//! Shared state: [`SLOTS`] and [`NEXT_SLOT`] are process-global to this shim
//! copy. A slot is claimed once with an atomic increment, written once with a
//! release store before the function object exists, and never changed; calls
//! read it with an acquire load. No lock is involved.

use std::{
    ffi::CString,
    os::raw::c_char,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

use oxbind_abi::{abi_stable::std_types::RSlice, ArgValue, CallOutcome, FunctionDesc};
use pyo3_ffi as ffi;

use crate::{
    convert::{self, ArgFailure},
    errors,
    pyref::Owned,
};

include!(concat!(env!("OUT_DIR"), "/entry_points.rs"));

/// Function data by slot. Written once per slot, never cleared.
static SLOTS: [AtomicPtr<FunctionData>; SLOT_COUNT] = [const { AtomicPtr::new(ptr::null_mut()) }; SLOT_COUNT];

/// The next unclaimed slot.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// How many parameters are converted without a heap allocation.
const INLINE_PARAMS: usize = 8;

/// Everything one exported function needs at call time. Leaked: it lives as
/// long as the process, like the plugin it points into.
pub struct FunctionData {
    /// The method definition the function object points at.
    method_def: ffi::PyMethodDef,
    desc: &'static FunctionDesc,
    /// Each parameter's default, checked and normalised at load (an `int`
    /// default of a `float` parameter becomes a float).
    defaults: Vec<Option<ArgValue<'static>>>,
    /// The Python name, for messages.
    name: String,
    /// Interned parameter names, for the keyword fast path (pointer compare).
    keywords: Vec<Owned>,
    _ml_name: CString,
    _ml_doc: CString,
}

/// The entry point for slot `I`; CPython calls it for the function in that slot.
unsafe extern "C" fn entry_point<const I: usize>(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before the function object that calls this
    // entry point was created, and is never changed afterwards.
    let data = &*SLOTS[I].load(Ordering::Acquire);
    dispatch(data, args, nargs, kwnames)
}

/// Creates the function object for `desc`, owned by `module`.
///
/// # Safety
/// The thread is attached; `module` is a module object and `module_name` a str.
pub unsafe fn new_function(
    desc: &'static FunctionDesc,
    defaults: Vec<Option<ArgValue<'static>>>,
    module: *mut ffi::PyObject,
    module_name: *mut ffi::PyObject,
) -> Result<Owned, ()> {
    let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    if slot >= SLOT_COUNT {
        errors::import_error(
            &format!(
                "cannot export function '{}': this oxbind runtime dispatches at most {SLOT_COUNT} functions per process",
                desc.name.as_str()
            ),
            None,
        );
        return Err(());
    }
    let name = desc.name.as_str().to_owned();
    let mut keywords = Vec::with_capacity(desc.params.len());
    for p in desc.params.as_slice() {
        let Some(s) = Owned::from_raw(errors::new_str(p.name.as_str())) else { return Err(()) };
        let mut raw = s.into_raw();
        ffi::PyUnicode_InternInPlace(&mut raw);
        keywords.push(Owned::from_raw(raw).ok_or(())?);
    }
    let ml_name = errors::c_string(&name);
    let ml_doc = errors::c_string(&docstring(desc));
    let data = Box::leak(Box::new(FunctionData {
        method_def: ffi::PyMethodDef {
            ml_name: ml_name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: ENTRY_POINTS[slot] },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: ml_doc.as_ptr(),
        },
        desc,
        defaults,
        name,
        keywords,
        _ml_name: ml_name,
        _ml_doc: ml_doc,
    }));
    SLOTS[slot].store(data, Ordering::Release);
    Owned::from_raw(ffi::PyCFunction_NewEx(&mut data.method_def, module, module_name)).ok_or(())
}

/// The docstring with CPython's signature header, `name(a, b='x')\n--\n\n`,
/// from which `__text_signature__` is read.
pub fn docstring(desc: &FunctionDesc) -> String {
    let params: Vec<String> = desc
        .params
        .as_slice()
        .iter()
        .map(|p| match p.default.as_ref().into_option() {
            Some(d) => format!("{}={}", p.name.as_str(), convert::default_literal(d)),
            None => p.name.as_str().to_owned(),
        })
        .collect();
    let mut doc = format!("{}({})\n--\n\n", desc.name.as_str(), params.join(", "));
    doc.push_str(desc.doc.as_str());
    doc
}

/// One call: match arguments to parameters, convert them, call the plugin,
/// convert the outcome. Panics in this code are caught too: none crosses
/// into CPython.
#[inline]
unsafe fn dispatch(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let nparams = data.desc.params.len();
    let result = catch_unwind(AssertUnwindSafe(|| {
        if nparams <= INLINE_PARAMS {
            let mut slots = [ptr::null_mut(); INLINE_PARAMS];
            let mut values = [ArgValue::None; INLINE_PARAMS];
            call(data, args, nargs, kwnames, &mut slots[..nparams], &mut values[..nparams])
        } else {
            let mut slots = vec![ptr::null_mut(); nparams];
            let mut values = vec![ArgValue::None; nparams];
            call(data, args, nargs, kwnames, &mut slots, &mut values)
        }
    }));
    match result {
        Ok(obj) => obj,
        Err(_) => {
            errors::raise_panic(&format!("internal error in the oxbind shim while calling {}()", data.name));
            ptr::null_mut()
        }
    }
}

#[inline]
unsafe fn call(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    slots: &mut [*mut ffi::PyObject],
    values: &mut [ArgValue<'_>],
) -> *mut ffi::PyObject {
    let params = data.desc.params.as_slice();
    let nargs = nargs as usize;
    if nargs > params.len() {
        errors::type_error(&format!(
            "{}() takes {} positional argument{} but {} {} given",
            data.name,
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            nargs,
            if nargs == 1 { "was" } else { "were" }
        ));
        return ptr::null_mut();
    }
    if nargs > 0 {
        slots[..nargs].copy_from_slice(std::slice::from_raw_parts(args, nargs));
    }
    if !kwnames.is_null() {
        let nkw = ffi::PyTuple_GET_SIZE(kwnames) as usize;
        for j in 0..nkw {
            let key = ffi::PyTuple_GET_ITEM(kwnames, j as ffi::Py_ssize_t);
            let Some(index) = keyword_index(data, key) else {
                errors::type_error(&format!(
                    "{}() got an unexpected keyword argument {}",
                    data.name,
                    quoted(key)
                ));
                return ptr::null_mut();
            };
            if !slots[index].is_null() {
                errors::type_error(&format!(
                    "{}() got multiple values for argument '{}'",
                    data.name,
                    params[index].name.as_str()
                ));
                return ptr::null_mut();
            }
            slots[index] = *args.add(nargs + j);
        }
    }
    for (i, param) in params.iter().enumerate() {
        let obj = slots[i];
        if obj.is_null() {
            match data.defaults[i] {
                Some(default) => values[i] = default,
                None => {
                    errors::type_error(&format!(
                        "{}() missing required argument '{}' (pos {})",
                        data.name,
                        param.name.as_str(),
                        i + 1
                    ));
                    return ptr::null_mut();
                }
            }
            continue;
        }
        match convert::to_arg(obj, &param.ty) {
            Ok(v) => values[i] = v,
            Err(ArgFailure::WrongType) => {
                errors::type_error(&format!(
                    "{}() argument '{}' must be {}, not {}",
                    data.name,
                    param.name.as_str(),
                    convert::expected_name(&param.ty),
                    errors::type_name(obj)
                ));
                return ptr::null_mut();
            }
            Err(ArgFailure::Overflow) => {
                errors::raise(
                    ffi::PyExc_OverflowError,
                    &format!(
                        "{}() argument '{}' is out of range for {}",
                        data.name,
                        param.name.as_str(),
                        param.ty.rust_name.as_str()
                    ),
                );
                return ptr::null_mut();
            }
            Err(ArgFailure::Raised) => return ptr::null_mut(),
        }
    }
    // SAFETY: one value per parameter, each of its declared kind; the objects
    // they borrow from are held by our caller for the whole call.
    let outcome = (data.desc.call)(ptr::null(), RSlice::from_slice(values));
    match outcome {
        CallOutcome::Ok(value) => convert::from_ret(value),
        CallOutcome::Err(record) => {
            errors::raise_record(&record);
            ptr::null_mut()
        }
        CallOutcome::Panic(message) => {
            errors::raise_panic(message.as_str());
            ptr::null_mut()
        }
    }
}

/// The parameter a keyword names: interned pointers first, then by text.
unsafe fn keyword_index(data: &FunctionData, key: *mut ffi::PyObject) -> Option<usize> {
    if let Some(i) = data.keywords.iter().position(|k| k.as_ptr() == key) {
        return Some(i);
    }
    let mut len: ffi::Py_ssize_t = 0;
    let text = ffi::PyUnicode_AsUTF8AndSize(key, &mut len);
    if text.is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    let key = std::slice::from_raw_parts(text as *const u8, len as usize);
    data.desc.params.as_slice().iter().position(|p| p.name.as_str().as_bytes() == key)
}

/// `'name'` for a keyword in a message.
unsafe fn quoted(key: *mut ffi::PyObject) -> String {
    let mut len: ffi::Py_ssize_t = 0;
    let text = ffi::PyUnicode_AsUTF8AndSize(key, &mut len);
    if text.is_null() {
        ffi::PyErr_Clear();
        return "<unprintable>".to_owned();
    }
    let bytes = std::slice::from_raw_parts(text as *const c_char as *const u8, len as usize);
    format!("'{}'", String::from_utf8_lossy(bytes))
}
