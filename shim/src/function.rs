//! Exported functions and methods as `PyCFunction`s, and the dispatch of
//! one call.
//!
//! Every plugin function becomes a built-in function object, and every
//! method a method descriptor (`METH_FASTCALL | METH_KEYWORDS`). CPython
//! calls them through vectorcall with no argument tuple or dict, its
//! specializing interpreter recognises them, and `help()` and
//! `inspect.signature` read their `__text_signature__`.
//!
//! A fast-call C function receives `self`, not the function object, yet each
//! function needs its own descriptor. So that `self` can stay the plugin
//! module (which gives the usual `<built-in function add>` repr) or the
//! instance, each function takes a *slot*: an index into [`SLOTS`], with its
//! own generated entry point `entry_point::<I>` (see `build.rs`) that reads
//! slot `I`.
//!
//! Shared state: [`SLOTS`] and [`NEXT_SLOT`] are process-global to this shim
//! copy. A slot is claimed once with an atomic increment, written once with a
//! release store before its function object exists, and never changed; calls
//! read it with an acquire load. A function's resolved class records
//! ([`FunctionData::classes`]) are set once each and then read-only.

use std::{
    ffi::{c_void, CString},
    os::raw::c_char,
    panic::{catch_unwind, AssertUnwindSafe},
    ptr,
    sync::{
        atomic::{AtomicPtr, AtomicUsize, Ordering},
        OnceLock,
    },
};

use oxbind_abi::{
    abi_stable::std_types::RSlice, ArgValue, CallOutcome, ClassRef, FunctionDesc, Passing,
    Receiver, RetValue, TypeDesc, TypeKind,
};
use oxbind_internals::TypeRecord_Ref;
use pyo3_ffi as ffi;
use smallvec::SmallVec;

use crate::{
    classes,
    convert::{self, ArgFailure},
    instance,
    py::containers,
    py::errors,
    py::owned::Owned,
    sync::critical,
};

include!(concat!(env!("OUT_DIR"), "/entry_points.rs"));

/// Function data by slot. Written once per slot, never cleared.
static SLOTS: [AtomicPtr<FunctionData>; SLOT_COUNT] =
    [const { AtomicPtr::new(ptr::null_mut()) }; SLOT_COUNT];

/// The next unclaimed slot.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// How many parameters are converted without a heap allocation.
const INLINE_PARAMS: usize = 8;
const _: () = assert!(
    instance::BorrowSet::CAPACITY > INLINE_PARAMS,
    "a receiver plus INLINE_PARAMS objects"
);

/// A class record resolved once and kept (records are never freed).
#[derive(Default)]
pub struct RecordCell(OnceLock<SendRecord>);

#[derive(Clone, Copy)]
struct SendRecord(TypeRecord_Ref);
// SAFETY: records are immutable and never freed.
unsafe impl Send for SendRecord {}
unsafe impl Sync for SendRecord {}

impl RecordCell {
    /// The record of `class` as seen by `plugin`, resolving and checking it
    /// on first use. Err with TypeError set if the owner is not loaded or
    /// the layouts differ.
    pub unsafe fn get(
        &self,
        class: &'static ClassRef,
        plugin: &str,
        context: &str,
    ) -> Result<TypeRecord_Ref, ()> {
        if let Some(r) = self.0.get() {
            return Ok(r.0);
        }
        let record = classes::resolve(class, plugin, context)?;
        Ok(self.0.get_or_init(|| SendRecord(record)).0)
    }
}

/// Everything one exported function needs at call time. Leaked: it lives as
/// long as the process, like the plugin it points into.
pub struct FunctionData {
    pub desc: &'static FunctionDesc,
    /// Each parameter's default, checked and normalised at load (an `int`
    /// default of a `float` parameter becomes a float).
    defaults: Vec<Option<ArgValue<'static>>>,
    /// The name used in messages: `add`, `Point.norm`.
    pub name: String,
    /// The plugin (module name) that exports it.
    pub plugin: &'static str,
    /// Interned parameter names, for the keyword fast path (pointer compare).
    keywords: Vec<Owned>,
    /// Per parameter, then the result: the class record, once resolved.
    classes: Vec<RecordCell>,
    /// No receiver, and every parameter and the result are scalars.
    simple: bool,
    /// For a name several functions share: the candidates, tried in order.
    overloads: Vec<&'static FunctionData>,
    /// Whether calls take a critical section (see `lock_targets`).
    locks: bool,
    /// A method whose other parameters and result are scalars, with no
    /// argument locks: one borrow of `self` and, for `lock_self`, the
    /// critical section on `self` (`c.inc()`, `c.inc_safe()`).
    simple_method: bool,
    /// No locks and no exclusive borrows: the receiver (if any) is `&self`,
    /// every parameter is a scalar or a `&T`, and the result is a scalar or
    /// a `&T` (`return_self`, `distance(p, q)`, `Point.norm`). Such a call
    /// takes only shared borrows, so it can never wait in a way that needs
    /// the general path's all-or-nothing retry.
    shared_only: bool,
    /// A `shared_only` call with exactly one object to borrow (the receiver
    /// or one `&T` parameter): `return_self(c)`, `p.norm()`.
    shared_one: bool,
    /// No receiver, scalar parameters without locks, and a class result by
    /// value: constructors like `Counter()`, which borrow nothing.
    scalar_to_value: bool,
    ml_name: CString,
    ml_doc: CString,
}

/// How a call reports argument mismatches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Raise TypeError (ordinary calls).
    Raise,
    /// Return `NotImplemented` if the first argument does not fit (binary
    /// operator slots), so Python can try the other operand.
    NotImplemented,
    /// Return [`NO_MATCH`] with no error set if the arguments do not fit
    /// (one overload of several).
    Overload,
}

/// What a call in [`Mode::Overload`] returns when its arguments do not fit.
const NO_MATCH: *mut ffi::PyObject = 1 as *mut ffi::PyObject;

/// The result for arguments that do not fit: the error set, or NO_MATCH.
unsafe fn mismatch(mode: Mode) -> *mut ffi::PyObject {
    if mode == Mode::Overload {
        ffi::PyErr_Clear();
        NO_MATCH
    } else {
        ptr::null_mut()
    }
}

/// One function standing for several that share a Python name: each is
/// tried in order, and the first whose arguments fit is called.
///
/// # Safety
/// The thread is attached.
pub unsafe fn new_overloaded(
    candidates: Vec<&'static FunctionData>,
) -> Result<&'static FunctionData, ()> {
    let first = candidates[0];
    let name = first.desc.name.as_str();
    let mut doc = String::from("Overloaded; the first signature whose arguments fit is called:\n");
    for c in &candidates {
        let sig = docstring(c.desc, name);
        let (header, body) = sig.split_once("\n--\n\n").unwrap_or((&sig, ""));
        doc.push_str(&format!("\n{header}\n"));
        if !body.is_empty() {
            doc.push_str(&format!("    {}\n", body.replace('\n', "\n    ")));
        }
    }
    Ok(Box::leak(Box::new(FunctionData {
        desc: first.desc,
        defaults: first.defaults.clone(),
        name: first.name.clone(),
        plugin: first.plugin,
        keywords: Vec::new(),
        classes: Vec::new(),
        simple: false,
        overloads: candidates,
        locks: false,
        simple_method: false,
        shared_only: false,
        shared_one: false,
        scalar_to_value: false,
        ml_name: errors::c_string(name),
        ml_doc: errors::c_string(&doc),
    })))
}

