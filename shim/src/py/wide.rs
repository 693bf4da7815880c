//! Python ints beyond `i64`, to and from [`WideInt`] (plugin ABI 0.1.5,
//! `TypeKind::WIDE_INT`): `u64`, `usize`, `i128` and `u128` values.
//!
//! Only public C API is used (shifts, masks and `or` on ints), the same on
//! every supported version; the common case, a value that fits `i64`, takes
//! one call. Shared state: none.

use oxbind_abi::WideInt;
use pyo3_ffi as ffi;

use super::owned::Owned;

/// Why an int did not convert.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WideFailure {
    /// Below `i128::MIN` or above `u128::MAX`.
    OutOfRange,
    /// CPython failed (out of memory); its error is cleared.
    Failed,
}

/// Reads the int `obj` as a [`WideInt`]. Leaves no Python error set.
///
/// # Safety
/// The thread is attached and `obj` is a live `int`.
pub(crate) unsafe fn to_wide(obj: *mut ffi::PyObject) -> Result<WideInt, WideFailure> {
    // SAFETY: attached, and `obj` is an int (this function's contract):
    // every call below is one CPython allows on ints, and every new
    // reference is owned by an `Owned`.
    let result = unsafe {
        let mut overflow = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
        if overflow == 0 {
            if v == -1 && !ffi::PyErr_Occurred().is_null() {
                Err(WideFailure::Failed)
            } else {
                Ok(WideInt::from_i128(v as i128))
            }
        } else {
            wide_from_parts(obj)
        }
    };
    if result == Err(WideFailure::Failed) {
        // SAFETY: attached.
        unsafe { ffi::PyErr_Clear() };
    }
    result
}

/// [`to_wide`] for an int outside `i64`'s range.
///
/// # Safety
/// As for [`to_wide`].
#[cold]
unsafe fn wide_from_parts(obj: *mut ffi::PyObject) -> Result<WideInt, WideFailure> {
    // SAFETY: as for `to_wide`; new references are owned by `Owned`s.
    unsafe {
        let sixty_four = Owned::from_raw(ffi::PyLong_FromLong(64)).ok_or(WideFailure::Failed)?;
        let high = Owned::from_raw(ffi::PyNumber_Rshift(obj, sixty_four.as_ptr()))
            .ok_or(WideFailure::Failed)?;
        let top = Owned::from_raw(ffi::PyNumber_Rshift(high.as_ptr(), sixty_four.as_ptr()))
            .ok_or(WideFailure::Failed)?;
        // `obj >> 128` is 0 for a value in [0, 2**128), -1 for one in
        // [-2**128, 0); anything else is out of range at once.
        let mut overflow = 0;
        let t = ffi::PyLong_AsLongLongAndOverflow(top.as_ptr(), &mut overflow);
        if overflow != 0 || !(t == 0 || t == -1) {
            return Err(WideFailure::OutOfRange);
        }
        let lo = ffi::PyLong_AsUnsignedLongLongMask(obj);
        let hi = ffi::PyLong_AsUnsignedLongLongMask(high.as_ptr());
        if !ffi::PyErr_Occurred().is_null() {
            return Err(WideFailure::Failed);
        }
        let negative = t == -1;
        // A negative value whose 128 bits do not have the top bit set is
        // below `i128::MIN`.
        if negative && hi >> 63 == 0 {
            return Err(WideFailure::OutOfRange);
        }
        Ok(WideInt { lo, hi, negative })
    }
}

/// The Python int for `value`: a new reference, or null with an error set.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn from_wide(value: WideInt) -> *mut ffi::PyObject {
    if let Some(v) = value.to_i128().and_then(|v| i64::try_from(v).ok()) {
        // SAFETY: attached (this function's contract).
        return unsafe { ffi::PyLong_FromLongLong(v) };
    }
    // SAFETY: attached; new references are owned by `Owned`s.
    unsafe {
        let build = || -> Option<Owned> {
            let sixty_four = Owned::from_raw(ffi::PyLong_FromLong(64))?;
            let hi = Owned::from_raw(ffi::PyLong_FromUnsignedLongLong(value.hi))?;
            let lo = Owned::from_raw(ffi::PyLong_FromUnsignedLongLong(value.lo))?;
            let shifted = Owned::from_raw(ffi::PyNumber_Lshift(hi.as_ptr(), sixty_four.as_ptr()))?;
            let bits = Owned::from_raw(ffi::PyNumber_Or(shifted.as_ptr(), lo.as_ptr()))?;
            if !value.negative {
                return Some(bits);
            }
            // Negative: the 128 bits are the two's complement, so the
            // value is `bits - 2**128`.
            let one = Owned::from_raw(ffi::PyLong_FromLong(1))?;
            let one_twenty_eight = Owned::from_raw(ffi::PyLong_FromLong(128))?;
            let modulus = Owned::from_raw(ffi::PyNumber_Lshift(
                one.as_ptr(),
                one_twenty_eight.as_ptr(),
            ))?;
            Owned::from_raw(ffi::PyNumber_Subtract(bits.as_ptr(), modulus.as_ptr()))
        };
        build().map_or(std::ptr::null_mut(), Owned::into_raw)
    }
}
