//! The shared internals: one runtime per interpreter, whichever shim copies
//! are loaded (`spec/ABI.md`).
//!
//! The first copy to need them creates them and publishes a capsule in the
//! interpreter-state dict under a key naming the compatibility line and the
//! build flavour. Every later copy finds the capsule, checks it (magic,
//! abi_stable header, version line, layout), and joins. A copy on another
//! line runs its own runtime and warns. A copy whose check fails raises
//! ImportError and joins nothing.
//!
//! Shared state and its synchronisation:
//! - [`JOINED`], per copy: the runtime this copy uses. Set once with a
//!   compare-exchange, then read-only.
//! - [`CreatorState`], in the creator only: the copy list and the type
//!   registry, each behind a [`PyLock`]. Reached only through the creator's
//!   `extern "C"` functions in the internals table, so one implementation
//!   takes every lock. The functions run no Python code while locked.
//! - `TYPE_CACHE`, per copy and per thread: a cache of registry lookups. It
//!   holds only positive answers, and records are never freed, so it never
//!   goes stale.

use std::{
    cell::RefCell,
    collections::HashMap,
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use oxbind_abi::FunctionDesc;
use oxbind_internals::{
    abi_stable::{
        abi_stability::abi_checking::check_layout_compatibility,
        library::AbiHeader,
        prefix_type::PrefixTypeTrait,
        std_types::{RNone, ROption, RSome, RStr},
        StableAbi,
    },
    compatibility_line, CopyInfo, Internals, InternalsHeader, InternalsStats, Internals_Ref,
    RuntimeId, TypeRecord, TypeRecord_Ref, CAPSULE_NAME, HEADER_VERSION, MAGIC, VERSION,
};
use pyo3_ffi as ffi;

use crate::{instance, leaks, py::errors, py::owned::Owned, sync::lock::PyLock, SHIM_VERSION};

/// Whether this shim copy was built for a free-threaded interpreter.
pub const FREE_THREADED: bool = cfg!(Py_GIL_DISABLED);

/// The runtime this copy joined.
pub struct Joined {
    pub header: &'static InternalsHeader,
    pub internals: Internals_Ref,
    /// The interpreter-state key it is published under.
    pub key: String,
    /// Whether this copy created the runtime.
    pub is_creator: bool,
    /// This copy's index in the runtime's copy list.
    pub copy_index: u32,
    /// The module embedding this copy.
    pub module: &'static str,
}

static JOINED: AtomicPtr<Joined> = AtomicPtr::new(ptr::null_mut());

/// The runtime this copy joined, if it has joined one.
pub fn joined() -> Option<&'static Joined> {
    // SAFETY: JOINED is only ever set to a leaked, never-freed `Joined`.
    unsafe { JOINED.load(Ordering::Acquire).as_ref() }
}

