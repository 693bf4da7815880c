//! From a file on disk to a Python module, and what a loaded plugin may ask
//! of the shim.
//!
//! - [`open`]: checking a file and its root before any plugin code runs.
//! - [`build`]: validating a plugin's descriptors and building its module.
//! - [`table`]: which file holds each plugin name, and which load builds it.
//! - [`host`]: the host API plugins call (reference counts, `PyMutex`,
//!   critical sections, detaching).
//! - [`objects`]: the host API's Python-object operations.
//!
//! The entry points that drive these are [`crate::oxbind_module`]
//! (`oxbind.load`) and [`crate::embed`] (a plugin as its own module).

pub(crate) mod build;
pub(crate) mod host;
pub(crate) mod objects;
pub(crate) mod open;
pub(crate) mod table;
