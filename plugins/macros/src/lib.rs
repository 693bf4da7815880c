//! Procedural macros of the oxbind SDK: `#[oxbind::function]` and
//! `oxbind::plugin!`.
//!
//! The expansions only name items of the `oxbind` crate (through the absolute
//! path `::oxbind`), so a plugin needs no other dependency.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{
    bracketed,
    parse::{Parse, ParseStream, Parser},
    punctuated::Punctuated,
    spanned::Spanned,
    Attribute, Expr, ExprLit, FnArg, ItemFn, Lit, LitBool, LitStr, Meta, Pat, Path, ReturnType,
    Token, Type,
};

/// Declares the plugin: its Python module name, docstring and exports.
///
/// ```ignore
/// oxbind::plugin! {
///     name: "hello",
///     doc: "A first plugin.",              // optional
///     free_threading_safe: true,           // optional, default true
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

struct PluginDecl {
    name: LitStr,
    doc: Option<LitStr>,
    free_threading_safe: Option<LitBool>,
    init: Option<Path>,
    functions: Vec<Path>,
    classes: Vec<Path>,
    conversions: Vec<Path>,
}

impl Parse for PluginDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (mut name, mut doc, mut ft, mut init, mut functions, mut classes, mut conversions) =
            (None, None, None, None, None, None, None);
        let paths = |input: ParseStream| -> syn::Result<Vec<Path>> {
            let content;
            bracketed!(content in input);
            Ok(Punctuated::<Path, Token![,]>::parse_terminated(&content)?
                .into_iter()
                .collect())
        };
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            match key.to_string().as_str() {
                "name" => name = Some(input.parse::<LitStr>()?),
                "doc" => doc = Some(input.parse::<LitStr>()?),
                "free_threading_safe" => ft = Some(input.parse::<LitBool>()?),
                "init" => init = Some(input.parse::<Path>()?),
                "functions" => functions = Some(paths(input)?),
                "classes" => classes = Some(paths(input)?),
                "conversions" => conversions = Some(paths(input)?),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown plugin! key `{other}`; expected name, doc, free_threading_safe, init, functions, classes or conversions"),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let name = name.ok_or_else(|| input.error("plugin! needs `name: \"...\"`"))?;
        Ok(PluginDecl {
            name,
            doc,
            free_threading_safe: ft,
            init,
            functions: functions.unwrap_or_default(),
            classes: classes.unwrap_or_default(),
            conversions: conversions.unwrap_or_default(),
        })
    }
}

