//! The general path: keywords, defaults, every kind of parameter,
//! argument locks, and waits for borrows other threads hold.

use std::{ffi::c_void, ptr};

use oxbind_abi::{
    abi_stable::std_types::RSlice, ArgValue, CallOutcome, Passing, Receiver, RetValue, TypeKind,
};
use pyo3_ffi as ffi;
use smallvec::SmallVec;

use super::args::{convert_arg, convert_scalar};
use super::outcome::finish_scalar;
use super::signature::{quoted, raise_wrong_type};
use super::{mismatch, new_instance, CallPath, FunctionData, Mode};
use crate::{instance, py::errors, py::owned::Owned, sync::critical};

/// What a call holds until it returns: borrows first (released first),
/// then the objects it created or took references to. Inline storage, so
/// that a typical call allocates nothing.
#[derive(Default)]
pub(super) struct Scratch<'a> {
    pub(super) borrows: crate::instance::borrow::Borrows,
    pub(super) temps: SmallVec<[Owned; 1]>,
    pub(super) lists: Vec<Vec<ArgValue<'a>>>,
    /// Objects whose values are passed: where a `&T` result may point.
    pub(super) objects: SmallVec<[*mut ffi::PyObject; 3]>,
    /// The borrows the call needs (object, exclusive), taken all at once
    /// after conversion by `crate::instance::borrow::borrow_all`.
    pub(super) wanted: SmallVec<[(*mut ffi::PyObject, bool); 3]>,
    /// Where in a container argument conversion is, for messages.
    pub(super) path: SmallVec<[super::args::Step; 4]>,
    /// Buffer arguments: each claim, then the export it covers (dropped in
    /// that order, attached, after the call's locks). Each export is filled
    /// in place, with room for all reserved before the first
    /// (`args::convert_buffer`), so none moves while exported.
    pub(super) buffers: SmallVec<
        [(
            Option<crate::runtime::ranges::Claim>,
            crate::py::buffer::Export,
        ); 1],
    >,
}

impl<'a> Scratch<'a> {
    /// Ends the buffer arguments' claims and exports where they lie
    /// (`drop(scratch)` would move them first: an export is released at
    /// the address it was filled at).
    pub(super) fn release_buffers(&mut self) {
        self.buffers.clear();
    }

    /// Keeps a converted list (or flattened dict) for the whole call and
    /// returns it as the slice the plugin reads.
    pub(super) fn keep_list(&mut self, values: Vec<ArgValue<'a>>) -> RSlice<'a, ArgValue<'a>> {
        self.lists.push(values);
        let stored = self.lists.last().expect("just pushed");
        // SAFETY: the inner Vec's buffer never moves or changes while
        // `self` lives, which outlives the call.
        let slice: &'a [ArgValue<'a>] =
            unsafe { std::slice::from_raw_parts(stored.as_ptr(), stored.len()) };
        RSlice::from_slice(slice)
    }
}

