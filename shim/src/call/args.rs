//! Python objects to the plugin ABI's argument values.
//!
//! Arguments are converted by the shim, so a plugin never sees a Python
//! object: [`to_arg`] checks the object against the parameter's declared
//! kind and borrows its contents; objects of plugin classes are checked
//! against their class record, or converted implicitly.

use std::ffi::c_void;

use oxbind_abi::{
    abi_stable::std_types::{RSlice, RStr},
    ArgValue, Passing, TypeDesc, TypeKind,
};
use pyo3_ffi as ffi;

use super::compound::is_container;
use super::general::{Mismatch, Scratch};
use super::signature::{expected_name, raise_overflow, raise_overflow_at, raise_wrong_type};
use super::FunctionData;
use crate::{
    instance,
    py::buffer::{self, Refusal},
    py::errors,
    py::owned::Owned,
    runtime::ranges,
    sync::containers,
};

/// Raises the error for a scalar argument that failed to convert.
///
/// # Safety
/// The thread is attached, and `obj` is a valid object: the argument for
/// parameter `i` whose conversion to `ty` failed with `failure`.
#[cold]
pub(super) unsafe fn report_scalar_failure(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    failure: ArgFailure,
) {
    match failure {
        // SAFETY: the thread is attached and `obj` is a valid object (this
        // function's contract).
        ArgFailure::WrongType => unsafe { raise_wrong_type(data, i, obj) },
        // SAFETY: the thread is attached (this function's contract).
        ArgFailure::Overflow => unsafe { raise_overflow(data, i, ty) },
        ArgFailure::Raised => {}
    }
}

/// A scalar argument, or its default; raises and returns None on failure.
///
/// # Safety
/// The thread is attached; `obj` is null (the argument was omitted, and
/// parameter `i`'s default is used) or a valid object that the caller
/// keeps alive for `'a` (a `str` or `bytes` value borrows its contents).
#[inline]
pub(super) unsafe fn convert_scalar<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Option<ArgValue<'a>> {
    if obj.is_null() {
        return data.defaults[i];
    }
    // SAFETY: the thread is attached and `obj`, not null, is a valid object
    // the caller keeps alive for 'a (this function's contract).
    match unsafe { to_arg(obj, ty) } {
        Ok(v) => Some(v),
        Err(ArgFailure::WrongType) => {
            // SAFETY: the thread is attached and `obj` is a valid object, as
            // for `to_arg` above.
            unsafe { raise_wrong_type(data, i, obj) };
            None
        }
        Err(ArgFailure::Overflow) => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe { raise_overflow(data, i, ty) };
            None
        }
        Err(ArgFailure::Raised) => None,
    }
}

