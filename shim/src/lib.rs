//! oxbind-shim: the oxbind runtime, and the only code in oxbind that talks to
//! CPython.
//!
//! Built as a `cdylib` it is the Python extension module `oxbind`, whose
//! `load(path)` loads plugins: pure-Rust `cdylib`s built with the `oxbind`
//! SDK, which reach Python only through the C ABI of `oxbind-abi`.
//!
//! - [`module`]: the `oxbind` module itself (`PyInit_oxbind`, `load`).
//! - [`embed`]: the same runtime embedded in a plugin's own extension module.
//! - [`internals`]: the shared internals every shim copy in an interpreter
//!   joins: publication, checks, the creator's locked state, the type
//!   registry with its thread-local cache.
//! - [`diagnostics`]: `internals_info()` and the registry hooks for tests.
//! - [`sync`]: locks that detach from the interpreter while they wait.
//! - [`detach`]: waiting detached, and re-attaching through the exit gate.
//! - [`refpool`]: handle reference counts from threads not attached.
//! - [`critical`]: critical sections on the objects a call locks.
//! - [`loader`]: opening a plugin file and checking its root before any of
//!   its code runs.
//! - [`plugin_module`]: turning a checked plugin into a Python module.
//! - [`plugin_table`]: which file holds each plugin name, and which load
//!   builds it.
//! - [`function`]: exported functions as vectorcall `PyCFunction`s, and the
//!   dispatch from Python arguments to a plugin call.
//! - [`classes`]: Python types for plugin classes, their slots, and checks
//!   of classes used across plugins.
//! - [`instance`]: instance layout, borrows, reference wrappers and the
//!   instance map's try-incref.
//! - [`convert`]: Python objects to argument values and results to objects.
//! - [`errors`]: exceptions, `oxbind.PanicError`, and the error helpers.
//! - [`ffi`]: CPython declarations that `pyo3-ffi` lacks.
//! - [`pyref`]: an owned strong reference.
//! - [`stubs`]: `.pyi` type stubs from a plugin's registered signatures.

pub(crate) mod call;
pub(crate) mod class;
pub(crate) mod compat;
pub(crate) mod diagnostics;
pub mod embed;
pub(crate) mod instance;
pub(crate) mod leaks;
#[cfg(feature = "extension-module")]
pub(crate) mod oxbind_module;
pub(crate) mod plugin;
pub(crate) mod py;
pub(crate) mod runtime;
#[cfg(feature = "extension-module")]
pub(crate) mod stubs;
pub(crate) mod sync;

/// The version of this shim crate.
pub const SHIM_VERSION: &str = env!("CARGO_PKG_VERSION");
