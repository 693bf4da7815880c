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
//! - [`py`] and [`sync`]: CPython glue (owned references, exceptions, text,
//!   containers, the free-threading refcount internals) and the threading
//!   primitives (the shim's lock, critical sections, waiting detached and
//!   the exit gate, the handle pool). `py::containers` uses
//!   `sync::critical`; `sync` uses `py`'s errors and references.
//! - [`instance`]: the layout every instance shares, and the borrow
//!   protocol.
//! - [`runtime`] and [`compat`]: the shared internals (publication, the
//!   creator's state, the type registry, the instance map) and the
//!   compatibility checks between copies.
//! - [`call`]: one call from Python into a plugin, by the path chosen when
//!   its function was created.
//! - [`class`]: the Python types of plugin classes, their slots, and the
//!   life of their instances. Slots and constructors call into [`call`];
//!   that recursion (and implicit conversions, `call::implicit`) is the
//!   call layer's only one.
//! - [`plugin`]: from a file to a module (open, validate and build, the
//!   plugin table) and the host API plugins call.
//! - The entry points: [`oxbind_module`] (`PyInit_oxbind`, `oxbind.load`)
//!   and [`embed`] (a plugin as its own extension module), with
//!   [`diagnostics`] (`internals_info()` and test hooks) and [`stubs`]
//!   (`.pyi` rendering).
//! - [`leaks`]: the leak report at exit, fed by the instance lifecycle's
//!   counts and the creator's registry.
//!
//! Edges against the layering that remain (each is a function call, not a
//! shared type): `instance::is_ours` compares against
//! `class::lifecycle::dealloc`; `runtime::instance_map` reads a class's
//! `get_ref` properties from its `class::ClassData`; the creator installs
//! [`leaks`]' report, which reads the registry back.

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