/// Any argument: scalars, objects (with implicit conversions), lists.
///
/// # Safety
/// The thread is attached and no oxbind lock is held (an implicit
/// conversion runs a call, and a message may take a `repr`: both may run
/// Python code); `obj` is a valid object that the caller keeps alive for
/// `'a`. An object value points into an instance that is not yet borrowed:
/// the caller takes the borrows `scratch.wanted` lists before the plugin
/// reads it.
pub(super) unsafe fn convert_arg<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    // SAFETY: `Py_None` only takes the address of CPython's `None`
    // singleton, a static of the interpreter.
    if ty.optional && obj == unsafe { ffi::Py_None() } {
        return Ok(ArgValue::None);
    }
    match ty.kind {
        // SAFETY: this function's contract is `convert_object`'s.
        TypeKind::OBJECT => unsafe { convert_object(data, i, obj, ty, scratch) },
        TypeKind::LIST => {
            let item_ty = ty.item.expect("checked at load");
            // A list or tuple, else (since ABI 0.1.8) any other sequence that
            // is not text or bytes (a `range`, an oxbind sequence class).
            // SAFETY: the thread is attached, no oxbind lock is held (a
            // sequence's `__len__` and `__getitem__` may run Python code)
            // and `obj` is a valid object (this function's contract).
            let items = match unsafe { sequence_items(obj) }? {
                Some(items) => items,
                // SAFETY: as just above.
                None => unsafe { other_sequence_items(obj) }?.ok_or(Mismatch::WrongType)?,
            };
            // SAFETY: as this function's contract; the items are strong
            // references `convert_items` keeps in `scratch.temps`.
            unsafe { convert_items(data, i, items, |_| item_ty, scratch) }
        }
        TypeKind::TUPLE => {
            let item_tys = ty.tuple_types().expect("checked at load");
            // A tuple or list, else any other sequence (not text or bytes).
            // SAFETY: the thread is attached, no oxbind lock is held (a
            // sequence's `__len__` and `__getitem__` may run Python code)
            // and `obj` is a valid object (this function's contract).
            let items = match unsafe { sequence_items(obj) }? {
                Some(items) => items,
                // SAFETY: as just above.
                None => unsafe { other_sequence_items(obj) }?.ok_or(Mismatch::WrongType)?,
            };
            if items.len() != item_tys.len() {
                // SAFETY: the thread is attached (this function's contract).
                unsafe { raise_wrong_length(data, i, obj, ty, items.len(), scratch) };
                return Err(Mismatch::Raised);
            }
            // SAFETY: as this function's contract; the items are strong
            // references `convert_items` keeps in `scratch.temps`.
            unsafe { convert_items(data, i, items, |k| &item_tys[k], scratch) }
        }
        TypeKind::PATH => {
            // SAFETY: the thread is attached, no oxbind lock is held (an
            // `__fspath__` may run Python code) and `obj` is a valid object
            // (this function's contract).
            let bytes = unsafe { crate::py::path::fs_bytes(obj) }
                .map_err(|()| Mismatch::Raised)?
                .ok_or(Mismatch::WrongType)?;
            // SAFETY: `bytes` is a bytes object (`fs_bytes` returns no
            // other), on an attached thread: its buffer of `PyBytes_Size`
            // bytes is immutable and lives as long as it, which is for 'a
            // (it is kept in `scratch.temps`; moving the `Owned` moves no
            // object).
            let path: &'a [u8] = unsafe {
                std::slice::from_raw_parts(
                    ffi::PyBytes_AsString(bytes.as_ptr()) as *const u8,
                    ffi::PyBytes_Size(bytes.as_ptr()) as usize,
                )
            };
            scratch.temps.push(bytes);
            Ok(ArgValue::Bytes(RSlice::from_slice(path)))
        }
        // SAFETY: the thread is attached, no oxbind lock is held (an
        // exporter may run Python code) and `obj` is a valid object the
        // caller keeps alive for 'a (this function's contract).
        TypeKind::BUFFER => unsafe { convert_buffer(data, i, obj, ty, scratch) },
        TypeKind::ENUM => {
            let class = ty.class.expect("checked at load");
            // SAFETY: the thread is attached (this function's contract).
            let enum_type =
                unsafe { crate::runtime::enums::resolve(class, data.plugin, &data.name) }
                    .map_err(|()| Mismatch::Raised)?;
            // SAFETY: the thread is attached, no oxbind lock is held
            // (reading `_value_` may run Python code), `obj` is valid (this
            // function's contract) and `enum_type` is a registered enum type.
            match unsafe { crate::runtime::enums::member_value(obj, enum_type) } {
                Ok(Some(v)) => Ok(ArgValue::Int(v)),
                Ok(None) => Err(Mismatch::WrongType),
                Err(()) => Err(Mismatch::Raised),
            }
        }
        TypeKind::SLICE => {
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PySlice_Check(obj) } == 0 {
                return Err(Mismatch::WrongType);
            }
            let (mut start, mut stop, mut step) = (0, 0, 0);
            // SAFETY: `obj` is a slice (checked just above) and the thread is
            // attached; an `__index__` of a bound may run Python code, and no
            // oxbind lock is held (this function's contract). A step of 0
            // raises ValueError.
            if unsafe { ffi::PySlice_Unpack(obj, &mut start, &mut stop, &mut step) } < 0 {
                // SAFETY: the thread is attached and an error is set.
                if unsafe { ffi::PyErr_ExceptionMatches(ffi::PyExc_ValueError) } == 0 {
                    return Err(Mismatch::Raised);
                }
                // The step is 0 (`PySlice_Unpack`'s only ValueError): it
                // crosses as such, and `oxbind::Slice` raises ValueError
                // naming the parameter. A slice is still a slice: an
                // overload taking one is chosen, not skipped.
                // SAFETY: the thread is attached.
                unsafe { ffi::PyErr_Clear() };
                (start, stop, step) = (0, 0, 0);
            }
            Ok(ArgValue::List(scratch.keep_list(vec![
                ArgValue::Int(start as i64),
                ArgValue::Int(stop as i64),
                ArgValue::Int(step as i64),
            ])))
        }
        TypeKind::COMPLEX => {
            // SAFETY: the thread is attached, no oxbind lock is held (a
            // `__complex__` may run Python code) and `obj` is a valid
            // object (this function's contract).
            let (re, im) = unsafe { crate::py::path::complex_parts(obj) }
                .map_err(|()| Mismatch::Raised)?
                .ok_or(Mismatch::WrongType)?;
            Ok(ArgValue::List(
                scratch.keep_list(vec![ArgValue::Float(re), ArgValue::Float(im)]),
            ))
        }
        TypeKind::SET => {
            let item_ty = ty.item.expect("checked at load");
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PyAnySet_Check(obj) } == 0 {
                return Err(Mismatch::WrongType);
            }
            // SAFETY: the thread is attached and `obj` is a live set or
            // frozenset (checked just above).
            let items = unsafe { containers::set_items(obj) }.map_err(|()| Mismatch::Raised)?;
            // SAFETY: as this function's contract; the items are strong
            // references `convert_items` keeps in `scratch.temps`.
            unsafe { convert_items(data, i, items, |_| item_ty, scratch) }
        }
        TypeKind::DICT => {
            let (key_ty, value_ty) = ty.dict_types().expect("checked at load");
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PyDict_Check(obj) } == 0 {
                return Err(Mismatch::WrongType);
            }
            // SAFETY: the thread is attached and `obj` is a live dict
            // (checked just above).
            let pairs = unsafe { containers::dict_items(obj) };
            let mut values = Vec::with_capacity(2 * pairs.len());
            for (key, value) in &pairs {
                // SAFETY: the thread is attached and no oxbind lock is held
                // (this function's contract); `key` is a strong reference
                // held in `pairs`, then in `scratch.temps`, for 'a.
                unsafe {
                    push_item(
                        &mut values,
                        data,
                        i,
                        key.as_ptr(),
                        key_ty,
                        scratch,
                        Step::Key,
                    )
                }?;
                let step = Step::Value(key.as_ptr());
                // SAFETY: as for the key: attached, no oxbind lock held (so
                // the key's `repr` may run Python code), and `value` and
                // `key` are strong references held for 'a.
                unsafe {
                    push_item(
                        &mut values,
                        data,
                        i,
                        value.as_ptr(),
                        value_ty,
                        scratch,
                        step,
                    )
                }?;
            }
            for (key, value) in pairs {
                scratch.temps.push(key);
                scratch.temps.push(value);
            }
            Ok(ArgValue::List(scratch.keep_list(values)))
        }
        // SAFETY: the thread is attached and `obj` is a valid object the
        // caller keeps alive for 'a (this function's contract).
        _ => match unsafe { to_arg(obj, ty) } {
            Ok(v) => Ok(v),
            Err(ArgFailure::WrongType) => Err(Mismatch::WrongType),
            Err(ArgFailure::Overflow) => {
                // SAFETY: the thread is attached (this function's contract).
                unsafe { raise_overflow(data, i, ty) };
                Err(Mismatch::Raised)
            }
            Err(ArgFailure::Raised) => Err(Mismatch::Raised),
        },
    }
}

