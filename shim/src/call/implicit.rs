//! Implicit conversions: a function a plugin registers (`plugin! {
//! conversions: [...] }`) turns an argument of another type (a tuple, say)
//! into an instance for the call. It runs a call of its own through
//! [`crate::call::dispatch`]: the one place the call layer recurses, besides
//! type slots. The recursion is bounded: two classes that convert into each
//! other would otherwise nest conversions until the stack overflows, so a
//! conversion nested [`MAX_NESTING`] deep raises `RecursionError`.
//!
//! Shared state: the per-thread cache of converters holds leaked, immutable
//! function data; the nesting depth is per thread.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    ptr,
};

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
    /// How many implicit conversions this thread is inside.
    static NESTING: Cell<u32> = const { Cell::new(0) };
}

/// How deep implicit conversions may nest on one thread. A real conversion
/// nests once or twice (a tuple to a Point whose converter takes another
/// class); a loop (A from B, B from A) is refused at this depth, long before
/// the stack runs out.
const MAX_NESTING: u32 = 16;

/// Counts one level of nesting for as long as it lives.
struct Nested;

impl Nested {
    /// Enters one level, or `None` at [`MAX_NESTING`].
    fn enter() -> Option<Nested> {
        let depth = NESTING.with(Cell::get);
        (depth < MAX_NESTING).then(|| {
            NESTING.with(|n| n.set(depth + 1));
            Nested
        })
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        NESTING.with(|n| n.set(n.get() - 1));
    }
}

/// Tries the implicit conversions registered for `class` on `obj`, in
/// order. A conversion applies to a tuple whose items match its parameters,
/// or to a single object matching its only parameter. Returns the new
/// temporary instance, or None if no conversion applies.
///
/// # Safety
/// The thread is attached and no oxbind lock is held (a conversion is a
/// call, which may run Python code); `obj` is a valid object that the
/// caller keeps alive.
pub(crate) unsafe fn convert_implicitly(
    obj: *mut ffi::PyObject,
    class: &'static ClassRef,
    record: TypeRecord_Ref,
) -> Result<Option<Owned>, ()> {
    let Some(joined) = crate::runtime::joined() else {
        return Ok(None);
    };
    let Some(_nested) = Nested::enter() else {
        let message = format!(
            "implicit conversions to {} nest more than {MAX_NESTING} deep: do two classes convert into each other?",
            class.key.as_str()
        );
        // SAFETY: the thread is attached (this function's contract);
        // `PyExc_RecursionError` is set once by CPython at startup.
        unsafe { crate::py::errors::raise(ffi::PyExc_RecursionError, &message) };
        return Err(());
    };
    let i = joined.internals;
    for index in 0.. {
        // SAFETY: `conversion_at` is the creator's function from the
        // runtime's published (immutable) internals, called with that
        // runtime's own `state`, on an attached thread (this function's
        // contract).
        let Some(conv) = (unsafe { (i.conversion_at())(i.state(), class.key, index) }) else {
            break;
        };
        // SAFETY: the thread is attached (this function's contract).
        let data = unsafe { converter_data(conv) }?;
        let nparams = conv.params.len();
        // SAFETY: the thread is attached and `obj` is a valid object (this
        // function's contract); its size is read only once it is known to be
        // a tuple.
        let result = if unsafe {
            ffi::PyTuple_Check(obj) != 0 && ffi::PyTuple_GET_SIZE(obj) as usize == nparams
        } && nparams != 1
        {
            // SAFETY: `obj` is a tuple of `nparams` items (checked above), on
            // an attached thread; the borrowed items live as long as `obj`,
            // which the caller keeps alive (a tuple never changes its items).
            let items: Vec<*mut ffi::PyObject> = unsafe {
                (0..nparams)
                    .map(|k| ffi::PyTuple_GET_ITEM(obj, k as ffi::Py_ssize_t))
                    .collect()
            };
            // SAFETY: the thread is attached and no oxbind lock is held (this
            // function's contract); `items` holds `nparams` valid objects, all
            // positional (no `kwnames`), and a conversion has no receiver.
            unsafe {
                call::dispatch::dispatch(
                    data,
                    ptr::null_mut(),
                    items.as_ptr(),
                    nparams as _,
                    ptr::null_mut(),
                    Mode::Raise,
                )
            }
        } else if nparams == 1 {
            let items = [obj];
            // SAFETY: the thread is attached and no oxbind lock is held (this
            // function's contract); `items` holds one valid object, `obj`,
            // positional (no `kwnames`), and a conversion has no receiver.
            unsafe {
                call::dispatch::dispatch(
                    data,
                    ptr::null_mut(),
                    items.as_ptr(),
                    1,
                    ptr::null_mut(),
                    Mode::Raise,
                )
            }
        } else {
            continue;
        };
        // SAFETY: `dispatch` in `Mode::Raise` returns a new reference, which
        // is ours, or null.
        match unsafe { Owned::from_raw(result) } {
            // SAFETY: `converted` is a live object (our strong reference).
            Some(converted) if unsafe { instance::is_instance(converted.as_ptr(), record) } => {
                return Ok(Some(converted))
            }
            Some(_) => continue,
            None => {
                // An argument error means this conversion does not apply:
                // clear it and try the next. Anything else (a
                // RecursionError from nesting too deep, a MemoryError, a
                // converter's panic) is the caller's error too.
                // SAFETY: the thread is attached and the failed conversion
                // set an error; the exception types are set once by CPython
                // at startup.
                let applies_not = unsafe {
                    ffi::PyErr_ExceptionMatches(ffi::PyExc_TypeError) != 0
                        || ffi::PyErr_ExceptionMatches(ffi::PyExc_ValueError) != 0
                        || ffi::PyErr_ExceptionMatches(ffi::PyExc_OverflowError) != 0
                };
                if !applies_not {
                    return Err(());
                }
                // SAFETY: the thread is attached; this clears the error the
                // failed conversion set.
                unsafe { ffi::PyErr_Clear() };
            }
        }
    }
    Ok(None)
}

/// The function data of the implicit conversion `conv`: built on first use
/// on each thread, then cached (see `CONVERTERS`).
///
/// # Safety
/// The thread is attached.
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
    // SAFETY: the thread is attached (this function's contract).
    let data = unsafe {
        call::new_data(
            conv,
            defaults,
            conv.name.as_str().to_owned(),
            owner,
            conv.name.as_str(),
            // Conversions are not serialized: they are looked up through the
            // shared internals by any copy, far from the plugin's lock.
            None,
        )
    }?;
    CONVERTERS.with(|c| c.borrow_mut().insert(key, data));
    Ok(data)
}
