//! Services the shim offers to plugin code: the host API.
//!
//! A plugin has no Python symbols, so whatever it needs from the runtime it
//! calls through this table. The shim stores a pointer to its table in the
//! plugin's `PluginModule::host` slot when it loads the plugin.

use std::ffi::c_void;

use abi_stable::StableAbi;

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
}

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
