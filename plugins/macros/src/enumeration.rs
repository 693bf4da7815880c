//! `#[oxbind::class]` on a fieldless enum: the enum's descriptor (its
//! members, their names and discriminants), its identity as a class
//! reference, and its conversions (a member crosses as its discriminant).

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;

use crate::options::ClassArgs;
use crate::signature::{doc_string, unraw};

pub(crate) fn expand_enum(attr: TokenStream2, item: syn::ItemEnum) -> syn::Result<TokenStream2> {
    let args = ClassArgs::parse(attr, &["shared", "int"])?;
    let (module, name, shared, int) = (
        args.module.clone(),
        args.name.clone(),
        args.has("shared"),
        args.has("int"),
    );
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "#[oxbind::class] cannot expose a generic enum",
        ));
    }
    if item.variants.is_empty() {
        return Err(syn::Error::new(
            item.ident.span(),
            "an exported enum needs at least one variant",
        ));
    }
    for v in &item.variants {
        if !matches!(v.fields, syn::Fields::Unit) {
            return Err(syn::Error::new(
                v.span(),
                "#[oxbind::class] exports fieldless enums only (a data-carrying enum is not \
                 supported yet: export a class per variant, or a class holding the enum)",
            ));
        }
    }
    let ident = item.ident.clone();
    let py_name = name.unwrap_or_else(|| unraw(&ident));
    let key = format!("{module}.{py_name}");
    let doc = doc_string(&item.attrs);
    let rust_name = ident.to_string();
    let kind = if int {
        quote!(::oxbind::abi::EnumKind::INT_ENUM)
    } else {
        quote!(::oxbind::abi::EnumKind::ENUM)
    };
    let names: Vec<String> = item.variants.iter().map(|v| unraw(&v.ident)).collect();
    let docs: Vec<String> = item.variants.iter().map(|v| doc_string(&v.attrs)).collect();
    let variants: Vec<_> = item.variants.iter().map(|v| &v.ident).collect();
    let layout = if shared {
        quote!(::oxbind::private::RSome(<#ident as ::oxbind::abi::abi_stable::StableAbi>::LAYOUT))
    } else {
        quote!(::oxbind::private::RNone)
    };
    Ok(quote! {
        #item

        // SAFETY (generated): CLASS describes exactly this enum (size,
        // alignment and, when shared, its abi_stable layout), and `value`
        // and `from_value` map each variant to its own discriminant.
        unsafe impl ::oxbind::Enum for #ident {
            const CLASS: &'static ::oxbind::abi::ClassRef = &::oxbind::abi::ClassRef {
                key: ::oxbind::private::RStr::from_str(#key),
                crate_name: ::oxbind::private::RStr::from_str(env!("CARGO_PKG_NAME")),
                crate_version: ::oxbind::private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                size: ::core::mem::size_of::<#ident>(),
                align: ::core::mem::align_of::<#ident>(),
                layout: #layout,
            };
            const DESC: ::oxbind::abi::EnumDesc = ::oxbind::abi::EnumDesc {
                class: <#ident as ::oxbind::Enum>::CLASS,
                doc: ::oxbind::private::RStr::from_str(#doc),
                kind: #kind,
                variants: ::oxbind::private::RSlice::from_slice(&[#(
                    ::oxbind::abi::EnumVariant {
                        name: ::oxbind::private::RStr::from_str(#names),
                        value: #ident::#variants as i64,
                        doc: ::oxbind::private::RStr::from_str(#docs),
                    }
                ),*]),
            };
            fn value(&self) -> i64 {
                match self {
                    #(#ident::#variants => #ident::#variants as i64,)*
                }
            }
            fn from_value(value: i64) -> ::core::option::Option<Self> {
                #(
                    if value == #ident::#variants as i64 {
                        return ::core::option::Option::Some(#ident::#variants);
                    }
                )*
                ::core::option::Option::None
            }
        }

        // SAFETY (generated): TYPE is ENUM of this enum's class, and
        // from_arg reads only an `Int`.
        unsafe impl<'a> ::oxbind::FromArg<'a> for #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::enumeration(<#ident as ::oxbind::Enum>::CLASS, #rust_name);
            /// # Safety
            /// As for `FromArg::from_arg`.
            unsafe fn from_arg(value: ::oxbind::abi::ArgValue<'a>) -> ::core::result::Result<Self, ::oxbind::Error> {
                ::oxbind::private::enum_from_arg::<#ident>(value)
            }
        }

        // SAFETY (generated): ITEM is this enum's TYPE, which from_arg reads.
        unsafe impl<'a> ::oxbind::ListItem<'a> for #ident {
            const ITEM: &'static ::oxbind::abi::TypeDesc =
                &::oxbind::abi::TypeDesc::enumeration(<#ident as ::oxbind::Enum>::CLASS, #rust_name);
        }

        // SAFETY (generated): TYPE is ENUM of this enum's class, and
        // into_return returns only an `Int`, never touching the slot.
        unsafe impl ::oxbind::IntoReturn for #ident {
            const TYPE: ::oxbind::abi::TypeDesc =
                ::oxbind::abi::TypeDesc::enumeration(<#ident as ::oxbind::Enum>::CLASS, #rust_name);
            fn into_return(self, _slot: ::oxbind::ReturnSlot) -> ::core::result::Result<::oxbind::abi::RetValue, ::oxbind::Error> {
                ::core::result::Result::Ok(::oxbind::abi::RetValue::Int(::oxbind::Enum::value(&self)))
            }
        }

        // SAFETY (generated): ITEM is this enum's TYPE; into_item returns an `Int`.
        unsafe impl ::oxbind::IntoItem for #ident {
            const ITEM: &'static ::oxbind::abi::TypeDesc =
                &::oxbind::abi::TypeDesc::enumeration(<#ident as ::oxbind::Enum>::CLASS, #rust_name);
            fn into_item(self) -> ::core::result::Result<::oxbind::abi::RetValue, ::oxbind::Error> {
                ::core::result::Result::Ok(::oxbind::abi::RetValue::Int(::oxbind::Enum::value(&self)))
            }
        }

        impl ::oxbind::IntoObject for #ident {
            const TYPE: ::oxbind::abi::TypeDesc = <#ident as ::oxbind::IntoReturn>::TYPE;
            type Shape = #ident;
            fn into_object(self) -> ::core::result::Result<::oxbind::Object, ::oxbind::Error> {
                ::oxbind::Object::from_value(self)
            }
        }
    })
}
