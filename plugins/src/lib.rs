//! oxbind: write Python extensions in pure Rust.
//!
//! A plugin is a `cdylib` that depends on this crate and nothing from Python.
//! It marks functions with [`#[oxbind::function]`](macro@function) and
//! declares itself with [`plugin!`]; the oxbind shim (`oxbind.load(path)` in
//! Python) loads it, checks its ABI, and exposes it as a Python module.
//!
//! ```ignore
//! /// Adds two integers.
//! #[oxbind::function]
//! fn add(a: i64, b: i64) -> i64 { a + b }
//!
//! #[oxbind::function]
//! fn greet(name: &str, #[oxbind(default = "!")] punctuation: &str) -> String {
//!     format!("Hello, {name}{punctuation}")
//! }
//!
//! oxbind::plugin! {
//!     name: "hello",
//!     doc: "A first plugin.",
//!     functions: [add, greet],
//! }
//! ```
//!
//! - [`convert`]: which Rust types can be parameters and results.
//! - [`Error`]: how a Rust error becomes a Python exception.
//! - [`sync`]: locks for plugin state shared between threads.
//! - [`Instance`]: a strong reference to an instance that plugin code may keep.
//! - [`Object`]: any Python object, with its operations ([`import`],
//!   `getattr`, `call`, `extract`, …); [`Callback`]: a typed callable;
//!   [`Object::function`]: a Rust closure as a Python function.
//! - [`Array`], [`ArrayView`], [`ArrayViewMut`] and `&[T]`/`&mut [T]`
//!   parameters: Python buffers and NumPy arrays, zero copy.
//! - [`gc`]: garbage-collector hooks for classes that hold [`Instance`] handles.

mod buffer;
mod callback;
mod compound;
pub mod convert;
mod detach;
mod enumeration;
mod error;
pub mod gc;
mod object;
mod path;
#[doc(hidden)]
pub mod private;
mod protocol;
pub mod sync;
mod wide;

pub use buffer::{Array, ArrayView, ArrayViewMut, Element, Iter as ArrayIter, Plain};
pub use callback::{Callback, Closure};
pub use convert::{FromArg, IntoItem, IntoReturn, ListItem, ReturnSlot};
pub use detach::detach;
pub use enumeration::Enum;
pub use error::{Error, ErrorKind, Result};
pub use object::{import, Args, FromObject, IntoObject, Iter, Object, Signature};
pub use oxbind_abi as abi;
pub use oxbind_macros::{class, constant, function, methods};
pub use path::Complex;
pub use protocol::{LazyIter, Slice, SliceIndices};

/// Exported functions and methods must be safe: Python code could call an
/// `unsafe fn` with any arguments, so the macros refuse one.
///
/// ```
/// #[oxbind::function]
/// pub fn peek(p: usize) -> usize { p }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// /// # Safety
/// /// `p` is a valid address.
/// #[oxbind::function]
/// pub unsafe fn peek(p: usize) -> u8 { unsafe { *(p as *const u8) } }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(usize);
/// #[oxbind::methods]
/// impl Cell {
///     /// # Safety
///     /// The value is a valid address.
///     pub unsafe fn peek(&self) -> u8 { unsafe { *(self.0 as *const u8) } }
/// }
/// # fn main() {}
/// ```
#[doc(hidden)]
pub mod exports_are_safe {}

/// A parameter named with a Python keyword could not be passed by name, and
/// would make `inspect.signature` and the stub invalid: refused.
///
/// ```
/// #[oxbind::function]
/// pub fn span(from_: i64, to: i64) -> i64 { to - from_ }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::function]
/// pub fn span(from: i64, to: i64) -> i64 { to - from }
/// # fn main() {}
/// ```
#[doc(hidden)]
pub mod keyword_parameters_are_refused {}

/// `#[oxbind(detach)]` runs a call's body detached; a call that holds a
/// critical section it asked for cannot detach (the section would be
/// suspended mid-call), so the macros refuse the combination.
///
/// ```
/// #[oxbind::function]
/// #[oxbind(detach)]
/// pub fn crunch(n: u64) -> u64 { (0..n).sum() }
///
/// // The two refused shapes below compile without `detach`.
/// #[oxbind::class(module = "m")]
/// pub struct Acc(u64);
/// #[oxbind::methods]
/// impl Acc {
///     #[oxbind(lock_self)]
///     pub fn bump(&mut self) { self.0 += 1 }
/// }
/// #[oxbind::function]
/// pub fn add(#[oxbind(lock)] a: &mut Acc) { a.0 += 1 }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Acc(u64);
/// #[oxbind::methods]
/// impl Acc {
///     #[oxbind(detach, lock_self)]
///     pub fn bump(&mut self) { self.0 += 1 }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Acc(u64);
/// #[oxbind::function(detach)]
/// pub fn add(#[oxbind(lock)] a: &mut Acc) { a.0 += 1 }
/// # fn main() {}
/// ```
#[doc(hidden)]
pub mod detach_refuses_held_locks {}

