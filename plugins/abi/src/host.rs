//! Services the shim offers to plugin code: the host API.
//!
//! A plugin has no Python symbols, so whatever it needs from the runtime it
//! calls through this table. The shim stores a pointer to its table in the
//! plugin's `PluginModule::host` slot when it loads the plugin.

use abi_stable::StableAbi;

/// The shim's services. Minor versions append functions.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostApi_Ref)))]
#[sabi(missing_field(option))]
pub struct HostApi {
    /// Locks a one-byte mutex laid out as CPython's `PyMutex`: waits
    /// detached from the interpreter on free-threaded builds; a no-op with
    /// the GIL, which already serialises plugin code.
    pub mutex_lock: unsafe extern "C" fn(mutex: *const u8),
    /// Unlocks it.
    #[sabi(last_prefix_field)]
    pub mutex_unlock: unsafe extern "C" fn(mutex: *const u8),
}
