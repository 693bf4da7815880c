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

use crate::{py::errors, py::owned::Owned, sync::lock::PyLock, SHIM_VERSION};

use crate::py::dict::{dict_get, dict_set_default};
use crate::runtime::creator::{
    creator_add_conversion, creator_conversion_at, creator_copy_at, creator_find_type_by_key,
    creator_find_type_by_object, creator_join, creator_register_type, creator_set_leak_warnings,
    creator_stats, shard_count, CreatorState, Registry, CREATED_STATE, SHARD_SHIFT,
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
    // SAFETY: the thread is attached (this function's contract), which is
    // all these two getters need.
    let (interp, main) = unsafe {
        (
            ffi::PyInterpreterState_Get(),
            ffi::PyInterpreterState_Main(),
        )
    };
    if interp != main {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::import_error(
                &format!("{module}: oxbind does not support subinterpreters; import it in the main interpreter"),
                None,
            )
        };
        return Err(());
    }
    if let Some(j) = joined() {
        return Ok(j);
    }
    // SAFETY: attached; `interp` is the current interpreter, which lives as
    // long as this call.
    let dict = unsafe { ffi::PyInterpreterState_GetDict(interp) };
    if dict.is_null() {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::import_error(
                &format!("{module}: the interpreter has no state dict for oxbind's internals"),
                None,
            )
        };
        return Err(());
    }
    let key = oxbind_internals::key(VERSION, FREE_THREADED);
    // SAFETY: attached; `new_str` returns a new strong reference (or null
    // with an error set), which `Owned` takes over.
    let key_obj = unsafe { Owned::from_raw(errors::new_str(&key)) }.ok_or(())?;

    // SAFETY: attached; `dict` is the interpreter-state dict (checked
    // non-null, owned by the interpreter) and `key_obj` a str we hold.
    let existing = unsafe { dict_get(dict, key_obj.as_ptr()) }?;
    let (header, created) = match existing {
        Some(existing) => {
            // SAFETY: attached; `existing` is a strong reference we hold.
            let header = unsafe { check_capsule(existing.as_ptr(), &key, module) }?;
            (header, false)
        }
        None => {
            // SAFETY: the thread is attached (this function's contract).
            let candidate = unsafe { create(module) }?;
            // SAFETY: attached; `dict` is the interpreter-state dict, and
            // `key_obj` and the candidate's capsule are objects we hold.
            let stored =
                unsafe { dict_set_default(dict, key_obj.as_ptr(), candidate.capsule.as_ptr()) }?;
            if stored.as_ptr() == candidate.capsule.as_ptr() {
                let state = candidate.header.internals.state() as *mut CreatorState;
                // The entry point that joined installs the leak report,
                // which reads this (`crate::leaks::install_if_created`).
                CREATED_STATE.store(state, Ordering::Release);
                (candidate.header, true)
            } else {
                // Another thread published first; ours was never seen.
                // SAFETY: attached; the dict kept the other capsule, so
                // nothing but `candidate` refers to its objects.
                unsafe { candidate.discard() };
                // SAFETY: attached; `stored` is a strong reference we hold.
                let header = unsafe { check_capsule(stored.as_ptr(), &key, module) }?;
                (header, false)
            }
        }
    };
    // SAFETY: attached; `dict` is the live interpreter-state dict.
    unsafe { warn_if_other_line(dict, header, module) }?;

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
            // writes copy_index, before any reader can rely on it. `join` is
            // the checked runtime's own function, called with its own state
            // on an attached thread.
            unsafe { (*candidate).copy_index = (internals.join())(internals.state(), copy) };
            errors::set_panic_error(internals.panic_error() as *mut ffi::PyObject);
            // SAFETY: the thread is attached (this function's contract),
            // which is all either installer requires.
            unsafe {
                crate::sync::detach::install_exit_gate();
                crate::sync::refpool::install_gc_callback();
            }
            // SAFETY: `candidate` is now the published `Joined`, leaked and
            // never freed.
            Ok(unsafe { &*candidate })
        }
        Err(winner) => {
            // SAFETY: `candidate` came from `Box::into_raw` above and lost
            // the race, so it was never published.
            drop(unsafe { Box::from_raw(candidate) });
            // SAFETY: JOINED only ever holds a leaked, never-freed `Joined`.
            Ok(unsafe { &*winner })
        }
    }
}