/// One call on the general path: binds the arguments, takes the locks,
/// converts and borrows, calls the plugin, and converts its outcome.
///
/// # Safety
/// The thread is attached. `slf` is the receiver for methods: a live
/// instance of the method's class that the caller keeps alive for the call
/// (ignored for functions without one). `args` holds `nargs` positional
/// arguments followed by one value per name in `kwnames` (null, or a tuple
/// of str), all live for the call: the vectorcall convention. `slots` and
/// `values` have one entry per parameter, and every slot is null.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) unsafe fn call<'a>(
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
    // SAFETY: the thread is attached; `args`, `nargs`, `kwnames` and the
    // null slots are as this function's contract states, which is
    // `bind_arguments`'s.
    if !unsafe { bind_arguments(data, args, nargs as usize, kwnames, slots) } {
        // SAFETY: the thread is attached (this function's contract).
        return unsafe { mismatch(mode) };
    }
    if data.path == CallPath::Scalars {
        for (i, param) in params.iter().enumerate() {
            // SAFETY: the thread is attached; `slots[i]` is null or an
            // argument the caller keeps alive (bound by `bind_arguments`).
            match unsafe { convert_scalar(data, i, slots[i], &param.ty) } {
                Some(v) => values[i] = v,
                // SAFETY: the thread is attached (this function's contract).
                None => return unsafe { mismatch(mode) },
            }
        }
        // SAFETY: one value per parameter, each of its declared kind; the
        // objects they borrow from are held by our caller for the whole call;
        // a `Scalars` function has no receiver and no class result, so
        // `this` and `ret_slot` are null; the thread is attached, as
        // `finish_scalar` also needs.
        return unsafe {
            let outcome =
                (data.desc.call)(ptr::null_mut(), RSlice::from_slice(values), ptr::null_mut());
            finish_scalar(outcome)
        };
    }

    // Argument locks: taken before conversion, held through the call and
    // the result conversion (dropped after `result` below).
    let mut section_slot = critical::SectionSlot::uninit();
    // SAFETY: the thread is attached; `slf` and the bound slots are live
    // objects the caller keeps alive for the whole call (this function's
    // contract), so they stay alive for the section, which drops before
    // this function returns.
    let section = unsafe {
        match lock_targets(data, slf, slots) {
            (Some(a), b) => Some(critical::lock(&mut section_slot, a, b)),
            _ => None,
        }
    };
    // A section the plugin asked for (`lock_self`, `#[oxbind(lock)]`) must
    // not be suspended by `oxbind::detach` inside the call; the sections
    // taken only to order `&mut` borrows may be.
    let _held = (section.is_some() && (data.desc.lock_self || params.iter().any(|p| p.lock)))
        .then(crate::sync::detach::hold_section);
    let mut scratch = Scratch::default();
    // SAFETY: the thread is attached; `slf` is the method's receiver, a live
    // instance of its class the caller keeps alive (this function's contract).
    let this = match unsafe { receiver(data, slf, &mut scratch) } {
        Ok(t) => t,
        Err(()) => return ptr::null_mut(),
    };
    for (i, param) in params.iter().enumerate() {
        let obj = slots[i];
        let value = if obj.is_null() {
            data.defaults[i].expect("bind_arguments checked required parameters")
        } else {
            // SAFETY: the thread is attached; `obj` is an argument the
            // caller keeps alive for the call (bound by `bind_arguments`).
            match unsafe { convert_arg(data, i, obj, &param.ty, &mut scratch) } {
                Ok(v) => v,
                // An overload whose argument cannot be converted, for
                // whatever reason (a class not loaded, say), is no match:
                // the next one is tried.
                // SAFETY: the thread is attached (this function's contract).
                Err(_) if mode == Mode::Overload => return unsafe { mismatch(mode) },
                // A binary operator's operand that is refused with a
                // TypeError (a buffer of another element type, say) is one
                // it does not take: Python tries the other operand.
                Err(Mismatch::Raised) if mode == Mode::NotImplemented && i == 0 => {
                    // SAFETY: the thread is attached (this function's
                    // contract).
                    return unsafe { mismatch(mode) };
                }
                Err(Mismatch::Raised) => return ptr::null_mut(),
                Err(Mismatch::WrongType) if mode == Mode::NotImplemented && i == 0 => {
                    // SAFETY: the thread is attached; `NotImplemented` is a
                    // live singleton, and the new reference is returned.
                    return unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) };
                }
                Err(Mismatch::WrongType) => {
                    // SAFETY: the thread is attached; `obj` is a live
                    // argument.
                    unsafe { raise_wrong_type(data, i, obj) };
                    return ptr::null_mut();
                }
            }
        };
        values[i] = value;
    }
    if !scratch.wanted.is_empty()
        // SAFETY: the thread is attached; `wanted` holds only the receiver
        // and arguments that `receiver` and `convert_arg` found to be ready
        // oxbind instances, all kept alive by the caller or by
        // `scratch.temps` for the whole call.
        && unsafe { crate::instance::borrow::borrow_all(&scratch.wanted, &mut scratch.borrows) }
            .is_err()
    {
        return ptr::null_mut();
    }
    // A class returned by value is written straight into a new instance.
    let ret = &data.desc.ret;
    let mut ret_obj: Option<Owned> = None;
    let mut ret_slot = ptr::null_mut();
    if ret.kind == TypeKind::OBJECT && ret.passing == Passing::VALUE {
        // SAFETY: the thread is attached (this function's contract).
        let Ok(record) = (unsafe { data.result_record() }) else {
            return ptr::null_mut();
        };
        // SAFETY: the thread is attached; `record` was just resolved, so it
        // is a registered class record.
        let Some(obj) = (unsafe { new_instance(record) }) else {
            return ptr::null_mut();
        };
        // SAFETY: `obj` is an instance of an oxbind class, just allocated.
        ret_slot = unsafe { instance::header(obj.as_ptr()) }.value;
        ret_obj = Some(obj);
    }
    // SAFETY: one value per parameter, each of its declared kind, every
    // object it points into borrowed by `borrow_all` above (and the locks
    // taken); `this` is the borrowed receiver's value (null for a function);
    // `ret_slot` is the uninitialised value of a fresh instance for a class
    // result by value, null otherwise; the thread is attached.
    let outcome = unsafe { (data.desc.call)(this, RSlice::from_slice(values), ret_slot) };
    let mut deferred = None;
    let result = match outcome {
        CallOutcome::Ok(RetValue::Written) => match ret_obj.take() {
            Some(obj) => {
                // SAFETY: allocated by this call, not yet handed out.
                unsafe { instance::mark_ready(obj.as_ptr()) };
                obj.into_raw()
            }
            None => {
                // SAFETY: the thread is attached; `PyExc_RuntimeError` is
                // an exception class.
                unsafe {
                    errors::raise(
                        ffi::PyExc_RuntimeError,
                        &format!("{}() wrote a result it does not return", data.name),
                    )
                };
                ptr::null_mut()
            }
        },
        CallOutcome::Ok(RetValue::Ref(p)) if is_object_ref(ret) => {
            // SAFETY: the thread is attached (this function's contract); an
            // `ANY` or `CALLABLE` result is a new reference we take over.
            unsafe { take_object(data, p) }
        }
        CallOutcome::Ok(RetValue::Ref(p)) if ret.kind == TypeKind::OBJECT => {
            // SAFETY: the thread is attached (this function's contract).
            match unsafe { data.result_record() } {
                Ok(record) => {
                    let mut candidates: SmallVec<[*mut ffi::PyObject; 5]> = SmallVec::new();
                    if !slf.is_null() && data.desc.receiver != Receiver::NONE {
                        candidates.push(slf);
                    }
                    candidates.extend_from_slice(&scratch.objects);
                    // SAFETY: the thread is attached; the candidates are the
                    // receiver and the objects whose values were passed, live
                    // oxbind instances this call still holds borrowed
                    // (`scratch.borrows` is released only below).
                    unsafe {
                        crate::runtime::instance_map::object_for_ref(
                            p,
                            record,
                            &candidates,
                            &data.name,
                        )
                    }
                }
                Err(()) => ptr::null_mut(),
            }
        }
        // A container, path or complex number holds only owned values:
        // built below, once the borrows and locks are released
        // (`compound`'s module doc).
        CallOutcome::Ok(value) if super::compound::built_after_call(ret) => {
            deferred = Some(value);
            ptr::null_mut()
        }
        // SAFETY: the thread is attached (this function's contract).
        other => unsafe { finish_scalar(other) },
    };
    // Release borrows and locks before the temporaries: dropping a
    // temporary may run arbitrary Python code, which may use the same objects.
    // Buffer claims go before the sections, so that a call queued on a
    // `#[oxbind(lock)]` buffer's section finds its memory free.
    drop(std::mem::take(&mut scratch.borrows));
    for (claim, _) in &mut scratch.buffers {
        drop(claim.take());
    }
    drop(section);
    drop(ret_obj); // an unused result instance (None returned, or an error) is not ready: no drop
    scratch.release_buffers();
    drop(scratch);
    if let Some(value) = deferred {
        // SAFETY: attached, with no lock, borrow or section of the call held
        // any more (released just above); the value is the plugin's result,
        // of the function's result type, given up.
        return unsafe { super::compound::to_py(data, ret, value) };
    }
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
///
/// # Safety
/// The thread is attached; every non-null slot is a live object, and so is
/// `slf` if the function has a receiver and takes locks.
pub(super) unsafe fn lock_targets(
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
        // SAFETY: the function has a receiver and takes locks, so `slf` is
        // a live object (this function's contract).
        push(unsafe { crate::instance::borrow::lock_root(slf) });
    }
    for (param, &obj) in data.desc.params.as_slice().iter().zip(slots) {
        let is_mut_object = param.ty.kind == TypeKind::OBJECT && param.ty.passing == Passing::MUT;
        if (param.lock || is_mut_object) && !obj.is_null() {
            // SAFETY: a non-null slot is a live object (this function's
            // contract).
            push(unsafe { crate::instance::borrow::lock_root(obj) });
        }
    }
    (found[0], found[1])
}

