//! One call from Python into a plugin: exported functions and methods as
//! `PyCFunction`s, and everything between CPython's vectorcall and the
//! plugin's trampoline.
//!
//! Every plugin function becomes a built-in function object, and every
//! method a method descriptor (`METH_FASTCALL | METH_KEYWORDS`). CPython
//! calls them through vectorcall with no argument tuple or dict, its
//! specializing interpreter recognises them, and `help()` and
//! `inspect.signature` read their `__text_signature__`.
//!
//! - here: [`FunctionData`], what a call needs, and [`CallPath`], how its
//!   calls run, chosen once when the data is built;
//! - [`entry`]: function objects and their generated entry points;
//! - [`dispatch`]: one call, by its path (and overloads);
//! - [`fast`]: the positional fast paths;
//! - [`general`]: keywords, defaults, locks and waits;
//! - [`args`]: Python objects to argument values;
//! - [`outcome`]: the plugin's outcome to a result object;
//! - [`signature`]: docstrings, defaults and argument messages;
//! - [`objects`]: the same conversions outside a call (`oxbind::Object`);
//! - [`closure`]: function objects made at run time from plugin closures.
//!
//! Shared state: a function's data is built once, leaked, and read-only
//! afterwards, but for its resolved class records ([`RecordCell`]), each set
//! once. The slot table's rules are in [`entry`].

use std::{ffi::CString, ptr, sync::OnceLock};

use oxbind_abi::{ArgValue, ClassRef, FunctionDesc, Passing, Receiver, TypeDesc, TypeKind};
use oxbind_internals::TypeRecord_Ref;
use pyo3_ffi as ffi;

use self::args::check_int_layout;
use self::signature::docstring;
use crate::{py::errors, py::owned::Owned};

pub(crate) mod args;
pub(crate) mod closure;
pub(crate) mod compound;
pub(crate) mod dispatch;
pub(crate) mod entry;
mod fast;
mod general;
pub(crate) mod implicit;
pub(crate) mod objects;
pub(crate) mod outcome;
pub(crate) mod signature;
pub(crate) mod types;

/// How many parameters are converted without a heap allocation.
pub(super) const INLINE_PARAMS: usize = 8;

const _: () = assert!(
    crate::instance::borrow::BorrowSet::CAPACITY > INLINE_PARAMS,
    "a receiver plus INLINE_PARAMS objects"
);

/// A class record resolved once and kept (records are never freed), with
/// the class it was resolved for.
#[derive(Default)]
pub(crate) struct RecordCell(OnceLock<(usize, SendRecord)>);

#[derive(Clone, Copy)]
pub(super) struct SendRecord(TypeRecord_Ref);

// SAFETY: records are immutable and never freed.
unsafe impl Send for SendRecord {}

// SAFETY: records are immutable and never freed, so shared references from
// several threads only ever read data that does not change.
unsafe impl Sync for SendRecord {}

impl RecordCell {
    /// The record of `class` as seen by `plugin`, resolving and checking it
    /// on first use. Err with TypeError set if the owner is not loaded or
    /// the layouts differ.
    ///
    /// The cell keeps the first class it is asked for. A slot whose type
    /// names several classes (a tuple of two classes, say) resolves the
    /// others on every use: correct, only slower.
    ///
    /// # Safety
    /// The thread is attached.
    pub unsafe fn get(
        &self,
        class: &'static ClassRef,
        plugin: &str,
        context: &str,
    ) -> Result<TypeRecord_Ref, ()> {
        let key = class as *const ClassRef as usize;
        if let Some((k, r)) = self.0.get() {
            if *k == key {
                return Ok(r.0);
            }
        }
        // SAFETY: the thread is attached (this function's contract).
        let record = unsafe { crate::runtime::registry::resolve(class, plugin, context) }?;
        let (k, r) = self.0.get_or_init(|| (key, SendRecord(record)));
        Ok(if *k == key { r.0 } else { record })
    }
}