/// A buffer argument: its export, checked against the parameter, held in
/// `scratch` with its memory claimed until the call ends.
///
/// # Safety
/// As for [`convert_arg`]: attached, no oxbind lock held, `obj` valid and
/// kept alive for `'a`; `ty` is a `BUFFER` that passed the load checks.
unsafe fn convert_buffer<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    let (mode, element, _) = ty.buffer_element().expect("checked at load");
    let name = data.desc.params.as_slice()[i].name.as_str();
    // Each export is filled where it stays for the call: room for one per
    // buffer parameter is made before the first, so none moves afterwards.
    if scratch.buffers.is_empty() {
        let n = data
            .desc
            .params
            .as_slice()
            .iter()
            .filter(|p| p.ty.kind == TypeKind::BUFFER)
            .count();
        scratch.buffers.reserve_exact(n.max(1));
    }
    if scratch.buffers.len() == scratch.buffers.capacity() {
        // Never: one slot per buffer parameter was made above.
        // SAFETY: attached; an exception class.
        unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind: no room for a buffer") };
        return Err(Mismatch::Raised);
    }
    scratch.buffers.push((None, buffer::Export::empty()));
    let slot = scratch.buffers.last_mut().expect("just pushed");
    // For messages only: made on failure.
    let expected = || super::signature::expected_name(ty);
    // SAFETY: this function's contract is `export`'s: attached, no lock
    // held, and `obj` outlives the export, which stays in `scratch` (room
    // reserved: it never moves) and drops with it, attached.
    match unsafe { buffer::export(obj, mode, element, &expected, &mut slot.1) } {
        Ok(()) => {}
        Err(refusal) => {
            drop(scratch.buffers.pop());
            return match refusal {
                Refusal::NotBuffer => Err(Mismatch::WrongType),
                Refusal::Raised => {
                    // The exporter's own error (NumPy's "cannot include
                    // dtype 'M' in a buffer", a raising `__buffer__`): its
                    // class kept, its message prefixed with the parameter.
                    // SAFETY: attached, the exporter's error is set, and no
                    // oxbind lock is held (this function's contract).
                    unsafe {
                        errors::rewrite_exception(|_, text| {
                            Some(format!(
                                "{}() argument '{name}' could not be read as {}: {text}",
                                data.name,
                                expected()
                            ))
                        })
                    };
                    Err(Mismatch::Raised)
                }
                Refusal::Mismatch(class, what) => {
                    // SAFETY: attached; `class` is an exception class.
                    unsafe {
                        errors::raise(class, &format!("{}() argument '{name}' {what}", data.name))
                    };
                    Err(Mismatch::Raised)
                }
            };
        }
    }
    let export = &slot.1;
    let (start, end) = export.span();
    // SAFETY: attached (this function's contract); the claim drops with
    // `scratch`, attached.
    let Some(claim) = (unsafe { ranges::claim(start, end, mode.is_mut()) }) else {
        // SAFETY: attached; `PyExc_BufferError` is an exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_BufferError,
                &format!(
                    "{}() argument '{name}' overlaps memory that another buffer argument of this \
                     call, or of another call in progress, holds{}: a mutable buffer cannot alias \
                     any other",
                    data.name,
                    if mode.is_mut() { "" } else { " mutably" }
                ),
            )
        };
        return Err(Mismatch::Raised);
    };
    let arg = export.arg();
    slot.0 = claim;
    Ok(ArgValue::Object(arg as *mut c_void))
}

