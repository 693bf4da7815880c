//! Procedural macros of the oxbind SDK: `oxbind::plugin!`,
//! `#[oxbind::function]`, `#[oxbind::class]` and `#[oxbind::methods]`.
//!
//! This file holds only the entry points. The expansion of each item kind
//! has its own file (`plugin.rs`, `function.rs`, `class.rs`, `methods.rs`);
//! the options, the signature checks and the templates every expansion
//! emits (`emit.rs`: the C trampoline and the `FunctionDesc` literal) are
//! shared.
//!
//! The expansions only name items of the `oxbind` crate (through the absolute
//! path `::oxbind`), so a plugin needs no other dependency.

use proc_macro::TokenStream;
use proc_macro2::Span;

use crate::class::expand_class;
use crate::function::expand_function;
use crate::methods::expand_methods;
use crate::plugin::{expand_plugin, PluginDecl};

mod class;
mod emit;
mod enumeration;
mod function;
mod methods;
mod options;
mod plugin;
mod signature;

/// Declares the plugin: its Python module name, docstring and exports.
///
/// ```ignore
/// oxbind::plugin! {
///     name: "hello",
///     doc: "A first plugin.",              // optional
///     free_threading_safe: true,           // optional, default true; false: oxbind
///                                          // runs the plugin's calls one at a time
///     init: setup,                         // optional: fn() -> Result<(), oxbind::Error>
///     functions: [add, greet],
/// }
/// ```
///
/// `init` runs once when the plugin is loaded, after the shim's checks and
/// before any of its classes or functions exist in Python. An `Err` or a
/// panic makes the load raise ImportError, with nothing registered.
///
/// Expands to the exported `OXBIND_PLUGIN_ROOT` static that `oxbind.load`
/// looks for. When the SDK's `standalone` feature is on, it also exports
/// `PyInit_<name>`, so the same crate builds as its own extension module.
#[proc_macro]
pub fn plugin(input: TokenStream) -> TokenStream {
    match syn::parse::<PluginDecl>(input) {
        Ok(decl) => expand_plugin(decl).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Exports a free function to Python.
///
/// Parameters take any type implementing `oxbind::FromArg` and the result any
/// type implementing `oxbind::IntoReturn` (see `oxbind::convert`). Doc
/// comments become the docstring.
///
/// - `#[oxbind::function(name = "py_name")]` renames the Python function.
/// - `#[oxbind(default = <literal>)]` on a parameter makes it optional in
///   Python; the literal is a string, byte string, integer, float, `true`,
///   `false` or `None`.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_function(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Exports a constant as a module attribute: list it in
/// `plugin! { constants: [...] }`. Its value is converted once, at load.
///
/// ```ignore
/// #[oxbind::constant]
/// pub const GOLDEN: f64 = 1.618;
/// ```
#[proc_macro_attribute]
pub fn constant(attr: TokenStream, item: TokenStream) -> TokenStream {
    match function::expand_constant(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

// ---------------------------------------------------------------------------
// Classes.

/// Exposes a struct as a Python class.
///
/// ```ignore
/// #[oxbind::class(module = "geometry", shared)]
/// #[derive(Clone, StableAbi)]
/// #[repr(C)]
/// pub struct Point {
///     #[oxbind(get, set)]
///     pub x: f64,
///     #[oxbind(get, set)]
///     pub y: f64,
/// }
/// ```
///
/// - `module` (required): the Python module of the plugin that owns the
///   class; the class is `<module>.<Name>`.
/// - `name`: the Python name, if not the struct's.
/// - `shared`: other plugins may use the class. The struct must be
///   `#[repr(C)]` and derive `abi_stable::StableAbi`; its layout is checked
///   wherever plugins meet.
/// - `gc`: the value holds Python references (`oxbind::Instance` handles).
///   The struct must implement `oxbind::gc::Traverse`; its type then takes
///   part in garbage collection, so cycles through it are collected.
/// - `subclass`: Python classes may subclass it (`spec/PLUGIN-ABI.md`,
///   "Subclassing"); the value still lives inline in the instance.
/// - `weakref`: instances can be weakly referenced.
/// - `dict`: instances have a `__dict__` for arbitrary attributes.
/// - Field attributes: `#[oxbind(get)]` (a property returning a copy of the
///   field), `#[oxbind(get_ref)]` (returning a reference that keeps the
///   instance alive, for class-typed fields), `#[oxbind(set)]`.
///
/// Methods come from an `#[oxbind::methods]` block.
///
/// On a fieldless enum it exports a Python enum class (an `enum.Enum`
/// subclass, or `enum.IntEnum` with `int`), whose members are the variants
/// with their discriminants as values; list it in `plugin! { enums: [...] }`.
/// `shared` works as for a struct (the enum then needs a `#[repr(...)]` and
/// `StableAbi`, whose layout records the variant names and values).
#[proc_macro_attribute]
pub fn class(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    if let Ok(e) = syn::parse2::<syn::ItemEnum>(item.clone()) {
        return match enumeration::expand_enum(attr.into(), e) {
            Ok(tokens) => tokens.into(),
            Err(err) => err.to_compile_error().into(),
        };
    }
    match expand_class(attr.into(), item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Exports the methods of an `#[oxbind::class]` struct.
///
/// - `&self` and `&mut self` methods become instance methods.
/// - `#[oxbind(new)]` marks the constructor (it returns `Self`, or
///   `Result<Self, E>`).
/// - `#[oxbind(staticmethod)]` marks a static method.
/// - Special methods fill the matching type slots: the operators with their
///   reflected and in-place forms, the comparisons, the container and
///   iterator protocol, `__call__` (the full list is in
///   `spec/PLUGIN-ABI.md`, "Classes"); `__enter__`, `__exit__`,
///   `__format__`, `__copy__` and the other special methods Python looks up
///   by name are ordinary methods.
/// - `#[oxbind(getter)]` and `#[oxbind(setter)]` make a computed property
///   (a setter `set_x` sets `x`).
/// - Methods sharing a Python name (`#[oxbind(name = "...")]`) are
///   overloads, tried in order.
/// - Parameters take `#[oxbind(default = <literal>)]` as in
///   `#[oxbind::function]`; `#[oxbind(name = "...")]` renames a method.
/// - `#[oxbind(lock_self)]` on a method and `#[oxbind(lock)]` on parameters
///   lock those objects (one critical section, at most two objects) before
///   argument conversion, through the call and the result conversion.
#[proc_macro_attribute]
pub fn methods(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[oxbind::methods] takes no options")
            .to_compile_error()
            .into();
    }
    match expand_methods(item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