/// Class methods, class attributes and constants have fixed shapes, checked
/// at compile time: a class method's first parameter receives the class, a
/// class attribute takes nothing, and neither has `self`.
///
/// ```
/// #[oxbind::class(module = "m", subclass, weakref, dict)]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(classattr)]
///     const ZERO: i64 = 0;
///     #[oxbind(classattr)]
///     fn unit() -> Cell { Cell(1) }
///     #[oxbind(classmethod)]
///     fn named(cls: oxbind::Object) -> oxbind::Result<oxbind::Object> { cls.getattr("__name__") }
/// }
/// #[oxbind::constant]
/// pub const LIMIT: i64 = 10;
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(classmethod)]
///     fn named() -> i64 { 0 }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(classattr)]
///     fn unit(k: i64) -> Cell { Cell(k) }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(classmethod)]
///     fn named(&self, cls: oxbind::Object) -> i64 { self.0 }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m", final)]
/// pub struct Cell(i64);
/// # fn main() {}
/// ```
#[doc(hidden)]
pub mod class_methods_and_attributes_have_fixed_shapes {}

/// The class protocol's shapes are checked at compile time: a special
/// method oxbind does not know, a slot method with the wrong number of
/// parameters, and a getter or setter of the wrong shape are refused.
///
/// ```
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(getter)]
///     fn value(&self) -> i64 { self.0 }
///     #[oxbind(setter)]
///     fn set_value(&mut self, v: i64) { self.0 = v }
///     fn __setitem__(&mut self, _k: &str, v: i64) { self.0 = v }
///     fn __iadd__(&mut self, v: i64) { self.0 += v }
///     fn __enter__(&self) -> &Self { self }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     fn __getattr__(&self, name: &str) -> i64 { self.0 }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     fn __setitem__(&mut self, v: i64) { self.0 = v }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(getter)]
///     fn value(&self, scale: i64) -> i64 { self.0 * scale }
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub struct Cell(i64);
/// #[oxbind::methods]
/// impl Cell {
///     #[oxbind(setter)]
///     fn set_value(&self, v: i64) {}
/// }
/// # fn main() {}
/// ```
///
/// Enums are fieldless: a data-carrying enum is refused.
///
/// ```compile_fail
/// #[oxbind::class(module = "m")]
/// pub enum Shape { Circle(f64), Square { side: f64 } }
/// # fn main() {}
/// ```
#[doc(hidden)]
pub mod class_protocol_shapes {}

/// A Rust struct exposed as a Python class. Implemented by
/// [`#[oxbind::class]`](macro@class); never by hand.
///
/// # Safety
/// `CLASS` describes `Self` exactly: its size, alignment, and (for a shared
/// class) its abi_stable layout.
pub unsafe trait Class: Sized + 'static {
    /// The class's identity and layout.
    const CLASS: &'static abi::ClassRef;
    /// The class docstring.
    const DOC: &'static str;
    /// The properties generated from `#[oxbind(get, set)]` fields.
    const PROPERTIES: &'static [abi::PropertyDesc];
    /// Clones a value, if the struct derives `Clone`.
    const CLONE: abi::abi_stable::std_types::ROption<
        unsafe extern "C" fn(*const std::ffi::c_void, *mut std::ffi::c_void),
    >;
    /// What the class opts into: `abi::ClassOptions::SUBCLASS`, `WEAKREF`,
    /// `DICT` (`#[oxbind::class(subclass, weakref, dict)]`).
    const OPTIONS: u32 = 0;
}

pub use oxbind_macros::plugin;

/// Exports `PyInit_<name>` when the SDK's `standalone` feature is on: the
/// plugin then embeds a shim copy and is its own extension module.
#[cfg(feature = "standalone")]
#[doc(hidden)]
#[macro_export]
macro_rules! __oxbind_standalone_entry {
    ($init:ident, $root:ident) => {
        /// The extension-module entry point of this plugin.
        ///
        /// # Safety
        /// Called by CPython's import machinery.
        #[no_mangle]
        pub unsafe extern "C" fn $init() -> *mut ::std::ffi::c_void {
            // SAFETY: CPython's import machinery calls this, with the thread
            // attached, as `standalone_init` requires.
            unsafe { ::oxbind::private::standalone_init(&$root) }
        }
    };
}

/// Without the `standalone` feature a plugin is loaded by `oxbind.load` only.
#[cfg(not(feature = "standalone"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __oxbind_standalone_entry {
    ($init:ident, $root:ident) => {};
}

mod handle;
pub use handle::Instance;
