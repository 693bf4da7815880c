//! `#[oxbind::function]`: a free function's descriptor and trampoline.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{spanned::Spanned, FnArg, ItemFn, Meta, ReturnType, Type};

use crate::emit::{
    arg_conversions, detached_call, function_desc, into_return, param_desc, trampoline, Desc,
};
use crate::options::{parse_function_options, take_options};
use crate::signature::{
    check_detach, check_params, check_signature, doc_string, parse_param, unraw,
};

pub(crate) fn expand_function(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut func: ItemFn = syn::parse2(item)?;
    let (name, mut detach) = parse_function_options(attr)?;
    let python_name = name.unwrap_or_else(|| unraw(&func.sig.ident));
    for m in take_options(&mut func.attrs)? {
        match &m {
            Meta::Path(p) if p.is_ident("detach") => detach = true,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "unknown option; expected `detach`",
                ))
            }
        }
    }
    check_signature(&func.sig, "#[oxbind::function]")?;

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
    check_detach(detach, &params, false, func.sig.ident.span())?;

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

    let call = detached_call(detach, into_return(quote!(#fn_ident(#(#arg_idents),*))));
    let trampoline = trampoline(
        &format_ident!("__oxbind_call"),
        "function",
        "Called by the shim only, as `CallFn` says: `args` were made from this \
         descriptor's `params`, and `ret_slot` is null or storage for the result's class.",
        quote! {
            let __args = args.as_slice();
            #(#conversions)*
            #call
        },
    );
    let desc = function_desc(Desc {
        name: quote!(#python_name),
        doc: quote!(#doc),
        params: params.iter().map(param_desc).collect(),
        ret: quote!(#ret_ty),
        receiver: quote!(::oxbind::abi::Receiver::NONE),
        lock_self: false,
        call: quote!(__oxbind_call),
    });
    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #desc_ident: ::oxbind::abi::FunctionDesc = {
            #trampoline
            #desc
        };

        /// The oxbind descriptor of the function of the same name.
        #[doc(hidden)]
        #vis mod #fn_ident {
            pub const __OXBIND_DESC: ::oxbind::abi::FunctionDesc = super::#desc_ident;
        }
    })
}

/// `#[oxbind::constant]` on a `const` item: a function without parameters
/// returning it, whose descriptor `plugin! { constants: [...] }` lists.
pub(crate) fn expand_constant(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let (name, detach) = parse_function_options(attr)?;
    let konst: syn::ItemConst = syn::parse2(item)?;
    if detach {
        return Err(syn::Error::new(
            konst.ident.span(),
            "a constant takes only `name = \"...\"`",
        ));
    }
    let ident = konst.ident.clone();
    let python_name = name.unwrap_or_else(|| unraw(&ident));
    let doc = doc_string(&konst.attrs);
    let vis = konst.vis.clone();
    let ty = (*konst.ty).clone();
    let desc_ident = format_ident!("__OXBIND_DESC_{}", unraw(&ident));
    let call = into_return(quote!(#ident));
    let trampoline = trampoline(
        &format_ident!("__oxbind_call"),
        "constant",
        "Called by the shim only, as `CallFn` says: no arguments, and `ret_slot` is null \
         or storage for the result's class.",
        quote! { #call },
    );
    let desc = function_desc(Desc {
        name: quote!(#python_name),
        doc: quote!(#doc),
        params: Vec::new(),
        ret: quote!(#ty),
        receiver: quote!(::oxbind::abi::Receiver::NONE),
        lock_self: false,
        call: quote!(__oxbind_call),
    });
    Ok(quote! {
        #konst

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #desc_ident: ::oxbind::abi::FunctionDesc = {
            #trampoline
            #desc
        };

        /// The oxbind descriptor of the constant of the same name.
        #[doc(hidden)]
        #[allow(non_snake_case)]
        #vis mod #ident {
            pub const __OXBIND_DESC: ::oxbind::abi::FunctionDesc = super::#desc_ident;
        }
    })
}
