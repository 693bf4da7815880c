//! Services the shim offers to plugin code: the host API.
//!
//! A plugin has no Python symbols, so whatever it needs from the runtime it
//! calls through this table. The shim stores a pointer to its table in the
//! plugin's `PluginModule::host` slot when it loads the plugin.

use std::ffi::c_void;

use abi_stable::{std_types::RStr, StableAbi};

use crate::{
    function::FunctionDesc,
    value::{ArgValue, RetValue, TypeDesc},
};

/// The shim's services. Minor versions append functions.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostApi_Ref)))]
#[sabi(missing_field(option))]
pub struct HostApi {
    /// Locks a one-byte mutex laid out as CPython's `PyMutex`, on every
    /// build and from any thread; a waiter that is attached waits detached.
    pub mutex_lock: unsafe extern "C" fn(mutex: *const u8),
    /// Unlocks it.
    #[sabi(last_prefix_field)]
    pub mutex_unlock: unsafe extern "C" fn(mutex: *const u8),
    /// Since ABI 0.1.1. Begins a critical section on the instances that hold
    /// the values at `a` and `b` (`b` may be null), which must be values the
    /// current call borrowed (its receiver or arguments, or values inside
    /// them). `section` is [`CRITICAL_SECTION_SIZE`] bytes, aligned to
    /// pointers, that stay put until [`HostApi::critical_end`]. Returns 0 on
    /// success, or [`CRITICAL_NOT_BORROWED`] if a value is not one the call
    /// borrowed; then no section was begun. With the GIL it only checks the
    /// values (holding the GIL is the section). Inside [`HostApi::detach`]
    /// it re-attaches for the section's length.
    pub critical_begin:
        unsafe extern "C" fn(a: *const c_void, b: *const c_void, section: *mut c_void) -> u32,
    /// Ends the section `critical_begin` began in `section`. Sections end
    /// in the reverse order they began, on the thread that began them.
    pub critical_end: unsafe extern "C" fn(section: *mut c_void),
    /// Since ABI 0.1.1. Takes a strong reference to `obj` (an object the
    /// shim passed as a `Passing::HANDLE` argument). Safe from any thread:
    /// the shim attaches to the interpreter if needed.
    pub incref: unsafe extern "C" fn(obj: *mut c_void),
    /// Releases one strong reference taken with `incref`; attaches to the
    /// interpreter if needed. Never called after the interpreter finalized
    /// (the reference is leaked then, and the leak report shows it).
    pub decref: unsafe extern "C" fn(obj: *mut c_void),
    /// Since ABI 0.1.3. Runs `f(data)` detached from the interpreter (with
    /// the GIL released, on GIL builds), then re-attaches, if the calling
    /// thread is attached and holds no critical section; otherwise runs it
    /// as it is. `f` must not unwind. Inside, `critical_begin` re-attaches
    /// for the section's length. A thread that would re-attach while the
    /// interpreter finalizes never returns (as CPython does with daemon
    /// threads).
    pub detach: unsafe extern "C" fn(f: DetachedFn, data: *mut c_void),