/// Whether values of type `ty` cross as object references (`ANY`,
/// `CALLABLE`, and `WIDE_INT` beyond `i64`): a result's `RetValue::Ref` is
/// then a new reference to a `PyObject`, not the address of a class value.
pub(crate) fn is_object_ref(ty: &oxbind_abi::TypeDesc) -> bool {
    matches!(
        ty.kind,
        TypeKind::ANY | TypeKind::CALLABLE | TypeKind::WIDE_INT
    )
}

/// Takes over the new reference an `ANY` or `CALLABLE` result carries;
/// raises RuntimeError for a null one.
///
/// # Safety
/// The thread is attached; `p` is null or a `PyObject*` the plugin gave up
/// a strong reference to.
pub(super) unsafe fn take_object(data: &FunctionData, p: *const c_void) -> *mut ffi::PyObject {
    // The reference may have been taken by a thread not attached (pooled):
    // it must count before Python can release it.
    // SAFETY: attached (this function's contract).
    unsafe { crate::sync::refpool::apply_increments() };
    if p.is_null() {
        // SAFETY: the thread is attached; `PyExc_RuntimeError` is an
        // exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!("{}() returned a null object", data.name),
            )
        };
    }
    p as *mut ffi::PyObject
}

/// A new instance of `record`'s class owning the class value moved out as
/// `bytes` (`RetValue::Moved`).
///
/// # Safety
/// The thread is attached; `record` is a registered class record and the
/// bytes are a value of its class that the plugin gave up (never to drop
/// it).
pub(super) unsafe fn moved_instance(
    data: &FunctionData,
    record: oxbind_internals::TypeRecord_Ref,
    bytes: &[u8],
) -> *mut ffi::PyObject {
    if bytes.len() != record.size() {
        // SAFETY: the thread is attached; `PyExc_RuntimeError` is an
        // exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!("{}() returned a class value of the wrong size", data.name),
            )
        };
        return ptr::null_mut();
    }
    // SAFETY: the thread is attached; `record` is a registered class record
    // (this function's contract).
    let Some(obj) = (unsafe { new_instance(record) }) else {
        return ptr::null_mut();
    };
    // SAFETY: the bytes are a value of the class moved out by the plugin
    // (never dropped there; this function's contract) and exactly the
    // class's size (checked above); `obj` is a new instance of that class,
    // whose uninitialised value has room for it; the instance now owns it.
    unsafe {
        ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            instance::header(obj.as_ptr()).value as *mut u8,
            bytes.len(),
        )
    };
    // SAFETY: allocated by this call, not yet handed out.
    unsafe { instance::mark_ready(obj.as_ptr()) };
    obj.into_raw()
}

