//! Classes: creating the Python type of a plugin's class, its slots and
//! properties, and resolving classes that other plugins use.
//!
//! A class's type is created by the shim copy that loads its plugin. Its
//! record in the shared registry tells every other copy how instances are
//! laid out, so any plugin can take, return and hold instances of a
//! `shared` class. When a plugin uses a class it does not own, its view of
//! the struct (crate, version, size, abi_stable layout) is checked against
//! the owner's record: at load if the owner is already loaded, otherwise
//! at first use.
//!
//! Shared state: [`ClassData`] is leaked and immutable once its type
//! exists. The per-thread converter cache holds leaked, immutable function
//! data.

use std::{
    cell::RefCell,
    collections::HashMap,
    ffi::{c_void, CString},
    os::raw::{c_int, c_long},
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

use oxbind_abi::{
    abi_stable::{abi_stability::abi_checking::check_layout_compatibility, std_types::RStr},
    ArgValue, ClassDesc, ClassGc, ClassRef, FunctionDesc, MethodKind, SlotKind,
};
use oxbind_internals::{instance_flags, TypeRecord, TypeRecord_Ref};
use pyo3_ffi as ffi;

use crate::{
    call::{self, FunctionData, Mode},
    instance, internals,
    py::errors,
    py::owned::Owned,
};

/// Everything this copy knows about a class it created.
pub struct ClassData {
    pub desc: &'static ClassDesc,
    /// This class's index in the per-thread live-instance counts
    /// (`leaks`); `None` past the counting limit.
    pub leak_index: Option<u32>,
    /// The garbage-collector hooks; with them the type is a GC type.
    pub gc: ClassGc,
    ctor: Option<&'static FunctionData>,
    slots: [Option<&'static FunctionData>; SlotKind::MAX.0 as usize + 1],
}

struct PropertyData {
    get: &'static FunctionData,
    set: Option<&'static FunctionData>,
    name: String,
}

/// The per-function data a class needs, built by the plugin loader (which
/// knows the defaults) and handed to [`create`].
pub struct ClassFunctions {
    pub ctor: Option<&'static FunctionData>,
    /// (kind, slot, data) per method, in declaration order.
    pub methods: Vec<(MethodKind, SlotKind, &'static FunctionData)>,
    /// (name, doc, getter, setter) per property.
    pub properties: Vec<(
        String,
        String,
        &'static FunctionData,
        Option<&'static FunctionData>,
    )>,
    /// The class's garbage-collector hooks (none for most classes).
    pub gc: ClassGc,
}

/// A class whose type object is built but not registered: nothing of it is
/// visible to other plugins until [`publish`].
pub enum PreparedClass {
    /// A new type, with its registry record.
    New {
        ty: Owned,
        data: &'static ClassData,
        record: TypeRecord,
        plugin: &'static str,
    },
    /// The same class (same crate, version and layout) is registered
    /// already: its type, checked compatible.
    Registered(Owned),
}

/// Builds the type of `desc`, owned by `plugin`, without registering it. If
/// the class's key is registered already, checks that the registered class
/// is compatible and uses its type. Fails with a Python error set, having
/// registered nothing.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub unsafe fn prepare(
    desc: &'static ClassDesc,
    functions: ClassFunctions,
    plugin: &'static str,
    plugin_version: &'static str,
) -> Result<PreparedClass, ()> {
    let class = desc.class;
    let joined = internals::joined().ok_or(())?;
    if let Some(existing) = internals::find_type_by_key(joined, class.key.as_str()) {
        return reuse(existing, class, plugin).map(PreparedClass::Registered);
    }

    let mut slots = [None; SlotKind::MAX.0 as usize + 1];
    let mut method_defs = Vec::new();
    let mut method_data = Vec::new();
    for (kind, slot, data) in &functions.methods {
        match *kind {
            MethodKind::SLOT => slots[slot.0 as usize] = Some(*data),
            MethodKind::STATIC => method_defs.push(call::entry::method_def(data, ffi::METH_STATIC)),
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
        leak_index: crate::leaks::new_class_index(),
        gc: functions.gc,
        ctor: functions.ctor,
        slots,
    }));

    let doc = class_doc(desc, functions.ctor);
    let c_doc: &'static CString = Box::leak(Box::new(errors::c_string(&doc)));
    let c_name: &'static CString = Box::leak(Box::new(errors::c_string(class.key.as_str())));
    let mut type_slots: Vec<ffi::PyType_Slot> = vec![
        slot(ffi::Py_tp_new, class_new as *mut c_void),
        slot(ffi::Py_tp_dealloc, instance::dealloc as *mut c_void),
        slot(ffi::Py_tp_doc, c_doc.as_ptr() as *mut c_void),
        slot(ffi::Py_tp_methods, method_defs.as_mut_ptr() as *mut c_void),
        slot(ffi::Py_tp_getset, getsets.as_mut_ptr() as *mut c_void),
    ];
    let collected = data.gc.traverse.is_some();
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
    for (kind, id, f) in [
        (SlotKind::ADD, ffi::Py_nb_add, slot_add as *mut c_void),
        (SlotKind::SUB, ffi::Py_nb_subtract, slot_sub as *mut c_void),
        (SlotKind::MUL, ffi::Py_nb_multiply, slot_mul as *mut c_void),
        (
            SlotKind::TRUEDIV,
            ffi::Py_nb_true_divide,
            slot_truediv as *mut c_void,
        ),
        (SlotKind::NEG, ffi::Py_nb_negative, slot_neg as *mut c_void),
        (SlotKind::BOOL, ffi::Py_nb_bool, slot_bool as *mut c_void),
    ] {
        if has(kind) {
            type_slots.push(slot(id, f));
        }
    }
    if has(SlotKind::LEN) {
        type_slots.push(slot(ffi::Py_sq_length, slot_len as *mut c_void));
        type_slots.push(slot(ffi::Py_mp_length, slot_len as *mut c_void));
    }
    if has(SlotKind::ITER) {
        type_slots.push(slot(ffi::Py_tp_iter, slot_iter as *mut c_void));
    }
    if has(SlotKind::GETITEM) {
        type_slots.push(slot(ffi::Py_sq_item, slot_sq_item as *mut c_void));
        type_slots.push(slot(ffi::Py_mp_subscript, slot_getitem as *mut c_void));
    }
    type_slots.push(slot(0, ptr::null_mut()));
    let type_slots: &'static mut [ffi::PyType_Slot] = Box::leak(type_slots.into_boxed_slice());

    let offset = instance::value_offset(class.align);
    let mut spec = ffi::PyType_Spec {
        name: c_name.as_ptr(),
        basicsize: (offset + class.size) as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_IMMUTABLETYPE
            | if collected {
                ffi::Py_TPFLAGS_HAVE_GC
            } else {
                0
            }) as _,
        slots: type_slots.as_mut_ptr(),
    };
    let ty = Owned::from_raw(ffi::PyType_FromSpec(&mut spec)).ok_or(())?;
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
        new_instance: oxbind_abi::abi_stable::std_types::RSome(instance::new_instance),
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
pub unsafe fn publish(prepared: PreparedClass) -> Result<Owned, ()> {
    let (ty, data, record, plugin) = match prepared {
        PreparedClass::Registered(ty) => return Ok(ty),
        PreparedClass::New {
            ty,
            data,
            record,
            plugin,
        } => (ty, data, record, plugin),
    };
    let joined = internals::joined().ok_or(())?;
    // Construction through vectorcall: no argument tuple or dict. Installed
    // here, so that a failed build uses none of the generated entry points.
    (*(ty.as_ptr() as *mut ffi::PyTypeObject)).tp_vectorcall = Some(class_entry(data));
    let class = data.desc.class;
    let winner = internals::register_type(joined, record);
    if winner.py_type() != ty.as_ptr() as *mut c_void {
        // Registered by someone else after `prepare` looked.
        return reuse(winner, class, plugin);
    }
    immortalize_type(ty.as_ptr());
    Ok(ty)
}

/// `tp_traverse` of GC classes: the type (a heap type), a wrapper's owner,
/// and the handles the plugin's value holds. It never changes a reference
/// count, as free-threaded CPython's collector requires, and takes no lock:
/// on free-threaded builds the collector has stopped every other thread.
unsafe extern "C" fn slot_traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let ty = ffi::Py_TYPE(obj) as *mut ffi::PyObject;
    let r = visit(ty, arg);
    if r != 0 {
        return r;
    }
    let h = instance::header(obj);
    // A freshly allocated instance is tracked before its header is written;
    // the allocator zeroed it, so its flags read as "not ready".
    let flags = h.flags.load(std::sync::atomic::Ordering::Acquire);
    let owner = h.owner as *mut ffi::PyObject;
    if !owner.is_null() {
        let r = visit(owner, arg);
        if r != 0 {
            return r;
        }
    }
    let both = instance_flags::READY | instance_flags::OWNED;
    // A value borrowed exclusively is being changed by a call that is
    // waiting somewhere (detached) with `&mut` to it: reading it here would
    // alias that `&mut`. Its handles go unvisited this time, which only
    // makes their objects look referenced from outside (never collected
    // wrongly); the call in progress keeps this object alive anyway.
    let exclusively_borrowed = h.borrow.load(std::sync::atomic::Ordering::Acquire) == u32::MAX;
    if flags & both == both && !exclusively_borrowed {
        let class = class_of(obj);
        if let Some(traverse) = class.gc.traverse.into_option() {
            // Handle releases (and clones) inside the hook are pooled, never
            // applied: a count changed mid-collection corrupts it.
            return crate::sync::refpool::traversing(|| {
                traverse(h.value, visit as *const c_void, arg)
            });
        }
    }
    0
}