    // Since ABI 0.1.4: Python objects (spec/PLUGIN-ABI.md, "Objects").
    // Every one works from any thread: an attached thread runs it directly,
    // a thread detached in `detach` re-attaches for it, and any other thread
    // (one the plugin spawned) attaches for it. Each returns a status
    // (`OBJECT_OK`, `OBJECT_RAISED`, `OBJECT_UNAVAILABLE`); `out` receives a
    // new strong reference: the result on `OBJECT_OK`, the exception on
    // `OBJECT_RAISED`, nothing (null) on `OBJECT_UNAVAILABLE` (the
    // interpreter is finalizing and the thread may no longer attach).
    // Object arguments are borrowed: live objects the plugin holds a
    // reference to.
    /// `getattr(obj, name)`.
    pub object_getattr:
        unsafe extern "C" fn(obj: *mut c_void, name: RStr<'_>, out: *mut *mut c_void) -> u32,
    /// `setattr(obj, name, value)`, or `delattr(obj, name)` if `value` is
    /// null. `out` receives the exception on failure (null on success).
    pub object_setattr: unsafe extern "C" fn(
        obj: *mut c_void,
        name: RStr<'_>,
        value: *mut c_void,
        out: *mut *mut c_void,
    ) -> u32,
    /// `callable(*args[..nargs], **{kwnames[i]: args[nargs + i]})`: the
    /// vectorcall convention, with `nkw` keyword names.
    pub object_call: unsafe extern "C" fn(
        callable: *mut c_void,
        args: *const *mut c_void,
        nargs: usize,
        kwnames: *const RStr<'_>,
        nkw: usize,
        out: *mut *mut c_void,
    ) -> u32,
    /// `obj.name(*args[..nargs])`.
    pub object_call_method: unsafe extern "C" fn(
        obj: *mut c_void,
        name: RStr<'_>,
        args: *const *mut c_void,
        nargs: usize,
        out: *mut *mut c_void,
    ) -> u32,
    /// A unary operation that makes an object: one of the `UNARY_*`
    /// operations (`repr(obj)`, `str(obj)`, `type(obj)`, `iter(obj)`,
    /// `next(obj)`). `UNARY_NEXT` at the end of the iteration returns
    /// `OBJECT_OK` with `out` null.
    pub object_unary: unsafe extern "C" fn(op: u32, obj: *mut c_void, out: *mut *mut c_void) -> u32,
    /// A test or measure with an integer answer, one of the `TEST_*`
    /// operations on `a` (and `b`, for the binary ones; null otherwise),
    /// written to `answer`. `out` receives the exception on failure.
    pub object_test: unsafe extern "C" fn(
        op: u32,
        a: *mut c_void,
        b: *mut c_void,
        answer: *mut i64,
        out: *mut *mut c_void,
    ) -> u32,
    /// `import name` (dotted names return the submodule itself).
    pub import: unsafe extern "C" fn(name: RStr<'_>, out: *mut *mut c_void) -> u32,
    /// The object for a result value `value` of type `*ty` (a static
    /// description), converted exactly as a function result is. A class
    /// value crosses as `RetValue::Moved`. `value` is taken over (dropped
    /// by the shim).
    pub object_from_value:
        unsafe extern "C" fn(ty: *const TypeDesc, value: RetValue, out: *mut *mut c_void) -> u32,
    /// Converts `obj` as an argument for a parameter of type `*ty` (a static
    /// description), with the rules and messages of argument conversion, and
    /// calls `visit.func(data, &value)` with the result while the value is
    /// valid (borrowed strings, borrowed instances): only then. `out`
    /// receives the exception if the conversion failed (then `visit` is not
    /// called). `visit` must not unwind.
    pub object_extract: unsafe extern "C" fn(
        obj: *mut c_void,
        ty: *const TypeDesc,
        visit: ExtractFn,
        data: *mut c_void,
        out: *mut *mut c_void,
    ) -> u32,
    /// Hands the shim an exception object to raise (a strong reference it
    /// takes over), just before the plugin returns an `ErrorRecord` of kind
    /// `ErrorKind::RAISED` on the same thread. A second call before that
    /// replaces (and releases) the first.
    pub set_raised: unsafe extern "C" fn(exc: *mut c_void),
    /// A new Python function object that calls `desc.call(data, args,
    /// null)` (`this` is `data`; `desc.receiver` must be `Receiver::NONE`).
    /// `desc` and everything it points to must stay valid until the shim
    /// calls `release.func(data)`, once, when the function object is
    /// freed (attached to the interpreter; never after it finalized, when
    /// the data is leaked). `release` must not unwind.
    pub new_function: unsafe extern "C" fn(
        desc: *const FunctionDesc,
        data: *mut c_void,
        release: DetachedFn,
        out: *mut *mut c_void,
    ) -> u32,
    /// The whole of a typed callback call, in one crossing: converts the
    /// `nargs` values at `args` (taken over, each of the static type at
    /// `types[i]`) as results of those types are converted, calls
    /// `callable` with them, and converts its result as an argument of the
    /// static type `*ret` is, passing the value to `visit.func(data,
    /// &value)` while it is valid (as `object_extract`); for a `UNIT`
    /// `*ret` the result is ignored and `visit` not called. `out` receives
    /// the exception on failure. The values are dropped by the shim, used
    /// or not.
    pub object_call_values: unsafe extern "C" fn(
        callable: *mut c_void,
        args: *const RetValue,
        types: *const TypeDesc,
        nargs: usize,
        ret: *const TypeDesc,
        visit: ExtractFn,
        data: *mut c_void,
        out: *mut *mut c_void,
    ) -> u32,

    // Since ABI 0.1.5: integers beyond `i64` (`TypeKind::WIDE_INT`).
    /// Reads the Python int `obj` (an `ArgValue::Object` of a `WIDE_INT`
    /// parameter, borrowed for the call) into `out`. Returns
    /// [`WIDE_OK`], [`WIDE_OUT_OF_RANGE`] if the value is outside
    /// `i128`'s and `u128`'s ranges together, or [`WIDE_NOT_INT`] if `obj`
    /// is not an int or the thread is not attached (it never attaches:
    /// such a value exists only during a call, on its thread). Never
    /// raises.
    pub int_to_wide: unsafe extern "C" fn(obj: *mut c_void, out: *mut WideInt) -> u32,
    /// The Python int for `value`, as a new reference in `out`, with the
    /// status convention of the object operations (works from any thread).
    pub int_from_wide: unsafe extern "C" fn(value: WideInt, out: *mut *mut c_void) -> u32,

    // Since ABI 0.1.9: lazy iterators (`oxbind::LazyIter`).
    /// A new iterator whose `next()` calls `next` (a callable taking no
    /// arguments) and ends when it returns `sentinel` (compared by
    /// identity), as a new reference in `out`, with the status convention
    /// of the object operations. Unlike `iter(callable, sentinel)`, it is
    /// safe to share between threads on free-threaded builds (it never
    /// changes its fields while iterating); `next` keeps returning
    /// `sentinel` once exhausted.
    pub new_iterator: unsafe extern "C" fn(
        next: *mut c_void,
        sentinel: *mut c_void,
        out: *mut *mut c_void,
    ) -> u32,
}

/// An integer in `i128`'s or `u128`'s range, as [`HostApi::int_to_wide`]
/// and [`HostApi::int_from_wide`] carry it: `bits` as a `u128` if
/// `negative` is false, else `bits` as an `i128` (its two's complement,
/// whose top bit is then set).
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct WideInt {
    /// The low 64 bits.
    pub lo: u64,
    /// The high 64 bits.
    pub hi: u64,
    /// Whether the value is negative.
    pub negative: bool,
}

impl WideInt {
    /// The value of an `i128`.
    pub const fn from_i128(v: i128) -> Self {
        let bits = v as u128;
        WideInt {
            lo: bits as u64,
            hi: (bits >> 64) as u64,
            negative: v < 0,
        }
    }

    /// The value of a `u128`.
    pub const fn from_u128(v: u128) -> Self {
        WideInt {
            lo: v as u64,
            hi: (v >> 64) as u64,
            negative: false,
        }
    }

    /// The 128 bits.
    pub const fn bits(self) -> u128 {
        ((self.hi as u128) << 64) | self.lo as u128
    }

    /// The value as an `i128`, if it is one.
    pub const fn to_i128(self) -> Option<i128> {
        let bits = self.bits() as i128;
        if self.negative == (bits < 0) {
            Some(bits)
        } else {
            None
        }
    }

    /// The value as a `u128`, if it is one.
    pub const fn to_u128(self) -> Option<u128> {
        if self.negative {
            None
        } else {
            Some(self.bits())
        }
    }
}

impl std::fmt::Display for WideInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.to_u128(), self.to_i128()) {
            (Some(v), _) => write!(f, "{v}"),
            (None, Some(v)) => write!(f, "{v}"),
            (None, None) => f.write_str("<invalid wide int>"),
        }
    }
}