/// Matches positional and keyword arguments to parameters; raises and
/// returns false on a missing, unknown or repeated argument.
///
/// # Safety
/// The thread is attached. `args` holds `nargs` positional arguments
/// followed by one value per name in `kwnames` (null, or a tuple of str),
/// all live for the call: the vectorcall convention. `slots` has one entry
/// per parameter, each null.
#[inline]
pub(super) unsafe fn bind_arguments(
    data: &FunctionData,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
    slots: &mut [*mut ffi::PyObject],
) -> bool {
    let params = data.desc.params.as_slice();
    if nargs > params.len() {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "{}() takes {} positional argument{} but {} {} given",
                data.name,
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                nargs,
                if nargs == 1 { "was" } else { "were" }
            ))
        };
        return false;
    }
    if nargs > 0 {
        // SAFETY: `args` holds at least `nargs` (non-zero, so `args` is not
        // null) initialised pointers, live for the call (this function's
        // contract).
        slots[..nargs].copy_from_slice(unsafe { std::slice::from_raw_parts(args, nargs) });
    }
    if !kwnames.is_null() {
        // SAFETY: a non-null `kwnames` is a tuple (this function's contract).
        let nkw = unsafe { ffi::PyTuple_GET_SIZE(kwnames) } as usize;
        for j in 0..nkw {
            // SAFETY: `kwnames` is a tuple and `j` is below its size; the
            // thread is attached, and the key stays alive with the tuple.
            let key = unsafe { ffi::PyTuple_GET_ITEM(kwnames, j as ffi::Py_ssize_t) };
            // SAFETY: the thread is attached; `key` is a live object, owned
            // by `kwnames`.
            let Some(index) = (unsafe { keyword_index(data, key) }) else {
                // SAFETY: the thread is attached; `key` is a live object.
                unsafe {
                    errors::type_error(&format!(
                        "{}() got an unexpected keyword argument {}",
                        data.name,
                        quoted(key)
                    ))
                };
                return false;
            };
            if !slots[index].is_null() {
                // SAFETY: the thread is attached (this function's contract).
                unsafe {
                    errors::type_error(&format!(
                        "{}() got multiple values for argument '{}'",
                        data.name,
                        params[index].name.as_str()
                    ))
                };
                return false;
            }
            // SAFETY: the keyword values follow the `nargs` positional ones,
            // one per name in `kwnames` (the vectorcall convention), and
            // `j` is below the number of names.
            slots[index] = unsafe { *args.add(nargs + j) };
        }
    }
    for (i, param) in params.iter().enumerate() {
        if slots[i].is_null() && data.defaults[i].is_none() {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::type_error(&format!(
                    "{}() missing required argument '{}' (pos {})",
                    data.name,
                    param.name.as_str(),
                    i + 1
                ))
            };
            return false;
        }
    }
    true
}