/// Everything one exported function needs at call time. Leaked: it lives as
/// long as the process, like the plugin it points into.
pub(crate) struct FunctionData {
    pub(crate) desc: &'static FunctionDesc,
    /// Each parameter's default, checked and normalised at load (an `int`
    /// default of a `float` parameter becomes a float).
    pub(super) defaults: Vec<Option<ArgValue<'static>>>,
    /// The name used in messages: `add`, `Point.norm`.
    pub(crate) name: String,
    /// The plugin (module name) that exports it.
    pub(crate) plugin: &'static str,
    /// Interned parameter names, for the keyword fast path (pointer compare).
    pub(super) keywords: Vec<Owned>,
    /// Per parameter, then the result: the class record, once resolved.
    pub(super) classes: Vec<RecordCell>,
    /// How its calls run (chosen once, here).
    pub(super) path: CallPath,
    /// For a name several functions share: the candidates, tried in order.
    pub(super) overloads: Vec<&'static FunctionData>,
    /// Whether a call on the general path takes critical sections (see
    /// `general::lock_targets`).
    pub(super) locks: bool,
    /// For a plugin that declares `free_threading_safe: false`: the lock its
    /// calls run under, one at a time ([`CallPath::Serialized`]).
    pub(super) serial: Option<&'static crate::sync::serial::SerialLock>,
    pub(super) ml_name: CString,
    pub(super) ml_doc: CString,
    /// What a function without a receiver gets as `this`: null, but for a
    /// closure (`closure.rs`), whose data the plugin owns.
    pub(super) this: This,
}

/// A closure's data pointer, passed to its plugin function as `this`.
#[derive(Clone, Copy)]
pub(crate) struct This(pub(super) *mut std::ffi::c_void);

// SAFETY: the pointer is only passed back to the plugin function it belongs
// to, which requires its data to be `Send + Sync` (`oxbind::Object::function`
// takes `Fn + Send + Sync` closures).
unsafe impl Send for This {}
// SAFETY: as for `Send`.
unsafe impl Sync for This {}

impl FunctionData {
    /// The record of `class`, the class of parameter `i` or, for `i` equal
    /// to the parameter count, of the result (or the result's items):
    /// resolved and checked on first use, then kept. Err with TypeError set
    /// if the owner is not loaded or the layouts differ.
    ///
    /// # Safety
    /// The thread is attached.
    #[inline(always)]
    pub(super) unsafe fn record(
        &self,
        i: usize,
        class: &'static ClassRef,
    ) -> Result<TypeRecord_Ref, ()> {
        // SAFETY: the thread is attached (this function's contract).
        unsafe { self.classes[i].get(class, self.plugin, &self.name) }
    }

    /// The record of the class the function returns (by value or as a
    /// `&T`), as [`FunctionData::record`].
    ///
    /// # Safety
    /// The thread is attached.
    #[inline(always)]
    pub(super) unsafe fn result_record(&self) -> Result<TypeRecord_Ref, ()> {
        let class = self.desc.ret.class.expect("checked at load");
        // SAFETY: the thread is attached (this function's contract).
        unsafe { self.record(self.desc.params.len(), class) }
    }
}

/// How calls to one function run, chosen once when its data is built
/// ([`new_data`]), as nanobind chooses `call_complexity` in `nb_func_new`.
/// A positional call (no keywords, every parameter given, at most
/// `INLINE_PARAMS` of them) runs its path's fast path in `fast.rs`; any
/// other call, and a fast path that meets something unusual (a tuple where
/// a class is expected, a borrow another thread holds), runs the general
/// path in `general.rs`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CallPath {
    /// Several functions share the name: each is tried in order
    /// (`dispatch::dispatch_overloads`).
    Overloaded,
    /// A function of a plugin that is not thread-safe: the general path,
    /// under the plugin's lock (`FunctionData::serial`).
    Serialized,
    /// No receiver; every parameter and the result are scalars, with no
    /// locks (`add(1, 2)`).
    Scalars,
    /// A method whose other parameters and result are scalars, with no
    /// argument locks: one borrow of `self` and, for `lock_self`, the
    /// critical section on `self` (`c.inc()`, `c.inc_safe()`).
    ScalarMethod,
    /// No receiver, scalar parameters without locks, and a result that owns
    /// what it holds (a container, an object, an int beyond `i64`): nothing
    /// is borrowed or locked, so the result is built right after the call
    /// (`compound::to_py`): `pair()`, `dict10()`.
    ScalarsToOwned,
    /// A method without `lock_self` whose other parameters are scalars,
    /// with no argument locks, and whose result owns what it holds (as for
    /// `ScalarsToOwned`): one borrow of `self` for the call, released
    /// before the result is built (`p.coords()`, `hub.names()`).
    MethodToOwned,
    /// No receiver, scalar parameters without locks, and a class result by
    /// value: constructors like `Counter()`, which borrow nothing.
    ScalarsToValue,
    /// [`CallPath::Shared`] with exactly one object to borrow (the receiver
    /// or one `&T` parameter): `return_self(c)`, `p.norm()`.
    SharedOne,
    /// No locks and no exclusive borrows: the receiver (if any) is `&self`,
    /// at most `INLINE_PARAMS` parameters, each a scalar or a `&T`, and the
    /// result a scalar or a `&T` (`distance(p, q)`). Such a call takes only
    /// shared borrows, so it never needs the general path's all-or-nothing
    /// retry.
    Shared,
    /// Everything else: lists, dicts, handles, `&mut` arguments, locks.
    General,
    /// A class method (`MethodKind::CLASSMETHOD`): the class it was called
    /// on (the `self` of a `METH_CLASS` function) becomes the first
    /// argument, then the general path runs (under the plugin's lock for a
    /// plugin that is not thread-safe).
    ClassMethod,
}

