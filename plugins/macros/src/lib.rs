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
    Attribute, Expr, ExprLit, FnArg, ItemFn, Lit, LitBool, LitStr, Meta, Pat, Path, ReturnType, Token, Type,
};

/// Declares the plugin: its Python module name, docstring and exports.
///
/// ```ignore
/// oxbind::plugin! {
///     name: "hello",
///     doc: "A first plugin.",              // optional
///     free_threading_safe: true,           // optional, default true
///     functions: [add, greet],
/// }
/// ```
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
    functions: Vec<Path>,
}

impl Parse for PluginDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (mut name, mut doc, mut ft, mut functions) = (None, None, None, None);
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            match key.to_string().as_str() {
                "name" => name = Some(input.parse::<LitStr>()?),
                "doc" => doc = Some(input.parse::<LitStr>()?),
                "free_threading_safe" => ft = Some(input.parse::<LitBool>()?),
                "functions" => {
                    let content;
                    bracketed!(content in input);
                    functions = Some(Punctuated::<Path, Token![,]>::parse_terminated(&content)?.into_iter().collect());
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown plugin! key `{other}`; expected name, doc, free_threading_safe or functions"),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let name = name.ok_or_else(|| input.error("plugin! needs `name: \"...\"`"))?;
        Ok(PluginDecl { name, doc, free_threading_safe: ft, functions: functions.unwrap_or_default() })
    }
}

