//! Enums (plugin ABI 0.1.9), in the runtime layer because the call path
//! converts members: a plugin's fieldless Rust enum as a Python
//! `enum.Enum` or `enum.IntEnum` subclass, made with the `enum` module's
//! functional API and registered under its key like a class, so that every
//! plugin converts the same members.
//!
//! An enum's record is a plain record (size and alignment 0, no instance
//! layout, no class data), so no code that reads instances ever takes a
//! member for an oxbind instance; its crate, version and (for a shared
//! enum) abi_stable layout are set, and are what [`check_compatible`]
//! compares: the layout records the variant names and discriminants.

use std::collections::HashSet;

use oxbind_abi::{
    abi_stable::std_types::ROption::{RNone, RSome},
    ClassRef, EnumDesc, EnumKind,
};
use oxbind_internals::{
    abi_stable::abi_stability::abi_checking::check_layout_compatibility, TypeRecord, TypeRecord_Ref,
};
use pyo3_ffi as ffi;

use crate::py::{errors, owned::Owned};
use crate::runtime::registry;

/// Checks an enum descriptor of plugin `module`.
pub(crate) fn validate(desc: &EnumDesc, module: &str) -> Result<(), String> {
    let class = desc.class;
    let name = class.name();
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    if class.module() != module || !ident(name) {
        return Err(format!(
            "enum key {:?} must be \"{module}.<identifier>\"",
            class.key.as_str()
        ));
    }
    if desc.kind.0 > EnumKind::INT_ENUM.0 {
        return Err(format!("enum {name}: unknown kind {}", desc.kind.0));
    }
    let variants = desc.variants.as_slice();
    if variants.is_empty() {
        return Err(format!("enum {name} has no members"));
    }
    let (mut names, mut values) = (HashSet::new(), HashSet::new());
    for v in variants {
        let n = v.name.as_str();
        if !ident(n) || n.starts_with('_') {
            return Err(format!(
                "enum {name}: member name {n:?} is not a public identifier"
            ));
        }
        if !names.insert(n) {
            return Err(format!("enum {name}: member {n} is listed twice"));
        }
        if !values.insert(v.value) {
            return Err(format!(
                "enum {name}: two members have the value {}",
                v.value
            ));
        }
    }
    Ok(())
}

/// Whether `record` is an enum's (a plain record naming a crate).
fn is_enum_record(record: TypeRecord_Ref) -> bool {
    record.size() == 0 && record.align() == 0 && !record.crate_name().is_empty()
}

/// Whether a plugin's view of an enum (`class`) matches the registered one.
pub(crate) fn check_compatible(class: &ClassRef, record: TypeRecord_Ref) -> Result<(), String> {
    if !is_enum_record(record) {
        return Err("that name is registered for a type that is not an oxbind enum".into());
    }
    let ours = format!(
        "{} {}",
        class.crate_name.as_str(),
        class.crate_version.as_str()
    );
    let theirs = format!(
        "{} {}",
        record.crate_name().as_str(),
        record.crate_version().as_str()
    );
    match (class.layout.into_option(), record.layout().into_option()) {
        (Some(mine), Some(owner)) => {
            check_layout_compatibility(owner, mine)
                .map_err(|e| {
                    format!(
                        "its members in {ours} do not match the owner's {theirs} (plugin '{}'): {}",
                        record.owner().as_str(),
                        crate::compat::summarize(&e.to_string())
                    )
                })
        }
        _ if ours == theirs => Ok(()),
        _ => Err(format!(
            "the enum is not declared shared (it does not derive StableAbi), so only code built from the same crate version can use it; this is {ours}, the owner has {theirs}"
        )),
    }
}