/// Joins this interpreter's runtime, creating it if needed, on behalf of the
/// module `module` that embeds this copy. Returns `Err` with a Python error
/// (ImportError) set.
///
/// # Safety
/// The thread is attached.
pub unsafe fn join(module: &'static str) -> Result<&'static Joined, ()> {
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
unsafe fn check_capsule(
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
unsafe fn warn_if_other_line(
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
unsafe fn dict_set_default_capsule(
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

unsafe fn new_capsule(header: &'static InternalsHeader) -> Result<Owned, ()> {
    Owned::from_raw(ffi::PyCapsule_New(
        header as *const _ as *mut c_void,
        CAPSULE_NAME.as_ptr(),
        None,
    ))
    .ok_or(())
}

pub fn version_of(v: [u32; 3]) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

// ---------------------------------------------------------------------------
// Creating a runtime, and the creator's implementation of its functions.

/// The creator's private state. Only the creator's functions below touch it.
/// Locks: `copies`, `registry`, `conversions` and each shard are
/// independent; no function holds two at once.
struct CreatorState {
    copies: PyLock<Vec<CopyInfo>>,
    registry: PyLock<Registry>,
    conversions: PyLock<HashMap<String, Vec<&'static FunctionDesc>>>,
    shards: Box<[Shard]>,
    shard_shift: u32,
}

/// One shard of the instance map: (value address, type) → instance. Each
/// shard sits on its own cache line so that shards never contend.
#[repr(align(64))]
struct Shard {
    map: PyLock<HashMap<(usize, usize), usize>>,
}

/// The instance map's shard count: the next power of two ≥ 2 × CPUs.
fn shard_count() -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (2 * cpus).next_power_of_two()
}

/// The default address shift of the shard index: one thread's nearby
/// allocations tend to share high bits, so the hash spreads them.
const SHARD_SHIFT: u32 = 20;

impl CreatorState {
    fn shard(&self, addr: usize) -> &Shard {
        let index = fmix64((addr >> self.shard_shift) as u64) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }
}

#[derive(Default)]
struct Registry {
    by_key: HashMap<String, TypeRecord_Ref>,
    by_type: HashMap<usize, TypeRecord_Ref>,
}

// SAFETY: records are immutable static data; the maps are only touched under
// the creator's locks.
unsafe impl Send for Registry {}

struct Candidate {
    header: &'static InternalsHeader,
    capsule: Owned,
    panic_error: *mut ffi::PyObject,
    plugins: *mut ffi::PyObject,
}

impl Candidate {
    /// Releases the Python objects of a runtime that was never published.
    /// The small header and state allocations are leaked: a reader might in
    /// theory still hold the capsule pointer, and they are tiny.
    unsafe fn discard(self) {
        drop(self.capsule);
        ffi::Py_DECREF(self.panic_error);
        ffi::Py_DECREF(self.plugins);
    }
}

unsafe fn create(module: &str) -> Result<Candidate, ()> {
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

fn new_runtime_id(salt: usize) -> RuntimeId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = fmix64(nanos ^ (salt as u64) ^ ((std::process::id() as u64) << 32));
    (mixed | 1) as RuntimeId
}

/// MurmurHash3's 64-bit finaliser.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

unsafe fn creator_state<'a>(state: *const c_void) -> &'a CreatorState {
    // SAFETY: the internals table only ever passes back the creator's own
    // leaked state, and only the creator's functions receive it.
    &*(state as *const CreatorState)
}

unsafe extern "C" fn creator_join(state: *const c_void, copy: CopyInfo) -> u32 {
    let state = creator_state(state);
    let mut copies = state.copies.lock();
    copies.push(copy);
    (copies.len() - 1) as u32
}

unsafe extern "C" fn creator_copy_at(state: *const c_void, index: u32) -> ROption<CopyInfo> {
    let state = creator_state(state);
    let copies = state.copies.lock();
    match copies.get(index as usize) {
        Some(c) => RSome(*c),
        None => RNone,
    }
}

unsafe extern "C" fn creator_register_type(
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

unsafe extern "C" fn creator_find_type_by_key(
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

unsafe extern "C" fn creator_find_type_by_object(
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

unsafe extern "C" fn creator_stats(state: *const c_void) -> InternalsStats {
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

unsafe extern "C" fn creator_map_get(
    state: *const c_void,
    addr: *const c_void,
    py_type: *mut c_void,
) -> *mut c_void {
    let state = creator_state(state);
    let shard = state.shard(addr as usize).map.lock();
    match shard.get(&(addr as usize, py_type as usize)) {
        // The entry's memory is valid while it is mapped: its dealloc removes
        // it under this lock before freeing. A dying entry counts as absent.
        Some(&obj) if crate::py::refcount::try_incref(obj as *mut ffi::PyObject) => {
            obj as *mut c_void
        }
        _ => ptr::null_mut(),
    }
}

unsafe extern "C" fn creator_map_insert(
    state: *const c_void,
    addr: *const c_void,
    obj: *mut c_void,
) -> *mut c_void {
    let state = creator_state(state);
    let key = (
        addr as usize,
        ffi::Py_TYPE(obj as *mut ffi::PyObject) as usize,
    );
    let mut shard = state.shard(addr as usize).map.lock();
    if let Some(&existing) = shard.get(&key) {
        if crate::py::refcount::try_incref(existing as *mut ffi::PyObject) {
            return existing as *mut c_void;
        }
        // The mapped instance is dying; its dealloc will not remove ours.
    }
    shard.insert(key, obj as usize);
    ptr::null_mut()
}

unsafe extern "C" fn creator_map_remove(
    state: *const c_void,
    addr: *const c_void,
    obj: *mut c_void,
) {
    let state = creator_state(state);
    let key = (
        addr as usize,
        ffi::Py_TYPE(obj as *mut ffi::PyObject) as usize,
    );
    let mut shard = state.shard(addr as usize).map.lock();
    if shard.get(&key) == Some(&(obj as usize)) {
        shard.remove(&key);
    }
}

unsafe extern "C" fn creator_set_leak_warnings(_state: *const c_void, enabled: bool) {
    leaks::LEAK_WARNINGS.store(enabled, Ordering::Release);
}

/// The state of the runtime this copy created, if it created one: what the
/// leak report reads at exit.
static CREATED_STATE: AtomicPtr<CreatorState> = AtomicPtr::new(ptr::null_mut());

/// The leaks of the runtime this copy created (`spec/LEAKS.md`). Runs at
/// exit, after finalization: it takes locks only with `try_lock`, runs no
/// Python code and changes no reference count. What is still alive now was
/// leaked.
fn gather_leaks() -> leaks::Leaks {
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

unsafe extern "C" fn creator_add_conversion(
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

unsafe extern "C" fn creator_conversion_at(
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

// ---------------------------------------------------------------------------
// The type registry as a copy sees it: a thread-local cache in front of the
// creator's locked maps.

#[derive(Default)]
struct TypeCache {
    by_type: HashMap<usize, TypeRecord_Ref, PtrHash>,
    by_key: HashMap<String, TypeRecord_Ref>,
}

/// A hasher for pointer keys: one fmix64, no SipHash (the keys are type
/// addresses, not attacker-chosen data).
#[derive(Default, Clone, Copy)]
struct PtrHash;

impl std::hash::BuildHasher for PtrHash {
    type Hasher = PtrHasher;
    fn build_hasher(&self) -> PtrHasher {
        PtrHasher(0)
    }
}

struct PtrHasher(u64);

impl std::hash::Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = fmix64(self.0 ^ b as u64);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = fmix64(n as u64);
    }
}

thread_local! {
    static TYPE_CACHE: RefCell<TypeCache> = RefCell::new(TypeCache::default());
}

/// The record of a Python type object, if it is registered.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub unsafe fn find_type_by_object(
    joined: &Joined,
    py_type: *mut ffi::PyObject,
) -> Option<TypeRecord_Ref> {
    let hit = TYPE_CACHE.with(|c| c.borrow().by_type.get(&(py_type as usize)).copied());
    if hit.is_some() {
        return hit;
    }
    let i = joined.internals;
    let found = (i.find_type_by_object())(i.state(), py_type as *mut c_void).into_option()?;
    TYPE_CACHE.with(|c| c.borrow_mut().by_type.insert(py_type as usize, found));
    Some(found)
}

/// The record registered under a stable key, if any.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub unsafe fn find_type_by_key(joined: &Joined, key: &str) -> Option<TypeRecord_Ref> {
    let hit = TYPE_CACHE.with(|c| c.borrow().by_key.get(key).copied());
    if hit.is_some() {
        return hit;
    }
    let i = joined.internals;
    let found = (i.find_type_by_key())(i.state(), RStr::from_str(key)).into_option()?;
    TYPE_CACHE.with(|c| c.borrow_mut().by_key.insert(key.to_owned(), found));
    Some(found)
}

/// A record for a plain Python type (no instance layout): what the
/// diagnostics registry stores.
pub fn plain_record(
    key: &str,
    py_type: *mut ffi::PyObject,
    owner: &str,
    owner_version: &str,
) -> TypeRecord {
    TypeRecord {
        key: leak_str(key),
        py_type: py_type as *mut c_void,
        owner: leak_str(owner),
        owner_version: leak_str(owner_version),
        crate_name: RStr::from_str(""),
        crate_version: RStr::from_str(""),
        size: 0,
        align: 0,
        value_offset: 0,
        layout: RNone,
        clone_value: RNone,
        class_data: ptr::null(),
        new_instance: RNone,
        live_instances: RNone,
    }
}

/// Text that lives as long as the process (records are never freed).
pub fn leak_str(s: &str) -> RStr<'static> {
    RStr::from_str(Box::leak(s.to_owned().into_boxed_str()))
}

/// Registers `record` unless its key is taken. Returns the record now
/// registered, which is an earlier one if the key was taken.
///
/// # Safety
/// The thread is attached, this copy has joined a runtime, and
/// `record.py_type` is a type object.
pub unsafe fn register_type(joined: &Joined, record: TypeRecord) -> TypeRecord_Ref {
    let py_type = record.py_type as *mut ffi::PyObject;
    // The registry keeps this reference forever if our record wins.
    ffi::Py_INCREF(py_type);
    let record = TypeRecord_Ref(record.leak_into_prefix().0);
    let i = joined.internals;
    let winner = (i.register_type())(i.state(), record);
    if winner.py_type() != py_type as *mut c_void {
        // Not registered: release outside any lock.
        ffi::Py_DECREF(py_type);
    }
    winner
}

/// This copy's view of the runtime, for `internals_info()`.
///
/// # Safety
/// The thread is attached.
pub unsafe fn info_dict(joined: &Joined) -> Result<Owned, ()> {
    let i = joined.internals;
    let stats = (i.stats())(i.state());
    let dict = Owned::from_raw(ffi::PyDict_New()).ok_or(())?;
    // The dict also holds name reservations (`name:<plugin>` → path):
    // count the modules only.
    let plugins = crate::py::containers::dict_items(i.plugins() as *mut ffi::PyObject)
        .iter()
        .filter(|(_, v)| ffi::PyModule_Check(v.as_ptr()) != 0)
        .count() as ffi::Py_ssize_t;
    set_item(
        &dict,
        "runtime_id",
        ffi::PyLong_FromUnsignedLongLong(i.runtime_id() as u64),
    )?;
    set_item(
        &dict,
        "abi_version",
        errors::new_str(&version_of(joined.header.version)),
    )?;
    set_item(&dict, "creator", errors::new_str(i.creator().as_str()))?;
    set_item(
        &dict,
        "free_threaded",
        ffi::PyBool_FromLong(i.free_threaded() as _),
    )?;
    set_item(&dict, "key", errors::new_str(&joined.key))?;
    set_item(&dict, "plugins", ffi::PyLong_FromSsize_t(plugins))?;
    set_item(&dict, "types", ffi::PyLong_FromLong(stats.types as _))?;
    set_item(
        &dict,
        "mapped_instances",
        ffi::PyLong_FromUnsignedLongLong(stats.mapped_instances),
    )?;
    set_item(&dict, "shards", ffi::PyLong_FromLong(i.shard_count() as _))?;
    let copies = Owned::from_raw(ffi::PyList_New(0)).ok_or(())?;
    for index in 0..stats.copies {
        let Some(c) = (i.copy_at())(i.state(), index).into_option() else {
            break;
        };
        let text = format!(
            "{} (shim {}, internals ABI {})",
            c.module.as_str(),
            c.shim_version.as_str(),
            version_of(c.version)
        );
        let item = Owned::from_raw(errors::new_str(&text)).ok_or(())?;
        if ffi::PyList_Append(copies.as_ptr(), item.as_ptr()) < 0 {
            return Err(());
        }
    }
    set_item(&dict, "copies", copies.into_raw())?;
    set_item(
        &dict,
        "this_copy",
        errors::new_str(&this_copy_description(joined)),
    )?;
    set_item(&dict, "extension_field", extension_field(i))?;
    Ok(dict)
}

fn this_copy_description(joined: &Joined) -> String {
    format!(
        "{} (shim {}, internals ABI {}, copy #{}{})",
        joined.module,
        SHIM_VERSION,
        version_of(VERSION),
        joined.copy_index,
        if joined.is_creator { ", creator" } else { "" }
    )
}

/// The value of the field appended by the newer-minor fixture, as this copy
/// sees it: `None` when this copy does not know the field or the creator is
/// older and lacks it.
#[cfg(feature = "fixture-next-minor")]
unsafe fn extension_field(i: Internals_Ref) -> *mut ffi::PyObject {
    match i.motto() {
        Some(m) => errors::new_str(m.as_str()),
        None => ffi::Py_NewRef(ffi::Py_None()),
    }
}

#[cfg(not(feature = "fixture-next-minor"))]
unsafe fn extension_field(_: Internals_Ref) -> *mut ffi::PyObject {
    ffi::Py_NewRef(ffi::Py_None())
}

unsafe fn set_item(dict: &Owned, key: &str, value: *mut ffi::PyObject) -> Result<(), ()> {
    let value = Owned::from_raw(value).ok_or(())?;
    let key = errors::c_string(key);
    if ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) < 0 {
        return Err(());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Dict helpers shared with the loader.

/// `dict[key]` as a new reference, if present.
///
/// # Safety
/// The thread is attached.
pub unsafe fn dict_get(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> Result<Option<Owned>, ()> {
    let mut value = ptr::null_mut();
    match ffi::compat::PyDict_GetItemRef(dict, key, &mut value) {
        r if r < 0 => Err(()),
        0 => Ok(None),
        _ => Ok(Owned::from_raw(value)),
    }
}

/// Stores `value` under `key` unless present, atomically; returns what is
/// stored now.
///
/// # Safety
/// The thread is attached.
pub unsafe fn dict_set_default(
    dict: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> Result<Owned, ()> {
    #[cfg(Py_3_13)]
    {
        let mut result = ptr::null_mut();
        if crate::py::ffi::PyDict_SetDefaultRef(dict, key, value, &mut result) < 0 {
            return Err(());
        }
        Owned::from_raw(result).ok_or(())
    }
    #[cfg(not(Py_3_13))]
    {
        // Before 3.13 every supported build has a GIL, which makes this atomic.
        let stored = crate::py::ffi::PyDict_SetDefault(dict, key, value);
        if stored.is_null() {
            return Err(());
        }
        Ok(Owned::from_borrowed(stored))
    }
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