/// Strong references to the items of a `list` (read under its critical
/// section) or a `tuple`; `None` for any other object.
///
/// # Safety
/// The thread is attached and `obj` is a valid object.
unsafe fn sequence_items(obj: *mut ffi::PyObject) -> Result<Option<Vec<Owned>>, Mismatch> {
    // SAFETY: the thread is attached and `obj` is a valid object (this
    // function's contract); `list_items` runs only on a list, and the tuple
    // reads only on a tuple of that many items (tuples are immutable).
    unsafe {
        if ffi::PyList_Check(obj) != 0 {
            containers::list_items(obj)
                .map(Some)
                .map_err(|()| Mismatch::Raised)
        } else if ffi::PyTuple_Check(obj) != 0 {
            Ok(Some(
                (0..ffi::PyTuple_GET_SIZE(obj))
                    .map(|k| Owned::from_borrowed(ffi::PyTuple_GET_ITEM(obj, k)))
                    .collect(),
            ))
        } else {
            Ok(None)
        }
    }
}

/// Strong references to the items of a sequence that is neither a list nor
/// a tuple (`range`, a `collections.abc.Sequence`), copied with
/// `PySequence_Tuple`; `None` for an object that is not a sequence, and for
/// `str`, `bytes` and `bytearray`, which are never taken for a tuple of
/// their characters or bytes.
///
/// # Safety
/// The thread is attached, no oxbind lock is held (the sequence's methods
/// may run Python code) and `obj` is a valid object.
unsafe fn other_sequence_items(obj: *mut ffi::PyObject) -> Result<Option<Vec<Owned>>, Mismatch> {
    // SAFETY: the thread is attached and `obj` is a valid object (this
    // function's contract).
    let text_or_bytes = unsafe {
        ffi::PyUnicode_Check(obj) != 0
            || ffi::PyBytes_Check(obj) != 0
            || ffi::PyByteArray_Check(obj) != 0
    };
    // SAFETY: as above.
    if text_or_bytes || unsafe { ffi::PySequence_Check(obj) } == 0 {
        return Ok(None);
    }
    // SAFETY: as above; the new tuple (or null with an error set) goes
    // straight into an `Owned`.
    let tuple = unsafe { Owned::from_raw(ffi::PySequence_Tuple(obj)) }.ok_or(Mismatch::Raised)?;
    // SAFETY: `tuple` is a tuple (immutable) of that many items; the thread
    // is attached.
    unsafe { sequence_items(tuple.as_ptr()) }
}

/// Converts the items of a list, tuple or set argument, item `k` as
/// `item_ty(k)`, and keeps them (and the strong references `items`) for
/// the call.
///
/// # Safety
/// As for [`convert_arg`]; `items` are strong references to live objects.
unsafe fn convert_items<'a>(
    data: &FunctionData,
    i: usize,
    items: Vec<Owned>,
    item_ty: impl Fn(usize) -> &'a TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    let mut values = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let ty = item_ty(k);
        // SAFETY: the thread is attached and no oxbind lock is held (this
        // function's contract); `item` is a strong reference held in
        // `items`, then in `scratch.temps`, for 'a.
        unsafe {
            push_item(
                &mut values,
                data,
                i,
                item.as_ptr(),
                ty,
                scratch,
                Step::Item(k),
            )
        }?;
    }
    scratch.temps.extend(items);
    Ok(ArgValue::List(scratch.keep_list(values)))
}

/// Appends one item of a container argument to `values`: a plain item
/// converted in place ([`push_plain`]), anything else, and a plain item
/// that failed, through [`convert_item`].
///
/// # Safety
/// As for [`convert_item`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn push_item<'a>(
    values: &mut Vec<ArgValue<'a>>,
    data: &FunctionData,
    i: usize,
    item: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
    step: Step,
) -> Result<(), Mismatch> {
    // SAFETY: this function's contract is `push_plain`'s and then
    // `convert_item`'s.
    unsafe {
        match push_plain(values, item, ty) {
            Some(done) => done,
            None => {
                values.push(convert_item(data, i, item, ty, scratch, step)?);
                Ok(())
            }
        }
    }
}

