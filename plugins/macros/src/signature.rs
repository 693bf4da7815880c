//! Reading an exported fn's signature: its parameters, what oxbind refuses
//! (async, generic), and its docstring.

use proc_macro2::{Span, TokenStream as TokenStream2};
use syn::{
    punctuated::Punctuated, spanned::Spanned, Attribute, Expr, ExprLit, Lit, Meta, Pat, Path,
    Token, Type,
};

use crate::options::take_param_options;

pub(crate) struct Param {
    pub(crate) ident: syn::Ident,
    pub(crate) python_name: String,
    pub(crate) ty: Type,
    pub(crate) default: Option<TokenStream2>,
    pub(crate) lock: bool,
}

pub(crate) fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// One exported parameter: a plain name, its type and its options.
/// Python's keywords (and soft keywords used as names are fine): names a
/// parameter must not have.
pub(crate) const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

pub(crate) fn parse_param(pat_type: &mut syn::PatType) -> syn::Result<Param> {
    let Pat::Ident(pat_ident) = &*pat_type.pat else {
        return Err(syn::Error::new(
            pat_type.pat.span(),
            "oxbind parameters must be plain names",
        ));
    };
    let (default, lock) = take_param_options(&mut pat_type.attrs)?;
    let python_name = unraw(&pat_ident.ident);
    if PYTHON_KEYWORDS.contains(&python_name.as_str()) {
        return Err(syn::Error::new(
            pat_ident.ident.span(),
            format!(
                "`{python_name}` is a Python keyword: Python could not pass it by name, and \
                 signatures and stubs naming it are invalid; rename the parameter (`{python_name}_`)"
            ),
        ));
    }
    Ok(Param {
        ident: pat_ident.ident.clone(),
        python_name,
        ty: (*pat_type.ty).clone(),
        default,
        lock,
    })
}

/// Checks that apply to every exported function: no parameter without a
/// default after one with a default, and at most two locked objects.
pub(crate) fn check_params(params: &[Param], lock_self: bool, span: Span) -> syn::Result<()> {
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

/// Joins the `///` lines into a docstring, dropping rustdoc's leading space.
pub(crate) fn doc_string(attrs: &[Attribute]) -> String {
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

/// Whether `#[derive(...)]` on the item lists `name`.
pub(crate) fn derives(attrs: &[Attribute], name: &str) -> bool {
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

/// Refuses what no exported fn can be: async, unsafe, generic or variadic. `what`
/// names the macro in the message (`#[oxbind::function]`).
pub(crate) fn check_signature(sig: &syn::Signature, what: &str) -> syn::Result<()> {
    if let Some(t) = &sig.asyncness {
        return Err(syn::Error::new(
            t.span(),
            format!("{what} cannot export an async fn"),
        ));
    }
    // Python code could call it with any arguments: the caller's half of an
    // `unsafe fn`'s contract would go unchecked (spec/SOUNDNESS.md, 1a).
    if let Some(t) = &sig.unsafety {
        return Err(syn::Error::new(
            t.span(),
            format!(
                "{what} cannot export an unsafe fn: Python callers cannot uphold its safety \
                 contract; export a safe fn that checks its arguments and calls it"
            ),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{what} cannot export a generic fn"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            format!("{what} cannot export a variadic fn"),
        ));
    }
    Ok(())
}

/// Refuses `detach` on a call that holds a critical section it asked for
/// (`lock_self`, `#[oxbind(lock)]`): detaching would suspend the section,
/// and another thread could take it while the call still relies on it.
pub(crate) fn check_detach(
    detach: bool,
    params: &[Param],
    lock_self: bool,
    span: Span,
) -> syn::Result<()> {
    if detach && (lock_self || params.iter().any(|p| p.lock)) {
        return Err(syn::Error::new(
            span,
            "`detach` cannot be combined with `lock_self` or `#[oxbind(lock)]`: detaching would \
             suspend the critical section the call holds, letting another thread take it \
             mid-call (and `oxbind::detach` inside such a call runs attached). To detach part \
             of the call, drop `lock_self`/`lock` and take `oxbind::sync::CriticalSection::with` \
             only around the part that needs the lock, with `oxbind::detach` outside it",
        ));
    }
    Ok(())
}