impl CallPath {
    /// The path of calls to `desc`. The precedence is stated here once,
    /// first match wins: a function of scalars is also `Shared`, for one. A
    /// container or object result takes `ScalarsToOwned` when the
    /// parameters are scalars, else the general path.
    pub(crate) fn of(desc: &FunctionDesc) -> CallPath {
        let params = desc.params.as_slice();
        let has_self = desc.receiver != Receiver::NONE;
        let scalar_params = params.iter().all(|p| is_scalar(&p.ty) && !p.lock);
        let shared_ref = |ty: &TypeDesc| {
            ty.kind == TypeKind::OBJECT && ty.passing == Passing::REF && !ty.optional
        };
        let objects = params.iter().filter(|p| !is_scalar(&p.ty)).count();
        let shared = desc.receiver != Receiver::MUT
            && !desc.lock_self
            && params.len() <= INLINE_PARAMS
            && params
                .iter()
                .all(|p| !p.lock && (is_scalar(&p.ty) || shared_ref(&p.ty)))
            && (is_plain_result(&desc.ret) || shared_ref(&desc.ret));
        let value_result = desc.ret.kind == TypeKind::OBJECT
            && desc.ret.passing == Passing::VALUE
            && !desc.ret.optional;
        if !has_self && scalar_params && is_plain_result(&desc.ret) {
            CallPath::Scalars
        } else if has_self && scalar_params && is_plain_result(&desc.ret) {
            CallPath::ScalarMethod
        } else if !has_self && scalar_params && owned_result(&desc.ret) {
            CallPath::ScalarsToOwned
        } else if has_self && scalar_params && !desc.lock_self && owned_result(&desc.ret) {
            CallPath::MethodToOwned
        } else if !has_self && scalar_params && value_result {
            CallPath::ScalarsToValue
        } else if shared && objects + usize::from(has_self) == 1 {
            CallPath::SharedOne
        } else if shared {
            CallPath::Shared
        } else {
            CallPath::General
        }
    }
}

/// Whether a call to `desc` on the general path takes critical sections:
/// `lock_self`, a `#[oxbind(lock)]` parameter, a `&mut T` parameter, or a
/// `&mut self` method with object parameters (see `general::lock_targets`).
fn takes_locks(desc: &FunctionDesc) -> bool {
    let params = desc.params.as_slice();
    let mut_args = params
        .iter()
        .any(|p| p.ty.kind == TypeKind::OBJECT && p.ty.passing == Passing::MUT);
    let objects = params.iter().filter(|p| !is_scalar(&p.ty)).count();
    desc.lock_self
        || params.iter().any(|p| p.lock)
        || mut_args
        || (desc.receiver == Receiver::MUT && objects > 0)
}

/// How a call reports argument mismatches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
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
pub(super) const NO_MATCH: *mut ffi::PyObject = ptr::without_provenance_mut(1);