/// Appends a plain item (a scalar, an object, an int beyond `i64`) to
/// `values`, converted in place with no path kept (a value copied right
/// after its narrow stores stalls, see [`to_arg_into`]): `None` for any
/// other item, and for a plain item that fails with no error set (wrong
/// type, out of range), which [`convert_item`] then converts again, for its
/// message.
///
/// # Safety
/// The thread is attached and `item` is a valid object alive for `'a`.
#[inline(always)]
unsafe fn push_plain<'a>(
    values: &mut Vec<ArgValue<'a>>,
    item: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Option<Result<(), Mismatch>> {
    if !super::is_scalar(ty) {
        return None;
    }
    values.reserve(1);
    let slot = values.spare_capacity_mut()[0].as_mut_ptr();
    // SAFETY: this function's contract is `to_arg_into`'s; `slot` is the
    // vector's first spare element, valid for a write.
    match unsafe { to_arg_into(item, ty, slot) } {
        Ok(()) => {
            // SAFETY: the element at `len` was just written.
            unsafe { values.set_len(values.len() + 1) };
            Some(Ok(()))
        }
        Err(ArgFailure::Raised) => Some(Err(Mismatch::Raised)),
        Err(ArgFailure::WrongType | ArgFailure::Overflow) => None,
    }
}

/// One step into a container argument, for messages: a container's item,
/// a dict's key, or a dict's value (with its key, alive for the call).
#[derive(Clone, Copy)]
pub(super) enum Step {
    Item(usize),
    Key,
    Value(*mut ffi::PyObject),
}

/// Where in argument `i` the conversion is: "item 3", "value for key 'a'",
/// innermost first ("item 1 of item 0").
///
/// # Safety
/// The thread is attached; every key in `path` is alive (a key's `repr`
/// may run Python code, so no oxbind lock is held).
unsafe fn render_path(path: &[Step]) -> String {
    let steps: Vec<String> = path
        .iter()
        .rev()
        .map(|step| match *step {
            Step::Item(k) => format!("item {k}"),
            Step::Key => "key".to_owned(),
            // SAFETY: the key is alive and the thread attached (this
            // function's contract).
            Step::Value(key) => format!("value for key {}", unsafe { errors::repr(key) }),
        })
        .collect();
    steps.join(" of ")
}

/// Raises the TypeError for a tuple argument of the wrong length.
///
/// # Safety
/// The thread is attached, no oxbind lock is held, and `obj` and the keys
/// in `scratch.path` are alive.
#[cold]
unsafe fn raise_wrong_length(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    len: usize,
    scratch: &Scratch<'_>,
) {
    let param = &data.desc.params.as_slice()[i];
    // SAFETY: attached, keys alive (this function's contract).
    let at = unsafe { render_path(&scratch.path) };
    let arity = ty.tuple_types().map_or(0, <[TypeDesc]>::len);
    // SAFETY: attached, and `obj` is a valid object (this function's
    // contract).
    unsafe {
        errors::type_error(&format!(
            "{}() argument '{}'{}{} must be {} ({} item{}), not a {} of {} item{}",
            data.name,
            param.name.as_str(),
            if at.is_empty() { "" } else { " " },
            at,
            expected_name(ty),
            arity,
            if arity == 1 { "" } else { "s" },
            errors::type_name(obj),
            len,
            if len == 1 { "" } else { "s" },
        ))
    };
}

/// One item of a container argument, `step` into it; a TypeError names
/// the whole path ("item 3", "item 1 of value for key 'a'").
///
/// # Safety
/// As for [`convert_arg`], with `item` for `obj`; a `Step::Value`'s key is
/// alive for the call.
pub(super) unsafe fn convert_item<'a>(
    data: &FunctionData,
    i: usize,
    item: *mut ffi::PyObject,
    item_ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
    step: Step,
) -> Result<ArgValue<'a>, Mismatch> {
    // The path is kept only while converting a nested container, whose own
    // items may fail: a plain item's step is added only to its message.
    let nested = is_container(item_ty);
    let result = if nested {
        scratch.path.push(step);
        // SAFETY: this function's contract is `convert_arg`'s.
        let result = unsafe { convert_arg(data, i, item, item_ty, scratch) };
        scratch.path.pop();
        result
    } else if super::is_scalar(item_ty) {
        // SAFETY: the thread is attached and `item` is alive for 'a (this
        // function's contract).
        match unsafe { to_arg(item, item_ty) } {
            Ok(v) => Ok(v),
            Err(ArgFailure::WrongType) => Err(Mismatch::WrongType),
            Err(ArgFailure::Raised) => Err(Mismatch::Raised),
            Err(ArgFailure::Overflow) => {
                scratch.path.push(step);
                // SAFETY: attached, no oxbind lock held, keys on the path
                // alive (this function's contract).
                let at = unsafe { render_path(&scratch.path) };
                scratch.path.pop();
                // SAFETY: the thread is attached.
                unsafe { raise_overflow_at(data, i, item_ty, &at) };
                Err(Mismatch::Raised)
            }
        }
    } else {
        // SAFETY: this function's contract is `convert_arg`'s.
        unsafe { convert_arg(data, i, item, item_ty, scratch) }
    };
    if let Err(Mismatch::WrongType) = result {
        scratch.path.push(step);
        let param = &data.desc.params.as_slice()[i];
        // SAFETY: the thread is attached, no oxbind lock is held, and `item`
        // and the keys on the path are alive (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "{}() argument '{}' {} must be {}, not {}",
                data.name,
                param.name.as_str(),
                render_path(&scratch.path),
                expected_name(item_ty),
                errors::type_name(item)
            ))
        };
        scratch.path.pop();
        return Err(Mismatch::Raised);
    }
    result
}

