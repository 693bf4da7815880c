//! Support code for the macros' expansions. Not a public API.

pub use crate::enumeration::enum_from_arg;
use std::panic::{catch_unwind, AssertUnwindSafe};

use oxbind_abi::{abi_stable::std_types::RString, ArgValue, CallOutcome, ErrorRecord, RetValue};

use crate::{Error, FromArg};

pub use oxbind_abi::abi_stable::std_types::{RNone, ROption, RSlice, RSome, RStr};

/// The shim's host API (`*const HostApi_Ref`), set when a shim loads this
/// plugin. One per plugin binary: the SDK is linked into each. Its atomic
/// is private: plugin code cannot store a forged host in it.
pub static HOST: HostSlot = HostSlot(std::sync::atomic::AtomicUsize::new(0));

/// Where the shim stores its host API for this plugin.
#[repr(transparent)]
pub struct HostSlot(std::sync::atomic::AtomicUsize);

impl HostSlot {
    /// The slot, for the plugin root the shim reads.
    ///
    /// # Safety
    /// Only the shim may store into it (a pointer to its host API).
    pub const unsafe fn for_shim(&'static self) -> &'static std::sync::atomic::AtomicUsize {
        &self.0
    }
}

/// The host API, if a shim has loaded this plugin.
#[inline]
pub fn host() -> Option<oxbind_abi::HostApi_Ref> {
    let p = HOST.0.load(std::sync::atomic::Ordering::Acquire) as *const oxbind_abi::HostApi_Ref;
    // SAFETY: the shim stores a pointer to a static it never frees.
    unsafe { p.as_ref().copied() }
}

/// Drops a class value in place: `ClassDesc::drop` for `T`.
///
/// # Safety
/// `value` points at an initialised `T` that is not used afterwards.
pub unsafe extern "C" fn drop_value<T>(value: *mut std::ffi::c_void) {
    // A panicking `Drop` must not unwind into the shim (an `extern "C"`
    // boundary: Rust would abort the process). The default panic hook has
    // printed the message; the rest of the value's fields were dropped by
    // the unwinding drop glue, and the memory is freed either way. (A second
    // panic while the first unwinds is Rust's own abort, as in any program.)
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes an initialised `T` it never uses again.
        unsafe { std::ptr::drop_in_place(value as *mut T) }
    }));
}

/// Clones `*src` into uninitialised `dst`: `ClassDesc::clone` for `T`.
///
/// # Safety
/// `src` points at a `T`; `dst` at storage for one.
pub unsafe extern "C" fn clone_value<T: Clone>(
    src: *const std::ffi::c_void,
    dst: *mut std::ffi::c_void,
) {
    // A panicking Clone leaves `dst` uninitialised; the shim never reads it.
    if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller passes a pointer to an initialised `T` (the
        // value of an instance of `T`'s class), alive for this call.
        unsafe { (*(src as *const T)).clone() }
    })) {
        // SAFETY: the caller passes storage allocated for one `T` (the new
        // instance's inline value), uninitialised, so nothing is overwritten.
        unsafe { std::ptr::write(dst as *mut T, v) };
    }
}

/// The value behind `this` or an `Object` argument, shared: the generated
/// trampolines' `&self` and `&T` parameters.
///
/// # Safety
/// `value` points at an initialised `T` (the value inside an instance of
/// `T`'s class) that the shim keeps alive and borrowed shared for `'a`:
/// nothing mutates it while the reference lives.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn value_ref<'a, T>(value: *const std::ffi::c_void) -> &'a T {
    // SAFETY: the caller promises an initialised, shared-borrowed `T` alive
    // for 'a.
    unsafe { &*(value as *const T) }
}

/// The value behind `this` or an `Object` argument, exclusively: the
/// generated trampolines' `&mut self` and `&mut T` parameters.
///
/// # Safety
/// `value` points at an initialised `T` (the value inside an instance of
/// `T`'s class) that the shim keeps alive and borrowed exclusively for `'a`:
/// nothing else reads or writes it while the reference lives.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn value_mut<'a, T>(value: *mut std::ffi::c_void) -> &'a mut T {
    // SAFETY: the caller promises an initialised, exclusively borrowed `T`
    // alive for 'a.
    unsafe { &mut *(value as *mut T) }
}

/// Methods and constructor of a class without an `#[oxbind::methods]`
/// block: the inherent constants that block generates shadow these.
pub trait NoMethods {
    const __OXBIND_METHODS: &'static [oxbind_abi::MethodDesc] = &[];
    const __OXBIND_CONSTRUCTOR: ROption<oxbind_abi::FunctionDesc> = RNone;
    const __OXBIND_ATTRIBUTES: &'static [oxbind_abi::FunctionDesc] = &[];
    const __OXBIND_GENERATED: &'static [oxbind_abi::MethodDesc] = &[];
}
impl<T> NoMethods for T {}

/// The default for classes not declared `gc`: no collector hooks.
/// `#[oxbind::class(gc)]` shadows it with an inherent constant.
pub trait NoGc {
    const __OXBIND_GC: oxbind_abi::ClassGc = oxbind_abi::ClassGc::NONE;
}
impl<T> NoGc for T {}

