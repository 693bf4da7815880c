//! Publication: finding, checking and joining the shared internals, or
//! creating and publishing them (the first copy in an interpreter).

use std::{
    collections::HashMap,
    ffi::c_void,
    ptr,
    sync::atomic::Ordering,
    time::{SystemTime, UNIX_EPOCH},
};

use oxbind_internals::{
    abi_stable::{
        abi_stability::abi_checking::check_layout_compatibility, library::AbiHeader,
        prefix_type::PrefixTypeTrait, std_types::RStr, StableAbi,
    },
    compatibility_line, CopyInfo, Internals, InternalsHeader, Internals_Ref, RuntimeId,
    CAPSULE_NAME, HEADER_VERSION, MAGIC, VERSION,
};
use pyo3_ffi as ffi;

use crate::{leaks, py::errors, py::owned::Owned, sync::lock::PyLock, SHIM_VERSION};

use crate::py::dict::{dict_get, dict_set_default};
use crate::runtime::creator::{
    creator_add_conversion, creator_conversion_at, creator_copy_at, creator_find_type_by_key,
    creator_find_type_by_object, creator_join, creator_register_type, creator_set_leak_warnings,
    creator_stats, gather_leaks, shard_count, CreatorState, Registry, CREATED_STATE, SHARD_SHIFT,
};
use crate::runtime::instance_map::{
    creator_map_get, creator_map_insert, creator_map_remove, fmix64, Shard,
};
use crate::runtime::{joined, Joined, FREE_THREADED, JOINED};

/// Joins this interpreter's runtime, creating it if needed, on behalf of the
/// module `module` that embeds this copy. Returns `Err` with a Python error
/// (ImportError) set.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn join(module: &'static str) -> Result<&'static Joined, ()> {
    // Checked on every call, before the fast path: on 3.11 a subinterpreter
    // can run our module exec after the main interpreter already joined.
    let interp = ffi::PyInterpreterState_Get();
    if interp != ffi::PyInterpreterState_Main() {
        errors::import_error(
            &format!("{module}: oxbind does not support subinterpreters; import it in the main interpreter"),
            None,
        );
        return Err(());
    }
    if let Some(j) = joined() {
        return Ok(j);
    }
    let dict = ffi::PyInterpreterState_GetDict(interp);
    if dict.is_null() {
        errors::import_error(
            &format!("{module}: the interpreter has no state dict for oxbind's internals"),
            None,
        );
        return Err(());
    }
    let key = oxbind_internals::key(VERSION, FREE_THREADED);
    let key_obj = Owned::from_raw(errors::new_str(&key)).ok_or(())?;

    let (header, created) = match dict_get(dict, key_obj.as_ptr())? {
        Some(existing) => (check_capsule(existing.as_ptr(), &key, module)?, false),
        None => {
            let candidate = create(module)?;
            let stored = dict_set_default(dict, key_obj.as_ptr(), candidate.capsule.as_ptr())?;
            if stored.as_ptr() == candidate.capsule.as_ptr() {
                let state = candidate.header.internals.state() as *mut CreatorState;
                CREATED_STATE.store(state, Ordering::Release);
                leaks::install_report(gather_leaks);
                (candidate.header, true)
            } else {
                // Another thread published first; ours was never seen.
                candidate.discard();
                (check_capsule(stored.as_ptr(), &key, module)?, false)
            }
        }
    };
    warn_if_other_line(dict, header, module)?;

    let internals = header.internals;
    let copy = CopyInfo {
        module: RStr::from_str(module),
        shim_version: RStr::from_str(SHIM_VERSION),
        version: VERSION,
    };
    let candidate = Box::into_raw(Box::new(Joined {
        header,
        internals,
        key,
        is_creator: created,
        copy_index: 0,
        module,
    }));
    match JOINED.compare_exchange(
        ptr::null_mut(),
        candidate,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            // SAFETY: `candidate` is ours until published; only this thread
            // writes copy_index, before any reader can rely on it.
            (*candidate).copy_index = (internals.join())(internals.state(), copy);
            errors::set_panic_error(internals.panic_error() as *mut ffi::PyObject);
            crate::sync::detach::install_exit_gate();
            crate::sync::refpool::install_gc_callback();
            Ok(&*candidate)
        }
        Err(winner) => {
            drop(Box::from_raw(candidate));
            Ok(&*winner)
        }
    }
}

