//! Integers wider than `i64`'s range (`u64`, `usize`, `i128`, `u128`;
//! plugin ABI 0.1.5, `TypeKind::WIDE_INT`): their conversions, and the two
//! host calls a value beyond `i64` needs.
//!
//! A value that fits `i64` crosses as a plain `Int` both ways, with no host
//! call. Beyond it, an argument arrives as the int object itself (borrowed
//! for the call), read with `HostApi::int_to_wide`; a result leaves as a new
//! int made with `HostApi::int_from_wide`.

use std::ffi::c_void;

use oxbind_abi::{
    ArgValue, RetValue, TypeDesc, TypeKind, WideInt, WIDE_NOT_INT, WIDE_OK, WIDE_OUT_OF_RANGE,
};

use crate::{
    convert::{FromArg, IntoItem, IntoReturn, ReturnSlot},
    object::{api, missing, not_traversing, outcome},
    Error,
};

/// Reads the int object a `WIDE_INT` argument beyond `i64` arrived as.
///
/// # Safety
/// `obj` is the shim's `ArgValue::Object` for a `WIDE_INT` value of the
/// current call, read during it, on its thread.
#[cold]
#[inline(never)]
unsafe fn read(obj: *mut c_void, ty: &str) -> Result<WideInt, Error> {
    let f = api()?.int_to_wide().ok_or_else(|| missing("int_to_wide"))?;
    let mut out = WideInt::from_i128(0);
    // SAFETY: `obj` is the call's int (this function's contract); `out` is
    // a local.
    match unsafe { f(obj, &mut out) } {
        WIDE_OK => Ok(out),
        WIDE_OUT_OF_RANGE => Err(Error::overflow_error(format!(
            "the int is out of range for {ty}"
        ))),
        WIDE_NOT_INT => Err(Error::type_error(format!(
            "expected int for {ty} (read outside its call, or not an int)"
        ))),
        other => Err(Error::runtime_error(format!(
            "oxbind: int_to_wide returned unknown status {other}"
        ))),
    }
}

/// A new Python int for `value`, as a result (`RetValue::Ref`).
#[cold]
#[inline(never)]
fn make(value: WideInt) -> Result<RetValue, Error> {
    not_traversing()?;
    let f = api()?
        .int_from_wide()
        .ok_or_else(|| missing("int_from_wide"))?;
    let mut out = std::ptr::null_mut();
    // SAFETY: `out` is a local.
    let status = unsafe { f(value, &mut out) };
    // SAFETY: the status and output of that operation.
    match unsafe { outcome(status, out) }? {
        Some(obj) => Ok(RetValue::Ref(obj.into_raw())),
        None => Err(Error::runtime_error("oxbind: int_from_wide made no object")),
    }
}

/// The error for a value outside the Rust type's range.
#[cold]
#[inline(never)]
fn out_of_range(value: &dyn std::fmt::Display, ty: &str) -> Error {
    Error::overflow_error(format!("{value} does not fit in {ty}"))
}

/// The error for a value of another kind (the shim and plugin disagree).
#[cold]
#[inline(never)]
fn unexpected(value: &ArgValue<'_>) -> Error {
    Error::type_error(format!(
        "expected int, got {value:?} (shim and plugin disagree on the parameter type)"
    ))
}

macro_rules! wide_types {
    ($($t:ident),*) => {$(
        // SAFETY: TYPE is WIDE_INT, and from_arg reads an `Int` (a plain
        // value) or an `Object` (the call's int, read through the host
        // while the call runs), range-checked into `$t`; anything else is
        // an error.
        unsafe impl<'a> FromArg<'a> for $t {
            const TYPE: TypeDesc = TypeDesc::scalar(TypeKind::WIDE_INT, stringify!($t));
            /// # Safety
            /// As for [`FromArg::from_arg`].
            #[inline]
            unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
                // SAFETY: as this function's contract.
                unsafe { Self::from_arg_ref(&value) }
            }
            /// # Safety
            /// As for [`FromArg::from_arg`].
            #[inline]
            unsafe fn from_arg_ref(value: &ArgValue<'a>) -> Result<Self, Error> {
                match value {
                    ArgValue::Int(v) => {
                        <$t>::try_from(*v).map_err(|_| out_of_range(v, stringify!($t)))
                    }
                    ArgValue::Object(obj) => {
                        // SAFETY: for a WIDE_INT parameter the shim passes
                        // the int itself, for this call (the contract).
                        let wide = unsafe { read(*obj, stringify!($t)) }?;
                        let fits = match wide.to_i128() {
                            Some(v) => <$t>::try_from(v).ok(),
                            None => wide.to_u128().and_then(|v| <$t>::try_from(v).ok()),
                        };
                        fits.ok_or_else(|| out_of_range(&wide, stringify!($t)))
                    }
                    other => Err(unexpected(other)),
                }
            }
        }
        // SAFETY: TYPE is WIDE_INT, and into_return returns an `Int`, or a
        // `Ref` holding a new reference to an int, never touching the slot.
        unsafe impl IntoReturn for $t {
            const TYPE: TypeDesc = TypeDesc::scalar(TypeKind::WIDE_INT, stringify!($t));
            #[inline]
            fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
                if let Ok(v) = i64::try_from(self) {
                    return Ok(RetValue::Int(v));
                }
                make(match i128::try_from(self) {
                    Ok(v) => WideInt::from_i128(v),
                    Err(_) => WideInt::from_u128(u128::try_from(self).unwrap_or(u128::MAX)),
                })
            }
        }
        // SAFETY: ITEM is `$t`'s IntoReturn::TYPE, and into_item is its
        // into_return, which never touches the (absent) slot.
        unsafe impl IntoItem for $t {
            const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::WIDE_INT, stringify!($t));
            fn into_item(self) -> Result<RetValue, Error> {
                self.into_return(ReturnSlot::NONE)
            }
        }
    )*};
}
wide_types!(u64, usize, i128, u128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_fit_i64_cross_plainly() {
        // SAFETY: plain values.
        unsafe {
            assert_eq!(u64::from_arg(ArgValue::Int(7)), Ok(7));
            assert_eq!(i128::from_arg(ArgValue::Int(-7)), Ok(-7));
            let err = u64::from_arg(ArgValue::Int(-1)).unwrap_err();
            assert_eq!(err.message, "-1 does not fit in u64");
        }
        assert_eq!(5u128.into_return(ReturnSlot::NONE), Ok(RetValue::Int(5)));
        assert_eq!(
            i128::from(i64::MIN).into_return(ReturnSlot::NONE),
            Ok(RetValue::Int(i64::MIN))
        );
    }

    #[test]
    fn wide_ints_round_trip_their_ranges() {
        for v in [0i128, -1, i128::MIN, i128::MAX, i64::MIN as i128 - 1] {
            assert_eq!(WideInt::from_i128(v).to_i128(), Some(v));
        }
        assert_eq!(WideInt::from_i128(-1).to_u128(), None);
        assert_eq!(WideInt::from_u128(u128::MAX).to_u128(), Some(u128::MAX));
        assert_eq!(WideInt::from_u128(u128::MAX).to_i128(), None);
        assert_eq!(
            WideInt::from_u128(u128::MAX).to_string(),
            u128::MAX.to_string()
        );
        assert_eq!(
            WideInt::from_i128(i128::MIN).to_string(),
            i128::MIN.to_string()
        );
    }

    #[test]
    fn without_a_shim_a_wide_result_is_an_error_not_a_crash() {
        assert!(u64::MAX.into_return(ReturnSlot::NONE).is_err());
    }
}
