//! The creator's state: what only the copy that created the internals
//! keeps (the copy list, the type registry, the conversions), behind its
//! locks, and the `extern "C"` functions of the internals table that every
//! copy calls to reach it.

use std::{
    collections::HashMap,
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};

use crate::sync::lock::PyLock;
use oxbind_abi::FunctionDesc;
use oxbind_internals::{
    abi_stable::std_types::{RNone, ROption, RSome, RStr},
    CopyInfo, InternalsStats, TypeRecord_Ref,
};

use crate::runtime::instance_map::{fmix64, Shard};

// ---------------------------------------------------------------------------
// Creating a runtime, and the creator's implementation of its functions.

/// The creator's private state. Only the creator's functions below touch it.
/// Locks: `copies`, `registry`, `conversions`, `claims` and each shard are
/// independent; no function holds two at once.
pub(crate) struct CreatorState {
    pub(crate) copies: PyLock<Vec<CopyInfo>>,
    pub(crate) registry: PyLock<Registry>,
    pub(crate) conversions: PyLock<HashMap<String, Vec<&'static FunctionDesc>>>,
    /// The memory buffer arguments hold ([`crate::runtime::ranges`]).
    pub(crate) claims: PyLock<crate::runtime::ranges::Claims>,
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

/// The creator's state behind the opaque `state` pointer of its internals
/// table.
///
/// # Safety
/// `state` is the `state` of an internals table this copy created: a
/// leaked, never-freed [`CreatorState`].
pub(crate) unsafe fn creator_state<'a>(state: *const c_void) -> &'a CreatorState {
    // SAFETY: the internals table only ever passes back the creator's own
    // leaked state, and only the creator's functions receive it (this
    // function's contract).
    unsafe { &*(state as *const CreatorState) }
}

/// Records a copy joining the runtime; returns its index.
///
/// # Safety
/// Called through the `join` entry of the internals table of the runtime this
/// copy created: `state` is that table's `state` (this copy's leaked
/// [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_join(state: *const c_void, copy: CopyInfo) -> u32 {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives.
    let mut copies = unsafe { creator_state(state).copies.lock() };
    copies.push(copy);
    (copies.len() - 1) as u32
}

/// The `index`th copy that joined, if any.
///
/// # Safety
/// Called through the `copy_at` entry of the internals table of the runtime
/// this copy created: `state` is that table's `state` (this copy's leaked
/// [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_copy_at(
    state: *const c_void,
    index: u32,
) -> ROption<CopyInfo> {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives.
    let copies = unsafe { creator_state(state).copies.lock() };
    match copies.get(index as usize) {
        Some(c) => RSome(*c),
        None => RNone,
    }
}

/// Registers `record` under its key unless a record is there; returns the
/// record registered now.
///
/// # Safety
/// Called through the `register_type` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked [`CreatorState`]), and the thread is attached. `record` is a leaked
/// record, never freed.
pub(crate) unsafe extern "C" fn creator_register_type(
    state: *const c_void,
    record: TypeRecord_Ref,
) -> TypeRecord_Ref {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives (the caller releases a losing type's reference
    // after we return).
    let mut registry = unsafe { creator_state(state).registry.lock() };
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

/// The record registered under `key`, if any.
///
/// # Safety
/// Called through the `find_type_by_key` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_find_type_by_key(
    state: *const c_void,
    key: RStr<'_>,
) -> ROption<TypeRecord_Ref> {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives.
    let registry = unsafe { creator_state(state).registry.lock() };
    match registry.by_key.get(key.as_str()) {
        Some(r) => RSome(*r),
        None => RNone,
    }
}

/// The record registered for the type object `py_type`, if any.
///
/// # Safety
/// Called through the `find_type_by_object` entry of the internals table of
/// the runtime this copy created: `state` is that table's `state` (this
/// copy's leaked [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_find_type_by_object(
    state: *const c_void,
    py_type: *mut c_void,
) -> ROption<TypeRecord_Ref> {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives (`py_type` is only compared, by address).
    let registry = unsafe { creator_state(state).registry.lock() };
    match registry.by_type.get(&(py_type as usize)) {
        Some(r) => RSome(*r),
        None => RNone,
    }
}

/// Counts for `internals_info()` and the tests.
///
/// # Safety
/// Called through the `stats` entry of the internals table of the runtime
/// this copy created: `state` is that table's `state` (this copy's leaked
/// [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_stats(state: *const c_void) -> InternalsStats {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract).
    let state = unsafe { creator_state(state) };
    // SAFETY: the thread is attached (this function's contract); the lock is
    // held only to read a length, running no Python code.
    let copies = unsafe { state.copies.lock() }.len() as u32;
    // SAFETY: as for `copies` (the guard above is already dropped).
    let types = unsafe { state.registry.lock() }.by_key.len() as u32;
    let mapped_instances = state
        .shards
        .iter()
        // SAFETY: as for `copies`; each shard's guard is dropped before the
        // next shard is locked.
        .map(|s| unsafe { s.map.lock() }.len() as u64)
        .sum();
    InternalsStats {
        copies,
        types,
        mapped_instances,
    }
}

/// Turns the leak report at exit on or off, for the whole runtime.
///
/// # Safety
/// Called through the `set_leak_warnings` entry of the internals table of the
/// runtime this copy created. It has no precondition of its own (it ignores
/// `state`); it is `unsafe` to match the table's type.
pub(crate) unsafe extern "C" fn creator_set_leak_warnings(_state: *const c_void, enabled: bool) {
    LEAK_WARNINGS.store(enabled, Ordering::Release);
}

/// Whether the runtime this copy created reports leaks at exit
/// (`oxbind.set_leak_warnings`, through [`creator_set_leak_warnings`]);
/// read by `crate::leaks`.
pub(crate) static LEAK_WARNINGS: AtomicBool = AtomicBool::new(true);

/// The state of the runtime this copy created, if it created one: what the
/// leak report reads at exit (`crate::leaks::gather`).
pub(crate) static CREATED_STATE: AtomicPtr<CreatorState> = AtomicPtr::new(ptr::null_mut());

/// Registers an implicit conversion to the class `key`, once.
///
/// # Safety
/// Called through the `add_conversion` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_add_conversion(
    state: *const c_void,
    key: RStr<'_>,
    conversion: &'static FunctionDesc,
) {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives.
    let mut conversions = unsafe { creator_state(state).conversions.lock() };
    let list = conversions.entry(key.as_str().to_owned()).or_default();
    if !list.iter().any(|c| ptr::eq(*c, conversion)) {
        list.push(conversion);
    }
}

/// The `index`th conversion to `key`, if any.
///
/// # Safety
/// Called through the `conversion_at` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state` (this copy's
/// leaked [`CreatorState`]), and the thread is attached.
pub(crate) unsafe extern "C" fn creator_conversion_at(
    state: *const c_void,
    key: RStr<'_>,
    index: u32,
) -> Option<&'static FunctionDesc> {
    // SAFETY: `state` is this copy's creator state (this function's
    // contract); the thread is attached, and nothing below runs Python code
    // while the guard lives.
    let conversions = unsafe { creator_state(state).conversions.lock() };
    conversions
        .get(key.as_str())
        .and_then(|l| l.get(index as usize))
        .copied()
}
