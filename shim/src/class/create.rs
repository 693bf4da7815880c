//! Creating the Python type of a plugin's class: its method definitions,
//! properties and slots, the type spec, and its record in the shared
//! registry.

use std::{
    ffi::{c_void, CString},
    os::raw::c_int,
    ptr,
};

use oxbind_abi::{
    abi_stable::std_types::RStr, ClassDesc, ClassOptions, ClassRef, MethodKind, SlotKind, TypeKind,
};
use oxbind_internals::{TypeRecord, TypeRecord_Ref};
use pyo3_ffi as ffi;

use crate::instance;

use crate::{
    call::{self, FunctionData},
    py::errors,
    py::owned::Owned,
};

use crate::class::construct::{class_entry, class_new};
use crate::class::lifecycle::{live_instances, slot_clear, slot_traverse};
use crate::class::slots::{
    property_get, property_set, slot_ass_subscript, slot_binary, slot_bool, slot_call,
    slot_contains, slot_getitem, slot_hash, slot_in_place, slot_in_place_power, slot_iter,
    slot_iternext, slot_len, slot_power, slot_repr, slot_richcompare, slot_sq_item, slot_str,
    slot_unary,
};
use crate::class::{ClassData, ClassFunctions, PreparedClass, PropertyData};
use crate::runtime::registry::check_compatible;

