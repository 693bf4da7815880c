//! CPython glue: the bottom layer. Nothing here knows about plugins,
//! classes or calls, or uses any other module of the shim.
//!
//! - [`ffi`]: CPython declarations that `pyo3-ffi` lacks.
//! - [`owned`]: [`owned::Owned`], a strong reference released on drop.
//! - [`errors`]: raising exceptions (`oxbind.PanicError` included) and the
//!   text helpers messages use.
//! - [`module_def`]: what every module definition of a shim copy shares.
//! - [`wide`]: ints beyond `i64` to and from `WideInt`.
//! - [`buffer`]: the buffer protocol: argument exports checked against a
//!   buffer parameter, and `oxbind.Array` for array results.

pub(crate) mod buffer;
pub(crate) mod dict;
pub(crate) mod errors;
pub(crate) mod iter;
pub(crate) mod ffi;
pub(crate) mod module_def;
pub(crate) mod owned;
pub(crate) mod path;
pub(crate) mod refcount;
pub(crate) mod wide;