/// An argument of a class parameter: an instance of the class, or a
/// temporary made by an implicit conversion (kept in `scratch.temps`).
///
/// # Safety
/// As for [`convert_arg`].
pub(super) unsafe fn convert_object<'a>(
    data: &FunctionData,
    i: usize,
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    scratch: &mut Scratch<'a>,
) -> Result<ArgValue<'a>, Mismatch> {
    let class = ty.class.expect("checked at load");
    // SAFETY: the thread is attached (this function's contract).
    let record = unsafe { data.record(i, class) }.map_err(|()| Mismatch::Raised)?;
    // A Python subclass's instance holds the class's value at the same
    // place, so it passes as the class.
    // SAFETY: `obj` is a valid object and the thread is attached (this
    // function's contract).
    let target = if unsafe { instance::is_instance_or_subclass(obj, record) } {
        obj
    } else {
        // An implicit conversion registered by any plugin may apply; it
        // makes a temporary, which only a by-value or `&T` parameter takes.
        if ty.passing == Passing::MUT {
            return Err(Mismatch::WrongType);
        }
        // SAFETY: the thread is attached, no oxbind lock is held (the
        // conversion runs a call) and `obj` is a valid object (this
        // function's contract).
        match unsafe { crate::call::implicit::convert_implicitly(obj, class, record) }
            .map_err(|()| Mismatch::Raised)?
        {
            Some(temp) => {
                let p = temp.as_ptr();
                scratch.temps.push(temp);
                p
            }
            None => return Err(Mismatch::WrongType),
        }
    };
    // SAFETY: `target` is of `record`'s class (or a subclass), so an oxbind
    // instance: `obj`, checked by `is_instance_or_subclass` above, or the temporary,
    // which `convert_implicitly` checked the same way; it is alive (the
    // caller keeps `obj`, `scratch.temps` the temporary).
    if !unsafe { instance::is_ready(target) } {
        // SAFETY: the thread is attached (this function's contract), and
        // `PyExc_RuntimeError` is an exception class CPython sets at startup
        // and never changes.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!(
                    "{}() got an uninitialised {}",
                    data.name,
                    class.key.as_str()
                ),
            )
        };
        return Err(Mismatch::Raised);
    }
    if ty.passing == Passing::HANDLE {
        // The object itself; the plugin takes its own strong reference.
        return Ok(ArgValue::Object(target as *mut c_void));
    }
    scratch.wanted.push((target, ty.passing == Passing::MUT));
    scratch.objects.push(target);
    // SAFETY: `target` is a live oxbind instance (see `is_ready` above).
    Ok(ArgValue::Object(unsafe { instance::header(target) }.value))
}

/// Why an object could not become an argument.
pub(crate) enum ArgFailure {
    /// The object is not of the expected Python type.
    WrongType,
    /// An integer is outside the 64-bit range.
    Overflow,
    /// CPython raised while converting (a `str` with lone surrogates, say);
    /// the Python error is set.
    Raised,
}

/// Converts `obj` for a parameter of type `ty`. The value borrows from `obj`,
/// which the caller keeps alive for the duration of the call.
///
/// # Safety
/// The thread is attached and `obj` is a valid object.
#[inline]
pub(crate) unsafe fn to_arg<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
) -> Result<ArgValue<'a>, ArgFailure> {
    let mut out = std::mem::MaybeUninit::uninit();
    // SAFETY: the thread is attached and `obj` is a valid object (this
    // function's contract); `out` is local storage, valid for a write.
    unsafe { to_arg_into(obj, ty, out.as_mut_ptr()) }?;
    // SAFETY: `to_arg_into` wrote the value on success.
    Ok(unsafe { out.assume_init() })
}

/// [`to_arg`], writing the value straight into `out`: the fast call paths
/// build their argument arrays in place, since copying a value just written
/// field by field stalls on store forwarding.
///
/// # Safety
/// As for [`to_arg`]; `out` is valid for a write.
#[inline(always)]
pub(crate) unsafe fn to_arg_into<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    out: *mut ArgValue<'a>,
) -> Result<(), ArgFailure> {
    // `None` is never a valid value of any scalar kind, so an optional
    // parameter's `None` is tested only after the kind's own check fails:
    // the common path (a real value) pays nothing for it.
    // SAFETY: this function's contract is `convert_kind`'s.
    match unsafe { convert_kind(obj, ty, out) } {
        // SAFETY: `Py_None` only takes the address of CPython's `None`
        // singleton, a static of the interpreter.
        Err(ArgFailure::WrongType) if ty.optional && obj == unsafe { ffi::Py_None() } => {
            // SAFETY: `out` is valid for a write (this function's contract).
            unsafe { out.write(ArgValue::None) };
            Ok(())
        }
        other => other,
    }
}