/// Builds the type of `desc`, owned by `plugin`, without registering it. If
/// the class's key is registered already, checks that the registered class
/// is compatible and uses its type. Fails with a Python error set, having
/// registered nothing.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub(crate) unsafe fn prepare(
    desc: &'static ClassDesc,
    functions: ClassFunctions,
    plugin: &'static str,
    plugin_version: &'static str,
) -> Result<PreparedClass, ()> {
    let class = desc.class;
    let joined = crate::runtime::joined().ok_or(())?;
    // SAFETY: the thread is attached (this function's contract) and `joined`
    // shows this copy has joined a runtime.
    let found = unsafe { crate::runtime::registry::find_type_by_key(joined, class.key.as_str()) };
    if let Some(existing) = found {
        // SAFETY: the thread is attached, and `existing` is a registered
        // record, so its type is a live type object.
        return unsafe { reuse(existing, class, plugin) }.map(PreparedClass::Registered);
    }

    let mut slots = [None; SlotKind::MAX.0 as usize + 1];
    let mut method_defs = Vec::new();
    let mut method_data = Vec::new();
    for (kind, slot, data) in &functions.methods {
        match *kind {
            MethodKind::SLOT => slots[slot.0 as usize] = Some(*data),
            MethodKind::STATIC => method_defs.push(call::entry::method_def(data, ffi::METH_STATIC)),
            MethodKind::CLASSMETHOD => {
                method_defs.push(call::entry::method_def(data, ffi::METH_CLASS))
            }
            _ => method_defs.push(call::entry::method_def(data, 0)),
        }
        if *kind != MethodKind::SLOT {
            method_data.push(*data);
        }
    }
    method_defs.push(ffi::PyMethodDef::zeroed());
    let method_defs: &'static mut [ffi::PyMethodDef] = Box::leak(method_defs.into_boxed_slice());
    // Their entry points are claimed after the plugin's init succeeds.
    for (def, data) in method_defs.iter().zip(method_data) {
        call::entry::defer_entry(def as *const ffi::PyMethodDef, data);
    }

    let mut getsets = Vec::new();
    for (name, doc, get, set) in functions.properties {
        let c_name = Box::leak(errors::c_string(&name).into_boxed_c_str());
        let c_doc = Box::leak(errors::c_string(&doc).into_boxed_c_str());
        let data = Box::leak(Box::new(PropertyData { get, set, name }));
        getsets.push(ffi::PyGetSetDef {
            name: c_name.as_ptr(),
            get: Some(property_get),
            set: Some(property_set),
            doc: c_doc.as_ptr(),
            closure: data as *mut PropertyData as *mut c_void,
        });
    }
    // Opt-in weak references and `__dict__`: a pointer each after the
    // value, announced to CPython by the `__weaklistoffset__` and
    // `__dictoffset__` members (every supported version reads them).
    let offset = instance::value_offset(class.align);
    let options = functions.options;
    let mut end = (offset + class.size).next_multiple_of(std::mem::size_of::<usize>());
    let mut members = Vec::new();
    let mut extra_offset = |name: &'static std::ffi::CStr, wanted: bool| {
        if !wanted {
            return 0;
        }
        let at = end;
        end += std::mem::size_of::<usize>();
        members.push(ffi::PyMemberDef {
            name: name.as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: at as ffi::Py_ssize_t,
            flags: ffi::Py_READONLY,
            doc: ptr::null(),
        });
        at
    };
    let weaklist_offset = extra_offset(c"__weaklistoffset__", options & ClassOptions::WEAKREF != 0);
    let dict_offset = extra_offset(c"__dictoffset__", options & ClassOptions::DICT != 0);
    let basicsize = if members.is_empty() {
        offset + class.size
    } else {
        end
    };
    if dict_offset != 0 {
        getsets.push(ffi::PyGetSetDef {
            name: c"__dict__".as_ptr(),
            get: Some(ffi::PyObject_GenericGetDict),
            set: Some(ffi::PyObject_GenericSetDict),
            doc: ptr::null(),
            closure: ptr::null_mut(),
        });
    }
    getsets.push(ffi::PyGetSetDef {
        name: ptr::null(),
        get: None,
        set: None,
        doc: ptr::null(),
        closure: ptr::null_mut(),
    });
    let getsets: &'static mut [ffi::PyGetSetDef] = Box::leak(getsets.into_boxed_slice());

    let data: &'static ClassData = Box::leak(Box::new(ClassData {
        desc,
        leak_index: crate::instance::counts::new_class_index(),
        gc: functions.gc,
        ctor: functions.ctor,
        slots,
        options,
        weaklist_offset,
        dict_offset,
    }));

    let doc = class_doc(desc, functions.ctor);
    let c_doc: &'static CString = Box::leak(Box::new(errors::c_string(&doc)));
    let c_name: &'static CString = Box::leak(Box::new(errors::c_string(class.key.as_str())));
    crate::instance::register_dealloc(crate::class::lifecycle::dealloc);
    let mut type_slots: Vec<ffi::PyType_Slot> = vec![
        slot(ffi::Py_tp_new, class_new as *mut c_void),
        slot(
            ffi::Py_tp_dealloc,
            crate::class::lifecycle::dealloc as *mut c_void,
        ),
        slot(ffi::Py_tp_doc, c_doc.as_ptr() as *mut c_void),
        slot(ffi::Py_tp_methods, method_defs.as_mut_ptr() as *mut c_void),
        slot(ffi::Py_tp_getset, getsets.as_mut_ptr() as *mut c_void),
    ];
    if !members.is_empty() {
        members.push(ffi::PyMemberDef {
            name: ptr::null(),
            type_code: 0,
            offset: 0,
            flags: 0,
            doc: ptr::null(),
        });
        let members: &'static mut [ffi::PyMemberDef] = Box::leak(members.into_boxed_slice());
        type_slots.push(slot(
            ffi::Py_tp_members,
            members.as_mut_ptr() as *mut c_void,
        ));
    }
    // An instance dict can close a cycle, so a class with one is collected.
    let collected = data.gc.traverse.is_some() || dict_offset != 0;
    if collected {
        type_slots.push(slot(ffi::Py_tp_traverse, slot_traverse as *mut c_void));
        type_slots.push(slot(ffi::Py_tp_clear, slot_clear as *mut c_void));
    }
    let has = |k: SlotKind| data.slots[k.0 as usize].is_some();
    if has(SlotKind::REPR) {
        type_slots.push(slot(ffi::Py_tp_repr, slot_repr as *mut c_void));
    }
    if has(SlotKind::STR) {
        type_slots.push(slot(ffi::Py_tp_str, slot_str as *mut c_void));
    }
    if [
        SlotKind::EQ,
        SlotKind::LT,
        SlotKind::LE,
        SlotKind::GT,
        SlotKind::GE,
    ]
    .into_iter()
    .any(has)
    {
        type_slots.push(slot(
            ffi::Py_tp_richcompare,
            slot_richcompare as *mut c_void,
        ));
    }
    if has(SlotKind::HASH) {
        type_slots.push(slot(ffi::Py_tp_hash, slot_hash as *mut c_void));
    } else if has(SlotKind::EQ) {
        // As in Python: defining __eq__ without __hash__ makes instances unhashable.
        type_slots.push(slot(
            ffi::Py_tp_hash,
            ffi::PyObject_HashNotImplemented as *mut c_void,
        ));
    }
    number_slots(&has, &mut type_slots);
    if has(SlotKind::BOOL) {
        type_slots.push(slot(ffi::Py_nb_bool, slot_bool as *mut c_void));
    }
    if has(SlotKind::LEN) {
        type_slots.push(slot(ffi::Py_sq_length, slot_len as *mut c_void));
        type_slots.push(slot(ffi::Py_mp_length, slot_len as *mut c_void));
    }
    if has(SlotKind::ITER) {
        type_slots.push(slot(ffi::Py_tp_iter, slot_iter as *mut c_void));
    } else if has(SlotKind::NEXT) {
        // An iterator is its own iterable.
        type_slots.push(slot(ffi::Py_tp_iter, ffi::PyObject_SelfIter as *mut c_void));
    }
    if has(SlotKind::NEXT) {
        type_slots.push(slot(ffi::Py_tp_iternext, slot_iternext as *mut c_void));
    }
    if let Some(getitem) = data.slots[SlotKind::GETITEM.0 as usize] {
        // Only an integer key makes a sequence (iterable by index, and
        // `PySequence_Check` true): a `__getitem__(&str)` class is a mapping,
        // and `iter()` of it raises "not iterable" rather than calling it
        // with 0, 1, 2, ….
        if getitem.any_candidate(|f| {
            f.params
                .as_slice()
                .first()
                .is_some_and(|p| matches!(p.ty.kind, TypeKind::INT | TypeKind::WIDE_INT))
        }) {
            type_slots.push(slot(ffi::Py_sq_item, slot_sq_item as *mut c_void));
        }
        type_slots.push(slot(ffi::Py_mp_subscript, slot_getitem as *mut c_void));
    }
    if has(SlotKind::SETITEM) || has(SlotKind::DELITEM) {
        type_slots.push(slot(
            ffi::Py_mp_ass_subscript,
            slot_ass_subscript as *mut c_void,
        ));
    }
    if has(SlotKind::CONTAINS) {
        type_slots.push(slot(ffi::Py_sq_contains, slot_contains as *mut c_void));
    }
    if has(SlotKind::CALL) {
        type_slots.push(slot(ffi::Py_tp_call, slot_call as *mut c_void));
    }
    type_slots.push(slot(0, ptr::null_mut()));
    let type_slots: &'static mut [ffi::PyType_Slot] = Box::leak(type_slots.into_boxed_slice());

    let mut spec = ffi::PyType_Spec {
        name: c_name.as_ptr(),
        basicsize: basicsize as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_IMMUTABLETYPE
            | if options & ClassOptions::SUBCLASS != 0 {
                ffi::Py_TPFLAGS_BASETYPE
            } else {
                0
            }
            | if collected {
                ffi::Py_TPFLAGS_HAVE_GC
            } else {
                0
            }) as _,
        slots: type_slots.as_mut_ptr(),
    };
    // SAFETY: the thread is attached; `spec` and everything it points at
    // (name, slots, method and getset tables, doc) are valid, and all but
    // `spec` itself are leaked, so they outlive the type. The new type (or
    // null) is taken over by `Owned`.
    let ty = unsafe { Owned::from_raw(ffi::PyType_FromSpec(&mut spec)) }.ok_or(())?;
    let record = TypeRecord {
        key: class.key,
        py_type: ty.as_ptr() as *mut c_void,
        owner: RStr::from_str(plugin),
        owner_version: RStr::from_str(plugin_version),
        crate_name: class.crate_name,
        crate_version: class.crate_version,
        size: class.size,
        align: class.align,
        value_offset: offset,
        layout: class.layout,
        clone_value: desc.clone,
        class_data: data as *const ClassData as *const c_void,
        new_instance: oxbind_abi::abi_stable::std_types::RSome(
            crate::class::lifecycle::new_instance,
        ),
        live_instances: oxbind_abi::abi_stable::std_types::RSome(live_instances),
    };
    Ok(PreparedClass::New {
        ty,
        data,
        record,
        plugin,
    })
}

