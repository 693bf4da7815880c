//! `#[oxbind::methods]`: methods, constructors, static methods and the
//! special methods that become type slots.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{spanned::Spanned, FnArg, Meta, ReturnType, Type};

use crate::emit::{arg_conversions, function_desc, into_return, param_desc, trampoline, Desc};
use crate::options::{lit_str, take_options};
use crate::signature::{
    check_detach, check_params, check_signature, doc_string, parse_param, unraw,
};

pub(crate) fn expand_methods(item: TokenStream2) -> syn::Result<TokenStream2> {
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
    let mut attributes = Vec::new();
    for item in block.items.iter_mut() {
        if let syn::ImplItem::Const(c) = item {
            if let Some(attr) = class_attribute_const(c)? {
                trampolines.push(attr.0);
                attributes.push(attr.1);
            }
            continue;
        }
        let syn::ImplItem::Fn(f) = item else { continue };
        let (mut is_new, mut is_static, mut rename, mut skip, mut lock_self, mut detach) =
            (false, false, None, false, false, false);
        let (mut getter, mut setter, mut is_class, mut is_attr) = (false, false, false, false);
        for m in take_options(&mut f.attrs)? {
            match &m {
                Meta::Path(p) if p.is_ident("classmethod") => is_class = true,
                Meta::Path(p) if p.is_ident("classattr") => is_attr = true,
                Meta::Path(p) if p.is_ident("lock_self") => lock_self = true,
                Meta::Path(p) if p.is_ident("detach") => detach = true,
                Meta::Path(p) if p.is_ident("new") => is_new = true,
                Meta::Path(p) if p.is_ident("staticmethod") => is_static = true,
                Meta::Path(p) if p.is_ident("skip") => skip = true,
                Meta::Path(p) if p.is_ident("getter") => getter = true,
                Meta::Path(p) if p.is_ident("setter") => setter = true,
                Meta::NameValue(nv) if nv.path.is_ident("name") => {
                    rename = Some(lit_str(&nv.value)?)
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "expected `new`, `staticmethod`, `classmethod`, `classattr`, `getter`, `setter`, `lock_self`, `detach`, `skip` or `name = \"...\"`",
                    ))
                }
            }
        }
        if skip {
            continue;
        }
        check_signature(&f.sig, "#[oxbind::methods]")?;
        let fn_ident = f.sig.ident.clone();
        let py_name = rename.unwrap_or_else(|| {
            let name = unraw(&fn_ident);
            // A setter is named after its property: `set_area` sets `area`.
            match name.strip_prefix("set_") {
                Some(property) if setter => property.to_owned(),
                _ => name,
            }
        });
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
        check_detach(detach, &params, lock_self, fn_ident.span())?;
        if [is_new, is_static, is_class, is_attr, getter, setter]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
        {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a method takes one of `new`, `staticmethod`, `classmethod`, `classattr`, `getter` and `setter`",
            ));
        }
        if (is_new || is_static || is_class || is_attr) && receiver.is_some() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a constructor, static method, class method or class attribute takes no `self`",
            ));
        }
        if !(is_new || is_static || is_class || is_attr) && receiver.is_none() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a method without `self` needs #[oxbind(new)], #[oxbind(staticmethod)] or #[oxbind(classmethod)] (or #[oxbind(skip)])",
            ));
        }
        if is_class && params.is_empty() {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a class method's first parameter receives the class: `cls: oxbind::Object`",
            ));
        }
        if is_attr && (!params.is_empty() || detach || lock_self) {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a class attribute is a function without parameters, called once when the class is created",
            ));
        }
        let ret_ty: Type = match &f.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let trampoline_ident = format_ident!("__oxbind_m_{}", unraw(&fn_ident));
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
        let call = crate::emit::detached_call(detach, into_return(call));
        trampolines.push(trampoline(
            &trampoline_ident,
            "method",
            "Called by the shim only, as `CallFn` says: `this` is the value of a live instance \
             of this class borrowed as the descriptor's `receiver` says (or unused), `args` were \
             made from its `params`, and `ret_slot` is null or storage for the result's class.",
            quote! {
                let __args = args.as_slice();
                #this_binding
                #(#conversions)*
                #call
            },
        ));
        let desc = function_desc(Desc {
            name: quote!(#py_name),
            doc: quote!(#doc),
            params: params.iter().map(param_desc).collect(),
            ret: quote!(#ret_ty),
            receiver: receiver_tokens,
            lock_self,
            call: quote!(Self::#trampoline_ident),
        });
        if is_new {
            constructor = quote!(::oxbind::private::RSome(#desc));
            continue;
        }
        if is_attr {
            attributes.push(desc);
            continue;
        }
        let dunder = py_name.starts_with("__") && py_name.ends_with("__");
        if (getter || setter) && (is_new || is_static || dunder || (getter && setter)) {
            return Err(syn::Error::new(
                fn_ident.span(),
                "`getter` and `setter` go on a plain method, one of them",
            ));
        }
        if getter && (receiver != Some(false) || !params.is_empty()) {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a getter takes `&self` and no other parameter",
            ));
        }
        if setter && (receiver != Some(true) || params.len() != 1) {
            return Err(syn::Error::new(
                fn_ident.span(),
                "a setter takes `&mut self` and one parameter, the new value",
            ));
        }
        let (kind, slot) = if is_static {
            (quote!(::oxbind::abi::MethodKind::STATIC), 0u8)
        } else if is_class {
            (quote!(::oxbind::abi::MethodKind::CLASSMETHOD), 0u8)
        } else if getter {
            (quote!(::oxbind::abi::MethodKind::GETTER), 0u8)
        } else if setter {
            (quote!(::oxbind::abi::MethodKind::SETTER), 0u8)
        } else if let Some(slot) = oxbind_abi::SlotKind::from_dunder(&py_name) {
            if let Some(wanted) = slot.params() {
                if wanted != params.len() {
                    return Err(syn::Error::new(
                        fn_ident.span(),
                        format!(
                            "{py_name} takes {wanted} parameter{} besides self",
                            if wanted == 1 { "" } else { "s" }
                        ),
                    ));
                }
            }
            (quote!(::oxbind::abi::MethodKind::SLOT), slot.0)
        } else if dunder && !oxbind_abi::PLAIN_DUNDERS.contains(&py_name.as_str()) {
            return Err(syn::Error::new(
                fn_ident.span(),
                format!(
                    "oxbind does not support the special method {py_name} (special methods: \
                     the operators, comparisons, container and iterator protocol, __call__, \
                     __repr__, __str__, __hash__, __bool__, and the ordinary ones such as \
                     __enter__, __exit__, __format__, __getstate__, __setstate__, __reduce__, \
                     __copy__ and __deepcopy__)"
                ),
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
            #[doc(hidden)]
            pub const __OXBIND_ATTRIBUTES: &'static [::oxbind::abi::FunctionDesc] = &[#(#attributes),*];
        }
    })
}

/// `#[oxbind(classattr)] const NAME: T = ...;` in a methods block: the
/// trampoline that returns the constant, and the attribute's descriptor.
/// `None` for a constant without the option.
fn class_attribute_const(
    c: &mut syn::ImplItemConst,
) -> syn::Result<Option<(TokenStream2, TokenStream2)>> {
    let (mut is_attr, mut rename) = (false, None);
    for m in take_options(&mut c.attrs)? {
        match &m {
            Meta::Path(p) if p.is_ident("classattr") => is_attr = true,
            Meta::NameValue(nv) if nv.path.is_ident("name") => rename = Some(lit_str(&nv.value)?),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "a constant takes `classattr` and `name = \"...\"`",
                ))
            }
        }
    }
    if !is_attr {
        return match rename {
            Some(_) => Err(syn::Error::new(
                c.ident.span(),
                "`name` on a constant needs `classattr`",
            )),
            None => Ok(None),
        };
    }
    let ident = c.ident.clone();
    let py_name = rename.unwrap_or_else(|| unraw(&ident));
    let ty = c.ty.clone();
    let doc = doc_string(&c.attrs);
    let trampoline_ident = format_ident!("__oxbind_a_{}", unraw(&ident));
    let call = into_return(quote!(Self::#ident));
    let tramp = trampoline(
        &trampoline_ident,
        "class attribute",
        "Called by the shim only, as `CallFn` says: no receiver and no arguments, and \
         `ret_slot` is null or storage for the result's class.",
        quote! { #call },
    );
    let desc = function_desc(Desc {
        name: quote!(#py_name),
        doc: quote!(#doc),
        params: Vec::new(),
        ret: quote!(#ty),
        receiver: quote!(::oxbind::abi::Receiver::NONE),
        lock_self: false,
        call: quote!(Self::#trampoline_ident),
    });
    Ok(Some((tramp, desc)))
}