fn expand_plugin(decl: PluginDecl) -> TokenStream2 {
    let name = &decl.name;
    let doc = decl.doc.map(|d| d.value()).unwrap_or_default();
    let ft = decl.free_threading_safe.map(|b| b.value).unwrap_or(true);
    let py_init = format_ident!("PyInit_{}", decl.name.value());
    let init = match &decl.init {
        Some(path) => quote! {{
            extern "C" fn __oxbind_init() -> ::oxbind::abi::CallOutcome {
                ::oxbind::private::run_init(#path)
            }
            ::oxbind::private::RSome(__oxbind_init as extern "C" fn() -> ::oxbind::abi::CallOutcome)
        }},
        None => quote!(::oxbind::private::RNone),
    };
    let descs = decl
        .functions
        .iter()
        .map(|path| quote!(#path::__OXBIND_DESC));
    let convs = decl
        .conversions
        .iter()
        .map(|path| quote!(#path::__OXBIND_DESC));
    let classes = decl.classes.iter().map(|ty| {
        quote! {
            ::oxbind::abi::ClassDesc {
                class: <#ty as ::oxbind::Class>::CLASS,
                doc: RStr::from_str(<#ty as ::oxbind::Class>::DOC),
                drop: ::oxbind::private::drop_value::<#ty>,
                clone: <#ty as ::oxbind::Class>::CLONE,
                constructor: { use ::oxbind::private::NoMethods as _; <#ty>::__OXBIND_CONSTRUCTOR },
                methods: RSlice::from_slice({ use ::oxbind::private::NoMethods as _; <#ty>::__OXBIND_METHODS }),
                properties: RSlice::from_slice(<#ty as ::oxbind::Class>::PROPERTIES),
            }
        }
    });
    let class_gc = decl
        .classes
        .iter()
        .map(|ty| quote!({ use ::oxbind::private::NoGc as _; <#ty>::__OXBIND_GC }));
    quote! {
        const _: () = {
            use ::oxbind::abi::abi_stable::{
                prefix_type::{PrefixTypeTrait, WithMetadata},
                std_types::{RSlice, RStr},
            };
            static FUNCTIONS: &[::oxbind::abi::FunctionDesc] = &[#(#descs),*];
            static CLASSES: &[::oxbind::abi::ClassDesc] = &[#(#classes),*];
            static CLASS_GC: &[::oxbind::abi::ClassGc] = &[#(#class_gc),*];
            static CONVERSIONS: &[::oxbind::abi::FunctionDesc] = &[#(#convs),*];
            static MODULE: WithMetadata<::oxbind::abi::PluginModule> = WithMetadata::new(::oxbind::abi::PluginModule {
                name: RStr::from_str(#name),
                version: RStr::from_str(env!("CARGO_PKG_VERSION")),
                doc: RStr::from_str(#doc),
                free_threading_safe: #ft,
                functions: RSlice::from_slice(FUNCTIONS),
                classes: RSlice::from_slice(CLASSES),
                conversions: RSlice::from_slice(CONVERSIONS),
                // SAFETY: only the shim stores into the host slot.
                host: unsafe { ::oxbind::private::HOST.for_shim() },
                class_gc: RSlice::from_slice(CLASS_GC),
                init: #init,
            });
            /// The oxbind plugin root (`spec/PLUGIN-ABI.md`).
            #[no_mangle]
            #[used]
            pub static OXBIND_PLUGIN_ROOT: ::oxbind::abi::PluginRoot =
                ::oxbind::abi::PluginRoot::new(::oxbind::abi::PluginModule_Ref(MODULE.static_as_prefix()));
            ::oxbind::__oxbind_standalone_entry!(#py_init, OXBIND_PLUGIN_ROOT);
        };
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

struct Param {
    ident: syn::Ident,
    python_name: String,
    ty: Type,
    default: Option<TokenStream2>,
    lock: bool,
}

fn expand_function(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut func: ItemFn = syn::parse2(item)?;
    let python_name = parse_function_options(attr)?.unwrap_or_else(|| unraw(&func.sig.ident));
    check_signature(&func)?;

    let mut params = Vec::new();
    for input in func.sig.inputs.iter_mut() {
        let FnArg::Typed(pat_type) = input else {
            return Err(syn::Error::new(
                input.span(),
                "#[oxbind::function] exports free functions; `self` is not allowed here",
            ));
        };
        params.push(parse_param(pat_type)?);
    }
    check_params(&params, false, func.sig.ident.span())?;

    let doc = doc_string(&func.attrs);
    let fn_ident = func.sig.ident.clone();
    let vis = func.vis.clone();
    let desc_ident = format_ident!("__OXBIND_DESC_{}", unraw(&fn_ident));
    let ret_ty: Type = match &func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };

    let conversions = arg_conversions(&params, &python_name);
    let arg_idents = (0..params.len()).map(|i| format_ident!("__oxbind_arg{}", i));
    let param_descs = params.iter().map(param_desc);

    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #desc_ident: ::oxbind::abi::FunctionDesc = {
            /// The function's `CallFn`.
            ///
            /// # Safety
            /// Called by the shim only, as `CallFn` says: `args` were made
            /// from this descriptor's `params`, and `ret_slot` is null or
            /// storage for the result's class.
            #[allow(unused_unsafe)]
            unsafe extern "C" fn __oxbind_call(
                _this: *mut ::std::ffi::c_void,
                args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
                ret_slot: *mut ::std::ffi::c_void,
            ) -> ::oxbind::abi::CallOutcome {
                ::oxbind::private::call(move || {
                    let __args = args.as_slice();
                    #(#conversions)*
                    // SAFETY (generated): `ret_slot` is the shim's, null or
                    // storage for the result's class (`CallFn`).
                    ::oxbind::IntoReturn::into_return(#fn_ident(#(#arg_idents),*), unsafe { ::oxbind::ReturnSlot::from_raw(ret_slot) })
                })
            }
            ::oxbind::abi::FunctionDesc {
                name: ::oxbind::private::RStr::from_str(#python_name),
                doc: ::oxbind::private::RStr::from_str(#doc),
                params: ::oxbind::private::RSlice::from_slice(&[#(#param_descs),*]),
                ret: <#ret_ty as ::oxbind::IntoReturn>::TYPE,
                receiver: ::oxbind::abi::Receiver::NONE,
                lock_self: false,
                call: __oxbind_call,
            }
        };

        /// The oxbind descriptor of the function of the same name.
        #[doc(hidden)]
        #vis mod #fn_ident {
            pub const __OXBIND_DESC: ::oxbind::abi::FunctionDesc = super::#desc_ident;
        }
    })
}

fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

fn parse_function_options(attr: TokenStream2) -> syn::Result<Option<String>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut name = None;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("name") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => name = Some(s.value()),
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "`name` takes a string literal",
                    ))
                }
            },
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "unknown option; expected `name = \"...\"`",
                ))
            }
        }
    }
    Ok(name)
}

fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(t) = &sig.asyncness {
        return Err(syn::Error::new(
            t.span(),
            "#[oxbind::function] cannot export an async fn",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "#[oxbind::function] cannot export a generic fn",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "#[oxbind::function] cannot export a variadic fn",
        ));
    }
    Ok(())
}

/// Removes every `#[oxbind(...)]` attribute and returns the options inside.
fn take_options(attrs: &mut Vec<Attribute>) -> syn::Result<Vec<Meta>> {
    let mut options = Vec::new();
    let mut error = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("oxbind") {
            return true;
        }
        match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            Ok(metas) => options.extend(metas),
            Err(e) => error = Some(e),
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(options),
    }
}

/// Removes `#[oxbind(default = ..., lock)]` from a parameter: the
/// `ArgValue` expression of the default, and whether to lock the argument.
fn take_param_options(attrs: &mut Vec<Attribute>) -> syn::Result<(Option<TokenStream2>, bool)> {
    let (mut default, mut lock) = (None, false);
    for meta in take_options(attrs)? {
        match meta {
            Meta::NameValue(nv) if nv.path.is_ident("default") => {
                default = Some(default_value(&nv.value)?)
            }
            Meta::Path(p) if p.is_ident("lock") => lock = true,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "unknown parameter option; expected `default = <literal>` or `lock`",
                ))
            }
        }
    }
    Ok((default, lock))
}

/// One exported parameter: a plain name, its type and its options.
fn parse_param(pat_type: &mut syn::PatType) -> syn::Result<Param> {
    let Pat::Ident(pat_ident) = &*pat_type.pat else {
        return Err(syn::Error::new(
            pat_type.pat.span(),
            "oxbind parameters must be plain names",
        ));
    };
    let (default, lock) = take_param_options(&mut pat_type.attrs)?;
    Ok(Param {
        ident: pat_ident.ident.clone(),
        python_name: unraw(&pat_ident.ident),
        ty: (*pat_type.ty).clone(),
        default,
        lock,
    })
}

/// The statements converting each argument: `let __oxbind_argN: T = ...?;`.
/// `context` names the function in error messages.
fn arg_conversions(params: &[Param], context: &str) -> Vec<TokenStream2> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ident = format_ident!("__oxbind_arg{}", i);
            let ty = &p.ty;
            let pname = &p.python_name;
            // SAFETY (generated): `__args` are the shim's values for this call.
            quote! { let #ident: #ty = unsafe { ::oxbind::private::arg::<#ty>(__args, #i, #context, #pname) }?; }
        })
        .collect()
}

/// Checks that apply to every exported function: no parameter without a
/// default after one with a default, and at most two locked objects.
fn check_params(params: &[Param], lock_self: bool, span: Span) -> syn::Result<()> {
    let mut seen_default = false;
    for p in params {
        if p.default.is_some() {
            seen_default = true;
        } else if seen_default {
            return Err(syn::Error::new(
                p.ident.span(),
                "a parameter without a default cannot follow one with a default",
            ));
        }
    }
    let count = params.iter().filter(|p| p.lock).count() + lock_self as usize;
    if count > 2 {
        return Err(syn::Error::new(span, format!("at most two objects can be locked by one call ({count} are: lock_self and `#[oxbind(lock)]` parameters)")));
    }
    Ok(())
}

fn default_value(expr: &Expr) -> syn::Result<TokenStream2> {
    let value = quote!(::oxbind::abi::ArgValue);
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit { lit, .. }) => (false, lit),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => (true, lit),
            other => return Err(unsupported_default(other.span())),
        },
        Expr::Path(p) if p.path.is_ident("None") => return Ok(quote!(#value::None)),
        other => return Err(unsupported_default(other.span())),
    };
    let sign = if negative { quote!(-) } else { quote!() };
    Ok(match lit {
        Lit::Str(s) => quote!(#value::Str(::oxbind::private::RStr::from_str(#s))),
        Lit::ByteStr(b) => quote!(#value::Bytes(::oxbind::private::RSlice::from_slice(#b))),
        Lit::Int(i) => {
            let n: i64 = i.base10_parse()?;
            quote!(#value::Int(#sign #n))
        }
        Lit::Float(f) => {
            let n: f64 = f.base10_parse()?;
            quote!(#value::Float(#sign #n))
        }
        Lit::Bool(b) if !negative => quote!(#value::Bool(#b)),
        other => return Err(unsupported_default(other.span())),
    })
}

fn unsupported_default(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "a default must be a string, byte string, integer, float or bool literal, or None",
    )
}

/// Joins the `///` lines into a docstring, dropping rustdoc's leading space.
fn doc_string(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta {
            if nv.path.is_ident("doc") {
                if let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
                {
                    let line = s.value();
                    lines.push(line.strip_prefix(' ').map(str::to_owned).unwrap_or(line));
                }
            }
        }
    }
    lines.join("\n").trim().to_owned()
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
/// - Field attributes: `#[oxbind(get)]` (a property returning a copy of the
///   field), `#[oxbind(get_ref)]` (returning a reference that keeps the
///   instance alive, for class-typed fields), `#[oxbind(set)]`.
///
/// Methods come from an `#[oxbind::methods]` block.
#[proc_macro_attribute]
pub fn class(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_class(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand_class(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut strukt: syn::ItemStruct = syn::parse2(item)?;
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let (mut module, mut name, mut shared, mut gc) = (None, None, false, false);
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("module") => module = Some(lit_str(&nv.value)?),
            Meta::NameValue(nv) if nv.path.is_ident("name") => name = Some(lit_str(&nv.value)?),
            Meta::Path(p) if p.is_ident("shared") => shared = true,
            Meta::Path(p) if p.is_ident("gc") => gc = true,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected `module = \"...\"`, `name = \"...\"`, `shared` or `gc`",
                ))
            }
        }
    }
    let module = module.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "#[oxbind::class] needs `module = \"<plugin module>\"`",
        )
    })?;
    if !strukt.generics.params.is_empty() {
        return Err(syn::Error::new(
            strukt.generics.span(),
            "#[oxbind::class] cannot expose a generic struct",
        ));
    }
    let ident = strukt.ident.clone();
    let py_name = name.unwrap_or_else(|| unraw(&ident));
    let key = format!("{module}.{py_name}");
    let doc = doc_string(&strukt.attrs);
    let is_clone = derives(&strukt.attrs, "Clone");
    let rust_name = ident.to_string();

    // Properties from field attributes.
    let mut accessors = Vec::new();
    let mut properties = Vec::new();
    if let syn::Fields::Named(fields) = &mut strukt.fields {
        for field in fields.named.iter_mut() {
            let (mut get, mut get_ref, mut set) = (false, false, false);
            for m in take_options(&mut field.attrs)? {
                match m {
                    Meta::Path(p) if p.is_ident("get") => get = true,
                    Meta::Path(p) if p.is_ident("get_ref") => get_ref = true,
                    Meta::Path(p) if p.is_ident("set") => set = true,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "expected `get`, `get_ref` or `set`",
                        ))
                    }
                }
            }
            if !(get || get_ref || set) {
                continue;
            }
            if get && get_ref {
                return Err(syn::Error::new(
                    field.span(),
                    "a field takes `get` or `get_ref`, not both",
                ));
            }
            let fident = field.ident.clone().expect("named field");
            let fname = unraw(&fident);
            let fty = field.ty.clone();
            let fdoc = doc_string(&field.attrs);
            let getter = format_ident!("__oxbind_get_{}", fname);
            let setter = format_ident!("__oxbind_set_{}", fname);
            let (get_ty, get_expr): (Type, TokenStream2) = if get_ref {
                (syn::parse_quote!(&'static #fty), quote!(&this.#fident))
            } else {
                (
                    fty.clone(),
                    quote!(::core::clone::Clone::clone(&this.#fident)),
                )
            };
            accessors.push(quote! {
                /// The property getter's `CallFn`.
                ///
                /// # Safety
                /// Called by the shim only, as `CallFn` says: `this` is the
                /// value of a live instance of this class, borrowed shared for
                /// the call, and `ret_slot` is null or storage for the
                /// result's class.
                #[doc(hidden)]
                #[allow(unused_unsafe)]
                unsafe extern "C" fn #getter(
                    this: *mut ::std::ffi::c_void,
                    _args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
                    ret_slot: *mut ::std::ffi::c_void,
                ) -> ::oxbind::abi::CallOutcome {
                    ::oxbind::private::call(move || {
                        // SAFETY (generated): the shim passes the value of a
                        // live instance of this class, borrowed shared.
                        let this: &Self = unsafe { ::oxbind::private::value_ref::<Self>(this) };
                        // SAFETY (generated): `ret_slot` is the shim's, null or
                        // storage for the result's class (`CallFn`).
                        ::oxbind::IntoReturn::into_return(#get_expr, unsafe { ::oxbind::ReturnSlot::from_raw(ret_slot) })
                    })
                }
            });
            let get_desc = quote! {
                ::oxbind::abi::FunctionDesc {
                    name: ::oxbind::private::RStr::from_str(#fname),
                    doc: ::oxbind::private::RStr::from_str(#fdoc),
                    params: ::oxbind::private::RSlice::from_slice(&[]),
                    ret: <#get_ty as ::oxbind::IntoReturn>::TYPE,
                    receiver: ::oxbind::abi::Receiver::REF,
                    lock_self: false,
                    call: Self::#getter,
                }
            };
            let set_desc = if set {
                accessors.push(quote! {
                    /// The property setter's `CallFn`.
                    ///
                    /// # Safety
                    /// Called by the shim only, as `CallFn` says: `this` is
                    /// the value of a live instance of this class, borrowed
                    /// exclusively for the call, and `args` holds one value
                    /// made from the field type's description.
                    #[doc(hidden)]
                    #[allow(unused_unsafe)]
                    unsafe extern "C" fn #setter(
                        this: *mut ::std::ffi::c_void,
                        args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
                        _ret_slot: *mut ::std::ffi::c_void,
                    ) -> ::oxbind::abi::CallOutcome {
                        ::oxbind::private::call(move || {
                            // SAFETY (generated): the shim passes the value of
                            // a live instance of this class, borrowed exclusively.
                            let this: &mut Self = unsafe { ::oxbind::private::value_mut::<Self>(this) };
                            // SAFETY (generated): `args` are the shim's, one
                            // value made for the field's type.
                            let value: #fty = unsafe { ::oxbind::private::arg::<#fty>(args.as_slice(), 0, #fname, "value") }?;
                            this.#fident = value;
                            ::core::result::Result::Ok(::oxbind::abi::RetValue::None)
                        })
                    }
                });
                quote! {
                    ::oxbind::private::RSome(::oxbind::abi::FunctionDesc {
                        name: ::oxbind::private::RStr::from_str(#fname),
                        doc: ::oxbind::private::RStr::from_str(""),
                        params: ::oxbind::private::RSlice::from_slice(&[::oxbind::abi::ParamDesc {
                            name: ::oxbind::private::RStr::from_str("value"),
                            ty: <#fty as ::oxbind::FromArg<'static>>::TYPE,
                            default: ::oxbind::private::RNone,
                            lock: false,
                        }]),
                        ret: <() as ::oxbind::IntoReturn>::TYPE,
                        receiver: ::oxbind::abi::Receiver::MUT,
                        lock_self: false,
                        call: Self::#setter,
                    })
                }
            } else {
                quote!(::oxbind::private::RNone)
            };
            if !(get || get_ref) {
                return Err(syn::Error::new(
                    field.span(),
                    "a `set` property also needs `get` or `get_ref`",
                ));
            }
            properties.push(quote! {
                ::oxbind::abi::PropertyDesc {
                    name: ::oxbind::private::RStr::from_str(#fname),
                    doc: ::oxbind::private::RStr::from_str(#fdoc),
                    get: #get_desc,
                    set: #set_desc,
                }
            });
        }
    }

    let gc_hooks = if gc {
        quote! {
            impl #ident {
                #[doc(hidden)]
                pub const __OXBIND_GC: ::oxbind::abi::ClassGc = ::oxbind::abi::ClassGc {
                    traverse: ::oxbind::private::RSome(::oxbind::gc::traverse_value::<#ident>),
                    clear: ::oxbind::private::RSome(::oxbind::gc::clear_value::<#ident>),
                };
            }
        }
    } else {
        quote!()
    };
    let layout = if shared {
        quote!(::oxbind::private::RSome(<#ident as ::oxbind::abi::abi_stable::StableAbi>::LAYOUT))
    } else {
        quote!(::oxbind::private::RNone)
    };
    let clone = if is_clone {
        quote!(::oxbind::private::RSome(::oxbind::private::clone_value::<#ident>))
    } else {
        quote!(::oxbind::private::RNone)
    };
    let ref_name = format!("&{rust_name}");
    let mut_name = format!("&mut {rust_name}");
    let by_value = if is_clone {
        quote! {
            // SAFETY (generated): TYPE is an object of this class passed by
            // VALUE, which the shim borrows shared for the call; from_arg
            // reads it only through `&T`'s conversion and clones it.
            unsafe impl<'a> ::oxbind::FromArg<'a> for #ident {
                const TYPE: ::oxbind::abi::TypeDesc =
                    ::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::VALUE, #rust_name);
                /// # Safety
                /// As for `FromArg::from_arg`: an `Object` value is the value
                /// of a live instance of this class, borrowed shared for `'a`.
                unsafe fn from_arg(value: ::oxbind::abi::ArgValue<'a>) -> ::core::result::Result<Self, ::oxbind::Error> {
                    // SAFETY (generated): our caller's value was made for this
                    // class, borrowed shared for 'a, as `&T`'s TYPE needs.
                    unsafe { <&'a #ident as ::oxbind::FromArg<'a>>::from_arg(value) }.map(::core::clone::Clone::clone)
                }
            }
            // SAFETY (generated): ITEM is the by-VALUE object TYPE above,
            // which is what `from_arg` reads for each item.
            unsafe impl<'a> ::oxbind::ListItem<'a> for #ident {
                const ITEM: &'static ::oxbind::abi::TypeDesc =
                    &::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::VALUE, #rust_name);
            }
        }
    } else {
        quote!()
    };

    Ok(quote! {
        #strukt

        impl #ident {
            #(#accessors)*
        }

        // `&self` methods run concurrently without a lock on free-threaded
        // Python, and instances move between threads: the struct must be Sync and Send.
        const _: () = {
            const fn __oxbind_class_must_be_send_and_sync<T: ::core::marker::Send + ::core::marker::Sync>() {}
            __oxbind_class_must_be_send_and_sync::<#ident>();
        };

        // SAFETY: CLASS describes exactly this struct (size, alignment and,
        // when shared, its abi_stable layout).
        unsafe impl ::oxbind::Class for #ident {
            const CLASS: &'static ::oxbind::abi::ClassRef = &::oxbind::abi::ClassRef {
                key: ::oxbind::private::RStr::from_str(#key),
                crate_name: ::oxbind::private::RStr::from_str(env!("CARGO_PKG_NAME")),
                crate_version: ::oxbind::private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                size: ::core::mem::size_of::<#ident>(),
                align: ::core::mem::align_of::<#ident>(),
                layout: #layout,
            };
            const DOC: &'static str = #doc;
            const PROPERTIES: &'static [::oxbind::abi::PropertyDesc] = &[#(#properties),*];
            const CLONE: ::oxbind::private::ROption<unsafe extern "C" fn(*const ::std::ffi::c_void, *mut ::std::ffi::c_void)> = #clone;
        }

        // SAFETY (generated): TYPE is an object of this class passed by REF,
        // so the shim borrows it shared for 'a; from_arg only makes a shared
        // reference to it.
        unsafe impl<'a> ::oxbind::FromArg<'a> for &'a #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::REF, #ref_name);
            /// # Safety
            /// As for `FromArg::from_arg`: an `Object` value is the value of a
            /// live instance of this class, borrowed shared for `'a`.
            unsafe fn from_arg(value: ::oxbind::abi::ArgValue<'a>) -> ::core::result::Result<Self, ::oxbind::Error> {
                match value {
                    // SAFETY: the shim passes the value of a checked, borrowed instance of this class.
                    ::oxbind::abi::ArgValue::Object(p) => ::core::result::Result::Ok(unsafe { ::oxbind::private::value_ref::<#ident>(p) }),
                    other => ::oxbind::private::unexpected_object(other, #key),
                }
            }
        }

        // SAFETY (generated): TYPE is an object of this class passed MUT, so
        // the shim borrows it exclusively for 'a; from_arg makes the one
        // exclusive reference to it.
        unsafe impl<'a> ::oxbind::FromArg<'a> for &'a mut #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::MUT, #mut_name);
            /// # Safety
            /// As for `FromArg::from_arg`: an `Object` value is the value of a
            /// live instance of this class, borrowed exclusively for `'a`.
            unsafe fn from_arg(value: ::oxbind::abi::ArgValue<'a>) -> ::core::result::Result<Self, ::oxbind::Error> {
                match value {
                    // SAFETY: the shim passes the value of a checked, exclusively borrowed instance.
                    ::oxbind::abi::ArgValue::Object(p) => ::core::result::Result::Ok(unsafe { ::oxbind::private::value_mut::<#ident>(p) }),
                    other => ::oxbind::private::unexpected_object(other, #key),
                }
            }
        }

        // SAFETY (generated): ITEM is the REF object TYPE of `&T` above, which
        // is what its from_arg reads for each item.
        unsafe impl<'a> ::oxbind::ListItem<'a> for &'a #ident {
            const ITEM: &'static ::oxbind::abi::TypeDesc =
                &::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::REF, #ref_name);
        }

        // SAFETY (generated): TYPE is an object of this class by VALUE, and
        // into_return writes exactly one such value into the slot (which the
        // shim allocated from TYPE's class) before returning `Written`.
        unsafe impl ::oxbind::IntoReturn for #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::VALUE, #rust_name);
            fn into_return(self, slot: ::oxbind::ReturnSlot) -> ::core::result::Result<::oxbind::abi::RetValue, ::oxbind::Error> {
                // SAFETY: the shim allocated the slot for this class's result type.
                unsafe { slot.write(self) }
            }
        }

        // SAFETY (generated): ITEM is an object of this class by VALUE, and
        // into_item moves exactly one such value out as its bytes (`Moved`).
        unsafe impl ::oxbind::IntoItem for #ident {
            const ITEM: &'static ::oxbind::abi::TypeDesc =
                &::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::VALUE, #rust_name);
            fn into_item(self) -> ::core::result::Result<::oxbind::abi::RetValue, ::oxbind::Error> {
                ::oxbind::convert::moved(self)
            }
        }

        // SAFETY (generated): TYPE is an object of this class by REF, and
        // into_return returns a `Ref` to a value of this class, never
        // touching the slot.
        unsafe impl<'a> ::oxbind::IntoReturn for &'a #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::object(<#ident as ::oxbind::Class>::CLASS, ::oxbind::abi::Passing::REF, #ref_name);
            fn into_return(self, _slot: ::oxbind::ReturnSlot) -> ::core::result::Result<::oxbind::abi::RetValue, ::oxbind::Error> {
                ::core::result::Result::Ok(::oxbind::abi::RetValue::Ref(self as *const #ident as *const ::std::ffi::c_void))
            }
        }

        #by_value
        #gc_hooks
    })
}

fn lit_str(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}

/// Whether `#[derive(...)]` on the item lists `name`.
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
                .map(|paths| {
                    paths
                        .iter()
                        .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
                })
                .unwrap_or(false)
        })
}

/// Exports the methods of an `#[oxbind::class]` struct.
///
/// - `&self` and `&mut self` methods become instance methods.
/// - `#[oxbind(new)]` marks the constructor (it returns `Self`, or
///   `Result<Self, E>`).
/// - `#[oxbind(staticmethod)]` marks a static method.
/// - `__repr__`, `__str__`, `__eq__`, `__hash__`, `__lt__`, `__le__`, `__gt__`,
///   `__ge__`, `__add__`, `__sub__`, `__mul__`, `__truediv__`, `__neg__`,
///   `__bool__`, `__len__`, `__getitem__` and `__iter__` (returning a `Vec`)
///   fill the matching type slots.
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

const SLOT_NAMES: [&str; 17] = [
    "__repr__",
    "__str__",
    "__eq__",
    "__hash__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__neg__",
    "__len__",
    "__getitem__",
    "__bool__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__iter__",
];

fn expand_methods(item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut block: syn::ItemImpl = syn::parse2(item)?;
    if block.trait_.is_some() || !block.generics.params.is_empty() {
        return Err(syn::Error::new(
            block.span(),
            "#[oxbind::methods] goes on a plain `impl Type { ... }` block",
        ));
    }
    let self_ty = block.self_ty.clone();
    let class_name = quote!(#self_ty).to_string().replace(' ', "");
    let mut trampolines = Vec::new();
    let mut methods = Vec::new();
    let mut constructor = quote!(::oxbind::private::RNone);
    for item in block.items.iter_mut() {
        let syn::ImplItem::Fn(f) = item else { continue };
        let (mut is_new, mut is_static, mut rename, mut skip, mut lock_self) =
            (false, false, None, false, false);
        for m in take_options(&mut f.attrs)? {
            match &m {
                Meta::Path(p) if p.is_ident("lock_self") => lock_self = true,
                Meta::Path(p) if p.is_ident("new") => is_new = true,
                Meta::Path(p) if p.is_ident("staticmethod") => is_static = true,
                Meta::Path(p) if p.is_ident("skip") => skip = true,
                Meta::NameValue(nv) if nv.path.is_ident("name") => {
                    rename = Some(lit_str(&nv.value)?)
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "expected `new`, `staticmethod`, `lock_self`, `skip` or `name = \"...\"`",
                    ))
                }
            }
        }
        if skip {
            continue;
        }
        check_signature_sig(&f.sig)?;
        let fn_ident = f.sig.ident.clone();
        let py_name = rename.unwrap_or_else(|| unraw(&fn_ident));
        let doc = doc_string(&f.attrs);
        let mut receiver = None;
        let mut params = Vec::new();
        for input in f.sig.inputs.iter_mut() {
            match input {
                FnArg::Receiver(r) => {
                    if r.reference.is_none() {
                        return Err(syn::Error::new(
                            r.span(),
                            "methods take `&self` or `&mut self`, not `self`",
                        ));
                    }
                    receiver = Some(r.mutability.is_some());
                }
                FnArg::Typed(pat_type) => params.push(parse_param(pat_type)?),
            }
        }
        if lock_self && receiver.is_none() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "`lock_self` needs a `self` receiver",
            ));
        }
        check_params(&params, lock_self, fn_ident.span())?;
        if (is_new || is_static) && receiver.is_some() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a constructor or static method takes no `self`",
            ));
        }
        if !(is_new || is_static) && receiver.is_none() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a method without `self` needs #[oxbind(new)] or #[oxbind(staticmethod)] (or #[oxbind(skip)])",
            ));
        }
        let ret_ty: Type = match &f.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let trampoline = format_ident!("__oxbind_m_{}", unraw(&fn_ident));
        let qual = format!("{class_name}.{py_name}");
        let conversions = arg_conversions(&params, &qual);
        let arg_idents: Vec<_> = (0..params.len())
            .map(|i| format_ident!("__oxbind_arg{}", i))
            .collect();
        let (this_binding, call, receiver_tokens) = match receiver {
            // SAFETY (generated): the shim passes the value of a live
            // instance of this class, borrowed shared (REF) or exclusively
            // (MUT), as the descriptor's `receiver` says.
            Some(false) => (
                quote!(let __this: &Self = unsafe { ::oxbind::private::value_ref::<Self>(this) };),
                quote!(Self::#fn_ident(__this, #(#arg_idents),*)),
                quote!(::oxbind::abi::Receiver::REF),
            ),
            // SAFETY (generated): as above, borrowed exclusively (MUT).
            Some(true) => (
                quote!(let __this: &mut Self = unsafe { ::oxbind::private::value_mut::<Self>(this) };),
                quote!(Self::#fn_ident(__this, #(#arg_idents),*)),
                quote!(::oxbind::abi::Receiver::MUT),
            ),
            None => (
                quote!(),
                quote!(Self::#fn_ident(#(#arg_idents),*)),
                quote!(::oxbind::abi::Receiver::NONE),
            ),
        };
        trampolines.push(quote! {
            /// The method's `CallFn`.
            ///
            /// # Safety
            /// Called by the shim only, as `CallFn` says: `this` is the value
            /// of a live instance of this class borrowed as the descriptor's
            /// `receiver` says (or unused), `args` were made from its
            /// `params`, and `ret_slot` is null or storage for the result's
            /// class.
            #[doc(hidden)]
            #[allow(unused_unsafe, unused_variables)]
            unsafe extern "C" fn #trampoline(
                this: *mut ::std::ffi::c_void,
                args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
                ret_slot: *mut ::std::ffi::c_void,
            ) -> ::oxbind::abi::CallOutcome {
                ::oxbind::private::call(move || {
                    let __args = args.as_slice();
                    #this_binding
                    #(#conversions)*
                    // SAFETY (generated): `ret_slot` is the shim's, null or
                    // storage for the result's class (`CallFn`).
                    ::oxbind::IntoReturn::into_return(#call, unsafe { ::oxbind::ReturnSlot::from_raw(ret_slot) })
                })
            }
        });
        let param_descs = params.iter().map(param_desc);
        let desc = quote! {
            ::oxbind::abi::FunctionDesc {
                name: ::oxbind::private::RStr::from_str(#py_name),
                doc: ::oxbind::private::RStr::from_str(#doc),
                params: ::oxbind::private::RSlice::from_slice(&[#(#param_descs),*]),
                ret: <#ret_ty as ::oxbind::IntoReturn>::TYPE,
                receiver: #receiver_tokens,
                lock_self: #lock_self,
                call: Self::#trampoline,
            }
        };
        if is_new {
            constructor = quote!(::oxbind::private::RSome(#desc));
            continue;
        }
        let (kind, slot) = if is_static {
            (quote!(::oxbind::abi::MethodKind::STATIC), 0u8)
        } else if let Some(i) = SLOT_NAMES.iter().position(|n| *n == py_name) {
            (quote!(::oxbind::abi::MethodKind::SLOT), i as u8 + 1)
        } else if py_name.starts_with("__") && py_name.ends_with("__") {
            return Err(syn::Error::new(
                fn_ident.span(),
                format!("oxbind does not support the special method {py_name} yet"),
            ));
        } else {
            (quote!(::oxbind::abi::MethodKind::INSTANCE), 0u8)
        };
        methods.push(quote! {
            ::oxbind::abi::MethodDesc { kind: #kind, slot: ::oxbind::abi::SlotKind(#slot), func: #desc }
        });
    }
    Ok(quote! {
        #block

        impl #self_ty {
            #(#trampolines)*

            #[doc(hidden)]
            pub const __OXBIND_METHODS: &'static [::oxbind::abi::MethodDesc] = &[#(#methods),*];
            #[doc(hidden)]
            pub const __OXBIND_CONSTRUCTOR: ::oxbind::private::ROption<::oxbind::abi::FunctionDesc> = #constructor;
        }
    })
}

fn param_desc(p: &Param) -> TokenStream2 {
    let ty = &p.ty;
    let pname = &p.python_name;
    let default = match &p.default {
        Some(value) => quote! { ::oxbind::private::RSome(#value) },
        None => quote! { ::oxbind::private::RNone },
    };
    let lock = p.lock;
    quote! {
        ::oxbind::abi::ParamDesc {
            name: ::oxbind::private::RStr::from_str(#pname),
            ty: <#ty as ::oxbind::FromArg<'static>>::TYPE,
            default: #default,
            lock: #lock,
        }
    }
}

fn check_signature_sig(sig: &syn::Signature) -> syn::Result<()> {
    if let Some(t) = &sig.asyncness {
        return Err(syn::Error::new(
            t.span(),
            "oxbind cannot export an async fn",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "oxbind cannot export a generic fn",
        ));
    }
    Ok(())
}