/// The result for arguments that do not fit: the error set, or NO_MATCH.
///
/// # Safety
/// The thread is attached.
pub(super) unsafe fn mismatch(mode: Mode) -> *mut ffi::PyObject {
    match mode {
        Mode::Overload => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe { stash_overload_error() };
            NO_MATCH
        }
        // A binary operator's other operand is of a type it does not take
        // (a TypeError; an OverflowError stays): Python then tries the
        // other operand, and `==` falls back to identity. The general path
        // does the same for class operands.
        Mode::NotImplemented
            // SAFETY: the thread is attached (this function's contract) and
            // an error is set.
            if unsafe { ffi::PyErr_ExceptionMatches(ffi::PyExc_TypeError) } != 0 =>
        {
            // SAFETY: as above; `NotImplemented` is a static singleton.
            unsafe {
                ffi::PyErr_Clear();
                ffi::Py_NewRef(ffi::Py_NotImplemented())
            }
        }
        _ => ptr::null_mut(),
    }
}

thread_local! {
    /// During an overload dispatch on this thread: the first error other
    /// than a `TypeError` that a candidate's arguments raised (an
    /// `__index__` that raised, a value out of range), as a strong
    /// reference from `take_exception`, or null. If no candidate fits,
    /// that error is raised rather than "no overload matches": a slice
    /// whose bound raised, or `v[2**70]`, is the argument's fault, not the
    /// overload set's. `dispatch::dispatch_overloads` saves and restores it
    /// around each dispatch (so a nested dispatch keeps its own).
    pub(super) static OVERLOAD_ERROR: std::cell::Cell<*mut ffi::PyObject> =
        const { std::cell::Cell::new(ptr::null_mut()) };
}

/// Clears the error of a candidate whose arguments do not fit, keeping it
/// in [`OVERLOAD_ERROR`] if it is the first that is not a `TypeError`.
///
/// # Safety
/// The thread is attached and holds no lock of ours (releasing an
/// exception may run Python code).
unsafe fn stash_overload_error() {
    // SAFETY: the thread is attached (this function's contract).
    let keep = unsafe {
        !ffi::PyErr_Occurred().is_null()
            && ffi::PyErr_ExceptionMatches(ffi::PyExc_TypeError) == 0
            && OVERLOAD_ERROR.with(|c| c.get().is_null())
    };
    if keep {
        // SAFETY: attached, with an error set: taken as a new reference.
        let exc = unsafe { errors::take_exception() };
        OVERLOAD_ERROR.with(|c| c.set(exc));
    } else {
        // SAFETY: the thread is attached.
        unsafe { ffi::PyErr_Clear() };
    }
}

/// One function standing for several that share a Python name: each is
/// tried in order, and the first whose arguments fit is called.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn new_overloaded(
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
        path: CallPath::Overloaded,
        overloads: candidates,
        locks: false,
        serial: None,
        ml_name: errors::c_string(name),
        ml_doc: errors::c_string(&doc),
        this: This(ptr::null_mut()),
    })))
}

impl FunctionData {
    /// Whether `pred` holds for this function's descriptor, or, for an
    /// overload set, for any candidate's.
    pub(crate) fn any_candidate(&self, pred: impl Fn(&FunctionDesc) -> bool) -> bool {
        if self.overloads.is_empty() {
            pred(self.desc)
        } else {
            self.overloads.iter().any(|c| pred(c.desc))
        }
    }
}

/// Whether a parameter of type `ty` converts on its own, borrowing nothing
/// (scalars, and `ANY`/`CALLABLE` objects, passed as the argument itself).
pub(super) fn is_scalar(ty: &TypeDesc) -> bool {
    ty.kind != TypeKind::OBJECT && !compound::built_after_call(ty)
}

/// Whether a result of type `ty` is a plain value the fast paths convert
/// (`finish_scalar`): a scalar, but not one that may cross as an object
/// reference (`ANY`, `CALLABLE`, `WIDE_INT`), which the general path takes
/// over.
pub(super) fn is_plain_result(ty: &TypeDesc) -> bool {
    is_scalar(ty) && !general::is_object_ref(ty)
}

/// Whether a result of type `ty` owns everything it holds and is built by
/// `compound::to_py`: a container (whose class items are values), a path
/// or complex number, or an object reference (`ANY`, `CALLABLE`,
/// `WIDE_INT`).
pub(super) fn owned_result(ty: &TypeDesc) -> bool {
    compound::built_after_call(ty) || general::is_object_ref(ty)
}

