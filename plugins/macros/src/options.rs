//! `#[oxbind(...)]` options on items and parameters, and default values.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::{
    parse::Parser, punctuated::Punctuated, spanned::Spanned, Attribute, Expr, ExprLit, Lit, Meta,
    Token,
};

/// The options of `#[oxbind::class(...)]` on a struct or an enum:
/// `module = "..."` (required), `name = "..."`, and which of the flags
/// `allowed` (`shared`, `gc`, `int`, …) are given.
pub(crate) struct ClassArgs {
    pub(crate) module: String,
    pub(crate) name: Option<String>,
    flags: Vec<String>,
}

impl ClassArgs {
    pub(crate) fn parse(attr: TokenStream2, allowed: &[&str]) -> syn::Result<ClassArgs> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
        let (mut module, mut name, mut flags) = (None, None, Vec::new());
        for meta in metas {
            match &meta {
                Meta::NameValue(nv) if nv.path.is_ident("module") => {
                    module = Some(lit_str(&nv.value)?)
                }
                Meta::NameValue(nv) if nv.path.is_ident("name") => name = Some(lit_str(&nv.value)?),
                Meta::Path(p) if allowed.iter().any(|f| p.is_ident(f)) => {
                    flags.push(p.get_ident().expect("an identifier").to_string())
                }
                other => {
                    let flags: Vec<String> = allowed.iter().map(|f| format!("`{f}`")).collect();
                    return Err(syn::Error::new(
                        other.span(),
                        format!(
                            "expected `module = \"...\"`, `name = \"...\"`, {}",
                            flags.join(" or ")
                        ),
                    ));
                }
            }
        }
        let module = module.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "#[oxbind::class] needs `module = \"<plugin module>\"`",
            )
        })?;
        Ok(ClassArgs {
            module,
            name,
            flags,
        })
    }

    /// Whether flag `f` was given.
    pub(crate) fn has(&self, f: &str) -> bool {
        self.flags.iter().any(|g| g == f)
    }
}

/// The options of `#[oxbind::function(...)]`: the Python name, and
/// whether the call runs detached.
pub(crate) fn parse_function_options(attr: TokenStream2) -> syn::Result<(Option<String>, bool)> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let (mut name, mut detach) = (None, false);
    for meta in metas {
        match &meta {
            Meta::Path(p) if p.is_ident("detach") => detach = true,
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
                    "unknown option; expected `name = \"...\"` or `detach`",
                ))
            }
        }
    }
    Ok((name, detach))
}

/// Removes every `#[oxbind(...)]` attribute and returns the options inside.
pub(crate) fn take_options(attrs: &mut Vec<Attribute>) -> syn::Result<Vec<Meta>> {
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
pub(crate) fn take_param_options(
    attrs: &mut Vec<Attribute>,
) -> syn::Result<(Option<TokenStream2>, bool)> {
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

pub(crate) fn default_value(expr: &Expr) -> syn::Result<TokenStream2> {
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

pub(crate) fn unsupported_default(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "a default must be a string, byte string, integer, float or bool literal, or None",
    )
}

pub(crate) fn lit_str(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}