/// Tries each overload; raises TypeError listing them all if none fits.
#[inline(never)]
unsafe fn dispatch_overloads(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    for candidate in &data.overloads {
        let result = dispatch(candidate, slf, args, nargs, kwnames, Mode::Overload);
        if result != NO_MATCH {
            return result;
        }
    }
    let mut given: Vec<String> = (0..nargs as usize)
        .map(|k| errors::type_name(*args.add(k)))
        .collect();
    if !kwnames.is_null() {
        for j in 0..ffi::PyTuple_GET_SIZE(kwnames) as usize {
            let value = *args.add(nargs as usize + j);
            given.push(format!(
                "{}={}",
                quoted(ffi::PyTuple_GET_ITEM(kwnames, j as _)).trim_matches('\''),
                errors::type_name(value)
            ));
        }
    }
    let signatures: Vec<String> = data
        .overloads
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .desc
                .params
                .as_slice()
                .iter()
                .map(|p| format!("{}: {}", p.name.as_str(), expected_name(&p.ty)))
                .collect();
            format!("    {}({})", c.desc.name.as_str(), params.join(", "))
        })
        .collect();
    errors::type_error(&format!(
        "{}(): no overload matches the arguments ({}); the signatures are:\n{}",
        data.name,
        given.join(", "),
        signatures.join("\n")
    ));
    ptr::null_mut()
}

fn is_scalar(ty: &TypeDesc) -> bool {
    !matches!(ty.kind, TypeKind::OBJECT | TypeKind::LIST | TypeKind::DICT)
}

/// Builds the data of one function. `qualname` is the name in messages.
///
/// # Safety
/// The thread is attached.
pub unsafe fn new_data(
    desc: &'static FunctionDesc,
    defaults: Vec<Option<ArgValue<'static>>>,
    qualname: String,
    plugin: &'static str,
    doc_name: &str,
) -> Result<&'static FunctionData, ()> {
    convert::check_int_layout();
    let mut keywords = Vec::with_capacity(desc.params.len());
    for p in desc.params.as_slice() {
        let Some(s) = Owned::from_raw(errors::new_str(p.name.as_str())) else {
            return Err(());
        };
        let mut raw = s.into_raw();
        ffi::PyUnicode_InternInPlace(&mut raw);
        keywords.push(Owned::from_raw(raw).ok_or(())?);
    }
    let simple = desc.receiver == Receiver::NONE
        && desc
            .params
            .as_slice()
            .iter()
            .all(|p| is_scalar(&p.ty) && !p.lock)
        && is_scalar(&desc.ret);
    let objects = desc
        .params
        .as_slice()
        .iter()
        .filter(|p| !is_scalar(&p.ty))
        .count();
    let mut_args = desc
        .params
        .as_slice()
        .iter()
        .any(|p| p.ty.kind == TypeKind::OBJECT && p.ty.passing == Passing::MUT);
    let simple_method = desc.receiver != Receiver::NONE
        && desc
            .params
            .as_slice()
            .iter()
            .all(|p| is_scalar(&p.ty) && !p.lock)
        && is_scalar(&desc.ret);
    let shared_ref =
        |ty: &TypeDesc| ty.kind == TypeKind::OBJECT && ty.passing == Passing::REF && !ty.optional;
    let shared_only = desc.receiver != Receiver::MUT
        && !desc.lock_self
        && desc.params.len() <= INLINE_PARAMS
        && desc
            .params
            .as_slice()
            .iter()
            .all(|p| !p.lock && (is_scalar(&p.ty) || shared_ref(&p.ty)))
        && (is_scalar(&desc.ret) || shared_ref(&desc.ret));
    let scalar_to_value = desc.receiver == Receiver::NONE
        && desc
            .params
            .as_slice()
            .iter()
            .all(|p| is_scalar(&p.ty) && !p.lock)
        && desc.ret.kind == TypeKind::OBJECT
        && desc.ret.passing == Passing::VALUE
        && !desc.ret.optional;
    let locks = desc.lock_self
        || desc.params.as_slice().iter().any(|p| p.lock)
        || mut_args
        || (desc.receiver == Receiver::MUT && objects > 0);
    // (A list result is not scalar, so it always takes the general path.)
    Ok(Box::leak(Box::new(FunctionData {
        desc,
        defaults,
        name: qualname,
        plugin,
        keywords,
        classes: (0..=desc.params.len())
            .map(|_| RecordCell::default())
            .collect(),
        simple,
        overloads: Vec::new(),
        locks,
        simple_method,
        shared_only,
        shared_one: shared_only && objects + usize::from(desc.receiver != Receiver::NONE) == 1,
        scalar_to_value,
        ml_name: errors::c_string(desc.name.as_str()),
        ml_doc: errors::c_string(&docstring(desc, doc_name)),
    })))
}

/// The entry point for slot `I`; CPython calls it for the function in that slot.
unsafe extern "C" fn entry_point<const I: usize>(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before the function object that calls this
    // entry point was created, and is never changed afterwards.
    let data = &*SLOTS[I].load(Ordering::Acquire);
    dispatch(data, slf, args, nargs, kwnames, Mode::Raise)
}

/// A method definition for `data`. Its entry point is a placeholder that
/// raises RuntimeError until [`claim_entries`] gives it one of the direct
/// entry points: a build claims them only once the plugin's init has
/// succeeded, so a failed load uses none (spec/SOUNDNESS.md, "Failed
/// loads"). The caller registers the definition's final address with
/// [`defer_entry`]. `flags` adds to `METH_FASTCALL | METH_KEYWORDS`
/// (`METH_STATIC`, say).
pub fn method_def(data: &'static FunctionData, flags: std::os::raw::c_int) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: data.ml_name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: unpublished_entry,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS | flags,
        ml_doc: data.ml_doc.as_ptr(),
    }
}

/// The entry point of a function whose plugin has not finished loading
/// (or failed to): reachable only through `gc.get_objects()` and the like.
unsafe extern "C" fn unpublished_entry(
    _slf: *mut ffi::PyObject,
    _args: *const *mut ffi::PyObject,
    _nargs: ffi::Py_ssize_t,
    _kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    errors::raise(
        ffi::PyExc_RuntimeError,
        "oxbind: this function belongs to a plugin whose load did not complete",
    );
    ptr::null_mut()
}