/// Registers a prepared class and returns the type object to expose.
///
/// It fails only if another registration of the same key, made after
/// [`prepare`] looked, is incompatible. A plugin's keys are
/// `<plugin>.<Class>` and its name is reserved while it builds
/// (`plugin/table.rs`), so only the diagnostics hook `_register_type` can
/// do that.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub(crate) unsafe fn publish(prepared: PreparedClass) -> Result<Owned, ()> {
    let (ty, data, record, plugin) = match prepared {
        PreparedClass::Registered(ty) => return Ok(ty),
        PreparedClass::New {
            ty,
            data,
            record,
            plugin,
        } => (ty, data, record, plugin),
    };
    let joined = crate::runtime::joined().ok_or(())?;
    // Construction through vectorcall: no argument tuple or dict. Installed
    // here, so that a failed build uses none of the generated entry points.
    // SAFETY: `ty` is the type object `prepare` just created, which no other
    // code has seen yet (it is not registered), so writing its slot races
    // with nothing.
    unsafe { (*(ty.as_ptr() as *mut ffi::PyTypeObject)).tp_vectorcall = Some(class_entry(data)) };
    let class = data.desc.class;
    // Immortal before it is registered: registering makes the type reachable
    // by other threads (a registry lookup), and immortalizing writes its
    // refcount fields with plain stores that must race with no other
    // thread's increment. If another record wins below, this type is never
    // freed (a rare race between two copies building one class).
    // SAFETY: `ty` is the type `prepare` created, not yet registered or
    // handed to anyone: no other thread can reach it. The thread is attached.
    unsafe { immortalize_type(ty.as_ptr()) };
    // SAFETY: the thread is attached and this copy has joined a runtime
    // (`joined`); `record.py_type` is the type object `prepare` created.
    let winner = unsafe { crate::runtime::registry::register_type(joined, record) };
    if winner.py_type() != ty.as_ptr() as *mut c_void {
        // Registered by someone else after `prepare` looked.
        // SAFETY: the thread is attached, and `winner` is a registered
        // record, so its type is a live type object.
        return unsafe { reuse(winner, class, plugin) };
    }
    Ok(ty)
}