/// `tp_clear` of GC classes: drops the handles the value holds, through the
/// plugin's `Traverse::clear`, holding an exclusive borrow of the value.
///
/// The collector's verdict is not trusted for memory safety: a `traverse`
/// hook written in safe code can visit one handle twice, or visit a handle
/// that another object (or a thread, through an `Arc`) also holds, and then
/// a live object looks like garbage. So:
/// - a value someone has borrowed is left alone, and the borrow is taken
///   with the same atomic operation calls use, so no call can begin
///   borrowing it while `clear` runs (on 3.13t `tp_clear` runs after the
///   collector has restarted the world);
/// - a reference wrapper keeps its owner: a thread that is using the wrapper
///   relies on that reference, and no cycle needs it broken (a cycle through
///   a wrapper also passes through a value that holds a handle, and that
///   value's own `clear` breaks it).
///
/// A wrong verdict therefore costs at most a live value's handles, which is
/// what `clear` is allowed to do at any time (`spec/SOUNDNESS.md`, §3).
unsafe extern "C" fn slot_clear(obj: *mut ffi::PyObject) -> c_int {
    use std::sync::atomic::Ordering;
    let h = instance::header(obj);
    let flags = h.flags.load(Ordering::Acquire);
    let both = instance_flags::READY | instance_flags::OWNED;
    if flags & both == both {
        let class = class_of(obj);
        if let Some(clear) = class.gc.clear.into_option() {
            let value = h.value;
            instance::with_exclusive_value(obj, || clear(value));
        }
    }
    0
}