thread_local! {
    /// Definitions made by the build running on this thread (builds never
    /// nest on a thread), waiting for their entry points.
    static UNCLAIMED: std::cell::RefCell<Vec<(usize, &'static FunctionData)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Slots given back by builds that failed after claiming (registration
/// failures): reused before new ones. Locked only while attached.
static FREE_SLOTS: crate::sync::lock::PyLock<Vec<usize>> =
    crate::sync::lock::PyLock::new(Vec::new());

/// Records that `def`, at its final address, waits for an entry point.
/// `def` is leaked: it lives for good at this address.
pub fn defer_entry(def: *const ffi::PyMethodDef, data: &'static FunctionData) {
    UNCLAIMED.with(|u| u.borrow_mut().push((def as usize, data)));
}

/// Forgets the definitions waiting on this thread (a build starts or
/// failed before claiming): they keep the placeholder for good.
pub fn discard_unclaimed() {
    UNCLAIMED.with(|u| u.borrow_mut().clear());
}

/// Gives every definition waiting on this thread a direct entry point.
/// Fails with ImportError, claiming none, if too few are left.
///
/// # Safety
/// The thread is attached; the definitions are not yet reachable by other
/// threads' calls (their module and types are not published).
pub unsafe fn claim_entries() -> Result<(), ()> {
    let pending = UNCLAIMED.with(|u| std::mem::take(&mut *u.borrow_mut()));
    let mut slots = Vec::with_capacity(pending.len());
    {
        let mut free = FREE_SLOTS.lock();
        while slots.len() < pending.len() {
            match free.pop() {
                Some(s) => slots.push(s),
                None => break,
            }
        }
    }
    while slots.len() < pending.len() {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        if slot >= SLOT_COUNT {
            NEXT_SLOT.fetch_sub(1, Ordering::Relaxed);
            FREE_SLOTS.lock().extend(slots);
            let name = pending.first().map_or("", |(_, d)| d.name.as_str());
            errors::import_error(
                &format!(
                    "cannot export '{name}': this oxbind runtime dispatches at most {SLOT_COUNT} functions and methods per process"
                ),
                None,
            );
            return Err(());
        }
        slots.push(slot);
    }
    for ((def, data), slot) in pending.into_iter().zip(slots) {
        SLOTS[slot].store(
            data as *const FunctionData as *mut FunctionData,
            Ordering::Release,
        );
        // The definition is read by calls through objects that may already
        // exist (not yet reachable from other threads' calls, but the
        // collector's lists can hand them out): one atomic store of the
        // whole pointer, after the slot is filled.
        let meth = ptr::addr_of!((*(def as *const ffi::PyMethodDef)).ml_meth) as *const AtomicUsize;
        (*meth).store(ENTRY_POINTS[slot] as usize, Ordering::Release);
    }
    Ok(())
}

/// Creates the module-level function object for `data`, owned by `module`.
///
/// # Safety
/// The thread is attached; `module` is a module object and `module_name` a str.
pub unsafe fn new_function(
    data: &'static FunctionData,
    module: *mut ffi::PyObject,
    module_name: *mut ffi::PyObject,
) -> Result<Owned, ()> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(method_def(data, 0)));
    defer_entry(def, data);
    let func = Owned::from_raw(ffi::PyCFunction_NewEx(def, module, module_name)).ok_or(())?;
    instance::immortalize(func.as_ptr());
    Ok(func)
}

/// The docstring with CPython's signature header, `name(a, b='x')\n--\n\n`,
/// from which `__text_signature__` is read. Methods get `$self` first.
pub fn docstring(desc: &FunctionDesc, name: &str) -> String {
    let mut params: Vec<String> = Vec::new();
    if desc.receiver != Receiver::NONE {
        params.push("$self".to_owned());
    }
    params.extend(
        desc.params
            .as_slice()
            .iter()
            .map(|p| match p.default.as_ref().into_option() {
                Some(d) => format!("{}={}", p.name.as_str(), convert::default_literal(d)),
                None => p.name.as_str().to_owned(),
            }),
    );
    let mut doc = format!("{name}({})\n--\n\n", params.join(", "));
    doc.push_str(desc.doc.as_str());
    doc
}

/// One call: match arguments to parameters, convert them, call the plugin,
/// convert the outcome. Panics in this code are caught too: none crosses
/// into CPython.
///
/// # Safety
/// The thread is attached; `slf` is the receiver for methods (ignored
/// otherwise) and `args`/`kwnames` follow the vectorcall convention.
#[inline]
pub unsafe fn dispatch(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    if !data.overloads.is_empty() {
        return dispatch_overloads(data, slf, args, nargs, kwnames);
    }
    let nparams = data.desc.params.len();
    // Each fast path below returns, or falls through to the general path.
    let positional = kwnames.is_null() && nargs as usize == nparams && nparams <= INLINE_PARAMS;
    if positional {
        let null = ptr::null_mut();
        // The common case first: scalars only.
        if data.simple {
            return guarded(data, null, || call_positional(data, args, nparams, mode));
        }
        // A method on scalars: borrow self, call, release; `lock_self`
        // holds self's critical section around all of it.
        if data.simple_method {
            return guarded(data, null, || {
                if data.desc.lock_self {
                    call_method_positional::<true>(data, slf, args, nparams, mode)
                } else {
                    call_method_positional::<false>(data, slf, args, nparams, mode)
                }
            });
        }
        // A constructor from scalars.
        if data.scalar_to_value {
            return guarded(data, null, || {
                call_scalar_to_value(data, args, nparams, mode)
            });
        }
        // Shared borrows only (`&self`, `&T`): no scratch. `None` means
        // something unusual, which the general path handles.
        if data.shared_one {
            if let Some(result) = guarded(data, Some(null), || {
                call_shared_one_positional(data, slf, args, nparams)
            }) {
                return result;
            }
        } else if data.shared_only {
            if let Some(result) = guarded(data, Some(null), || {
                call_shared_positional(data, slf, args, nparams)
            }) {
                return result;
            }
        }
    }
    dispatch_general(data, slf, args, nargs, kwnames, mode)
}

/// The general path: keywords, defaults, conversions, locks, waits. Kept
/// out of line, so that its large stack frame is set up only for the calls
/// that take it, never for the fast paths in [`dispatch`].
#[inline(never)]
unsafe fn dispatch_general(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    mode: Mode,
) -> *mut ffi::PyObject {
    let nparams = data.desc.params.len();
    guarded(data, ptr::null_mut(), || {
        if nparams <= INLINE_PARAMS {
            let mut slots = [ptr::null_mut(); INLINE_PARAMS];
            let mut values = [ArgValue::None; INLINE_PARAMS];
            call(
                data,
                slf,
                args,
                nargs,
                kwnames,
                &mut slots[..nparams],
                &mut values[..nparams],
                mode,
            )
        } else {
            let mut slots = vec![ptr::null_mut(); nparams];
            let mut values = vec![ArgValue::None; nparams];
            call(
                data,
                slf,
                args,
                nargs,
                kwnames,
                &mut slots,
                &mut values,
                mode,
            )
        }
    })
}

/// Runs one call path, turning a panic in the shim's own code into
/// `oxbind.PanicError` (set) and `on_panic` returned: none crosses into
/// CPython.
#[inline(always)]
unsafe fn guarded<R>(data: &FunctionData, on_panic: R, path: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(path)) {
        Ok(result) => result,
        Err(_) => {
            errors::raise_panic(&format!(
                "internal error in the oxbind shim while calling {}()",
                data.name
            ));
            on_panic
        }
    }
}

/// Converts `n` positional scalar arguments in place into `storage`; raises
/// and returns None on failure.
#[inline(always)]
unsafe fn convert_positional<'s, 'a>(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    storage: &'s mut [std::mem::MaybeUninit<ArgValue<'a>>; INLINE_PARAMS],
) -> Option<&'s [ArgValue<'a>]> {
    let params = data.desc.params.as_slice();
    for i in 0..n {
        // Written in place: no intermediate Option<ArgValue> to copy.
        if let Err(failure) =
            convert::to_arg_into(*args.add(i), &params[i].ty, storage[i].as_mut_ptr())
        {
            report_scalar_failure(data, i, *args.add(i), &params[i].ty, failure);
            return None;
        }
    }
    // SAFETY: the first `n` values were written above.
    Some(std::slice::from_raw_parts(
        storage.as_ptr() as *const ArgValue<'a>,
        n,
    ))
}

/// `call` for a simple function whose arguments are all positional.
#[inline(always)]
unsafe fn call_positional(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let outcome = (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut());
    // SAFETY: forgotten just below; `finish_in_place` never unwinds after
    // taking it over.
    let result = finish_in_place(&outcome);
    std::mem::forget(outcome);
    result
}

