//! The shared internals: one runtime per interpreter, whichever shim copies
//! are loaded (`spec/ABI.md`). Their layout is the crate `oxbind-internals`;
//! this folder is this copy's side of them.
//!
//! - [`publish`]: finding, checking, creating and joining them;
//! - [`creator`]: the creator's locked state and its table of functions;
//! - [`registry`]: type lookups and registration, and classes used across
//!   plugins;
//! - [`instance_map`]: the sharded map of reference wrappers, both sides;
//! - [`ranges`]: the memory buffer arguments hold, claimed process-wide.
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
//! - [`creator::CreatorState`], in the creator only: the copy list, the
//!   type registry, the conversions and the instance-map shards, each
//!   behind its own `PyLock`. Reached only through the creator's
//!   `extern "C"` functions in the internals table, so one implementation
//!   takes every lock. The functions run no Python code while locked.
//! - `TYPE_CACHE` ([`registry`]), per copy and per thread: a cache of
//!   registry lookups. It holds only positive answers, and records are
//!   never freed, so it never goes stale.
//!
//! Every lock of the shared internals, field by field, is listed once, in
//! `spec/THREADING.md` ("Shared state").

use std::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

use oxbind_internals::{InternalsHeader, Internals_Ref};

pub(crate) mod creator;
pub(crate) mod enums;
pub(crate) mod instance_map;
pub(crate) mod publish;
pub(crate) mod ranges;
pub(crate) mod registry;

/// Whether this shim copy was built for a free-threaded interpreter.
pub(crate) const FREE_THREADED: bool = cfg!(Py_GIL_DISABLED);

/// The runtime this copy joined.
pub(crate) struct Joined {
    pub(crate) header: &'static InternalsHeader,
    pub(crate) internals: Internals_Ref,
    /// The interpreter-state key it is published under.
    pub(crate) key: String,
    /// Whether this copy created the runtime.
    pub(crate) is_creator: bool,
    /// This copy's index in the runtime's copy list.
    pub(crate) copy_index: u32,
    /// The module embedding this copy.
    pub(crate) module: &'static str,
}

pub(crate) static JOINED: AtomicPtr<Joined> = AtomicPtr::new(ptr::null_mut());

/// The runtime this copy joined, if it has joined one.
pub(crate) fn joined() -> Option<&'static Joined> {
    // SAFETY: JOINED is only ever set to a leaked, never-freed `Joined`.
    unsafe { JOINED.load(Ordering::Acquire).as_ref() }
}