/// Reads and checks an internals capsule, in the order of `spec/ABI.md`.
pub(crate) unsafe fn check_capsule(
    obj: *mut ffi::PyObject,
    key: &str,
    module: &str,
) -> Result<&'static InternalsHeader, ()> {
    let refuse = |why: String| {
        errors::import_error(
            &format!("{module}: cannot join oxbind's shared internals ({key}): {why}"),
            None,
        );
        Err(())
    };
    if ffi::PyCapsule_IsValid(obj, CAPSULE_NAME.as_ptr()) == 0 {
        return refuse("the interpreter-state entry is not an oxbind internals capsule".into());
    }
    let raw = ffi::PyCapsule_GetPointer(obj, CAPSULE_NAME.as_ptr()) as *const InternalsHeader;
    if raw.is_null() {
        return Err(());
    }
    // SAFETY: the capsule's name says it points at an internals header;
    // the magic and header version are at fixed offsets in every version.
    let magic = ptr::read_unaligned(raw as *const [u8; 16]);
    if magic != MAGIC {
        return refuse("the capsule's header has the wrong magic".into());
    }
    let header_version = ptr::read_unaligned(ptr::addr_of!((*raw).header_version));
    if header_version != HEADER_VERSION {
        return refuse(format!(
            "header version {header_version}, expected {HEADER_VERSION}"
        ));
    }
    let header: &'static InternalsHeader = &*raw;
    let ours = AbiHeader::VALUE;
    if !header.abi_header.is_compatible(&ours) {
        return refuse(format!(
            "they use abi_stable ABI {}.{}, this copy uses {}.{}",
            header.abi_header.abi_major,
            header.abi_header.abi_minor,
            ours.abi_major,
            ours.abi_minor
        ));
    }
    let theirs = version_of(header.version);
    let mine = version_of(VERSION);
    if compatibility_line(header.version) != compatibility_line(VERSION) {
        return refuse(format!(
            "they are internals ABI {theirs}, this copy is {mine}, and the lines differ"
        ));
    }
    // The older side is the interface: it has fewer fields, all of which the
    // newer side must have unchanged.
    let (interface, implementation) = if header.version <= VERSION {
        (header.layout, <Internals_Ref as StableAbi>::LAYOUT)
    } else {
        (<Internals_Ref as StableAbi>::LAYOUT, header.layout)
    };
    if let Err(e) = check_layout_compatibility(interface, implementation) {
        return refuse(format!(
            "the layouts of internals ABI {theirs} (theirs) and {mine} (this copy) do not match: {}",
            crate::compat::summarize(&e.to_string())
        ));
    }
    Ok(header)
}

/// If the first runtime of this flavour is on another line, says so with a
/// RuntimeWarning: this copy runs on a separate runtime.
pub(crate) unsafe fn warn_if_other_line(
    dict: *mut ffi::PyObject,
    ours: &'static InternalsHeader,
    module: &str,
) -> Result<(), ()> {
    let primary = Owned::from_raw(errors::new_str(&oxbind_internals::primary_key(
        FREE_THREADED,
    )))
    .ok_or(())?;
    let Some(stored) = dict_set_default_capsule(dict, primary.as_ptr(), ours)? else {
        return Ok(());
    };
    if ffi::PyCapsule_IsValid(stored.as_ptr(), CAPSULE_NAME.as_ptr()) == 0 {
        return Ok(());
    }
    let first =
        ffi::PyCapsule_GetPointer(stored.as_ptr(), CAPSULE_NAME.as_ptr()) as *const InternalsHeader;
    if first.is_null() || ptr::read_unaligned(first as *const [u8; 16]) != MAGIC {
        return Ok(());
    }
    let first_version = ptr::read_unaligned(ptr::addr_of!((*first).version));
    if compatibility_line(first_version) == compatibility_line(VERSION) {
        return Ok(());
    }
    let message = format!(
        "{module} uses oxbind internals ABI {}, incompatible with the oxbind runtime already loaded (internals ABI {}); \
         it runs on a separate runtime and cannot share types or instances with modules on the other one",
        version_of(VERSION),
        version_of(first_version)
    );
    let c_message = errors::c_string(&message);
    if ffi::PyErr_WarnEx(ffi::PyExc_RuntimeWarning, c_message.as_ptr(), 1) < 0 {
        return Err(());
    }
    Ok(())
}