/// `call` for a method whose other parameters and result are scalars, all
/// passed positionally.
///
/// `LOCKED` is the method's `lock_self`: self's critical section is then
/// taken before the arguments are converted and held through the call and
/// the result conversion, as on the general path (`spec/THREADING.md`,
/// "Locks a call takes"). The borrow inside it is still needed: unlocked
/// `&self` calls on other threads take only their shared borrow.
#[inline(always)]
unsafe fn call_method_positional<const LOCKED: bool>(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    if slf.is_null() || !instance::is_ready(slf) {
        return raise_uninitialised(data);
    }
    let mut slot = critical::SectionSlot::uninit();
    // Ends after the result below is converted (locals drop in reverse).
    let _section = LOCKED.then(|| critical::lock(&mut slot, instance::lock_root(slf), None));
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let exclusive = data.desc.receiver == Receiver::MUT;
    let mut pending = Pending::new();
    // SAFETY (of the call): self is borrowed for the call; the values are
    // scalars converted above.
    let call = || {
        let outcome = (data.desc.call)(
            instance::header(slf).value,
            RSlice::from_slice(values),
            ptr::null_mut(),
        );
        // SAFETY: forgotten just below, with nothing between that unwinds.
        pending.keep(&outcome);
        std::mem::forget(outcome);
    };
    // The borrow is released before the outcome is converted: converting
    // may allocate, and a collection may run Python code that uses `self`.
    match instance::with_one_borrow(slf, exclusive, call) {
        Ok(()) => pending.finish(),
        Err(instance::BorrowFail::Raised) => ptr::null_mut(),
        Err(instance::BorrowFail::Busy) => call_method_after_wait(data, slf, values, exclusive),
    }
}

/// RuntimeError for a method called on an instance whose value was never
/// written (`Counter.__new__(Counter)`); returns NULL.
#[cold]
#[inline(never)]
unsafe fn raise_uninitialised(data: &FunctionData) -> *mut ffi::PyObject {
    errors::raise(
        ffi::PyExc_RuntimeError,
        &format!("{}() called on an uninitialised instance", data.name),
    );
    ptr::null_mut()
}

/// [`call_method_positional`] when another thread holds a conflicting
/// borrow of `self`: waits for it (detached), then calls. Out of line, so
/// that the uncontended path carries none of its state.
#[cold]
#[inline(never)]
unsafe fn call_method_after_wait(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    values: &[ArgValue<'_>],
    exclusive: bool,
) -> *mut ffi::PyObject {
    let mut waited = instance::Borrows::default();
    if instance::borrow_all(&[(slf, exclusive)], &mut waited).is_err() {
        return ptr::null_mut();
    }
    // SAFETY: self is borrowed for the call.
    let outcome = (data.desc.call)(
        instance::header(slf).value,
        RSlice::from_slice(values),
        ptr::null_mut(),
    );
    drop(waited);
    finish_scalar(outcome)
}

/// `call` for a `scalar_to_value` function (a constructor from scalars):
/// the new instance is allocated first and the plugin moves the value into
/// it; no borrow, no scratch.
#[inline(always)]
unsafe fn call_scalar_to_value(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    n: usize,
    mode: Mode,
) -> *mut ffi::PyObject {
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let Some(values) = convert_positional(data, args, n, &mut storage) else {
        return mismatch(mode);
    };
    let Ok(record) = data.classes[n].get(
        data.desc.ret.class.expect("checked at load"),
        data.plugin,
        &data.name,
    ) else {
        return ptr::null_mut();
    };
    let Some(obj) = new_instance(record) else {
        return ptr::null_mut();
    };
    let slot = instance::header(obj.as_ptr()).value;
    match (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), slot) {
        CallOutcome::Ok(RetValue::Written) => {
            // SAFETY: allocated by this call, not yet handed out.
            instance::mark_ready(obj.as_ptr());
            obj.into_raw()
        }
        // The instance was never made ready: dropping it drops no value.
        CallOutcome::Ok(_) => {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!("{}() did not write the result it returns", data.name),
            );
            ptr::null_mut()
        }
        other => finish_scalar(other),
    }
}

/// `call` for a `shared_only` function or method, all arguments given
/// positionally. Each object argument must be an exact, ready instance of
/// its class, and every borrow must be free of other threads' exclusive
/// borrows; otherwise it returns `None` having done nothing (no borrow
/// held, no error set), and the general path takes over: implicit
/// conversions, waiting for borrows, and the error messages.
#[inline(always)]
unsafe fn call_shared_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let params = data.desc.params.as_slice();
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    // The objects whose values are passed: the receiver first, if any.
    let mut objects = [ptr::null_mut(); INLINE_PARAMS + 1];
    let mut count = 0;
    let has_self = data.desc.receiver != Receiver::NONE;
    if has_self {
        if slf.is_null() || !instance::is_ready(slf) {
            return None;
        }
        objects[0] = slf;
        count = 1;
    }
    for (i, param) in params.iter().enumerate().take(n) {
        let obj = *args.add(i);
        if param.ty.kind == TypeKind::OBJECT {
            let Ok(record) = data.classes[i].get(
                param.ty.class.expect("checked at load"),
                data.plugin,
                &data.name,
            ) else {
                // The class is not loaded: the general path reports it as
                // the mode requires (an overload of several tries the next).
                ffi::PyErr_Clear();
                return None;
            };
            if !instance::is_instance(obj, record) || !instance::is_ready(obj) {
                return None;
            }
            storage[i].write(ArgValue::Object(instance::header(obj).value));
            objects[count] = obj;
            count += 1;
        } else if let Err(failure) = convert::to_arg_into(obj, &param.ty, storage[i].as_mut_ptr()) {
            // The general path converts again and reports the failure as
            // the mode requires (TypeError, NotImplemented, no match).
            if let ArgFailure::Raised = failure {
                ffi::PyErr_Clear();
            }
            return None;
        }
    }
    let objects = &objects[..count];
    instance::BorrowSet::with(|set| {
        for &obj in objects {
            match set.try_add(obj, false) {
                Ok(()) => {}
                Err(instance::BorrowFail::Raised) => return Some(ptr::null_mut()),
                Err(instance::BorrowFail::Busy) => return None, // the set releases
            }
        }
        // SAFETY: the first `n` values were written above; the objects they
        // point into are borrowed until the set is released, after the
        // result is converted.
        let values = std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'_>, n);
        let this = if has_self {
            instance::header(slf).value
        } else {
            ptr::null_mut()
        };
        let outcome = (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut());
        if let Taken::Ref(p) = peek(&outcome) {
            // A `Ref` owns nothing: there is nothing to drop.
            std::mem::forget(outcome);
            return Some(
                match data.classes[n].get(
                    data.desc.ret.class.expect("checked at load"),
                    data.plugin,
                    &data.name,
                ) {
                    Ok(record) => instance::object_for_ref(p, record, objects, &data.name),
                    Err(()) => ptr::null_mut(),
                },
            );
        }
        set.release_all();
        // SAFETY: forgotten just below (see `call_positional`).
        let result = finish_in_place(&outcome);
        std::mem::forget(outcome);
        Some(result)
    })
}

