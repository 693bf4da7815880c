//! oxbind-shim: the oxbind runtime, and the only code in oxbind that talks to
//! CPython.
//!
//! Built as a `cdylib` it is the Python extension module `oxbind`, whose
//! `load(path)` loads plugins: pure-Rust `cdylib`s built with the `oxbind`
//! SDK, which reach Python only through the C ABI of `oxbind-abi`.
//!
//! The crate is laid out in layers, bottom to top (`ARCHITECTURE.md` at the
//! repository root maps every concern to its file):
//!
//! - [`py`]: CPython glue (owned references, exceptions, text, the
//!   free-threading refcount internals).
//! - [`sync`]: the threading primitives (the shim's lock, critical
//!   sections, waiting detached and the exit gate, the handle pool, reading
//!   containers other threads mutate).
//! - [`instance`]: the layout every instance shares, the borrow protocol,
//!   and the live-instance counts.
//! - [`compat`]: the compatibility checks between copies.
//! - [`runtime`]: the shared internals (publication, the creator's state,
//!   the type registry, the instance map).
//! - [`call`]: one call from Python into a plugin, by the path chosen when
//!   its function was created.
//! - [`class`]: the Python types of plugin classes, their slots, and the
//!   life of their instances. Slots and constructors call into [`call`];
//!   that recursion (and implicit conversions, `call::implicit`) is the
//!   call layer's only one.
//! - [`plugin`]: from a file to a module (open, validate and build, the
//!   plugin table) and the host API plugins call.
//! - [`leaks`]: the leak report at exit.
//! - [`diagnostics`] (`internals_info()` and test hooks) and [`stubs`]
//!   (`.pyi` rendering).
//! - The entry points: [`oxbind_module`] (`PyInit_oxbind`, `oxbind.load`)
//!   and [`embed`] (a plugin as its own extension module).
//!
//! No module names one of a higher layer (`cargo xtask lint` checks it
//! against `ARCHITECTURE.md`); where a lower layer needs something of a
//! higher one, the higher one registers it (`instance::register_dealloc`).

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
