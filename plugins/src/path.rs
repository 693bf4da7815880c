//! Filesystem paths and complex numbers (plugin ABI 0.1.6,
//! `TypeKind::PATH` and `TypeKind::COMPLEX`).
//!
//! - `&Path` and `PathBuf` parameters accept a `str`, `bytes` or any
//!   `os.PathLike`; the shim passes the path's bytes in the filesystem
//!   encoding (`os.fsencode`), which on Unix are exactly the `OsStr`'s
//!   bytes, so every path Python can name crosses, undecodable ones
//!   included. A `PathBuf` result becomes a `pathlib.Path`.
//! - [`Complex`] is `complex` both ways.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oxbind_abi::{abi_stable::std_types::RVec, ArgValue, RetValue, TypeDesc, TypeKind};

use crate::convert::unexpected;
use crate::object::as_argument;
use crate::{Error, FromArg, IntoItem, IntoObject, IntoReturn, ListItem, Object, ReturnSlot};

const PATH: TypeDesc = TypeDesc::scalar(TypeKind::PATH, "PathBuf");
const BORROWED_PATH: TypeDesc = TypeDesc::scalar(TypeKind::PATH, "&Path");

// SAFETY: TYPE is PATH, and from_arg reads only a `Bytes`, a buffer the shim
// keeps alive for 'a; the result borrows it for 'a and no longer.
unsafe impl<'a> FromArg<'a> for &'a Path {
    const TYPE: TypeDesc = BORROWED_PATH;
    /// # Safety
    /// As for [`FromArg::from_arg`]: `Bytes` borrows a buffer alive for `'a`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::Bytes(b) => Ok(Path::new(OsStr::from_bytes(b.as_slice()))),
            other => Err(unexpected(other, TypeKind::PATH)),
        }
    }
}

// SAFETY: TYPE is PATH, as `&Path`'s, and from_arg reads the value only
// through `&Path`'s conversion, copying the path before 'a ends.
unsafe impl<'a> FromArg<'a> for PathBuf {
    const TYPE: TypeDesc = PATH;
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a PATH.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: our caller's value was made for PATH, `&Path`'s TYPE too,
        // and lives for 'a.
        unsafe { <&Path>::from_arg(value) }.map(Path::to_path_buf)
    }
}

// SAFETY: ITEM is `&Path`'s FromArg::TYPE.
unsafe impl<'a> ListItem<'a> for &'a Path {
    const ITEM: &'static TypeDesc = &BORROWED_PATH;
}

// SAFETY: ITEM is `PathBuf`'s FromArg::TYPE.
unsafe impl<'a> ListItem<'a> for PathBuf {
    const ITEM: &'static TypeDesc = &PATH;
}

// SAFETY: TYPE is PATH, and into_return returns only `Bytes` (the path's
// own bytes), never touching the slot.
unsafe impl IntoReturn for PathBuf {
    const TYPE: TypeDesc = PATH;
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::Bytes(RVec::from(
            self.into_os_string().into_encoded_bytes(),
        )))
    }
}

crate::compound::container_items!([] PathBuf);

impl IntoObject for &Path {
    const TYPE: TypeDesc = PATH;
    type Shape = PathBuf;
    fn into_object(self) -> Result<Object, Error> {
        Object::from_value(self.to_path_buf())
    }
    fn into_value(self) -> Result<RetValue, Error> {
        Ok(RetValue::Bytes(RVec::from(self.as_os_str().as_bytes())))
    }
}

/// A complex number, Python's `complex`: the real and imaginary parts as
/// `f64`s. Convert it to and from the complex type of your numeric crate
/// (`num_complex::Complex64 { re, im }` has the same fields).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl Complex {
    /// `re + im·j`.
    pub const fn new(re: f64, im: f64) -> Self {
        Complex { re, im }
    }
}

const COMPLEX: TypeDesc = TypeDesc::scalar(TypeKind::COMPLEX, "Complex");

// SAFETY: TYPE is COMPLEX, and from_arg reads only a `List` of two plain
// `Float`s.
unsafe impl<'a> FromArg<'a> for Complex {
    const TYPE: TypeDesc = COMPLEX;
    /// # Safety
    /// As for [`FromArg::from_arg`]: the shim's value for a COMPLEX.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        match value {
            ArgValue::List(parts) => match parts.as_slice() {
                [ArgValue::Float(re), ArgValue::Float(im)] => Ok(Complex::new(*re, *im)),
                _ => Err(unexpected(value, TypeKind::COMPLEX)),
            },
            other => Err(unexpected(other, TypeKind::COMPLEX)),
        }
    }
}

// SAFETY: ITEM is `Complex`'s FromArg::TYPE.
unsafe impl<'a> ListItem<'a> for Complex {
    const ITEM: &'static TypeDesc = &COMPLEX;
}

// SAFETY: TYPE is COMPLEX, and into_return returns only a `List` of two
// `Float`s, never touching the slot.
unsafe impl IntoReturn for Complex {
    const TYPE: TypeDesc = COMPLEX;
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        Ok(RetValue::List(RVec::from(vec![
            RetValue::Float(self.re),
            RetValue::Float(self.im),
        ])))
    }
}

crate::compound::container_items!([] Complex);

#[cfg(test)]
mod tests {
    use super::*;
    use oxbind_abi::abi_stable::std_types::RSlice;

    #[test]
    fn paths_borrow_their_bytes_undecodable_ones_included() {
        let raw = b"/tmp/caf\xe9";
        // SAFETY: bytes that live for the call, as the shim passes them.
        let p = unsafe { <&Path>::from_arg(ArgValue::Bytes(RSlice::from_slice(raw))) }.unwrap();
        assert_eq!(p.as_os_str().as_bytes(), raw);
        assert_eq!(
            PathBuf::from("/a b").into_return(ReturnSlot::NONE),
            Ok(RetValue::Bytes(RVec::from(b"/a b".to_vec())))
        );
    }

    #[test]
    fn complex_numbers_are_two_floats() {
        let parts = [ArgValue::Float(1.5), ArgValue::Float(-2.0)];
        // SAFETY: plain values, as the shim passes them.
        let c = unsafe { Complex::from_arg(ArgValue::List(RSlice::from_slice(&parts))) };
        assert_eq!(c, Ok(Complex::new(1.5, -2.0)));
        // SAFETY: as above.
        let bad = unsafe { Complex::from_arg(ArgValue::Float(1.0)) };
        assert_eq!(bad.unwrap_err().kind, crate::ErrorKind::TYPE_ERROR);
    }
}