fn expand_plugin(decl: PluginDecl) -> TokenStream2 {
    let name = &decl.name;
    let doc = decl.doc.map(|d| d.value()).unwrap_or_default();
    let ft = decl.free_threading_safe.map(|b| b.value).unwrap_or(true);
    let init = format_ident!("PyInit_{}", decl.name.value());
    let descs = decl.functions.iter().map(|path| quote!(#path::__OXBIND_DESC));
    quote! {
        const _: () = {
            use ::oxbind::abi::abi_stable::{
                prefix_type::{PrefixTypeTrait, WithMetadata},
                std_types::{RSlice, RStr},
            };
            static FUNCTIONS: &[::oxbind::abi::FunctionDesc] = &[#(#descs),*];
            static MODULE: WithMetadata<::oxbind::abi::PluginModule> = WithMetadata::new(::oxbind::abi::PluginModule {
                name: RStr::from_str(#name),
                version: RStr::from_str(env!("CARGO_PKG_VERSION")),
                doc: RStr::from_str(#doc),
                free_threading_safe: #ft,
                functions: RSlice::from_slice(FUNCTIONS),
            });
            /// The oxbind plugin root (`spec/PLUGIN-ABI.md`).
            #[no_mangle]
            #[used]
            pub static OXBIND_PLUGIN_ROOT: ::oxbind::abi::PluginRoot =
                ::oxbind::abi::PluginRoot::new(::oxbind::abi::PluginModule_Ref(MODULE.static_as_prefix()));
            ::oxbind::__oxbind_standalone_entry!(#init, OXBIND_PLUGIN_ROOT);
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
}

fn expand_function(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut func: ItemFn = syn::parse2(item)?;
    let python_name = parse_function_options(attr)?.unwrap_or_else(|| unraw(&func.sig.ident));
    check_signature(&func)?;

    let mut params = Vec::new();
    for input in func.sig.inputs.iter_mut() {
        let FnArg::Typed(pat_type) = input else {
            return Err(syn::Error::new(input.span(), "#[oxbind::function] exports free functions; `self` is not allowed here"));
        };
        let Pat::Ident(pat_ident) = &*pat_type.pat else {
            return Err(syn::Error::new(pat_type.pat.span(), "#[oxbind::function] parameters must be plain names"));
        };
        let default = take_default(&mut pat_type.attrs)?;
        params.push(Param {
            ident: pat_ident.ident.clone(),
            python_name: unraw(&pat_ident.ident),
            ty: (*pat_type.ty).clone(),
            default,
        });
    }
    let mut seen_default = false;
    for p in &params {
        if p.default.is_some() {
            seen_default = true;
        } else if seen_default {
            return Err(syn::Error::new(p.ident.span(), "a parameter without a default cannot follow one with a default"));
        }
    }

    let doc = doc_string(&func.attrs);
    let fn_ident = func.sig.ident.clone();
    let vis = func.vis.clone();
    let desc_ident = format_ident!("__OXBIND_DESC_{}", unraw(&fn_ident));
    let ret_ty: Type = match &func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };

    let conversions = params.iter().enumerate().map(|(i, p)| {
        let ident = format_ident!("__oxbind_arg{}", i);
        let ty = &p.ty;
        let pname = &p.python_name;
        quote! { let #ident: #ty = ::oxbind::private::arg::<#ty>(__args, #i, #python_name, #pname)?; }
    });
    let arg_idents = (0..params.len()).map(|i| format_ident!("__oxbind_arg{}", i));
    let param_descs = params.iter().map(|p| {
        let ty = &p.ty;
        let pname = &p.python_name;
        let default = match &p.default {
            Some(value) => quote! { ::oxbind::private::RSome(#value) },
            None => quote! { ::oxbind::private::RNone },
        };
        quote! {
            ::oxbind::abi::ParamDesc {
                name: ::oxbind::private::RStr::from_str(#pname),
                ty: <#ty as ::oxbind::FromArg<'static>>::TYPE,
                default: #default,
            }
        }
    });

    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #desc_ident: ::oxbind::abi::FunctionDesc = {
            unsafe extern "C" fn __oxbind_call(
                _this: *const (),
                args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
            ) -> ::oxbind::abi::CallOutcome {
                ::oxbind::private::call(move || {
                    let __args = args.as_slice();
                    #(#conversions)*
                    ::oxbind::IntoReturn::into_return(#fn_ident(#(#arg_idents),*))
                })
            }
            ::oxbind::abi::FunctionDesc {
                name: ::oxbind::private::RStr::from_str(#python_name),
                doc: ::oxbind::private::RStr::from_str(#doc),
                params: ::oxbind::private::RSlice::from_slice(&[#(#param_descs),*]),
                ret: <#ret_ty as ::oxbind::IntoReturn>::TYPE,
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
                Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => name = Some(s.value()),
                other => return Err(syn::Error::new(other.span(), "`name` takes a string literal")),
            },
            other => return Err(syn::Error::new(other.span(), "unknown option; expected `name = \"...\"`")),
        }
    }
    Ok(name)
}

fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(t) = &sig.asyncness {
        return Err(syn::Error::new(t.span(), "#[oxbind::function] cannot export an async fn"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "#[oxbind::function] cannot export a generic fn"));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(v.span(), "#[oxbind::function] cannot export a variadic fn"));
    }
    Ok(())
}

/// Removes `#[oxbind(default = ...)]` from a parameter and returns the
/// `ArgValue` expression it stands for.
fn take_default(attrs: &mut Vec<Attribute>) -> syn::Result<Option<TokenStream2>> {
    let mut default = None;
    let mut error = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("oxbind") {
            return true;
        }
        let parsed = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated).and_then(|metas| {
            for meta in metas {
                match meta {
                    Meta::NameValue(nv) if nv.path.is_ident("default") => default = Some(default_value(&nv.value)?),
                    other => return Err(syn::Error::new(other.span(), "unknown parameter option; expected `default = <literal>`")),
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            error = Some(e);
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(default),
    }
}

fn default_value(expr: &Expr) -> syn::Result<TokenStream2> {
    let value = quote!(::oxbind::abi::ArgValue);
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit { lit, .. }) => (false, lit),
        Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match &**expr {
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
    syn::Error::new(span, "a default must be a string, byte string, integer, float or bool literal, or None")
}

/// Joins the `///` lines into a docstring, dropping rustdoc's leading space.
fn doc_string(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta {
            if nv.path.is_ident("doc") {
                if let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = &nv.value {
                    let line = s.value();
                    lines.push(line.strip_prefix(' ').map(str::to_owned).unwrap_or(line));
                }
            }
        }
    }
    lines.join("\n").trim().to_owned()
}