/// [`HostApi::int_to_wide`]: `out` holds the value.
pub const WIDE_OK: u32 = 0;
/// The int is below `i128::MIN` or above `u128::MAX`.
pub const WIDE_OUT_OF_RANGE: u32 = 1;
/// Not an int, or not on an attached thread.
pub const WIDE_NOT_INT: u32 = 2;

/// The plugin function [`HostApi::object_extract`] calls with the
/// converted value, and the `data` passed beside it.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone)]
pub struct ExtractFn {
    /// Called at most once, with the value valid only during the call.
    pub func: unsafe extern "C" fn(data: *mut c_void, value: *const ArgValue<'_>),
}

/// An object operation succeeded; `out` holds its result.
pub const OBJECT_OK: u32 = 0;
/// An object operation raised; `out` holds the exception.
pub const OBJECT_RAISED: u32 = 1;
/// The operation could not run: the interpreter is finalizing and this
/// thread may no longer attach to it. `out` is null.
pub const OBJECT_UNAVAILABLE: u32 = 2;

/// [`HostApi::object_unary`]: `repr(obj)`.
pub const UNARY_REPR: u32 = 0;
/// `str(obj)`.
pub const UNARY_STR: u32 = 1;
/// `type(obj)`.
pub const UNARY_TYPE: u32 = 2;
/// `iter(obj)`.
pub const UNARY_ITER: u32 = 3;
/// `next(obj)` on an iterator; null at its end.
pub const UNARY_NEXT: u32 = 4;

/// [`HostApi::object_test`]: `bool(a)`, as 0 or 1.
pub const TEST_TRUTH: u32 = 0;
/// `a == b`, as 0 or 1 (`bool()` of the comparison's result).
pub const TEST_EQ: u32 = 1;
/// `hash(a)`.
pub const TEST_HASH: u32 = 2;
/// `isinstance(a, b)`, as 0 or 1.
pub const TEST_ISINSTANCE: u32 = 3;
/// `a is None`, as 0 or 1. Never raises.
pub const TEST_IS_NONE: u32 = 4;
/// `callable(a)`, as 0 or 1. Never raises.
pub const TEST_CALLABLE: u32 = 5;
/// `len(a)`.
pub const TEST_LEN: u32 = 6;

/// The plugin function [`HostApi::detach`] runs, with its data.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone)]
pub struct DetachedFn {
    /// Called once, detached, with the `data` passed beside it.
    pub func: unsafe extern "C" fn(data: *mut c_void),
}

/// The bytes a critical section needs (`PyCriticalSection2` is four
/// pointers on CPython 3.13; room is left for growth).
pub const CRITICAL_SECTION_SIZE: usize = 64;

/// `critical_begin`'s result when a value is not one the call borrowed.
pub const CRITICAL_NOT_BORROWED: u32 = 1;
