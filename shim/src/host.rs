//! The host API this shim copy offers plugin code (`oxbind_abi::host`), and
//! its installation in each plugin it loads.
//!
//! Shared state: [`HOST`] is immutable static data; a plugin's host slot is
//! set once with a compare-exchange, so the first shim to load a plugin
//! serves it for good (every copy in one process implements the same
//! operations for the same interpreter).

use std::sync::atomic::{AtomicUsize, Ordering};

use oxbind_abi::{abi_stable::prefix_type::WithMetadata, HostApi, HostApi_Ref};

static HOST_TABLE: WithMetadata<HostApi> = WithMetadata::new(HostApi {
    mutex_lock,
    mutex_unlock,
});
static HOST: HostApi_Ref = HostApi_Ref(HOST_TABLE.static_as_prefix());

/// Gives a plugin this copy's host API, unless it already has one.
pub fn install(slot: &AtomicUsize) {
    let _ = slot.compare_exchange(
        0,
        &HOST as *const HostApi_Ref as usize,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

unsafe extern "C" fn mutex_lock(mutex: *const u8) {
    #[cfg(Py_GIL_DISABLED)]
    // SAFETY: the plugin passes a zero-initialised, never-moved PyMutex byte.
    pyo3_ffi::PyMutex_Lock(mutex as *mut pyo3_ffi::PyMutex);
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = mutex; // the GIL serialises plugin code
}

unsafe extern "C" fn mutex_unlock(mutex: *const u8) {
    #[cfg(Py_GIL_DISABLED)]
    // SAFETY: the calling thread holds this mutex.
    pyo3_ffi::PyMutex_Unlock(mutex as *mut pyo3_ffi::PyMutex);
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = mutex;
}
