//! Reading a plugin's [`CallOutcome`] and turning results into objects.
//!
//! A fast path never moves a `CallOutcome`: it reads the outcome in place
//! ([`peek`], [`Pending`]). The plugin writes the outcome with narrow stores,
//! and a wide copy of it right after stalls on a failed store-forward
//! (`BENCHMARKS.md`).

use std::{
    ffi::c_void,
    os::raw::c_char,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
};

use oxbind_abi::{CallOutcome, RetValue};
use pyo3_ffi as ffi;

use crate::py::errors;

/// Converts a scalar outcome (or raises the error or panic it carries):
/// the general path's conversion, and the cold end of the fast paths, which
/// read the common outcomes in place first ([`Taken`]).
///
/// # Safety
/// The thread is attached.
#[inline(always)]
pub(super) unsafe fn finish_scalar(outcome: CallOutcome) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract), which is
    // all these conversions and raises need.
    unsafe {
        match outcome {
            // The commonest results are converted here, in place: passing the
            // RetValue on to `from_ret` copies it, which measurably slows
            // `add(1, 2)` (BENCHMARKS.md) even with `from_ret` inlined.
            CallOutcome::Ok(RetValue::None) => none(),
            CallOutcome::Ok(RetValue::Int(v)) => ffi::PyLong_FromLongLong(v),
            CallOutcome::Ok(RetValue::Float(v)) => ffi::PyFloat_FromDouble(v),
            CallOutcome::Ok(value) => from_ret(value),
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
}

/// What a call's outcome holds, read where the plugin wrote it: the
/// commonest variants as plain values; for anything else, only that it is
/// something else.
///
/// [`peek`] reads the discriminants and the payload by reference, with the
/// widths the plugin wrote them with, and the outcome itself is never moved
/// on the common paths. Moving a `CallOutcome` (into a function, an `Option`
/// or an enum holding it) made the compiler copy it whole, padding
/// included, with loads that straddle the plugin's stores; each such load
/// waits until those stores retire (a failed store-to-load forward): a stall
/// on every call, which perf put at a quarter of the shim's time in
/// `distance(p, q)`. The other outcomes are taken over through a pointer
/// by cold, out-of-line code ([`finish_other`], [`Pending::keep`]).
#[derive(Clone, Copy)]
pub(super) enum Taken {
    None,
    Int(i64),
    Float(f64),
    /// A `&T` result: the address of a value of the result's class.
    Ref(*const c_void),
    /// An error, a panic, a string, bytes, a list or `Written`.
    Other,
}

impl Taken {
    /// The Python object for `None`, an int or a float; `None` for a `&T`
    /// result or anything else, which need the outcome itself.
    ///
    /// # Safety
    /// The thread is attached.
    #[inline(always)]
    pub(super) unsafe fn common_object(self) -> Option<*mut ffi::PyObject> {
        // SAFETY: the thread is attached (this function's contract), which
        // is all these conversions need.
        unsafe {
            match self {
                Taken::None => Some(none()),
                Taken::Int(v) => Some(ffi::PyLong_FromLongLong(v)),
                Taken::Float(v) => Some(ffi::PyFloat_FromDouble(v)),
                Taken::Ref(_) | Taken::Other => None,
            }
        }
    }
}

/// Reads `outcome` in place (see [`Taken`]).
#[inline(always)]
pub(super) fn peek(outcome: &CallOutcome) -> Taken {
    match outcome {
        CallOutcome::Ok(RetValue::None) => Taken::None,
        CallOutcome::Ok(RetValue::Int(v)) => Taken::Int(*v),
        CallOutcome::Ok(RetValue::Float(v)) => Taken::Float(*v),
        CallOutcome::Ok(RetValue::Ref(p)) => Taken::Ref(*p),
        _ => Taken::Other,
    }
}

/// Converts a scalar outcome to its Python object, or raises the error or
/// panic it carries, reading it in place (see [`Taken`]).
///
/// # Safety
/// The caller forgets `outcome` afterwards: this takes it over. The thread
/// is attached.
#[inline(always)]
pub(super) unsafe fn finish_in_place(outcome: &CallOutcome) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract).
    match unsafe { peek(outcome).common_object() } {
        Some(result) => result,
        // SAFETY: `outcome` is initialised (a reference), the caller forgets
        // it afterwards, and the thread is attached (this function's
        // contract).
        None => unsafe { finish_other(outcome) },
    }
}

/// [`finish_scalar`] for an outcome read through a pointer, out of line.
/// It never unwinds: a panic here, after the outcome was read, would
/// otherwise drop it twice (the read copy, and the caller's original,
/// which is forgotten only once this returns). A panic is raised as
/// `oxbind.PanicError` instead.
///
/// # Safety
/// `outcome` is initialised, and the caller forgets it afterwards (this
/// takes it over). The thread is attached.
#[cold]
#[inline(never)]
pub(super) unsafe fn finish_other(outcome: *const CallOutcome) -> *mut ffi::PyObject {
    // SAFETY: initialised, and taken over here (the caller forgets it).
    let owned = unsafe { ptr::read(outcome) };
    // SAFETY: the thread is attached (this function's contract).
    match catch_unwind(AssertUnwindSafe(|| unsafe { finish_scalar(owned) })) {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::raise_panic("internal error in the oxbind shim while converting a result")
            };
            ptr::null_mut()
        }
    }
}