/// `TypeRecord::live_instances` of the classes this copy creates.
unsafe extern "C" fn live_instances(record: TypeRecord_Ref) -> i64 {
    // SAFETY: this copy created the record, so its class data is ours.
    let class = &*(record.class_data() as *const ClassData);
    crate::leaks::live(class.leak_index).unwrap_or(0)
}

/// Makes a registered type and the descriptors in its dict immortal
/// (free-threaded builds; see `instance::immortalize`).
unsafe fn immortalize_type(ty: *mut ffi::PyObject) {
    let dict = (*(ty as *mut ffi::PyTypeObject)).tp_dict;
    if !dict.is_null() {
        let (mut pos, mut key, mut value) = (0, ptr::null_mut(), ptr::null_mut());
        while ffi::PyDict_Next(dict, &mut pos, &mut key, &mut value) != 0 {
            let kind = std::ffi::CStr::from_ptr((*ffi::Py_TYPE(value)).tp_name).to_bytes();
            if matches!(
                kind,
                b"method_descriptor" | b"getset_descriptor" | b"staticmethod"
            ) {
                instance::immortalize(value);
            }
        }
    }
    instance::immortalize(ty);
}

fn slot(id: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot: id, pfunc }
}

/// A class already registered under the same key: the same class loaded
/// again (say, as a plugin and as an extension module) shares one type.
unsafe fn reuse(
    existing: TypeRecord_Ref,
    class: &'static ClassRef,
    plugin: &str,
) -> Result<Owned, ()> {
    if let Err(why) = check_compatible(class, existing) {
        errors::import_error(
            &format!("{plugin}: cannot define class {}: it is already registered by plugin '{}' and {why}", class.key.as_str(), existing.owner().as_str()),
            None,
        );
        return Err(());
    }
    Ok(Owned::from_borrowed(
        existing.py_type() as *mut ffi::PyObject
    ))
}