/// Builds the data of one function. `qualname` is the name in messages;
/// `serial` is the lock of a plugin that is not thread-safe.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn new_data(
    desc: &'static FunctionDesc,
    defaults: Vec<Option<ArgValue<'static>>>,
    qualname: String,
    plugin: &'static str,
    doc_name: &str,
    serial: Option<&'static crate::sync::serial::SerialLock>,
) -> Result<&'static FunctionData, ()> {
    // SAFETY: this function's contract is `build_data`'s.
    let data = unsafe { build_data(desc, defaults, qualname, plugin, doc_name, serial) }?;
    Ok(Box::leak(Box::new(data)))
}

/// [`new_data`] for a class method: its calls pass the class as the first
/// argument ([`CallPath::ClassMethod`]), and its signature binds that
/// parameter (`$cls`), as `inspect.signature` expects of a class method.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn new_class_method(
    desc: &'static FunctionDesc,
    defaults: Vec<Option<ArgValue<'static>>>,
    qualname: String,
    plugin: &'static str,
    doc_name: &str,
    serial: Option<&'static crate::sync::serial::SerialLock>,
) -> Result<&'static FunctionData, ()> {
    // SAFETY: this function's contract is `build_data`'s.
    let mut data = unsafe { build_data(desc, defaults, qualname, plugin, doc_name, serial) }?;
    data.path = CallPath::ClassMethod;
    let doc =
        docstring(desc, doc_name).replacen(&format!("{doc_name}("), &format!("{doc_name}($"), 1);
    data.ml_doc = errors::c_string(&doc);
    Ok(Box::leak(Box::new(data)))
}

/// [`new_data`], owned: for a closure, whose data is freed with it.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn build_data(
    desc: &'static FunctionDesc,
    defaults: Vec<Option<ArgValue<'static>>>,
    qualname: String,
    plugin: &'static str,
    doc_name: &str,
    serial: Option<&'static crate::sync::serial::SerialLock>,
) -> Result<FunctionData, ()> {
    // SAFETY: the thread is attached (this function's contract).
    unsafe { check_int_layout() };
    let mut keywords = Vec::with_capacity(desc.params.len());
    for p in desc.params.as_slice() {
        // SAFETY: the thread is attached; `new_str` returns a new reference
        // (or null with an error set), which `Owned` takes over.
        let Some(s) = (unsafe { Owned::from_raw(errors::new_str(p.name.as_str())) }) else {
            return Err(());
        };
        let mut raw = s.into_raw();
        // SAFETY: the thread is attached and `raw` is a str we own a
        // reference to; interning replaces it with the interned str, whose
        // reference we then own instead, and `Owned` takes that over.
        keywords.push(
            unsafe {
                ffi::PyUnicode_InternInPlace(&mut raw);
                Owned::from_raw(raw)
            }
            .ok_or(())?,
        );
    }
    let path = if serial.is_some() {
        CallPath::Serialized
    } else {
        CallPath::of(desc)
    };
    let locks = takes_locks(desc);
    Ok(FunctionData {
        desc,
        defaults,
        name: qualname,
        plugin,
        keywords,
        classes: (0..=desc.params.len())
            .map(|_| RecordCell::default())
            .collect(),
        path,
        overloads: Vec::new(),
        locks,
        serial,
        ml_name: errors::c_string(desc.name.as_str()),
        ml_doc: errors::c_string(&docstring(desc, doc_name)),
        this: This(ptr::null_mut()),
    })
}

/// A new instance of `record`'s class with an uninitialised value.
///
/// # Safety
/// The thread is attached; `record` is a registered class record.
pub(crate) unsafe fn new_instance(record: TypeRecord_Ref) -> Option<Owned> {
    let Some(f) = record.new_instance().into_option() else {
        // SAFETY: the thread is attached (this function's contract).
        unsafe { errors::type_error(&format!("{} is not an oxbind class", record.key().as_str())) };
        return None;
    };
    // SAFETY: `f` is the record's own `new_instance`, called with that
    // record on an attached thread; it returns a new reference (or null with
    // an error set), which `Owned` takes over.
    unsafe { Owned::from_raw(f(record) as *mut ffi::PyObject) }
}

#[cfg(test)]
mod tests {
    use oxbind_abi::{
        abi_stable::std_types::{RNone, RSlice, RStr},
        ArgValue, CallOutcome, ClassRef, ParamDesc, Passing, Receiver, TypeDesc, TypeKind,
    };

    use super::{takes_locks, CallPath};