/// Reads and checks an internals capsule, in the order of `spec/ABI.md`.
///
/// # Safety
/// The thread is attached and `obj` is a live object the caller keeps
/// alive. A capsule named [`CAPSULE_NAME`] must point at an
/// [`InternalsHeader`] that is never freed (as every oxbind copy publishes).
pub(crate) unsafe fn check_capsule(
    obj: *mut ffi::PyObject,
    key: &str,
    module: &str,
) -> Result<&'static InternalsHeader, ()> {
    let refuse = |why: String| {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::import_error(
                &format!("{module}: cannot join oxbind's shared internals ({key}): {why}"),
                None,
            )
        };
        Err(())
    };
    // SAFETY: attached, and `obj` is live (this function's contract);
    // `CAPSULE_NAME` is a NUL-terminated static string.
    if unsafe { ffi::PyCapsule_IsValid(obj, CAPSULE_NAME.as_ptr()) } == 0 {
        return refuse("the interpreter-state entry is not an oxbind internals capsule".into());
    }
    // SAFETY: `obj` is a valid capsule of that name (checked just above).
    let raw =
        unsafe { ffi::PyCapsule_GetPointer(obj, CAPSULE_NAME.as_ptr()) } as *const InternalsHeader;
    if raw.is_null() {
        return Err(());
    }
    // SAFETY: the capsule's name says it points at an internals header;
    // the magic and header version are at fixed offsets in every version.
    let magic = unsafe { ptr::read_unaligned(raw as *const [u8; 16]) };
    if magic != MAGIC {
        return refuse("the capsule's header has the wrong magic".into());
    }
    // SAFETY: as for the magic: `raw` points at a header, whose
    // `header_version` has the same offset in every version.
    let header_version = unsafe { ptr::read_unaligned(ptr::addr_of!((*raw).header_version)) };
    if header_version != HEADER_VERSION {
        return refuse(format!(
            "header version {header_version}, expected {HEADER_VERSION}"
        ));
    }
    // SAFETY: the magic and header version match, so the frozen header
    // layout is ours; headers are leaked by their creator, never freed.
    let header: &'static InternalsHeader = unsafe { &*raw };
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
///
/// # Safety
/// The thread is attached and `dict` is the interpreter-state dict (a live
/// dict). A capsule named [`CAPSULE_NAME`] in it must point at a
/// never-freed [`InternalsHeader`].
pub(crate) unsafe fn warn_if_other_line(
    dict: *mut ffi::PyObject,
    ours: &'static InternalsHeader,
    module: &str,
) -> Result<(), ()> {
    // SAFETY: attached (this function's contract); `new_str` returns a new
    // strong reference (or null with an error set), which `Owned` takes over.
    let primary = unsafe {
        Owned::from_raw(errors::new_str(&oxbind_internals::primary_key(
            FREE_THREADED,
        )))
    }
    .ok_or(())?;
    // SAFETY: attached; `dict` is the live interpreter-state dict (this
    // function's contract) and `primary` a str we hold.
    let Some(stored) = (unsafe { dict_set_default_capsule(dict, primary.as_ptr(), ours) })? else {
        return Ok(());
    };
    // SAFETY: attached; `stored` is a strong reference we hold, and
    // `CAPSULE_NAME` is a NUL-terminated static string.
    if unsafe { ffi::PyCapsule_IsValid(stored.as_ptr(), CAPSULE_NAME.as_ptr()) } == 0 {
        return Ok(());
    }
    // SAFETY: `stored` is a valid capsule of that name (checked just above).
    let first = unsafe { ffi::PyCapsule_GetPointer(stored.as_ptr(), CAPSULE_NAME.as_ptr()) }
        as *const InternalsHeader;
    // SAFETY: a non-null pointer of a capsule of that name points at an
    // internals header, whose magic is at offset 0 in every version.
    if first.is_null() || unsafe { ptr::read_unaligned(first as *const [u8; 16]) } != MAGIC {
        return Ok(());
    }
    // SAFETY: the magic matches, so `first` is an oxbind internals header,
    // leaked by its creator; read unaligned, as an untrusted field.
    let first_version = unsafe { ptr::read_unaligned(ptr::addr_of!((*first).version)) };
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
    // SAFETY: attached; `PyExc_RuntimeWarning` is set once by CPython at
    // startup and only read here, and `c_message` outlives the call.
    if unsafe { ffi::PyErr_WarnEx(ffi::PyExc_RuntimeWarning, c_message.as_ptr(), 1) } < 0 {
        return Err(());
    }
    Ok(())
}

