//! `#[oxbind::class]`: a struct's class descriptor, its properties and the
//! conversion traits of the class.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{spanned::Spanned, Meta, Type};

use crate::emit::{function_desc, into_return, param_desc, trampoline, Desc};
use crate::options::{take_options, ClassArgs};
use crate::signature::{derives, doc_string, unraw, Param};

pub(crate) fn expand_class(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut strukt: syn::ItemStruct = syn::parse2(item)?;
    let args = ClassArgs::parse(attr, &["shared", "gc", "subclass", "weakref", "dict"])?;
    let options = [
        ("subclass", quote!(::oxbind::abi::ClassOptions::SUBCLASS)),
        ("weakref", quote!(::oxbind::abi::ClassOptions::WEAKREF)),
        ("dict", quote!(::oxbind::abi::ClassOptions::DICT)),
    ]
    .into_iter()
    .filter(|(f, _)| args.has(f))
    .map(|(_, bit)| bit);
    let options = quote!(0 #(| #options)*);
    let (module, name, shared, gc) = (
        args.module.clone(),
        args.name.clone(),
        args.has("shared"),
        args.has("gc"),
    );
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
            let get_call = into_return(get_expr);
            accessors.push(trampoline(
                &getter,
                "property getter",
                "Called by the shim only, as `CallFn` says: `this` is the value of a live \
                 instance of this class, borrowed shared for the call, and `ret_slot` is null \
                 or storage for the result's class.",
                quote! {
                    // SAFETY (generated): the shim passes the value of a
                    // live instance of this class, borrowed shared.
                    let this: &Self = unsafe { ::oxbind::private::value_ref::<Self>(this) };
                    #get_call
                },
            ));
            let get_desc = function_desc(Desc {
                name: quote!(#fname),
                doc: quote!(#fdoc),
                params: Vec::new(),
                ret: quote!(#get_ty),
                receiver: quote!(::oxbind::abi::Receiver::REF),
                lock_self: false,
                call: quote!(Self::#getter),
            });
            let set_desc = if set {
                accessors.push(trampoline(
                    &setter,
                    "property setter",
                    "Called by the shim only, as `CallFn` says: `this` is the value of a live \
                     instance of this class, borrowed exclusively for the call, and `args` holds \
                     one value made from the field type's description.",
                    quote! {
                        // SAFETY (generated): the shim passes the value of
                        // a live instance of this class, borrowed exclusively.
                        let this: &mut Self = unsafe { ::oxbind::private::value_mut::<Self>(this) };
                        // SAFETY (generated): `args` are the shim's, one
                        // value made for the field's type.
                        let value: #fty = unsafe { ::oxbind::private::arg::<#fty>(args.as_slice(), 0, #fname, "value") }?;
                        this.#fident = value;
                        ::core::result::Result::Ok(::oxbind::abi::RetValue::None)
                    },
                ));
                let value = Param {
                    ident: format_ident!("value"),
                    ty: fty.clone(),
                    python_name: "value".to_owned(),
                    default: None,
                    lock: false,
                };
                let desc = function_desc(Desc {
                    name: quote!(#fname),
                    doc: quote!(""),
                    params: vec![param_desc(&value)],
                    ret: quote!(()),
                    receiver: quote!(::oxbind::abi::Receiver::MUT),
                    lock_self: false,
                    call: quote!(Self::#setter),
                });
                quote!(::oxbind::private::RSome(#desc))
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
    // `copy.copy` and `copy.deepcopy` of a `Clone` struct: its `clone`.
    let copies = if is_clone {
        let body = into_return(quote!(::core::clone::Clone::clone(this)));
        let contract = "Called by the shim only, as `CallFn` says: `this` is the value of a live \
                        instance of this class, borrowed shared for the call, and `ret_slot` is \
                        storage for a value of this class.";
        let this = quote! {
            // SAFETY (generated): the shim passes the value of a live
            // instance of this class, borrowed shared.
            let this: &Self = unsafe { ::oxbind::private::value_ref::<Self>(this) };
        };
        let copy = trampoline(
            &format_ident!("__oxbind_copy"),
            "__copy__",
            contract,
            quote! { #this #body },
        );
        let memo = Param {
            ident: format_ident!("memo"),
            ty: syn::parse_quote!(::oxbind::Object),
            python_name: "memo".to_owned(),
            default: None,
            lock: false,
        };
        let desc = |name: &str, call: TokenStream2, params: Vec<TokenStream2>| {
            let f = function_desc(Desc {
                name: quote!(#name),
                doc: quote!("A copy (the struct's `Clone`)."),
                params,
                ret: quote!(#ident),
                receiver: quote!(::oxbind::abi::Receiver::REF),
                lock_self: false,
                call,
            });
            quote! {
                ::oxbind::abi::MethodDesc {
                    kind: ::oxbind::abi::MethodKind::INSTANCE,
                    slot: ::oxbind::abi::SlotKind::NONE,
                    func: #f,
                }
            }
        };
        let copy_desc = desc("__copy__", quote!(Self::__oxbind_copy), Vec::new());
        let deepcopy_desc = desc(
            "__deepcopy__",
            quote!(Self::__oxbind_copy),
            vec![param_desc(&memo)],
        );
        quote! {
            impl #ident {
                #copy
                #[doc(hidden)]
                pub const __OXBIND_GENERATED: &'static [::oxbind::abi::MethodDesc] = &[#copy_desc, #deepcopy_desc];
            }
        }
    } else {
        quote!()
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
            const OPTIONS: u32 = #options;
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

        impl ::oxbind::IntoObject for #ident {
            const TYPE: ::oxbind::abi::TypeDesc = <#ident as ::oxbind::IntoReturn>::TYPE;
            type Shape = #ident;
            fn into_object(self) -> ::core::result::Result<::oxbind::Object, ::oxbind::Error> {
                ::oxbind::Object::from_value(self)
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
        #copies
    })
}