/// `Point(x, y)\n--\n\n<class doc>`: the constructor's signature on the type.
fn class_doc(desc: &ClassDesc, ctor: Option<&FunctionData>) -> String {
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

/// The record of `class` for a function of `plugin`, checked.
///
/// # Safety
/// The thread is attached.
pub unsafe fn resolve(
    class: &'static ClassRef,
    plugin: &str,
    context: &str,
) -> Result<TypeRecord_Ref, ()> {
    let Some(joined) = internals::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind: no runtime");
        return Err(());
    };
    let Some(record) = internals::find_type_by_key(joined, class.key.as_str()) else {
        errors::type_error(&format!(
            "{context}() needs class {}, which plugin '{}' defines, but '{}' is not loaded",
            class.key.as_str(),
            class.module(),
            class.module()
        ));
        return Err(());
    };
    if let Err(why) = check_compatible(class, record) {
        errors::type_error(&format!(
            "{context}() cannot use class {} ({plugin}): {why}",
            class.key.as_str()
        ));
        return Err(());
    }
    Ok(record)
}

/// Whether a plugin's view of a class matches the registered class.
pub fn check_compatible(class: &ClassRef, record: TypeRecord_Ref) -> Result<(), String> {
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

thread_local! {
    /// Function data of implicit conversions, per converter descriptor.
    static CONVERTERS: RefCell<HashMap<usize, &'static FunctionData>> = RefCell::new(HashMap::new());
}

/// Tries the implicit conversions registered for `class` on `obj`, in
/// order. A conversion applies to a tuple whose items match its parameters,
/// or to a single object matching its only parameter. Returns the new
/// temporary instance, or None if no conversion applies.
///
/// # Safety
/// The thread is attached.
pub unsafe fn convert_implicitly(
    obj: *mut ffi::PyObject,
    class: &'static ClassRef,
    record: TypeRecord_Ref,
) -> Result<Option<Owned>, ()> {
    let Some(joined) = internals::joined() else {
        return Ok(None);
    };
    let i = joined.internals;
    for index in 0.. {
        let Some(conv) = (i.conversion_at())(i.state(), class.key, index) else {
            break;
        };
        let data = converter_data(conv)?;
        let nparams = conv.params.len();
        let result = if ffi::PyTuple_Check(obj) != 0
            && ffi::PyTuple_GET_SIZE(obj) as usize == nparams
            && nparams != 1
        {
            let items: Vec<*mut ffi::PyObject> = (0..nparams)
                .map(|k| ffi::PyTuple_GET_ITEM(obj, k as ffi::Py_ssize_t))
                .collect();
            call::dispatch::dispatch(
                data,
                ptr::null_mut(),
                items.as_ptr(),
                nparams as _,
                ptr::null_mut(),
                Mode::Raise,
            )
        } else if nparams == 1 {
            let items = [obj];
            call::dispatch::dispatch(
                data,
                ptr::null_mut(),
                items.as_ptr(),
                1,
                ptr::null_mut(),
                Mode::Raise,
            )
        } else {
            continue;
        };
        match Owned::from_raw(result) {
            Some(converted) if instance::is_instance(converted.as_ptr(), record) => {
                return Ok(Some(converted))
            }
            Some(_) => continue,
            // This conversion does not apply; try the next.
            None => ffi::PyErr_Clear(),
        }
    }
    Ok(None)
}

unsafe fn converter_data(conv: &'static FunctionDesc) -> Result<&'static FunctionData, ()> {
    let key = conv as *const FunctionDesc as usize;
    if let Some(d) = CONVERTERS.with(|c| c.borrow().get(&key).copied()) {
        return Ok(d);
    }
    let defaults: Vec<Option<ArgValue<'static>>> = conv
        .params
        .as_slice()
        .iter()
        .map(|p| p.default.as_ref().into_option().copied())
        .collect();
    let owner = conv.ret.class.map_or("<conversion>", |c| c.module());
    let data = call::new_data(
        conv,
        defaults,
        conv.name.as_str().to_owned(),
        owner,
        conv.name.as_str(),
    )?;
    CONVERTERS.with(|c| c.borrow_mut().insert(key, data));
    Ok(data)
}

// ---------------------------------------------------------------------------
// Type slots. Each reads the class data of the type this copy created.

unsafe fn class_of<'a>(obj: *mut ffi::PyObject) -> &'a ClassData {
    &*(instance::header(obj).record.class_data() as *const ClassData)
}

/// Whether `obj` is an instance of a class this copy created.
unsafe fn is_ours(obj: *mut ffi::PyObject) -> bool {
    // Our types, and only ours, have this copy's dealloc.
    match (*ffi::Py_TYPE(obj)).tp_dealloc {
        Some(d) => std::ptr::fn_addr_eq(
            d,
            instance::dealloc as unsafe extern "C" fn(*mut ffi::PyObject),
        ),
        None => false,
    }
}

unsafe fn invoke(
    obj: *mut ffi::PyObject,
    kind: SlotKind,
    args: &[*mut ffi::PyObject],
    mode: Mode,
) -> *mut ffi::PyObject {
    match class_of(obj).slots[kind.0 as usize] {
        Some(data) => call::dispatch::dispatch(
            data,
            obj,
            args.as_ptr(),
            args.len() as _,
            ptr::null_mut(),
            mode,
        ),
        None => ffi::Py_NewRef(ffi::Py_NotImplemented()),
    }
}

include!(concat!(env!("OUT_DIR"), "/class_entry_points.rs"));

/// Class data by constructor slot, for [`class_entry_point`]. Written once
/// per slot (before the type is visible), never freed.
static CLASS_SLOTS: [AtomicPtr<ClassData>; CLASS_SLOT_COUNT] =
    [const { AtomicPtr::new(ptr::null_mut()) }; CLASS_SLOT_COUNT];
static NEXT_CLASS_SLOT: AtomicUsize = AtomicUsize::new(0);

/// The `tp_vectorcall` for a new class: a direct entry point that knows
/// its class, or, once every slot is taken, the registry-based one.
fn class_entry(data: &'static ClassData) -> ffi::vectorcallfunc {
    let slot = NEXT_CLASS_SLOT.fetch_add(1, Ordering::Relaxed);
    if slot >= CLASS_SLOT_COUNT {
        return class_vectorcall;
    }
    CLASS_SLOTS[slot].store(
        data as *const ClassData as *mut ClassData,
        Ordering::Release,
    );
    CLASS_ENTRY_POINTS[slot]
}

/// Construction through a class's own slot: no registry lookup.
unsafe extern "C" fn class_entry_point<const I: usize>(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the slot was filled before its entry point was installed.
    let data = &*CLASS_SLOTS[I].load(Ordering::Acquire);
    construct(data, callable, args, nargsf, kwnames)
}

/// Calls the constructor of `data`'s class.
#[inline(always)]
unsafe fn construct(
    data: &ClassData,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(ctor) = data.ctor else {
        errors::type_error(&format!(
            "cannot create '{}' instances: the class has no constructor",
            errors::type_name_of_type(callable)
        ));
        return ptr::null_mut();
    };
    let nargs = ffi::PyVectorcall_NARGS(nargsf);
    call::dispatch::dispatch(ctor, ptr::null_mut(), args, nargs, kwnames, Mode::Raise)
}

unsafe extern "C" fn class_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let Some(joined) = internals::joined() else {
        return ptr::null_mut();
    };
    let Some(record) = internals::find_type_by_object(joined, callable) else {
        errors::type_error("oxbind: unregistered class");
        return ptr::null_mut();
    };
    let data = &*(record.class_data() as *const ClassData);
    construct(data, callable, args, nargsf, kwnames)
}

/// `tp_new`, for calls that do not go through vectorcall.
unsafe extern "C" fn class_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let nargs = ffi::PyTuple_GET_SIZE(args) as usize;
    let mut all: Vec<*mut ffi::PyObject> = (0..nargs)
        .map(|k| ffi::PyTuple_GET_ITEM(args, k as _))
        .collect();
    let mut kwnames = ptr::null_mut();
    let _names;
    if !kwargs.is_null() && ffi::PyDict_Size(kwargs) > 0 {
        let Some(names) = Owned::from_raw(ffi::PyTuple_New(ffi::PyDict_Size(kwargs))) else {
            return ptr::null_mut();
        };
        let (mut pos, mut key, mut value) = (0, ptr::null_mut(), ptr::null_mut());
        let mut k = 0;
        while ffi::PyDict_Next(kwargs, &mut pos, &mut key, &mut value) != 0 {
            ffi::PyTuple_SetItem(names.as_ptr(), k, ffi::Py_NewRef(key));
            all.push(value);
            k += 1;
        }
        kwnames = names.as_ptr();
        _names = names;
    }
    class_vectorcall(ty as *mut ffi::PyObject, all.as_ptr(), nargs, kwnames)
}

