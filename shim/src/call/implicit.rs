//! Implicit conversions: a constructor a class declares `implicit` turns an
//! argument of another type (a tuple, say) into an instance for the call.
//! It runs a call of its own through [`crate::call::dispatch`]: the one place
//! the call layer recurses, besides type slots.
//!
//! Shared state: the per-thread cache of converters holds leaked, immutable
//! function data.

use std::{cell::RefCell, collections::HashMap, ptr};

use oxbind_abi::{ArgValue, ClassRef, FunctionDesc};
use oxbind_internals::TypeRecord_Ref;
use pyo3_ffi as ffi;

use crate::instance;

use crate::{
    call::{self, FunctionData, Mode},
    py::owned::Owned,
};

thread_local! {
    /// Function data of implicit conversions, per converter descriptor.
    static CONVERTERS: RefCell<HashMap<usize, &'static FunctionData>> = RefCell::new(HashMap::new());
}

/// Tries the implicit conversions registered for `class` on `obj`, in
/// order. A conversion applies to a tuple whose items match its parameters,
/// or to a single object matching its only parameter. Returns the new
/// temporary instance, or None if no conversion applies.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn convert_implicitly(
    obj: *mut ffi::PyObject,
    class: &'static ClassRef,
    record: TypeRecord_Ref,
) -> Result<Option<Owned>, ()> {
    let Some(joined) = crate::runtime::joined() else {
        return Ok(None);
    };
    let i = joined.internals;
    for index in 0.. {
        let Some(conv) = (i.conversion_at())(i.state(), class.key, index) else {
            break;
        };
        let data = converter_data(conv)?;
        let nparams = conv.params.len();
        let result = if ffi::PyTuple_Check(obj) != 0
            && ffi::PyTuple_GET_SIZE(obj) as usize == nparams
            && nparams != 1
        {
            let items: Vec<*mut ffi::PyObject> = (0..nparams)
                .map(|k| ffi::PyTuple_GET_ITEM(obj, k as ffi::Py_ssize_t))
                .collect();
            call::dispatch::dispatch(
                data,
                ptr::null_mut(),
                items.as_ptr(),
                nparams as _,
                ptr::null_mut(),
                Mode::Raise,
            )
        } else if nparams == 1 {
            let items = [obj];
            call::dispatch::dispatch(
                data,
                ptr::null_mut(),
                items.as_ptr(),
                1,
                ptr::null_mut(),
                Mode::Raise,
            )
        } else {
            continue;
        };
        match Owned::from_raw(result) {
            Some(converted) if instance::is_instance(converted.as_ptr(), record) => {
                return Ok(Some(converted))
            }
            Some(_) => continue,
            // This conversion does not apply; try the next.
            None => ffi::PyErr_Clear(),
        }
    }
    Ok(None)
}

pub(crate) unsafe fn converter_data(
    conv: &'static FunctionDesc,
) -> Result<&'static FunctionData, ()> {
    let key = conv as *const FunctionDesc as usize;
    if let Some(d) = CONVERTERS.with(|c| c.borrow().get(&key).copied()) {
        return Ok(d);
    }
    let defaults: Vec<Option<ArgValue<'static>>> = conv
        .params
        .as_slice()
        .iter()
        .map(|p| p.default.as_ref().into_option().copied())
        .collect();
    let owner = conv.ret.class.map_or("<conversion>", |c| c.module());
    let data = call::new_data(
        conv,
        defaults,
        conv.name.as_str().to_owned(),
        owner,
        conv.name.as_str(),
    )?;
    CONVERTERS.with(|c| c.borrow_mut().insert(key, data));
    Ok(data)
}