/// [`call_shared_positional`] for a call with exactly one object to borrow
/// (`shared_one`): one borrow through [`instance::with_one_borrow`], no
/// list of objects, and a scalar outcome read where the plugin wrote it.
/// The same contract: `None`, with nothing held and no error set, hands the
/// call to the general path.
#[inline(always)]
unsafe fn call_shared_one_positional(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    n: usize,
) -> Option<*mut ffi::PyObject> {
    let params = data.desc.params.as_slice();
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; INLINE_PARAMS];
    let has_self = data.desc.receiver != Receiver::NONE;
    // The one object whose value is passed.
    let mut object = ptr::null_mut();
    if has_self {
        if slf.is_null() || !instance::is_ready(slf) {
            return None;
        }
        object = slf;
    }
    for (i, param) in params.iter().enumerate().take(n) {
        let obj = *args.add(i);
        if param.ty.kind == TypeKind::OBJECT {
            let Ok(record) = data.classes[i].get(
                param.ty.class.expect("checked at load"),
                data.plugin,
                &data.name,
            ) else {
                // The class is not loaded: the general path reports it as
                // the mode requires (an overload of several tries the next).
                ffi::PyErr_Clear();
                return None;
            };
            if !instance::is_instance(obj, record) || !instance::is_ready(obj) {
                return None;
            }
            storage[i].write(ArgValue::Object(instance::header(obj).value));
            object = obj;
        } else if let Err(failure) = convert::to_arg_into(obj, &param.ty, storage[i].as_mut_ptr()) {
            // As in `call_shared_positional`: the general path reports it.
            if let ArgFailure::Raised = failure {
                ffi::PyErr_Clear();
            }
            return None;
        }
    }
    // SAFETY: the first `n` values were written above.
    let values = std::slice::from_raw_parts(storage.as_ptr() as *const ArgValue<'_>, n);
    let this = if has_self {
        instance::header(slf).value
    } else {
        ptr::null_mut()
    };
    let mut pending = Pending::new();
    let mut result = None;
    let call = || {
        // SAFETY: `object` is borrowed until this closure returns; a `&T`
        // result becomes its object before then, as on the several-object
        // path.
        let outcome = (data.desc.call)(this, RSlice::from_slice(values), ptr::null_mut());
        // SAFETY: forgotten just below, with nothing between that unwinds.
        pending.keep(&outcome);
        std::mem::forget(outcome);
        if let Taken::Ref(p) = pending.taken {
            result = Some(
                match data.classes[n].get(
                    data.desc.ret.class.expect("checked at load"),
                    data.plugin,
                    &data.name,
                ) {
                    Ok(record) => instance::object_for_ref(p, record, &[object], &data.name),
                    Err(()) => ptr::null_mut(),
                },
            );
        }
    };
    match instance::with_one_borrow(object, false, call) {
        Ok(()) => {}
        Err(instance::BorrowFail::Raised) => return Some(ptr::null_mut()),
        Err(instance::BorrowFail::Busy) => return None,
    }
    Some(match result {
        Some(r) => r,
        None => pending.finish(),
    })
}

/// What a call holds until it returns: borrows first (released first),
/// then the objects it created or took references to. Inline storage, so
/// that a typical call allocates nothing.
#[derive(Default)]
struct Scratch<'a> {
    borrows: instance::Borrows,
    temps: SmallVec<[Owned; 1]>,
    lists: Vec<Vec<ArgValue<'a>>>,
    /// Objects whose values are passed: where a `&T` result may point.
    objects: SmallVec<[*mut ffi::PyObject; 3]>,
    /// The borrows the call needs (object, exclusive), taken all at once
    /// after conversion by `instance::borrow_all`.
    wanted: SmallVec<[(*mut ffi::PyObject, bool); 3]>,
}

impl<'a> Scratch<'a> {
    /// Keeps a converted list (or flattened dict) for the whole call and
    /// returns it as the slice the plugin reads.
    fn keep_list(&mut self, values: Vec<ArgValue<'a>>) -> RSlice<'a, ArgValue<'a>> {
        self.lists.push(values);
        let stored = self.lists.last().expect("just pushed");
        // SAFETY: the inner Vec's buffer never moves or changes while
        // `self` lives, which outlives the call.
        let slice: &'a [ArgValue<'a>] =
            unsafe { std::slice::from_raw_parts(stored.as_ptr(), stored.len()) };
        RSlice::from_slice(slice)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn call<'a>(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    slots: &mut [*mut ffi::PyObject],
    values: &mut [ArgValue<'a>],
    mode: Mode,
) -> *mut ffi::PyObject {
    let params = data.desc.params.as_slice();
    if !bind_arguments(data, args, nargs as usize, kwnames, slots) {
        return mismatch(mode);
    }
    if data.simple {
        for (i, param) in params.iter().enumerate() {
            match convert_scalar(data, i, slots[i], &param.ty) {
                Some(v) => values[i] = v,
                None => return mismatch(mode),
            }
        }
        // SAFETY: one value per parameter, each of its declared kind; the
        // objects they borrow from are held by our caller for the whole call.
        let outcome =
            (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut());
        return finish_scalar(outcome);
    }

    // Argument locks: taken before conversion, held through the call and
    // the result conversion (dropped after `result` below).
    let mut section_slot = critical::SectionSlot::uninit();
    let section = match lock_targets(data, slf, slots) {
        (Some(a), b) => Some(critical::lock(&mut section_slot, a, b)),
        _ => None,
    };
    let mut scratch = Scratch::default();
    let this = match receiver(data, slf, &mut scratch) {
        Ok(t) => t,
        Err(()) => return ptr::null_mut(),
    };
    for (i, param) in params.iter().enumerate() {
        let obj = slots[i];
        let value = if obj.is_null() {
            data.defaults[i].expect("bind_arguments checked required parameters")
        } else {
            match convert_arg(data, i, obj, &param.ty, &mut scratch) {
                Ok(v) => v,
                // An overload whose argument cannot be converted, for
                // whatever reason (a class not loaded, say), is no match:
                // the next one is tried.
                Err(_) if mode == Mode::Overload => return mismatch(mode),
                Err(Mismatch::Raised) => return ptr::null_mut(),
                Err(Mismatch::WrongType) if mode == Mode::NotImplemented && i == 0 => {
                    return ffi::Py_NewRef(ffi::Py_NotImplemented());
                }
                Err(Mismatch::WrongType) => {
                    raise_wrong_type(data, i, obj);
                    return ptr::null_mut();
                }
            }
        };
        values[i] = value;
    }
    if !scratch.wanted.is_empty()
        && instance::borrow_all(&scratch.wanted, &mut scratch.borrows).is_err()
    {
        return ptr::null_mut();
    }
    // A class returned by value is written straight into a new instance.
    let ret = &data.desc.ret;
    let mut ret_obj: Option<Owned> = None;
    let mut ret_slot = ptr::null_mut();
    if ret.kind == TypeKind::OBJECT && ret.passing == Passing::VALUE {
        let Ok(record) = data.classes[params.len()].get(
            ret.class.expect("checked at load"),
            data.plugin,
            &data.name,
        ) else {
            return ptr::null_mut();
        };
        let Some(obj) = new_instance(record) else {
            return ptr::null_mut();
        };
        ret_slot = instance::header(obj.as_ptr()).value;
        ret_obj = Some(obj);
    }
    let outcome = (data.desc.call)(this, RSlice::from_slice(values), ret_slot);
    let result = match outcome {
        CallOutcome::Ok(RetValue::Written) => match ret_obj.take() {
            Some(obj) => {
                // SAFETY: allocated by this call, not yet handed out.
                instance::mark_ready(obj.as_ptr());
                obj.into_raw()
            }
            None => {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!("{}() wrote a result it does not return", data.name),
                );
                ptr::null_mut()
            }
        },
        CallOutcome::Ok(RetValue::Ref(p)) => {
            match data.classes[params.len()].get(
                ret.class.expect("checked at load"),
                data.plugin,
                &data.name,
            ) {
                Ok(record) => {
                    let mut candidates: SmallVec<[*mut ffi::PyObject; 5]> = SmallVec::new();
                    if !slf.is_null() && data.desc.receiver != Receiver::NONE {
                        candidates.push(slf);
                    }
                    candidates.extend_from_slice(&scratch.objects);
                    instance::object_for_ref(p, record, &candidates, &data.name)
                }
                Err(()) => ptr::null_mut(),
            }
        }
        CallOutcome::Ok(RetValue::List(items)) => list_result(data, items),
        other => finish_scalar(other),
    };
    // Release borrows and locks before the temporaries: dropping a
    // temporary may run arbitrary Python code, which may use the same objects.
    drop(std::mem::take(&mut scratch.borrows));
    drop(section);
    drop(ret_obj); // an unused result instance (None returned, or an error) is not ready: no drop
    drop(scratch);
    result
}