/// The conversion of [`to_arg_into`] for the kinds that have one, `None`
/// aside: `WrongType` for every other kind.
///
/// # Safety
/// As for [`to_arg_into`]: the thread is attached, `obj` is a valid object
/// that outlives `'a` (a `str` or `bytes` value borrows its contents), and
/// `out` is valid for a write.
#[inline(always)]
pub(super) unsafe fn convert_kind<'a>(
    obj: *mut ffi::PyObject,
    ty: &TypeDesc,
    out: *mut ArgValue<'a>,
) -> Result<(), ArgFailure> {
    match ty.kind {
        TypeKind::INT | TypeKind::WIDE_INT => {
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PyLong_Check(obj) } == 0 {
                return Err(ArgFailure::WrongType);
            }
            // SAFETY: `obj` is an int (checked just above), as `compact_int`
            // and `PyLong_AsLongLongAndOverflow` require, on an attached
            // thread; `out` is valid for a write (this function's contract).
            unsafe {
                if let Some(v) = compact_int(obj) {
                    out.write(ArgValue::Int(v));
                    return Ok(());
                }
                let mut overflow = 0;
                let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
                if overflow != 0 {
                    if ty.kind == TypeKind::INT {
                        return Err(ArgFailure::Overflow);
                    }
                    // A `WIDE_INT` beyond `i64`: the int itself, borrowed
                    // for the call (the caller keeps `obj` alive for 'a),
                    // which the plugin reads with `HostApi::int_to_wide`
                    // and checks against its type's range.
                    out.write(ArgValue::Object(obj as *mut c_void));
                    return Ok(());
                }
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                    return Err(ArgFailure::Overflow);
                }
                out.write(ArgValue::Int(v));
            }
        }
        TypeKind::FLOAT => {
            // SAFETY: the thread is attached, `obj` is a valid object and
            // `out` is valid for a write (this function's contract); each
            // conversion runs only on the type its check just matched.
            unsafe {
                if ffi::PyFloat_Check(obj) != 0 {
                    out.write(ArgValue::Float(ffi::PyFloat_AsDouble(obj)));
                } else if ffi::PyLong_Check(obj) != 0 {
                    let v = ffi::PyLong_AsDouble(obj);
                    if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
                        ffi::PyErr_Clear();
                        return Err(ArgFailure::Overflow);
                    }
                    out.write(ArgValue::Float(v));
                } else {
                    return Err(ArgFailure::WrongType);
                }
            }
        }
        TypeKind::BOOL => {
            // SAFETY: `Py_True` and `Py_False` only take the addresses of
            // CPython's two bool singletons; `out` is valid for a write
            // (this function's contract).
            unsafe {
                if obj == ffi::Py_True() {
                    out.write(ArgValue::Bool(true));
                } else if obj == ffi::Py_False() {
                    out.write(ArgValue::Bool(false));
                } else {
                    return Err(ArgFailure::WrongType);
                }
            }
        }
        TypeKind::STR => {
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PyUnicode_Check(obj) } == 0 {
                return Err(ArgFailure::WrongType);
            }
            let mut len: ffi::Py_ssize_t = 0;
            // SAFETY: `obj` is a str (checked just above), on an attached
            // thread; `len` is a valid place for the length.
            let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj, &mut len) };
            if data.is_null() {
                return Err(ArgFailure::Raised);
            }
            // SAFETY: CPython returns valid UTF-8 of `len` bytes, cached in
            // the str object and valid while the object lives, which is for
            // 'a (this function's contract); `out` is valid for a write.
            unsafe {
                let bytes = std::slice::from_raw_parts(data as *const u8, len as usize);
                out.write(ArgValue::Str(RStr::from_str(
                    std::str::from_utf8_unchecked(bytes),
                )));
            }
        }
        TypeKind::BYTES => {
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if unsafe { ffi::PyBytes_Check(obj) } == 0 {
                return Err(ArgFailure::WrongType);
            }
            // SAFETY: `obj` is a bytes object (checked just above), on an
            // attached thread: its buffer of `PyBytes_Size` bytes is
            // immutable and lives as long as it, which is for 'a (this
            // function's contract); `out` is valid for a write.
            unsafe {
                let data = ffi::PyBytes_AsString(obj);
                let len = ffi::PyBytes_Size(obj);
                out.write(ArgValue::Bytes(RSlice::from_slice(
                    std::slice::from_raw_parts(data as *const u8, len as usize),
                )));
            }
        }
        TypeKind::ANY | TypeKind::CALLABLE => {
            // SAFETY: `Py_None` only takes the address of CPython's `None`
            // singleton.
            if ty.optional && obj == unsafe { ffi::Py_None() } {
                // SAFETY: `out` is valid for a write (this function's
                // contract).
                unsafe { out.write(ArgValue::None) };
                return Ok(());
            }
            // SAFETY: the thread is attached and `obj` is a valid object
            // (this function's contract).
            if ty.kind == TypeKind::CALLABLE && unsafe { ffi::PyCallable_Check(obj) } == 0 {
                return Err(ArgFailure::WrongType);
            }
            // The object itself, borrowed for the call: the plugin takes its
            // own reference if it keeps it (`oxbind::Object`).
            // SAFETY: `out` is valid for a write (this function's contract).
            unsafe { out.write(ArgValue::Object(obj as *mut c_void)) };
        }
        _ => return Err(ArgFailure::WrongType),
    }
    Ok(())
}