unsafe extern "C" fn property_get(
    obj: *mut ffi::PyObject,
    closure: *mut c_void,
) -> *mut ffi::PyObject {
    let p = &*(closure as *const PropertyData);
    call::dispatch::dispatch(p.get, obj, ptr::null(), 0, ptr::null_mut(), Mode::Raise)
}

unsafe extern "C" fn property_set(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    closure: *mut c_void,
) -> c_int {
    let p = &*(closure as *const PropertyData);
    let Some(set) = p.set else {
        errors::raise(
            ffi::PyExc_AttributeError,
            &format!(
                "property '{}' of '{}' object is read-only",
                p.name,
                errors::type_name(obj)
            ),
        );
        return -1;
    };
    if value.is_null() {
        errors::raise(
            ffi::PyExc_AttributeError,
            &format!("cannot delete property '{}'", p.name),
        );
        return -1;
    }
    let args = [value];
    match Owned::from_raw(call::dispatch::dispatch(
        set,
        obj,
        args.as_ptr(),
        1,
        ptr::null_mut(),
        Mode::Raise,
    )) {
        Some(_) => 0,
        None => -1,
    }
}

unsafe extern "C" fn slot_repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::REPR, &[], Mode::Raise)
}

unsafe extern "C" fn slot_str(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::STR, &[], Mode::Raise)
}