/// Runs a function body, turning `Err` into an error record and catching any
/// panic so that it never unwinds into the shim.
#[inline]
pub fn call(body: impl FnOnce() -> Result<RetValue, Error>) -> CallOutcome {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => CallOutcome::Ok(value),
        Ok(Err(err)) => CallOutcome::Err(error_record(err)),
        Err(payload) => CallOutcome::Panic(RString::from(panic_message(payload.as_ref()))),
    }
}

/// The record an `Err` leaves a plugin function as. An error holding a
/// Python exception hands the exception to the shim first (`set_raised`),
/// which raises it unchanged.
#[cold]
pub fn error_record(mut err: Error) -> ErrorRecord {
    let exception = err.take_exception();
    let kind = match (exception, host().and_then(|h| h.set_raised())) {
        (Some(exc), Some(set_raised)) => {
            // SAFETY: the exception's reference is handed over, for the
            // record returned on this thread right after.
            unsafe { set_raised(exc.into_raw()) };
            oxbind_abi::ErrorKind::RAISED
        }
        // A Python error kept without its exception (it cannot be handed
        // over) becomes a RuntimeError with its text.
        _ if err.kind == oxbind_abi::ErrorKind::RAISED => oxbind_abi::ErrorKind::RUNTIME_ERROR,
        _ => err.kind,
    };
    ErrorRecord {
        kind,
        message: RString::from(err.message),
    }
}

/// Runs a plugin's init function (`plugin! { init: f }`): `Ok` becomes an
/// `Ok(None)` outcome, `Err` an error record, and a panic a `Panic` outcome.
pub fn run_init<E: Into<Error>>(init: fn() -> Result<(), E>) -> CallOutcome {
    call(|| init().map(|()| RetValue::None).map_err(Into::into))
}

/// Converts argument `index`, naming the function and parameter on failure.
///
/// Inlined into every generated wrapper, with both error paths out of line:
/// the success path is a bounds check and the conversion itself (a call to
/// an out-of-line `arg` cost about 30 instructions per argument).
///
/// # Safety
/// `args` are the values the shim passed to this call, made from the
/// function's parameter descriptions: the one at `index` is for a parameter
/// of type `T::TYPE` (see [`FromArg::from_arg`]).
#[inline(always)]
pub unsafe fn arg<'a, T: FromArg<'a>>(
    args: &[ArgValue<'a>],
    index: usize,
    function: &str,
    param: &str,
) -> Result<T, Error> {
    let Some(value) = args.get(index) else {
        return Err(missing_arg(args.len(), function, param));
    };
    // SAFETY: `value` is one of the shim's values for this call, as the
    // caller promises, made for this parameter's type `T::TYPE`.
    match unsafe { T::from_arg(*value) } {
        Ok(v) => Ok(v),
        Err(e) => Err(name_arg_error(e, function, param)),
    }
}

#[cold]
#[inline(never)]
fn missing_arg(given: usize, function: &str, param: &str) -> Error {
    Error::type_error(format!(
        "{function}() missing argument '{param}' (shim passed {given} values)"
    ))
}

#[cold]
#[inline(never)]
fn name_arg_error(e: Error, function: &str, param: &str) -> Error {
    Error::new(
        e.kind,
        format!("{function}() argument '{param}': {}", e.message),
    )
}

/// The body of `PyInit_<name>` for a standalone build: the embedded shim
/// builds the module (`oxbind_shim::embed`).
///
/// # Safety
/// Called by CPython's import machinery, with the thread attached.
#[cfg(feature = "standalone")]
pub unsafe fn standalone_init(root: &'static oxbind_abi::PluginRoot) -> *mut std::ffi::c_void {
    // SAFETY: our caller is CPython's import machinery, on an attached
    // thread, which is `embed::init`'s contract too.
    unsafe { oxbind_shim::embed::init(root) as *mut std::ffi::c_void }
}

/// The error for an object parameter that got something else (a shim bug).
pub fn unexpected_object<T>(value: ArgValue<'_>, class: &str) -> Result<T, Error> {
    Err(Error::type_error(format!(
        "expected an instance of {class}, got {value:?} (shim and plugin disagree)"
    )))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_outcomes_with_their_message() {
        let outcome = call(|| panic!("boom {}", 42));
        assert_eq!(outcome, CallOutcome::Panic(RString::from("boom 42")));
        let outcome = call(|| std::panic::panic_any(7u32));
        assert_eq!(
            outcome,
            CallOutcome::Panic(RString::from("panic with a non-string payload"))
        );
    }

    #[test]
    fn argument_errors_name_function_and_parameter() {
        let args = [ArgValue::Int(300)];
        // SAFETY: a scalar value, as the shim would pass it.
        let err = unsafe { arg::<u8>(&args, 0, "f", "x") }.unwrap_err();
        assert_eq!(err.message, "f() argument 'x': 300 does not fit in u8");
    }
}