/// Publishes `header`'s capsule under `key` unless something is there, and
/// returns what is there (`None` if ours went in).
///
/// # Safety
/// The thread is attached; `dict` is a live dict and `key` a live hashable
/// object, both kept alive by the caller.
pub(crate) unsafe fn dict_set_default_capsule(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    header: &'static InternalsHeader,
) -> Result<Option<Owned>, ()> {
    // SAFETY: attached, with `dict` and `key` live (this function's contract).
    if let Some(existing) = unsafe { dict_get(dict, key) }? {
        return Ok(Some(existing));
    }
    // SAFETY: the thread is attached (this function's contract).
    let capsule = unsafe { new_capsule(header) }?;
    // SAFETY: attached, with `dict` and `key` live (this function's
    // contract) and `capsule` a capsule we hold.
    let stored = unsafe { dict_set_default(dict, key, capsule.as_ptr()) }?;
    Ok(if stored.as_ptr() == capsule.as_ptr() {
        None
    } else {
        Some(stored)
    })
}

/// A new internals capsule pointing at `header`, with no destructor.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn new_capsule(header: &'static InternalsHeader) -> Result<Owned, ()> {
    // SAFETY: attached (this function's contract); `header` is 'static, so
    // the capsule never outlives it, and `CAPSULE_NAME` is a static
    // NUL-terminated name. `PyCapsule_New` returns a new reference or null.
    unsafe {
        Owned::from_raw(ffi::PyCapsule_New(
            header as *const _ as *mut c_void,
            CAPSULE_NAME.as_ptr(),
            None,
        ))
    }
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
    ///
    /// # Safety
    /// The thread is attached, and the candidate was never published: no one
    /// else holds its capsule, its panic error type or its plugin dict.
    pub(crate) unsafe fn discard(self) {
        drop(self.capsule);
        // SAFETY: attached; `create` gave the candidate one strong reference
        // to each, which nobody else shares (this function's contract).
        unsafe {
            ffi::Py_DECREF(self.panic_error);
            ffi::Py_DECREF(self.plugins);
        }
    }
}

/// Creates a runtime for the copy embedded in `module`, not yet published:
/// its creator state, internals table, header and capsule.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn create(module: &str) -> Result<Candidate, ()> {
    // SAFETY: the thread is attached (this function's contract).
    let panic_error = unsafe { errors::new_panic_error_type() };
    if panic_error.is_null() {
        return Err(());
    }
    // SAFETY: attached; `PyDict_New` returns a new reference or null.
    let Some(plugins) = (unsafe { Owned::from_raw(ffi::PyDict_New()) }) else {
        // SAFETY: attached; `panic_error` is the new reference made above,
        // which nothing else holds.
        unsafe { ffi::Py_DECREF(panic_error) };
        return Err(());
    };
    let state: &'static CreatorState = Box::leak(Box::new(CreatorState {
        copies: PyLock::new(Vec::new()),
        registry: PyLock::new(Registry::default()),
        conversions: PyLock::new(HashMap::new()),
        claims: PyLock::new(crate::runtime::ranges::Claims::default()),
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
        claim_range: crate::runtime::ranges::creator_claim_range,
        release_range: crate::runtime::ranges::creator_release_range,
        #[cfg(feature = "fixture-next-minor")]
        motto: RStr::from_str("appended by the newer-minor fixture"),
    };
    let internals_ref = Internals_Ref(internals.leak_into_prefix().0);
    let header: &'static InternalsHeader = Box::leak(Box::new(InternalsHeader::new(internals_ref)));
    // SAFETY: the thread is attached (this function's contract).
    let capsule = match unsafe { new_capsule(header) } {
        Ok(c) => c,
        Err(()) => {
            // SAFETY: attached; these are the new references made above,
            // which nothing else holds (the runtime was never published).
            unsafe {
                ffi::Py_DECREF(panic_error);
                ffi::Py_DECREF(plugins);
            }
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