/// Publishes `header`'s capsule under `key` unless something is there, and
/// returns what is there (`None` if ours went in).
pub(crate) unsafe fn dict_set_default_capsule(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    header: &'static InternalsHeader,
) -> Result<Option<Owned>, ()> {
    if let Some(existing) = dict_get(dict, key)? {
        return Ok(Some(existing));
    }
    let capsule = new_capsule(header)?;
    let stored = dict_set_default(dict, key, capsule.as_ptr())?;
    Ok(if stored.as_ptr() == capsule.as_ptr() {
        None
    } else {
        Some(stored)
    })
}

pub(crate) unsafe fn new_capsule(header: &'static InternalsHeader) -> Result<Owned, ()> {
    Owned::from_raw(ffi::PyCapsule_New(
        header as *const _ as *mut c_void,
        CAPSULE_NAME.as_ptr(),
        None,
    ))
    .ok_or(())
}

pub(crate) fn version_of(v: [u32; 3]) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

pub(crate) struct Candidate {
    pub(crate) header: &'static InternalsHeader,
    pub(crate) capsule: Owned,
    pub(crate) panic_error: *mut ffi::PyObject,
    pub(crate) plugins: *mut ffi::PyObject,
}

impl Candidate {
    /// Releases the Python objects of a runtime that was never published.
    /// The small header and state allocations are leaked: a reader might in
    /// theory still hold the capsule pointer, and they are tiny.
    pub(crate) unsafe fn discard(self) {
        drop(self.capsule);
        ffi::Py_DECREF(self.panic_error);
        ffi::Py_DECREF(self.plugins);
    }
}

pub(crate) unsafe fn create(module: &str) -> Result<Candidate, ()> {
    let panic_error = errors::new_panic_error_type();
    if panic_error.is_null() {
        return Err(());
    }
    let Some(plugins) = Owned::from_raw(ffi::PyDict_New()) else {
        ffi::Py_DECREF(panic_error);
        return Err(());
    };
    let state: &'static CreatorState = Box::leak(Box::new(CreatorState {
        copies: PyLock::new(Vec::new()),
        registry: PyLock::new(Registry::default()),
        conversions: PyLock::new(HashMap::new()),
        shards: (0..shard_count())
            .map(|_| Shard {
                map: PyLock::new(HashMap::new()),
            })
            .collect(),
        shard_shift: SHARD_SHIFT,
    }));
    let creator: &'static str =
        Box::leak(format!("oxbind-shim {SHIM_VERSION} ({module})").into_boxed_str());
    let plugins = plugins.into_raw();
    let internals = Internals {
        runtime_id: new_runtime_id(state as *const _ as usize),
        creator: RStr::from_str(creator),
        free_threaded: FREE_THREADED,
        panic_error: panic_error as *mut c_void,
        plugins: plugins as *mut c_void,
        state: state as *const CreatorState as *const c_void,
        join: creator_join,
        copy_at: creator_copy_at,
        register_type: creator_register_type,
        find_type_by_key: creator_find_type_by_key,
        find_type_by_object: creator_find_type_by_object,
        stats: creator_stats,
        shard_count: state.shards.len() as u32,
        shard_shift: state.shard_shift,
        map_get: creator_map_get,
        map_insert: creator_map_insert,
        map_remove: creator_map_remove,
        add_conversion: creator_add_conversion,
        conversion_at: creator_conversion_at,
        set_leak_warnings: creator_set_leak_warnings,
        #[cfg(feature = "fixture-next-minor")]
        motto: RStr::from_str("appended by the newer-minor fixture"),
    };
    let internals_ref = Internals_Ref(internals.leak_into_prefix().0);
    let header: &'static InternalsHeader = Box::leak(Box::new(InternalsHeader::new(internals_ref)));
    let capsule = match new_capsule(header) {
        Ok(c) => c,
        Err(()) => {
            ffi::Py_DECREF(panic_error);
            ffi::Py_DECREF(plugins);
            return Err(());
        }
    };
    Ok(Candidate {
        header,
        capsule,
        panic_error,
        plugins,
    })
}

pub(crate) fn new_runtime_id(salt: usize) -> RuntimeId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = fmix64(nanos ^ (salt as u64) ^ ((std::process::id() as u64) << 32));
    (mixed | 1) as RuntimeId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmix64_spreads_neighbouring_addresses() {
        let a = fmix64(0x7f00_0000_1000 >> 20);
        let b = fmix64(0x7f00_0010_1000 >> 20);
        assert_ne!(a & 15, b & 15);
        assert_eq!(fmix64(0), 0);
    }
}