/// The enum type of `class`, registered by its owner, checked against
/// `class`. Err with TypeError set if it is not loaded or differs.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn resolve(
    class: &ClassRef,
    plugin: &str,
    context: &str,
) -> Result<*mut ffi::PyObject, ()> {
    let joined = crate::runtime::joined().ok_or(())?;
    // SAFETY: attached (this function's contract), and this copy has joined.
    let found = unsafe { registry::find_type_by_key(joined, class.key.as_str()) };
    let why = match found {
        Some(record) => match check_compatible(class, record) {
            Ok(()) => return Ok(record.py_type() as *mut ffi::PyObject),
            Err(why) => format!(
                "{context}() cannot use enum {} ({plugin}): {why}",
                class.key.as_str()
            ),
        },
        None => format!(
            "{context}() needs enum {}, which plugin '{}' defines, but '{}' is not loaded",
            class.key.as_str(),
            class.module(),
            class.module()
        ),
    };
    // SAFETY: attached (this function's contract).
    unsafe { errors::type_error(&why) };
    Err(())
}

/// The enum type for `desc`, made or (if a compatible one is registered)
/// reused, and registered. Returns a new reference.
///
/// # Safety
/// The thread is attached and holds no oxbind lock (making the type runs
/// the `enum` module's Python code); this copy has joined a runtime.
pub(crate) unsafe fn create(
    desc: &'static EnumDesc,
    plugin: &'static str,
    version: &'static str,
) -> Result<Owned, ()> {
    let class = desc.class;
    let joined = crate::runtime::joined().ok_or(())?;
    // SAFETY: attached (this function's contract), and joined.
    if let Some(record) = unsafe { registry::find_type_by_key(joined, class.key.as_str()) } {
        if let Err(why) = check_compatible(class, record) {
            // SAFETY: attached.
            unsafe {
                errors::raise(
                    ffi::PyExc_ImportError,
                    &format!("enum {} ({plugin}): {why}", class.key.as_str()),
                )
            };
            return Err(());
        }
        // SAFETY: a registered record's type lives for good; attached.
        return Ok(unsafe { Owned::from_borrowed(record.py_type() as *mut ffi::PyObject) });
    }
    // SAFETY: attached and no lock held (this function's contract).
    let ty = unsafe { make_type(desc) }?;
    let record = TypeRecord {
        crate_name: class.crate_name,
        crate_version: class.crate_version,
        layout: match class.layout {
            RSome(l) => RSome(l),
            RNone => RNone,
        },
        ..registry::plain_record(class.key.as_str(), ty.as_ptr(), plugin, version)
    };
    // SAFETY: attached, joined, and `record.py_type` is the type just made.
    let winner = unsafe { registry::register_type(joined, record) };
    if winner.py_type() == ty.as_ptr() as *mut std::ffi::c_void {
        return Ok(ty);
    }
    // Another copy registered one meanwhile: use it, if it is the same.
    if let Err(why) = check_compatible(class, winner) {
        // SAFETY: attached.
        unsafe {
            errors::raise(
                ffi::PyExc_ImportError,
                &format!("enum {} ({plugin}): {why}", class.key.as_str()),
            )
        };
        return Err(());
    }
    // SAFETY: a registered record's type lives for good; attached.
    Ok(unsafe { Owned::from_borrowed(winner.py_type() as *mut ffi::PyObject) })
}