/// The (at most two) objects a call locks: `self` for `lock_self`, then
/// `#[oxbind(lock)]` arguments; and, when a call exclusively borrows an
/// object while it borrows another, those objects too (a `&mut self` with
/// object arguments, or `&mut` arguments), so that two calls borrowing the
/// same pair in opposite orders queue on one address-ordered section
/// instead of deadlocking. A `&mut self` method with no object arguments
/// locks nothing: its single exclusive borrow cannot deadlock, and
/// concurrent callers wait on the borrow.
/// A reference wrapper is locked through the instance it points into.
unsafe fn lock_targets(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    slots: &[*mut ffi::PyObject],
) -> (Option<*mut ffi::PyObject>, Option<*mut ffi::PyObject>) {
    if !data.locks {
        return (None, None);
    }
    let mut found: [Option<*mut ffi::PyObject>; 2] = [None, None];
    let mut n = 0;
    let mut push = |obj: *mut ffi::PyObject| {
        if n < 2 && !obj.is_null() && !found[..n].contains(&Some(obj)) {
            found[n] = Some(obj);
            n += 1;
        }
    };
    if data.desc.receiver != Receiver::NONE
        && (data.desc.lock_self || data.desc.receiver == Receiver::MUT)
    {
        push(instance::lock_root(slf));
    }
    for (param, &obj) in data.desc.params.as_slice().iter().zip(slots) {
        let is_mut_object = param.ty.kind == TypeKind::OBJECT && param.ty.passing == Passing::MUT;
        if (param.lock || is_mut_object) && !obj.is_null() {
            push(instance::lock_root(obj));
        }
    }
    (found[0], found[1])
}

/// A new list from a list result: scalars converted, class values moved
/// into new instances of the item class.
unsafe fn list_result(
    data: &FunctionData,
    items: oxbind_abi::abi_stable::std_types::RVec<RetValue>,
) -> *mut ffi::PyObject {
    let item_ty = data.desc.ret.item.expect("validated");
    let record = if item_ty.kind == TypeKind::OBJECT {
        match data.classes[data.desc.params.len()].get(
            item_ty.class.expect("validated"),
            data.plugin,
            &data.name,
        ) {
            Ok(r) => Some(r),
            Err(()) => return ptr::null_mut(),
        }
    } else {
        None
    };
    let Some(list) = Owned::from_raw(ffi::PyList_New(items.len() as ffi::Py_ssize_t)) else {
        return ptr::null_mut();
    };
    for (k, item) in items.into_iter().enumerate() {
        let obj = match (item, record) {
            (RetValue::Moved(bytes), Some(record)) => {
                let Some(obj) = new_instance(record) else {
                    return ptr::null_mut();
                };
                if bytes.len() != record.size() {
                    errors::raise(
                        ffi::PyExc_RuntimeError,
                        &format!("{}() returned a list item of the wrong size", data.name),
                    );
                    return ptr::null_mut();
                }
                // SAFETY: the bytes are a value of the item class moved out by
                // the plugin (never dropped there); the instance now owns it.
                ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    instance::header(obj.as_ptr()).value as *mut u8,
                    bytes.len(),
                );
                // SAFETY: allocated by this call, not yet handed out.
                instance::mark_ready(obj.as_ptr());
                obj.into_raw()
            }
            (other, None) => convert::from_ret(other),
            (_, Some(_)) => {
                errors::raise(
                    ffi::PyExc_RuntimeError,
                    &format!("{}() returned a list item of the wrong kind", data.name),
                );
                ptr::null_mut()
            }
        };
        if obj.is_null() {
            return ptr::null_mut();
        }
        ffi::PyList_SET_ITEM(list.as_ptr(), k as ffi::Py_ssize_t, obj);
    }
    list.into_raw()
}

/// Converts a scalar outcome (or raises the error or panic it carries):
/// the general path's conversion, and the cold end of the fast paths, which
/// read the common outcomes in place first ([`Taken`]).
#[inline(always)]
unsafe fn finish_scalar(outcome: CallOutcome) -> *mut ffi::PyObject {
    match outcome {
        // The commonest results are converted here, in place: passing the
        // RetValue on to `from_ret` copies it, which measurably slows
        // `add(1, 2)` (BENCHMARKS.md) even with `from_ret` inlined.
        CallOutcome::Ok(RetValue::None) => convert::none(),
        CallOutcome::Ok(RetValue::Int(v)) => ffi::PyLong_FromLongLong(v),
        CallOutcome::Ok(RetValue::Float(v)) => ffi::PyFloat_FromDouble(v),
        CallOutcome::Ok(value) => convert::from_ret(value),
        CallOutcome::Err(record) => {
            errors::raise_record(&record);
            ptr::null_mut()
        }
        CallOutcome::Panic(message) => {
            errors::raise_panic(message.as_str());
            ptr::null_mut()
        }
    }
}

/// What a call's outcome holds, read where the plugin wrote it: the
/// commonest variants as plain values; for anything else, only that it is
/// something else.
///
/// [`peek`] reads the discriminants and the payload by reference, with the
/// widths the plugin wrote them with, and the outcome itself is never moved
/// on the common paths. Moving a `CallOutcome` (into a function, an `Option`
/// or an enum holding it) made the compiler copy it whole, padding
/// included, with loads that straddle the plugin's stores; each such load
/// waits until those stores retire (a failed store-to-load forward): a stall
/// on every call, which perf put at a quarter of the shim's time in
/// `distance(p, q)`. The other outcomes are taken over through a pointer
/// by cold, out-of-line code ([`finish_other`], [`Pending::keep`]).
#[derive(Clone, Copy)]
enum Taken {
    None,
    Int(i64),
    Float(f64),
    /// A `&T` result: the address of a value of the result's class.
    Ref(*const c_void),
    /// An error, a panic, a string, bytes, a list or `Written`.
    Other,
}

impl Taken {
    /// The Python object for `None`, an int or a float; `None` for a `&T`
    /// result or anything else, which need the outcome itself.
    #[inline(always)]
    unsafe fn common_object(self) -> Option<*mut ffi::PyObject> {
        match self {
            Taken::None => Some(convert::none()),
            Taken::Int(v) => Some(ffi::PyLong_FromLongLong(v)),
            Taken::Float(v) => Some(ffi::PyFloat_FromDouble(v)),
            Taken::Ref(_) | Taken::Other => None,
        }
    }
}

