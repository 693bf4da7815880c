//! The creator's state: what only the copy that created the internals
//! keeps (the copy list, the type registry, the conversions), behind its
//! locks, and the `extern "C"` functions of the internals table that every
//! copy calls to reach it.

use std::{
    collections::HashMap,
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

use oxbind_abi::FunctionDesc;
use oxbind_internals::{
    abi_stable::std_types::{RNone, ROption, RSome, RStr},
    CopyInfo, InternalsStats, TypeRecord_Ref,
};
use pyo3_ffi as ffi;

use crate::{leaks, sync::lock::PyLock};

use crate::instance::{self};

use crate::runtime::instance_map::{fmix64, Shard};

// ---------------------------------------------------------------------------
// Creating a runtime, and the creator's implementation of its functions.

/// The creator's private state. Only the creator's functions below touch it.
/// Locks: `copies`, `registry`, `conversions` and each shard are
/// independent; no function holds two at once.
pub(crate) struct CreatorState {
    pub(crate) copies: PyLock<Vec<CopyInfo>>,
    pub(crate) registry: PyLock<Registry>,
    pub(crate) conversions: PyLock<HashMap<String, Vec<&'static FunctionDesc>>>,
    pub(crate) shards: Box<[Shard]>,
    pub(crate) shard_shift: u32,
}

/// The instance map's shard count: the next power of two ≥ 2 × CPUs.
pub(crate) fn shard_count() -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (2 * cpus).next_power_of_two()
}

/// The default address shift of the shard index: one thread's nearby
/// allocations tend to share high bits, so the hash spreads them.
pub(crate) const SHARD_SHIFT: u32 = 20;

impl CreatorState {
    pub(crate) fn shard(&self, addr: usize) -> &Shard {
        let index = fmix64((addr >> self.shard_shift) as u64) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) by_key: HashMap<String, TypeRecord_Ref>,
    pub(crate) by_type: HashMap<usize, TypeRecord_Ref>,
}

// SAFETY: records are immutable static data; the maps are only touched under
// the creator's locks.
unsafe impl Send for Registry {}

pub(crate) unsafe fn creator_state<'a>(state: *const c_void) -> &'a CreatorState {
    // SAFETY: the internals table only ever passes back the creator's own
    // leaked state, and only the creator's functions receive it.
    &*(state as *const CreatorState)
}

pub(crate) unsafe extern "C" fn creator_join(state: *const c_void, copy: CopyInfo) -> u32 {
    let state = creator_state(state);
    let mut copies = state.copies.lock();
    copies.push(copy);
    (copies.len() - 1) as u32
}

pub(crate) unsafe extern "C" fn creator_copy_at(
    state: *const c_void,
    index: u32,
) -> ROption<CopyInfo> {
    let state = creator_state(state);
    let copies = state.copies.lock();
    match copies.get(index as usize) {
        Some(c) => RSome(*c),
        None => RNone,
    }
}

pub(crate) unsafe extern "C" fn creator_register_type(
    state: *const c_void,
    record: TypeRecord_Ref,
) -> TypeRecord_Ref {
    let state = creator_state(state);
    let mut registry = state.registry.lock();
    let key = record.key().as_str().to_owned();
    if let Some(existing) = registry.by_key.get(&key) {
        return *existing;
    }
    registry.by_key.insert(key, record);
    registry
        .by_type
        .entry(record.py_type() as usize)
        .or_insert(record);
    record
}

pub(crate) unsafe extern "C" fn creator_find_type_by_key(
    state: *const c_void,
    key: RStr<'_>,
) -> ROption<TypeRecord_Ref> {
    let state = creator_state(state);
    let registry = state.registry.lock();
    match registry.by_key.get(key.as_str()) {
        Some(r) => RSome(*r),
        None => RNone,
    }
}