/// `enum.Enum(name, [(member, value), ...], module=..., qualname=...)`
/// (or `IntEnum`), with the docstring set.
///
/// # Safety
/// The thread is attached and holds no oxbind lock.
unsafe fn make_type(desc: &EnumDesc) -> Result<Owned, ()> {
    let class = desc.class;
    let base = if desc.kind == EnumKind::INT_ENUM {
        c"IntEnum"
    } else {
        c"Enum"
    };
    // SAFETY: attached, no lock held (this function's
    // contract); every new reference (or null, with an error set) goes
    // straight into an `Owned`; the tuple and list are new, filled before
    // any other code sees them (their SET_ITEM macros steal references).
    unsafe {
        let module = Owned::from_raw(ffi::PyImport_ImportModule(c"enum".as_ptr())).ok_or(())?;
        let base = Owned::from_raw(ffi::PyObject_GetAttrString(module.as_ptr(), base.as_ptr()))
            .ok_or(())?;
        let variants = desc.variants.as_slice();
        let members = Owned::from_raw(ffi::PyList_New(variants.len() as _)).ok_or(())?;
        for (k, v) in variants.iter().enumerate() {
            let name = Owned::from_raw(errors::new_str(v.name.as_str())).ok_or(())?;
            let value = Owned::from_raw(ffi::PyLong_FromLongLong(v.value)).ok_or(())?;
            let pair =
                Owned::from_raw(ffi::PyTuple_Pack(2, name.as_ptr(), value.as_ptr())).ok_or(())?;
            ffi::PyList_SET_ITEM(members.as_ptr(), k as _, pair.into_raw());
        }
        let name = Owned::from_raw(errors::new_str(class.name())).ok_or(())?;
        let args =
            Owned::from_raw(ffi::PyTuple_Pack(2, name.as_ptr(), members.as_ptr())).ok_or(())?;
        let kwargs = Owned::from_raw(ffi::PyDict_New()).ok_or(())?;
        let module_name = Owned::from_raw(errors::new_str(class.module())).ok_or(())?;
        if ffi::PyDict_SetItemString(kwargs.as_ptr(), c"module".as_ptr(), module_name.as_ptr()) < 0
            || ffi::PyDict_SetItemString(kwargs.as_ptr(), c"qualname".as_ptr(), name.as_ptr()) < 0
        {
            return Err(());
        }
        let ty = Owned::from_raw(ffi::PyObject_Call(
            base.as_ptr(),
            args.as_ptr(),
            kwargs.as_ptr(),
        ))
        .ok_or(())?;
        let doc = desc.doc.as_str();
        if !doc.is_empty() {
            let doc = Owned::from_raw(errors::new_str(doc)).ok_or(())?;
            if ffi::PyObject_SetAttrString(ty.as_ptr(), c"__doc__".as_ptr(), doc.as_ptr()) < 0 {
                return Err(());
            }
        }
        Ok(ty)
    }
}

/// The value of `obj`, a member of `ty`; `None` if `obj` is not one.
///
/// # Safety
/// The thread is attached and holds no oxbind lock (reading `_value_` may
/// run Python code); `obj` is live and `ty` is an enum type.
pub(crate) unsafe fn member_value(
    obj: *mut ffi::PyObject,
    ty: *mut ffi::PyObject,
) -> Result<Option<i64>, ()> {
    // SAFETY: as this function's contract; the new
    // reference (or null) goes into an `Owned`.
    unsafe {
        if ffi::PyObject_TypeCheck(obj, ty as *mut ffi::PyTypeObject) == 0 {
            return Ok(None);
        }
        let value =
            Owned::from_raw(ffi::PyObject_GetAttrString(obj, c"_value_".as_ptr())).ok_or(())?;
        let v = ffi::PyLong_AsLongLong(value.as_ptr());
        if v == -1 && !ffi::PyErr_Occurred().is_null() {
            return Err(());
        }
        Ok(Some(v))
    }
}

/// The member of `ty` whose value is `value` (a new reference), or null
/// with ValueError set.
///
/// # Safety
/// The thread is attached and holds no oxbind lock (an enum's lookup may
/// run Python code); `ty` is an enum type.
pub(crate) unsafe fn member(ty: *mut ffi::PyObject, value: i64) -> *mut ffi::PyObject {
    // SAFETY: as this function's contract; the int is a
    // new reference (or null) taken by an `Owned`.
    unsafe {
        let Some(v) = Owned::from_raw(ffi::PyLong_FromLongLong(value)) else {
            return std::ptr::null_mut();
        };
        ffi::PyObject_CallOneArg(ty, v.as_ptr())
    }
}