pub(super) enum Mismatch {
    /// The object is not of the expected type; nothing is raised yet.
    WrongType,
    /// A Python error is set.
    Raised,
}

/// `self`'s value for a method, borrowed as the receiver requires.
///
/// # Safety
/// The thread is attached; for a method, `slf` is null or a live instance
/// of the method's class that the caller keeps alive for the call.
pub(super) unsafe fn receiver(
    data: &FunctionData,
    slf: *mut ffi::PyObject,
    scratch: &mut Scratch,
) -> Result<*mut c_void, ()> {
    if data.desc.receiver == Receiver::NONE {
        return Ok(data.this.0); // null, or a closure's data
    }
    // SAFETY: a non-null `slf` is an instance of the method's class (this
    // function's contract).
    if slf.is_null() || !unsafe { instance::is_ready(slf) } {
        // SAFETY: the thread is attached; `PyExc_RuntimeError` is an
        // exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!("{}() called on an uninitialised instance", data.name),
            )
        };
        return Err(());
    }
    scratch
        .wanted
        .push((slf, data.desc.receiver == Receiver::MUT));
    // SAFETY: `slf` is a non-null instance of the method's class.
    Ok(unsafe { instance::header(slf) }.value)
}

/// The parameter a keyword names: interned pointers first, then by text.
///
/// # Safety
/// The thread is attached; `key` is a live object.
pub(super) unsafe fn keyword_index(data: &FunctionData, key: *mut ffi::PyObject) -> Option<usize> {
    if let Some(i) = data.keywords.iter().position(|k| k.as_ptr() == key) {
        return Some(i);
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: the thread is attached and `key` is a live object (this
    // function's contract); a non-str sets an error and returns null.
    let text = unsafe { ffi::PyUnicode_AsUTF8AndSize(key, &mut len) };
    if text.is_null() {
        // SAFETY: the thread is attached.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: `text` is the str's UTF-8 buffer of `len` bytes, cached in
    // `key`, which outlives this function.
    let key = unsafe { std::slice::from_raw_parts(text as *const u8, len as usize) };
    data.desc
        .params
        .as_slice()
        .iter()
        .position(|p| p.name.as_str().as_bytes() == key)
}
