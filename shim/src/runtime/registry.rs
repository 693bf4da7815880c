//! The type registry, as a copy sees it: lookups through a thread-local
//! cache, registration, and the records of classes a plugin uses but does
//! not own, checked against the plugin's view of the struct (crate,
//! version, size, abi_stable layout).

use std::{cell::RefCell, collections::HashMap, ffi::c_void, ptr};

use oxbind_internals::{
    abi_stable::{
        abi_stability::abi_checking::check_layout_compatibility,
        prefix_type::PrefixTypeTrait,
        std_types::{RNone, RStr},
    },
    TypeRecord, TypeRecord_Ref,
};
use pyo3_ffi as ffi;

use crate::py::errors;

use oxbind_abi::ClassRef;

use crate::runtime::instance_map::fmix64;
use crate::runtime::Joined;

// ---------------------------------------------------------------------------
// The type registry as a copy sees it: a thread-local cache in front of the
// creator's locked maps.

#[derive(Default)]
pub(crate) struct TypeCache {
    pub(crate) by_type: HashMap<usize, TypeRecord_Ref, PtrHash>,
    pub(crate) by_key: HashMap<String, TypeRecord_Ref>,
}

/// A hasher for pointer keys: one fmix64, no SipHash (the keys are type
/// addresses, not attacker-chosen data).
#[derive(Default, Clone, Copy)]
pub(crate) struct PtrHash;

impl std::hash::BuildHasher for PtrHash {
    type Hasher = PtrHasher;
    fn build_hasher(&self) -> PtrHasher {
        PtrHasher(0)
    }
}

pub(crate) struct PtrHasher(u64);

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
pub(crate) unsafe fn find_type_by_object(
    joined: &Joined,
    py_type: *mut ffi::PyObject,
) -> Option<TypeRecord_Ref> {
    let hit = TYPE_CACHE.with(|c| c.borrow().by_type.get(&(py_type as usize)).copied());
    if hit.is_some() {
        return hit;
    }
    let i = joined.internals;
    // SAFETY: `find_type_by_object` is the joined runtime's own function,
    // called with its own state on an attached thread (this function's
    // contract).
    let found =
        unsafe { (i.find_type_by_object())(i.state(), py_type as *mut c_void) }.into_option()?;
    TYPE_CACHE.with(|c| c.borrow_mut().by_type.insert(py_type as usize, found));
    Some(found)
}

/// The record registered under a stable key, if any.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub(crate) unsafe fn find_type_by_key(joined: &Joined, key: &str) -> Option<TypeRecord_Ref> {
    let hit = TYPE_CACHE.with(|c| c.borrow().by_key.get(key).copied());
    if hit.is_some() {
        return hit;
    }
    let i = joined.internals;
    // SAFETY: `find_type_by_key` is the joined runtime's own function,
    // called with its own state on an attached thread (this function's
    // contract).
    let found = unsafe { (i.find_type_by_key())(i.state(), RStr::from_str(key)) }.into_option()?;
    TYPE_CACHE.with(|c| c.borrow_mut().by_key.insert(key.to_owned(), found));
    Some(found)
}

/// A record for a plain Python type (no instance layout): what the
/// diagnostics registry stores.
pub(crate) fn plain_record(
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
pub(crate) fn leak_str(s: &str) -> RStr<'static> {
    RStr::from_str(Box::leak(s.to_owned().into_boxed_str()))
}

/// Registers `record` unless its key is taken. Returns the record now
/// registered, which is an earlier one if the key was taken.
///
/// # Safety
/// The thread is attached, this copy has joined a runtime, and
/// `record.py_type` is a type object.
pub(crate) unsafe fn register_type(joined: &Joined, record: TypeRecord) -> TypeRecord_Ref {
    let py_type = record.py_type as *mut ffi::PyObject;
    // The registry keeps this reference forever if our record wins.
    // SAFETY: `py_type` is a type object and the thread is attached (this
    // function's contract).
    unsafe { ffi::Py_INCREF(py_type) };
    let record = TypeRecord_Ref(record.leak_into_prefix().0);
    let i = joined.internals;
    // SAFETY: `register_type` is the joined runtime's own function, called
    // with its own state on an attached thread; `record` is leaked, and we
    // pass the strong reference taken above.
    let winner = unsafe { (i.register_type())(i.state(), record) };
    // Our record won only if the registry returned it: comparing the type
    // would miss an earlier record of the same type (the diagnostics hook
    // can register one type twice), whose reference is already kept.
    if winner.0.to_raw_ptr() != record.0.to_raw_ptr() {
        // Not registered: release outside any lock.
        // SAFETY: attached; this is the reference taken above, which the
        // registry did not keep (another record won).
        unsafe { ffi::Py_DECREF(py_type) };
    }
    winner
}

/// The record of `class` for a function of `plugin`, checked.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn resolve(
    class: &'static ClassRef,
    plugin: &str,
    context: &str,
) -> Result<TypeRecord_Ref, ()> {
    let Some(joined) = crate::runtime::joined() else {
        // SAFETY: attached (this function's contract); `PyExc_RuntimeError`
        // is set once by CPython at startup and only read.
        unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind: no runtime") };
        return Err(());
    };
    // SAFETY: the thread is attached (this function's contract) and this
    // copy has joined `joined`.
    let found = unsafe { crate::runtime::registry::find_type_by_key(joined, class.key.as_str()) };
    let Some(record) = found else {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "{context}() needs class {}, which plugin '{}' defines, but '{}' is not loaded",
                class.key.as_str(),
                class.module(),
                class.module()
            ))
        };
        return Err(());
    };
    if let Err(why) = check_compatible(class, record) {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "{context}() cannot use class {} ({plugin}): {why}",
                class.key.as_str()
            ))
        };
        return Err(());
    }
    Ok(record)
}

/// Whether a plugin's view of a class matches the registered class.
pub(crate) fn check_compatible(class: &ClassRef, record: TypeRecord_Ref) -> Result<(), String> {
    if record.size() == 0 && record.align() == 0 {
        return Err("that name is registered for a type that is not an oxbind class".into());
    }
    let (ours, theirs) = (
        format!(
            "{} {}",
            class.crate_name.as_str(),
            class.crate_version.as_str()
        ),
        format!(
            "{} {}",
            record.crate_name().as_str(),
            record.crate_version().as_str()
        ),
    );
    match (class.layout.into_option(), record.layout().into_option()) {
        (Some(mine), Some(owner)) => {
            if let Err(e) = check_layout_compatibility(owner, mine) {
                return Err(format!(
                    "its layout in {ours} does not match the owner's {theirs} (plugin '{}'): {}",
                    record.owner().as_str(),
                    crate::compat::summarize(&e.to_string())
                ));
            }
            if class.size != record.size() || class.align != record.align() {
                return Err(format!("its size differs between {ours} and {theirs}"));
            }
            Ok(())
        }
        _ if ours == theirs && class.size == record.size() && class.align == record.align() => Ok(()),
        _ => Err(format!(
            "the class is not declared shared (its struct does not derive StableAbi), so only code built from the same crate version can use it; this is {ours}, the owner has {theirs}"
        )),
    }
}
