//! Function descriptors: what a plugin exports, and how the shim calls it.

use std::ffi::c_void;

use abi_stable::{
    std_types::{ROption, RSlice, RStr, RString},
    StableAbi,
};

use crate::{
    error::ErrorRecord,
    value::{ArgValue, RetValue, TypeDesc},
};

/// The result of one call into a plugin.
#[repr(u8)]
#[derive(StableAbi, Debug, PartialEq)]
pub enum CallOutcome {
    /// The function returned normally.
    Ok(RetValue),
    /// The function returned `Err`, or an argument failed the plugin's own
    /// checks (an integer out of range, say).
    Err(ErrorRecord),
    /// The function panicked; the panic was caught inside the plugin and this
    /// is its message. Panics never unwind across this boundary.
    Panic(RString),
}

/// The entry point of one exported function.
///
/// `args` holds exactly one value per parameter, in declaration order, with
/// defaults already filled in and every value already of the parameter's
/// declared kind (or `None` for an optional parameter). `this` is the value
/// inside `self` for methods (see [`Receiver`]) and null otherwise.
/// `ret_slot` is uninitialised memory for a result of a class type returned
/// by value (the value inside a freshly allocated instance), and null for
/// every other result type.
///
/// # Safety
/// The shim calls it with arguments that satisfy the contract above, while
/// attached to the interpreter.
pub type CallFn = unsafe extern "C" fn(
    this: *mut c_void,
    args: RSlice<'_, ArgValue<'_>>,
    ret_slot: *mut c_void,
) -> CallOutcome;

/// What a function's `this` is.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct Receiver(pub u8);

impl Receiver {
    /// A free function, static method or constructor: `this` is null.
    pub const NONE: Self = Self(0);
    /// `&self`.
    pub const REF: Self = Self(1);
    /// `&mut self`.
    pub const MUT: Self = Self(2);
}

/// One parameter of an exported function.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct ParamDesc {
    /// The Python name; also the keyword that passes it.
    pub name: RStr<'static>,
    pub ty: TypeDesc,
    /// The value used when the caller omits the argument.
    pub default: ROption<ArgValue<'static>>,
    /// Lock the argument's object for the call (`#[oxbind(lock)]`).
    pub lock: bool,
}

/// One exported function.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug)]
pub struct FunctionDesc {
    /// The Python name.
    pub name: RStr<'static>,
    /// The docstring, without the signature line (the shim renders that).
    pub doc: RStr<'static>,
    pub params: RSlice<'static, ParamDesc>,
    /// The result type; [`crate::TypeKind::UNIT`] for `()`.
    pub ret: TypeDesc,
    /// What `this` is when the shim calls it.
    pub receiver: Receiver,
    /// Lock `self` for the call (`#[oxbind(lock_self)]`). With the `lock`
    /// parameters and `&mut` object parameters, at most two objects are
    /// locked, in one critical section.
    pub lock_self: bool,
    /// The entry point; see [`CallFn`] for the contract. (Spelled out here
    /// because abi_stable's derive reads function-pointer fields inline.)
    pub call: unsafe extern "C" fn(
        this: *mut c_void,
        args: RSlice<'_, ArgValue<'_>>,
        ret_slot: *mut c_void,
    ) -> CallOutcome,
}