pub(crate) unsafe extern "C" fn creator_find_type_by_object(
    state: *const c_void,
    py_type: *mut c_void,
) -> ROption<TypeRecord_Ref> {
    let state = creator_state(state);
    let registry = state.registry.lock();
    match registry.by_type.get(&(py_type as usize)) {
        Some(r) => RSome(*r),
        None => RNone,
    }
}

pub(crate) unsafe extern "C" fn creator_stats(state: *const c_void) -> InternalsStats {
    let state = creator_state(state);
    let copies = state.copies.lock().len() as u32;
    let types = state.registry.lock().by_key.len() as u32;
    let mapped_instances = state.shards.iter().map(|s| s.map.lock().len() as u64).sum();
    InternalsStats {
        copies,
        types,
        mapped_instances,
    }
}

pub(crate) unsafe extern "C" fn creator_set_leak_warnings(_state: *const c_void, enabled: bool) {
    leaks::LEAK_WARNINGS.store(enabled, Ordering::Release);
}

/// The state of the runtime this copy created, if it created one: what the
/// leak report reads at exit.
pub(crate) static CREATED_STATE: AtomicPtr<CreatorState> = AtomicPtr::new(ptr::null_mut());

/// The leaks of the runtime this copy created (`spec/LEAKS.md`). Runs at
/// exit, after finalization: it takes locks only with `try_lock`, runs no
/// Python code and changes no reference count. What is still alive now was
/// leaked.
pub(crate) fn gather_leaks() -> leaks::Leaks {
    let mut out = leaks::Leaks::default();
    let state = CREATED_STATE.load(Ordering::Acquire);
    if state.is_null() {
        return out;
    }
    // SAFETY: the creator's state is leaked, never freed.
    let state = unsafe { &*state };
    if let Some(registry) = state.registry.try_lock() {
        for (key, record) in &registry.by_key {
            if record.size() == 0 && record.new_instance().is_none() {
                continue; // not an oxbind class (the diagnostics registry)
            }
            match record.live_instances() {
                // SAFETY: records and the code of every copy live as long
                // as the process; the function only reads counters.
                Some(RSome(live)) => {
                    let n = unsafe { live(*record) };
                    if n > 0 {
                        out.instances.push((
                            key.clone(),
                            format!(
                                "{} {}",
                                record.owner().as_str(),
                                record.owner_version().as_str()
                            ),
                            n,
                        ));
                    }
                }
                _ => out.uncounted.push(key.clone()),
            }
        }
    }
    for shard in state.shards.iter() {
        let Some(map) = shard.map.try_lock() else {
            continue;
        };
        for &obj in map.values() {
            // SAFETY: mapped objects are alive (dealloc unmaps them first);
            // their headers, and their owners' headers, are readable.
            unsafe {
                let h = instance::header(obj as *mut ffi::PyObject);
                if !h.owner.is_null() {
                    let owner = instance::header(h.owner as *mut ffi::PyObject);
                    out.keep_alive.push((
                        h.record.key().as_str().to_owned(),
                        owner.record.key().as_str().to_owned(),
                    ));
                }
            }
        }
    }
    out.instances.sort();
    out.uncounted.sort();
    out.keep_alive.sort();
    out
}

pub(crate) unsafe extern "C" fn creator_add_conversion(
    state: *const c_void,
    key: RStr<'_>,
    conversion: &'static FunctionDesc,
) {
    let state = creator_state(state);
    let mut conversions = state.conversions.lock();
    let list = conversions.entry(key.as_str().to_owned()).or_default();
    if !list.iter().any(|c| ptr::eq(*c, conversion)) {
        list.push(conversion);
    }
}

pub(crate) unsafe extern "C" fn creator_conversion_at(
    state: *const c_void,
    key: RStr<'_>,
    index: u32,
) -> Option<&'static FunctionDesc> {
    let state = creator_state(state);
    let conversions = state.conversions.lock();
    conversions
        .get(key.as_str())
        .and_then(|l| l.get(index as usize))
        .copied()
}