/// An outcome kept from inside a borrow's closure until after the borrow is
/// released, when it is converted: [`Taken`] for the common variants, the
/// outcome itself (taken over out of line) for the rest.
pub(super) struct Pending {
    pub(super) taken: Taken,
    pub(super) other: Option<CallOutcome>,
}

impl Pending {
    pub(super) const fn new() -> Pending {
        Pending {
            taken: Taken::None,
            other: None,
        }
    }

    /// Keeps `outcome`: read in place, and taken over only if it is
    /// [`Taken::Other`].
    ///
    /// # Safety
    /// The caller forgets `outcome` afterwards.
    #[inline(always)]
    pub(super) unsafe fn keep(&mut self, outcome: &CallOutcome) {
        self.taken = peek(outcome);
        if let Taken::Other = self.taken {
            // SAFETY: initialised; the caller forgets it after this returns,
            // and nothing between the read and that can unwind.
            unsafe { self.take_over(outcome) };
        }
    }

    /// Takes `outcome` over into [`Pending::other`].
    ///
    /// # Safety
    /// `outcome` is initialised and forgotten by the caller.
    #[cold]
    #[inline(never)]
    pub(super) unsafe fn take_over(&mut self, outcome: *const CallOutcome) {
        // SAFETY: `outcome` is initialised and the caller forgets it (this
        // function's contract), so it is read exactly once, here.
        self.other = Some(unsafe { ptr::read(outcome) });
    }

    /// The Python object for a kept scalar outcome, or its error raised.
    /// By reference: moving `self` copied it whole, `other` too, whose only
    /// store on the common path is its one-byte `None` tag (a wider load
    /// over it stalls, as in [`Taken`]).
    ///
    /// # Safety
    /// The thread is attached.
    #[inline(always)]
    pub(super) unsafe fn finish(&mut self) -> *mut ffi::PyObject {
        // SAFETY: the thread is attached (this function's contract).
        match unsafe { self.taken.common_object() } {
            Some(result) => result,
            // SAFETY: the thread is attached (this function's contract).
            None => unsafe { finish_pending_rest(self) },
        }
    }
}

/// [`Pending::finish`] for a kept outcome that is not a common one, out of
/// line: the outcome taken over, or a `&T` result where a scalar was
/// expected (which [`finish_scalar`] reports).
///
/// # Safety
/// The thread is attached.
#[cold]
#[inline(never)]
pub(super) unsafe fn finish_pending_rest(pending: &mut Pending) -> *mut ffi::PyObject {
    let outcome = match (pending.other.take(), pending.taken) {
        (Some(outcome), _) => outcome,
        (None, Taken::Ref(p)) => CallOutcome::Ok(RetValue::Ref(p)),
        (None, _) => unreachable!("an Other outcome is always taken over"),
    };
    // SAFETY: the thread is attached (this function's contract).
    unsafe { finish_scalar(outcome) }
}

/// A new reference to `None`. From 3.12 `None` is immortal, so no count is
/// taken (on free-threaded builds `Py_INCREF` would be a call).
///
/// # Safety
/// The thread is attached.
#[inline(always)]
pub(crate) unsafe fn none() -> *mut ffi::PyObject {
    #[cfg(Py_3_12)]
    {
        // SAFETY: the thread is attached (this function's contract); `None`
        // is immortal, so its address is a new reference as it is.
        unsafe { ffi::Py_None() }
    }
    #[cfg(not(Py_3_12))]
    {
        // SAFETY: the thread is attached (this function's contract), so
        // `None`'s count may be taken.
        unsafe { ffi::Py_NewRef(ffi::Py_None()) }
    }
}

/// Turns a plugin result into a new reference; null with an error set on
/// failure. Buffers are freed by the plugin's allocator when `value` drops.
///
/// # Safety
/// The thread is attached.
#[inline(always)]
pub(crate) unsafe fn from_ret(value: RetValue) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract), which is
    // all these conversions and the raise need; a string or bytes result is
    // copied from its own buffer, `len` bytes at its pointer, live until
    // `value` drops after the copy; `PyExc_RuntimeError` is an exception
    // class.
    unsafe {
        match value {
            RetValue::None => none(),
            RetValue::Int(v) => ffi::PyLong_FromLongLong(v),
            RetValue::Float(v) => ffi::PyFloat_FromDouble(v),
            RetValue::Bool(v) => ffi::PyBool_FromLong(v as std::os::raw::c_long),
            RetValue::Str(s) => ffi::PyUnicode_FromStringAndSize(
                s.as_ptr() as *const c_char,
                s.len() as ffi::Py_ssize_t,
            ),
            RetValue::Bytes(b) => ffi::PyBytes_FromStringAndSize(
                b.as_ptr() as *const c_char,
                b.len() as ffi::Py_ssize_t,
            ),
            RetValue::Written | RetValue::Ref(_) | RetValue::List(_) | RetValue::Moved(_) => {
                crate::py::errors::raise(
                    ffi::PyExc_RuntimeError,
                    "oxbind: a plugin returned an object for a non-object result",
                );
                std::ptr::null_mut()
            }
        }
    }
}