/// Whether ints may be read in place ([`compact_int`]): CPython's digits
/// are 4 bytes (30-bit digits, the default on 64-bit platforms). Set by
/// [`check_int_layout`] before any function exists, read on every int
/// argument.
#[cfg(Py_3_12)]
pub(super) static COMPACT_INTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Enables [`compact_int`] if this interpreter's ints have 4-byte digits
/// (`sys.int_info.sizeof_digit`). Called when function data is built,
/// before any call can convert an argument; idempotent.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn check_int_layout() {
    #[cfg(Py_3_12)]
    {
        use std::sync::atomic::Ordering;
        if COMPACT_INTS.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: the thread is attached (this function's contract).
        let info = unsafe { ffi::PyLong_GetInfo() };
        if info.is_null() {
            // SAFETY: the thread is attached; this clears the error
            // `PyLong_GetInfo` set.
            unsafe { ffi::PyErr_Clear() };
            return;
        }
        // sys.int_info is a struct sequence: (bits_per_digit, sizeof_digit, ...).
        // SAFETY: the thread is attached and `info` is a live tuple (a
        // struct sequence); `PyTuple_GetItem` checks the index, and
        // `PyLong_AsLong` takes its borrowed item, or the null it returns
        // on failure (it then fails too, with an error set).
        let sizeof_digit = unsafe { ffi::PyLong_AsLong(ffi::PyTuple_GetItem(info, 1)) };
        // SAFETY: `info` is the new reference `PyLong_GetInfo` returned,
        // used no more; the thread is attached.
        unsafe { ffi::Py_DECREF(info) };
        if sizeof_digit == 4 {
            COMPACT_INTS.store(true, Ordering::Relaxed);
        } else {
            // SAFETY: the thread is attached; this clears any error the
            // reads above set.
            unsafe { ffi::PyErr_Clear() };
        }
    }
}

/// The value of an int of at most one digit, read in place as CPython's
/// own `PyUnstable_Long_IsCompact` and `PyUnstable_Long_CompactValue`
/// (static inline functions of its 3.12+ headers) do; `None` for larger
/// ints, which go through `PyLong_AsLongLong`. An int is immutable, so the
/// read needs no synchronisation.
///
/// # Safety
/// `obj` is an int (`PyLong_Check`).
#[inline(always)]
pub(super) unsafe fn compact_int(obj: *mut ffi::PyObject) -> Option<i64> {
    #[cfg(Py_3_12)]
    {
        use std::sync::atomic::Ordering;
        // struct _longobject { PyObject_HEAD; uintptr_t lv_tag; digit ob_digit[1]; }
        // SAFETY: `obj` is an int (this function's contract), so from 3.12 a
        // `_longobject`: `lv_tag` starts right after the object header,
        // inside the same allocation.
        let base = unsafe { (obj as *const u8).add(std::mem::size_of::<ffi::PyObject>()) };
        // SAFETY: `base` is the address of `lv_tag`, a `uintptr_t`, aligned
        // (the header is pointer-aligned and a whole number of pointers
        // long); an int is immutable, so no write races with the read.
        let tag = unsafe { *(base as *const usize) };
        // Compact: fewer than two digits (the digit count is lv_tag >> 3).
        if tag < (2 << 3) && COMPACT_INTS.load(Ordering::Relaxed) {
            // SAFETY: every int has at least one digit (`ob_digit[1]`, zero
            // included), right after `lv_tag`, and COMPACT_INTS (checked just
            // above) says digits are 4 bytes: a `u32` in bounds and aligned,
            // immutable as the int is.
            let digit = unsafe { *(base.add(std::mem::size_of::<usize>()) as *const u32) };
            // The sign is 1 - (lv_tag & 3): 0 positive, 1 zero, 2 negative.
            let sign = 1 - (tag & 3) as i64;
            return Some(sign * digit as i64);
        }
        None
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = obj;
        None
    }
}