/// Stores a class attribute in the dict of `ty`, a class this build
/// created, and tells CPython's type cache (the type is immutable to
/// Python code, so `setattr` would refuse).
///
/// # Safety
/// The thread is attached; `ty` is a class type this copy created, whose
/// plugin is still loading (so no Python code has seen it through the
/// module); `value` is a live object.
pub(crate) unsafe fn set_class_attribute(
    ty: *mut ffi::PyObject,
    name: &str,
    value: *mut ffi::PyObject,
) -> Result<(), ()> {
    let c = errors::c_string(name);
    // SAFETY: `ty` is a live type object (the contract); heap types have a
    // dict; `PyDict_SetItemString` takes its own reference to `value` and
    // locks the dict; `PyType_Modified` invalidates cached lookups.
    unsafe {
        let dict = (*(ty as *mut ffi::PyTypeObject)).tp_dict;
        if ffi::PyDict_SetItemString(dict, c.as_ptr(), value) < 0 {
            return Err(());
        }
        ffi::PyType_Modified(ty as *mut ffi::PyTypeObject);
    }
    Ok(())
}

/// Makes a new type and the descriptors in its dict immortal
/// (free-threaded builds; see `crate::py::refcount::immortalize`).
///
/// # Safety
/// The thread is attached; `ty` is a type object this copy just created
/// and has not handed out: no other thread touches its refcount, its dict
/// or its descriptors during the call (`immortalize`'s contract).
pub(crate) unsafe fn immortalize_type(ty: *mut ffi::PyObject) {
    // SAFETY: `ty` is a live type object (the contract).
    let dict = unsafe { (*(ty as *mut ffi::PyTypeObject)).tp_dict };
    if !dict.is_null() {
        let (mut pos, mut key, mut value) = (0, ptr::null_mut(), ptr::null_mut());
        // SAFETY: the thread is attached and `dict` is the type's dict, kept
        // alive by the type, which no other thread changes (the contract);
        // `pos`, `key` and `value` are valid out-pointers.
        while unsafe { ffi::PyDict_Next(dict, &mut pos, &mut key, &mut value) } != 0 {
            // SAFETY: `value` is a live object borrowed from the dict, so its
            // type is live, and `tp_name` is a NUL-terminated C string that
            // lives as long as the type.
            let kind =
                unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(value)).tp_name) }.to_bytes();
            if matches!(
                kind,
                b"method_descriptor" | b"getset_descriptor" | b"staticmethod"
            ) {
                // SAFETY: the descriptor was created with the type, and no
                // other thread touches it (the contract).
                unsafe { crate::py::refcount::immortalize(value) };
            }
        }
    }
    // SAFETY: `ty` was just created and no other thread touches it (the
    // contract).
    unsafe { crate::py::refcount::immortalize(ty) };
}

pub(crate) fn slot(id: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot: id, pfunc }
}

/// A class already registered under the same key: the same class loaded
/// again (say, as a plugin and as an extension module) shares one type.
///
/// # Safety
/// The thread is attached; `existing` is a registered record, whose type is
/// a live type object.
pub(crate) unsafe fn reuse(
    existing: TypeRecord_Ref,
    class: &'static ClassRef,
    plugin: &str,
) -> Result<Owned, ()> {
    if let Err(why) = check_compatible(class, existing) {
        // SAFETY: the thread is attached (the contract).
        unsafe {
            errors::import_error(
                &format!("{plugin}: cannot define class {}: it is already registered by plugin '{}' and {why}", class.key.as_str(), existing.owner().as_str()),
                None,
            );
        }
        return Err(());
    }
    // SAFETY: the thread is attached, and a registered record's type is a
    // live type object (the contract), kept alive by the registry.
    Ok(unsafe { Owned::from_borrowed(existing.py_type() as *mut ffi::PyObject) })
}

