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

pub mod convert;
mod error;
#[doc(hidden)]
pub mod private;

pub use convert::{FromArg, IntoReturn};
pub use error::{Error, ErrorKind, Result};
pub use oxbind_abi as abi;
pub use oxbind_macros::function;

/// Declares the plugin: its Python module name, docstring and functions.
///
/// Expands to the exported `OXBIND_PLUGIN_ROOT` static the shim looks for.
/// `functions` lists functions marked `#[oxbind::function]`, by path.
/// `free_threading_safe` defaults to `true`: oxbind code holds no unlocked
/// shared state, and a plugin that does must say `false`.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:literal,
        $(doc: $doc:literal,)?
        $(free_threading_safe: $ft:literal,)?
        functions: [$($($seg:ident)::+),* $(,)?] $(,)?
    ) => {
        const _: () = {
            use $crate::abi::abi_stable::{prefix_type::{PrefixTypeTrait, WithMetadata}, std_types::{RSlice, RStr}};
            static FUNCTIONS: &[$crate::abi::FunctionDesc] = &[$($($seg)::+::__OXBIND_DESC),*];
            static MODULE: WithMetadata<$crate::abi::PluginModule> = WithMetadata::new($crate::abi::PluginModule {
                name: RStr::from_str($name),
                version: RStr::from_str(env!("CARGO_PKG_VERSION")),
                doc: RStr::from_str($crate::__oxbind_or!($($doc)?, "")),
                free_threading_safe: $crate::__oxbind_or!($($ft)?, true),
                functions: RSlice::from_slice(FUNCTIONS),
            });
            #[no_mangle]
            #[used]
            pub static OXBIND_PLUGIN_ROOT: $crate::abi::PluginRoot =
                $crate::abi::PluginRoot::new($crate::abi::PluginModule_Ref(MODULE.static_as_prefix()));
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __oxbind_or {
    (, $default:expr) => { $default };
    ($value:expr, $default:expr) => { $value };
}
