//! `oxbind::plugin!`: the plugin's root descriptor and its exports.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{
    bracketed,
    parse::{Parse, ParseStream},
    punctuated::Punctuated,
    LitBool, LitStr, Path, Token,
};

pub(crate) struct PluginDecl {
    pub(crate) name: LitStr,
    pub(crate) doc: Option<LitStr>,
    pub(crate) free_threading_safe: Option<LitBool>,
    pub(crate) init: Option<Path>,
    pub(crate) functions: Vec<Path>,
    pub(crate) classes: Vec<Path>,
    pub(crate) conversions: Vec<Path>,
    pub(crate) enums: Vec<Path>,
    pub(crate) constants: Vec<Path>,
}

impl Parse for PluginDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let (mut name, mut doc, mut ft, mut init, mut functions, mut classes, mut conversions) =
            (None, None, None, None, None, None, None);
        let (mut enums, mut constants) = (None, None);
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
                "enums" => enums = Some(paths(input)?),
                "constants" => constants = Some(paths(input)?),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown plugin! key `{other}`; expected name, doc, free_threading_safe, init, functions, classes, enums, constants or conversions"),
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
            enums: enums.unwrap_or_default(),
            constants: constants.unwrap_or_default(),
        })
    }
}

pub(crate) fn expand_plugin(decl: PluginDecl) -> TokenStream2 {
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
    let enums = decl
        .enums
        .iter()
        .map(|ty| quote!(<#ty as ::oxbind::Enum>::DESC));
    let class_options = decl.classes.iter().map(|ty| {
        quote! {
            ::oxbind::abi::ClassOptions {
                flags: <#ty as ::oxbind::Class>::OPTIONS,
                attributes: RSlice::from_slice({ use ::oxbind::private::NoMethods as _; <#ty>::__OXBIND_ATTRIBUTES }),
                generated: RSlice::from_slice({ use ::oxbind::private::NoMethods as _; <#ty>::__OXBIND_GENERATED }),
            }
        }
    });
    let constants = decl
        .constants
        .iter()
        .map(|path| quote!(#path::__OXBIND_DESC));
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
            static ENUMS: &[::oxbind::abi::EnumDesc] = &[#(#enums),*];
            static CLASS_OPTIONS: &[::oxbind::abi::ClassOptions] = &[#(#class_options),*];
            static CONSTANTS: &[::oxbind::abi::FunctionDesc] = &[#(#constants),*];
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
                enums: RSlice::from_slice(ENUMS),
                class_options: RSlice::from_slice(CLASS_OPTIONS),
                constants: RSlice::from_slice(CONSTANTS),
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