unsafe extern "C" fn slot_richcompare(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    op: c_int,
) -> *mut ffi::PyObject {
    let (kind, negate) = match op {
        ffi::Py_EQ => (SlotKind::EQ, false),
        ffi::Py_NE => (SlotKind::EQ, true),
        ffi::Py_LT => (SlotKind::LT, false),
        ffi::Py_LE => (SlotKind::LE, false),
        ffi::Py_GT => (SlotKind::GT, false),
        ffi::Py_GE => (SlotKind::GE, false),
        _ => return ffi::Py_NewRef(ffi::Py_NotImplemented()),
    };
    let result = invoke(a, kind, &[b], Mode::NotImplemented);
    if !negate || result.is_null() || result == ffi::Py_NotImplemented() {
        return result;
    }
    let truth = ffi::PyObject_IsTrue(result);
    ffi::Py_DECREF(result);
    if truth < 0 {
        return ptr::null_mut();
    }
    ffi::PyBool_FromLong((truth == 0) as c_long)
}

unsafe extern "C" fn slot_hash(obj: *mut ffi::PyObject) -> ffi::Py_hash_t {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::HASH, &[], Mode::Raise)) else {
        return -1;
    };
    let h = ffi::PyObject_Hash(result.as_ptr());
    if h == -1 && !ffi::PyErr_Occurred().is_null() {
        return -1;
    }
    if h == -1 {
        -2
    } else {
        h
    }
}