/// Reads `outcome` in place (see [`Taken`]).
#[inline(always)]
fn peek(outcome: &CallOutcome) -> Taken {
    match outcome {
        CallOutcome::Ok(RetValue::None) => Taken::None,
        CallOutcome::Ok(RetValue::Int(v)) => Taken::Int(*v),
        CallOutcome::Ok(RetValue::Float(v)) => Taken::Float(*v),
        CallOutcome::Ok(RetValue::Ref(p)) => Taken::Ref(*p),
        _ => Taken::Other,
    }
}

/// Converts a scalar outcome to its Python object, or raises the error or
/// panic it carries, reading it in place (see [`Taken`]).
///
/// # Safety
/// The caller forgets `outcome` afterwards: this takes it over.
#[inline(always)]
unsafe fn finish_in_place(outcome: &CallOutcome) -> *mut ffi::PyObject {
    match peek(outcome).common_object() {
        Some(result) => result,
        None => finish_other(outcome),
    }
}

/// [`finish_scalar`] for an outcome read through a pointer, out of line.
/// It never unwinds: a panic here, after the outcome was read, would
/// otherwise drop it twice (the read copy, and the caller's original,
/// which is forgotten only once this returns). A panic is raised as
/// `oxbind.PanicError` instead.
///
/// # Safety
/// `outcome` is initialised, and the caller forgets it afterwards (this
/// takes it over).
#[cold]
#[inline(never)]
unsafe fn finish_other(outcome: *const CallOutcome) -> *mut ffi::PyObject {
    // SAFETY: initialised, and taken over here (the caller forgets it).
    let owned = ptr::read(outcome);
    match catch_unwind(AssertUnwindSafe(|| finish_scalar(owned))) {
        Ok(result) => result,
        Err(_) => {
            errors::raise_panic("internal error in the oxbind shim while converting a result");
            ptr::null_mut()
        }
    }
}

/// An outcome kept from inside a borrow's closure until after the borrow is
/// released, when it is converted: [`Taken`] for the common variants, the
/// outcome itself (taken over out of line) for the rest.
struct Pending {
    taken: Taken,
    other: Option<CallOutcome>,
}

impl Pending {
    const fn new() -> Pending {
        Pending {
            taken: Taken::None,
            other: None,
        }
    }

    /// Keeps `outcome`: read in place, and taken over only if it is
    /// [`Taken::Other`].
    ///
    /// # Safety
    /// The caller forgets `outcome` afterwards.
    #[inline(always)]
    unsafe fn keep(&mut self, outcome: &CallOutcome) {
        self.taken = peek(outcome);
        if let Taken::Other = self.taken {
            // SAFETY: initialised; the caller forgets it after this returns,
            // and nothing between the read and that can unwind.
            self.take_over(outcome);
        }
    }

    /// # Safety
    /// `outcome` is initialised and forgotten by the caller.
    #[cold]
    #[inline(never)]
    unsafe fn take_over(&mut self, outcome: *const CallOutcome) {
        // SAFETY: see this function's contract.
        self.other = Some(ptr::read(outcome));
    }

    /// The Python object for a kept scalar outcome, or its error raised.
    /// By reference: moving `self` copied it whole, `other` too, whose only
    /// store on the common path is its one-byte `None` tag (a wider load
    /// over it stalls, as in [`Taken`]).
    #[inline(always)]
    unsafe fn finish(&mut self) -> *mut ffi::PyObject {
        match self.taken.common_object() {
            Some(result) => result,
            None => finish_pending_rest(self),
        }
    }
}

/// [`Pending::finish`] for a kept outcome that is not a common one, out of
/// line: the outcome taken over, or a `&T` result where a scalar was
/// expected (which [`finish_scalar`] reports).
#[cold]
#[inline(never)]
unsafe fn finish_pending_rest(pending: &mut Pending) -> *mut ffi::PyObject {
    let outcome = match (pending.other.take(), pending.taken) {
        (Some(outcome), _) => outcome,
        (None, Taken::Ref(p)) => CallOutcome::Ok(RetValue::Ref(p)),
        (None, _) => unreachable!("an Other outcome is always taken over"),
    };
    finish_scalar(outcome)
}

/// Matches positional and keyword arguments to parameters; raises and
/// returns false on a missing, unknown or repeated argument.
#[inline]
unsafe fn bind_arguments(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
    slots: &mut [*mut ffi::PyObject],
) -> bool {
    let params = data.desc.params.as_slice();
    if nargs > params.len() {
        errors::type_error(&format!(
            "{}() takes {} positional argument{} but {} {} given",
            data.name,
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            nargs,
            if nargs == 1 { "was" } else { "were" }
        ));
        return false;
    }
    if nargs > 0 {
        slots[..nargs].copy_from_slice(std::slice::from_raw_parts(args, nargs));
    }
    if !kwnames.is_null() {
        let nkw = ffi::PyTuple_GET_SIZE(kwnames) as usize;
        for j in 0..nkw {
            let key = ffi::PyTuple_GET_ITEM(kwnames, j as ffi::Py_ssize_t);
            let Some(index) = keyword_index(data, key) else {
                errors::type_error(&format!(
                    "{}() got an unexpected keyword argument {}",
                    data.name,
                    quoted(key)
                ));
                return false;
            };
            if !slots[index].is_null() {
                errors::type_error(&format!(
                    "{}() got multiple values for argument '{}'",
                    data.name,
                    params[index].name.as_str()
                ));
                return false;
            }
            slots[index] = *args.add(nargs + j);
        }
    }
    for (i, param) in params.iter().enumerate() {
        if slots[i].is_null() && data.defaults[i].is_none() {
            errors::type_error(&format!(
                "{}() missing required argument '{}' (pos {})",
                data.name,
                param.name.as_str(),
                i + 1
            ));
            return false;
        }
    }
    true
}

/// Raises the error for a scalar argument that failed to convert.
#[cold]
unsafe fn report_scalar_failure(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    failure: ArgFailure,
) {
    match failure {
        ArgFailure::WrongType => raise_wrong_type(data, i, obj),
        ArgFailure::Overflow => raise_overflow(data, i, ty),
        ArgFailure::Raised => {}
    }
}

/// A scalar argument, or its default; raises and returns None on failure.
#[inline]
unsafe fn convert_scalar<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Option<ArgValue<'a>> {
    if obj.is_null() {
        return data.defaults[i];
    }
    match convert::to_arg(obj, ty) {
        Ok(v) => Some(v),
        Err(ArgFailure::WrongType) => {
            raise_wrong_type(data, i, obj);
            None
        }
        Err(ArgFailure::Overflow) => {
            raise_overflow(data, i, ty);
            None
        }
        Err(ArgFailure::Raised) => None,
    }
}

unsafe fn raise_overflow(data: &FunctionData, i: usize, ty: &TypeDesc) {
    errors::raise(
        ffi::PyExc_OverflowError,
        &format!(
            "{}() argument '{}' is out of range for {}",
            data.name,
            data.desc.params.as_slice()[i].name.as_str(),
            ty.rust_name.as_str()
        ),
    );
}

unsafe fn raise_wrong_type(data: &FunctionData, i: usize, obj: *mut ffi::PyObject) {
    let param = &data.desc.params.as_slice()[i];
    errors::type_error(&format!(
        "{}() argument '{}' must be {}, not {}",
        data.name,
        param.name.as_str(),
        expected_name(&param.ty),
        errors::type_name(obj)
    ));
}

