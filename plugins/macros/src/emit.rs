//! The templates every expansion shares: the C trampoline a descriptor
//! points to, the `FunctionDesc` literal, parameter descriptions and
//! argument conversions. Each is emitted from here only.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};

use crate::signature::Param;

/// The call of a function body (`call`, an expression of the result), as
/// `#[oxbind(detach)]` runs it: detached, with the arguments (and `self`)
/// converted before, attached. The arguments' conversions take references
/// to Python objects (`oxbind::Object`, `Instance<T>`), which must be real
/// counts before the call's arguments can be released.
pub(crate) fn detached_call(detach: bool, call: TokenStream2) -> TokenStream2 {
    if detach {
        quote! { ::oxbind::detach(move || #call) }
    } else {
        call
    }
}

/// The statements converting each argument: `let __oxbind_argN: T = ...?;`.
/// `context` names the function in error messages.
pub(crate) fn arg_conversions(params: &[Param], context: &str) -> Vec<TokenStream2> {
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

pub(crate) fn param_desc(p: &Param) -> TokenStream2 {
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

/// The C trampoline a descriptor points to: an `unsafe extern "C"` `CallFn`
/// named `name`, whose `body` runs under `::oxbind::private::call` (which
/// catches panics and turns the result into a `CallOutcome`). `body` sees
/// the three `CallFn` parameters: `this`, `args` and `ret_slot`. `what`
/// names it in its doc ("function", "property getter"); `contract` is its
/// `# Safety` section.
pub(crate) fn trampoline(
    name: &syn::Ident,
    what: &str,
    contract: &str,
    body: TokenStream2,
) -> TokenStream2 {
    let doc = format!(" The {what}'s `CallFn`.");
    let contract = format!(" {contract}");
    let runner = quote!(call);
    quote! {
        #[doc = #doc]
        ///
        /// # Safety
        #[doc = #contract]
        #[doc(hidden)]
        #[allow(unused_unsafe, unused_variables)]
        unsafe extern "C" fn #name(
            this: *mut ::std::ffi::c_void,
            args: ::oxbind::private::RSlice<'_, ::oxbind::abi::ArgValue<'_>>,
            ret_slot: *mut ::std::ffi::c_void,
        ) -> ::oxbind::abi::CallOutcome {
            ::oxbind::private::#runner(move || { #body })
        }
    }
}

/// What a [`function_desc`] literal says.
pub(crate) struct Desc {
    /// The Python name, an expression of type `&'static str`.
    pub name: TokenStream2,
    /// The docstring, an expression of type `&'static str`.
    pub doc: TokenStream2,
    /// The `ParamDesc` literals.
    pub params: Vec<TokenStream2>,
    /// The result type.
    pub ret: TokenStream2,
    /// A `Receiver` constant.
    pub receiver: TokenStream2,
    pub lock_self: bool,
    /// The path of the trampoline.
    pub call: TokenStream2,
}

/// The `::oxbind::abi::FunctionDesc` literal of one exported callable.
pub(crate) fn function_desc(d: Desc) -> TokenStream2 {
    let Desc {
        name,
        doc,
        params,
        ret,
        receiver,
        lock_self,
        call,
    } = d;
    quote! {
        ::oxbind::abi::FunctionDesc {
            name: ::oxbind::private::RStr::from_str(#name),
            doc: ::oxbind::private::RStr::from_str(#doc),
            params: ::oxbind::private::RSlice::from_slice(&[#(#params),*]),
            ret: <#ret as ::oxbind::IntoReturn>::TYPE,
            receiver: #receiver,
            lock_self: #lock_self,
            call: #call,
        }
    }
}

/// The statement that turns `value` into the `CallFn`'s result, writing a
/// class value into `ret_slot`.
pub(crate) fn into_return(value: TokenStream2) -> TokenStream2 {
    quote! {
        // SAFETY (generated): `ret_slot` is the shim's, null or storage for
        // the result's class (`CallFn`).
        ::oxbind::IntoReturn::into_return(#value, unsafe { ::oxbind::ReturnSlot::from_raw(ret_slot) })
    }
}