/// `Point(x, y)\n--\n\n<class doc>`: the constructor's signature on the type.
pub(crate) fn class_doc(desc: &ClassDesc, ctor: Option<&FunctionData>) -> String {
    let name = desc.class.name();
    match ctor {
        Some(c) => {
            let header = call::signature::docstring(c.desc, name);
            let sig = header.split("\n--\n\n").next().unwrap_or(name);
            format!("{sig}\n--\n\n{}", desc.doc.as_str())
        }
        None => desc.doc.as_str().to_owned(),
    }
}

/// The number slots of the operators a class defines: a binary operator's
/// slot when it defines the operator or its reflected form (one function
/// serves both operands), an in-place slot when it defines the in-place
/// form, and the unary slots.
fn number_slots(has: &dyn Fn(SlotKind) -> bool, type_slots: &mut Vec<ffi::PyType_Slot>) {
    macro_rules! binaries {
        ($(($kind:ident, $id:ident)),* $(,)?) => {
            [$((
                SlotKind::$kind,
                ffi::$id,
                slot_binary::<{ SlotKind::$kind.0 }> as *mut c_void,
            )),*]
        };
    }
    macro_rules! in_place {
        ($(($kind:ident, $id:ident)),* $(,)?) => {
            [$((
                SlotKind::$kind,
                ffi::$id,
                slot_in_place::<{ in_place_of(SlotKind::$kind) }> as *mut c_void,
            )),*]
        };
    }
    macro_rules! unary {
        ($(($kind:ident, $id:ident)),* $(,)?) => {
            [$((
                SlotKind::$kind,
                ffi::$id,
                slot_unary::<{ SlotKind::$kind.0 }> as *mut c_void,
            )),*]
        };
    }
    let mut binary = binaries![
        (ADD, Py_nb_add),
        (SUB, Py_nb_subtract),
        (MUL, Py_nb_multiply),
        (TRUEDIV, Py_nb_true_divide),
        (FLOORDIV, Py_nb_floor_divide),
        (MOD, Py_nb_remainder),
        (DIVMOD, Py_nb_divmod),
        (LSHIFT, Py_nb_lshift),
        (RSHIFT, Py_nb_rshift),
        (AND, Py_nb_and),
        (OR, Py_nb_or),
        (XOR, Py_nb_xor),
        (MATMUL, Py_nb_matrix_multiply),
        (POW, Py_nb_power),
    ];
    // `nb_power` takes a modulus.
    binary[13].2 = slot_power as *mut c_void;
    for (kind, id, f) in binary {
        if has(kind) || has(kind.reflected().expect("a binary operator")) {
            type_slots.push(slot(id, f));
        }
    }
    let mut in_place = in_place![
        (ADD, Py_nb_inplace_add),
        (SUB, Py_nb_inplace_subtract),
        (MUL, Py_nb_inplace_multiply),
        (TRUEDIV, Py_nb_inplace_true_divide),
        (FLOORDIV, Py_nb_inplace_floor_divide),
        (MOD, Py_nb_inplace_remainder),
        (LSHIFT, Py_nb_inplace_lshift),
        (RSHIFT, Py_nb_inplace_rshift),
        (AND, Py_nb_inplace_and),
        (OR, Py_nb_inplace_or),
        (XOR, Py_nb_inplace_xor),
        (MATMUL, Py_nb_inplace_matrix_multiply),
        (POW, Py_nb_inplace_power),
    ];
    in_place[12].2 = slot_in_place_power as *mut c_void;
    for (kind, id, f) in in_place {
        if has(kind.in_place().expect("an operator with an in-place form")) {
            type_slots.push(slot(id, f));
        }
    }
    for (kind, id, f) in unary![
        (NEG, Py_nb_negative),
        (POS, Py_nb_positive),
        (ABS, Py_nb_absolute),
        (INVERT, Py_nb_invert),
        (INT, Py_nb_int),
        (FLOAT, Py_nb_float),
        (INDEX, Py_nb_index),
    ] {
        if has(kind) {
            type_slots.push(slot(id, f));
        }
    }
}

/// The slot number of an operator's in-place form (0 for `divmod`, which
/// has none and is never passed).
const fn in_place_of(kind: SlotKind) -> u8 {
    match kind.in_place() {
        Some(k) => k.0,
        None => 0,
    }
}