    static POINT: ClassRef = ClassRef {
        key: RStr::from_str("geometry.Point"),
        crate_name: RStr::from_str("geometry"),
        crate_version: RStr::from_str("0.1.0"),
        size: 16,
        align: 8,
        layout: oxbind_abi::abi_stable::std_types::ROption::RNone,
    };
    const INT: TypeDesc = TypeDesc::scalar(TypeKind::INT, "i64");
    const UNIT: TypeDesc = TypeDesc::scalar(TypeKind::UNIT, "()");
    const REF: TypeDesc = TypeDesc::object(&POINT, Passing::REF, "&Point");
    const MUT: TypeDesc = TypeDesc::object(&POINT, Passing::MUT, "&mut Point");
    const VALUE: TypeDesc = TypeDesc::object(&POINT, Passing::VALUE, "Point");
    static ITEM: TypeDesc = INT;
    const LIST: TypeDesc = TypeDesc::list(&ITEM, "Vec<i64>");

    /// Fills `FunctionDesc::call` for the path tests, which never call it.
    ///
    /// # Safety
    /// Never to be called: it panics (and the panic cannot unwind out of an
    /// `extern "C"` function).
    unsafe extern "C" fn never(
        _: *mut std::ffi::c_void,
        _: RSlice<'_, ArgValue<'_>>,
        _: *mut std::ffi::c_void,
    ) -> CallOutcome {
        unreachable!()
    }

    fn param(ty: TypeDesc, lock: bool) -> ParamDesc {
        ParamDesc {
            name: RStr::from_str("p"),
            ty,
            default: RNone,
            lock,
        }
    }

    fn path(
        receiver: Receiver,
        params: &[(TypeDesc, bool)],
        ret: TypeDesc,
        lock_self: bool,
    ) -> (CallPath, bool) {
        let params: &'static [ParamDesc] = Box::leak(
            params
                .iter()
                .map(|&(t, l)| param(t, l))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let desc = oxbind_abi::FunctionDesc {
            name: RStr::from_str("f"),
            doc: RStr::from_str(""),
            params: RSlice::from_slice(params),
            ret,
            receiver,
            lock_self,
            call: never,
        };
        (CallPath::of(&desc), takes_locks(&desc))
    }

    #[test]
    fn each_shape_of_function_gets_its_path_once() {
        use CallPath::*;
        let none = Receiver::NONE;
        // add(a, b), and the same shapes as methods (c.inc(), c.inc_safe()).
        assert_eq!(
            path(none, &[(INT, false), (INT, false)], INT, false),
            (Scalars, false)
        );
        assert_eq!(path(Receiver::MUT, &[], UNIT, false), (ScalarMethod, false));
        assert_eq!(path(Receiver::MUT, &[], UNIT, true), (ScalarMethod, true));
        assert_eq!(
            path(Receiver::REF, &[(INT, false)], INT, false),
            (ScalarMethod, false)
        );
        // Counter(): scalars to a new instance.
        assert_eq!(
            path(none, &[(INT, false)], VALUE, false),
            (ScalarsToValue, false)
        );
        // return_self(c), p.norm(), distance(p, q).
        assert_eq!(path(none, &[(REF, false)], REF, false), (SharedOne, false));
        assert_eq!(path(Receiver::REF, &[], REF, false), (SharedOne, false));
        assert_eq!(
            path(none, &[(REF, false), (REF, false)], INT, false),
            (Shared, false)
        );
        assert_eq!(
            path(Receiver::REF, &[(REF, false)], INT, false),
            (Shared, false)
        );
        // Everything else is general, and says whether it locks.
        assert_eq!(path(none, &[(REF, true)], INT, false), (General, true));
        assert_eq!(path(none, &[(MUT, false)], INT, false), (General, true));
        assert_eq!(
            path(Receiver::MUT, &[(REF, false)], INT, false),
            (General, true)
        );
        assert_eq!(path(none, &[(LIST, false)], INT, false), (General, false));
        // A container result of scalars: built after the call, no borrows.
        assert_eq!(
            path(none, &[(INT, false)], LIST, false),
            (ScalarsToOwned, false)
        );
        assert_eq!(
            path(Receiver::REF, &[], LIST, false),
            (MethodToOwned, false)
        );
        assert_eq!(path(none, &[(REF, false)], LIST, false), (General, false));
        let many = [(REF, false); super::INLINE_PARAMS + 1];
        assert_eq!(path(none, &many, INT, false), (General, false));
    }
}