/// How a parameter of type `ty` is described in messages.
pub fn expected_name(ty: &TypeDesc) -> String {
    let base = match ty.kind {
        TypeKind::OBJECT => ty
            .class
            .map_or("object".to_owned(), |c| c.key.as_str().to_owned()),
        TypeKind::LIST => format!(
            "list[{}]",
            ty.item.map_or("object".to_owned(), expected_name)
        ),
        TypeKind::DICT => match ty.dict_types() {
            Some((k, v)) => format!("dict[{}, {}]", expected_name(k), expected_name(v)),
            None => "dict".to_owned(),
        },
        _ => return convert::expected_name(ty),
    };
    if ty.optional {
        format!("{base} or None")
    } else {
        base
    }
}

enum Mismatch {
    /// The object is not of the expected type; nothing is raised yet.
    WrongType,
    /// A Python error is set.
    Raised,
}

/// `self`'s value for a method, borrowed as the receiver requires.
unsafe fn receiver(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    scratch: &mut Scratch,
) -> Result<*mut c_void, ()> {
    if data.desc.receiver == Receiver::NONE {
        return Ok(ptr::null_mut());
    }
    if slf.is_null() || !instance::is_ready(slf) {
        errors::raise(
            ffi::PyExc_RuntimeError,
            &format!("{}() called on an uninitialised instance", data.name),
        );
        return Err(());
    }
    scratch
        .wanted
        .push((slf, data.desc.receiver == Receiver::MUT));
    Ok(instance::header(slf).value)
}

/// Any argument: scalars, objects (with implicit conversions), lists.
unsafe fn convert_arg<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    if ty.optional && obj == ffi::Py_None() {
        return Ok(ArgValue::None);
    }
    match ty.kind {
        TypeKind::OBJECT => convert_object(data, i, obj, ty, scratch),
        TypeKind::LIST => {
            let item_ty = ty.item.expect("checked at load");
            // Strong references to the items, taken under the list's lock:
            // a list another thread mutates cannot change under the call.
            let items: Vec<Owned> = if ffi::PyList_Check(obj) != 0 {
                containers::list_items(obj).map_err(|()| Mismatch::Raised)?
            } else if ffi::PyTuple_Check(obj) != 0 {
                (0..ffi::PyTuple_GET_SIZE(obj))
                    .map(|k| Owned::from_borrowed(ffi::PyTuple_GET_ITEM(obj, k)))
                    .collect()
            } else {
                return Err(Mismatch::WrongType);
            };
            let mut values = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                let v = convert_item(data, i, item.as_ptr(), item_ty, scratch, || {
                    format!("item {k}")
                })?;
                values.push(v);
            }
            scratch.temps.extend(items);
            Ok(ArgValue::List(scratch.keep_list(values)))
        }
        TypeKind::DICT => {
            let (key_ty, value_ty) = ty.dict_types().expect("checked at load");
            if ffi::PyDict_Check(obj) == 0 {
                return Err(Mismatch::WrongType);
            }
            let pairs = containers::dict_items(obj);
            let mut values = Vec::with_capacity(2 * pairs.len());
            for (key, value) in &pairs {
                values.push(convert_item(
                    data,
                    i,
                    key.as_ptr(),
                    key_ty,
                    scratch,
                    || "key".to_owned(),
                )?);
                values.push(convert_item(
                    data,
                    i,
                    value.as_ptr(),
                    value_ty,
                    scratch,
                    || format!("value for key {}", errors::repr(key.as_ptr())),
                )?);
            }
            for (key, value) in pairs {
                scratch.temps.push(key);
                scratch.temps.push(value);
            }
            Ok(ArgValue::List(scratch.keep_list(values)))
        }
        _ => match convert::to_arg(obj, ty) {
            Ok(v) => Ok(v),
            Err(ArgFailure::WrongType) => Err(Mismatch::WrongType),
            Err(ArgFailure::Overflow) => {
                raise_overflow(data, i, ty);
                Err(Mismatch::Raised)
            }
            Err(ArgFailure::Raised) => Err(Mismatch::Raised),
        },
    }
}

/// One item of a list or dict argument; `what` names it in the TypeError
/// ("item 3", "value for key 'a'").
unsafe fn convert_item<'a>(
    data: &FunctionData,
    i: usize,
    item: *mut ffi::PyObject,
    item_ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
    what: impl FnOnce() -> String,
) -> Result<ArgValue<'a>, Mismatch> {
    match convert_arg(data, i, item, item_ty, scratch) {
        Err(Mismatch::WrongType) => {
            let param = &data.desc.params.as_slice()[i];
            errors::type_error(&format!(
                "{}() argument '{}' {} must be {}, not {}",
                data.name,
                param.name.as_str(),
                what(),
                expected_name(item_ty),
                errors::type_name(item)
            ));
            Err(Mismatch::Raised)
        }
        other => other,
    }
}

unsafe fn convert_object<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    let class = ty.class.expect("checked at load");
    let record = data.classes[i]
        .get(class, data.plugin, &data.name)
        .map_err(|()| Mismatch::Raised)?;
    let target = if instance::is_instance(obj, record) {
        obj
    } else {
        // An implicit conversion registered by any plugin may apply; it
        // makes a temporary, which only a by-value or `&T` parameter takes.
        if ty.passing == Passing::MUT {
            return Err(Mismatch::WrongType);
        }
        match classes::convert_implicitly(obj, class, record).map_err(|()| Mismatch::Raised)? {
            Some(temp) => {
                let p = temp.as_ptr();
                scratch.temps.push(temp);
                p
            }
            None => return Err(Mismatch::WrongType),
        }
    };
    if !instance::is_ready(target) {
        errors::raise(
            ffi::PyExc_RuntimeError,
            &format!(
                "{}() got an uninitialised {}",
                data.name,
                class.key.as_str()
            ),
        );
        return Err(Mismatch::Raised);
    }
    if ty.passing == Passing::HANDLE {
        // The object itself; the plugin takes its own strong reference.
        return Ok(ArgValue::Object(target as *mut c_void));
    }
    scratch.wanted.push((target, ty.passing == Passing::MUT));
    scratch.objects.push(target);
    Ok(ArgValue::Object(instance::header(target).value))
}

/// A new instance of `record`'s class with an uninitialised value.
pub unsafe fn new_instance(record: TypeRecord_Ref) -> Option<Owned> {
    let Some(f) = record.new_instance().into_option() else {
        errors::type_error(&format!("{} is not an oxbind class", record.key().as_str()));
        return None;
    };
    Owned::from_raw(f(record) as *mut ffi::PyObject)
}

/// The parameter a keyword names: interned pointers first, then by text.
unsafe fn keyword_index(data: &FunctionData, key: *mut ffi::PyObject) -> Option<usize> {
    if let Some(i) = data.keywords.iter().position(|k| k.as_ptr() == key) {
        return Some(i);
    }
    let mut len: ffi::Py_ssize_t = 0;
    let text = ffi::PyUnicode_AsUTF8AndSize(key, &mut len);
    if text.is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    let key = std::slice::from_raw_parts(text as *const u8, len as usize);
    data.desc
        .params
        .as_slice()
        .iter()
        .position(|p| p.name.as_str().as_bytes() == key)
}

/// `'name'` for a keyword in a message.
unsafe fn quoted(key: *mut ffi::PyObject) -> String {
    let mut len: ffi::Py_ssize_t = 0;
    let text = ffi::PyUnicode_AsUTF8AndSize(key, &mut len);
    if text.is_null() {
        ffi::PyErr_Clear();
        return "<unprintable>".to_owned();
    }
    let bytes = std::slice::from_raw_parts(text as *const c_char as *const u8, len as usize);
    format!("'{}'", String::from_utf8_lossy(bytes))
}
