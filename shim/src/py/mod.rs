//! CPython glue: the bottom layer, with [`crate::sync`]. Nothing here knows
//! about plugins, classes or calls.
//!
//! - [`ffi`]: CPython declarations that `pyo3-ffi` lacks.
//! - [`owned`]: [`owned::Owned`], a strong reference released on drop.
//! - [`errors`]: raising exceptions (`oxbind.PanicError` included) and the
//!   text helpers messages use.
//! - [`containers`]: reading `list` and `dict` arguments that other threads
//!   may be mutating.
//! - [`module_def`]: what every module definition of a shim copy shares.

pub(crate) mod containers;
pub(crate) mod dict;
pub(crate) mod errors;
pub(crate) mod ffi;
pub(crate) mod module_def;
pub(crate) mod owned;
pub(crate) mod refcount;