unsafe fn binary(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    kind: SlotKind,
) -> *mut ffi::PyObject {
    if !is_ours(a) {
        // Reflected operations (`3 + p`) are not supported.
        return ffi::Py_NewRef(ffi::Py_NotImplemented());
    }
    invoke(a, kind, &[b], Mode::NotImplemented)
}

unsafe extern "C" fn slot_add(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::ADD)
}
unsafe extern "C" fn slot_sub(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::SUB)
}
unsafe extern "C" fn slot_mul(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::MUL)
}
unsafe extern "C" fn slot_truediv(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    binary(a, b, SlotKind::TRUEDIV)
}

unsafe extern "C" fn slot_neg(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::NEG, &[], Mode::Raise)
}

unsafe extern "C" fn slot_bool(obj: *mut ffi::PyObject) -> c_int {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::BOOL, &[], Mode::Raise)) else {
        return -1;
    };
    ffi::PyObject_IsTrue(result.as_ptr())
}

unsafe extern "C" fn slot_len(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    let Some(result) = Owned::from_raw(invoke(obj, SlotKind::LEN, &[], Mode::Raise)) else {
        return -1;
    };
    let n = ffi::PyLong_AsSsize_t(result.as_ptr());
    if n < 0 && ffi::PyErr_Occurred().is_null() {
        // -1 without an exception would break CPython's error protocol.
        errors::raise(
            ffi::PyExc_ValueError,
            &format!(
                "{}.__len__() returned {n}; it should return >= 0",
                errors::type_name(obj)
            ),
        );
        return -1;
    }
    n
}

unsafe extern "C" fn slot_iter(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let Some(items) = Owned::from_raw(invoke(obj, SlotKind::ITER, &[], Mode::Raise)) else {
        return ptr::null_mut();
    };
    ffi::PyObject_GetIter(items.as_ptr())
}

unsafe extern "C" fn slot_getitem(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    invoke(obj, SlotKind::GETITEM, &[key], Mode::Raise)
}

unsafe extern "C" fn slot_sq_item(
    obj: *mut ffi::PyObject,
    index: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let Some(key) = Owned::from_raw(ffi::PyLong_FromSsize_t(index)) else {
        return ptr::null_mut();
    };
    invoke(obj, SlotKind::GETITEM, &[key.as_ptr()], Mode::Raise)
}
