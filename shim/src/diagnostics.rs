//! Functions that show and control the shared runtime from Python:
//! `internals_info()`, `set_leak_warnings()`, and the hooks the tests use.
//!
//! The `oxbind` module exposes them directly. An extension module that embeds
//! a shim exposes them on its `__oxbind__` attribute, so every copy can be
//! asked what it sees.

use std::ptr;

use oxbind_internals::{Internals_Ref, VERSION};
use pyo3_ffi as ffi;

use crate::{
    py::errors,
    py::module_def::CpythonStatic,
    py::owned::Owned,
    runtime::{publish::version_of, Joined},
    SHIM_VERSION,
};

const INFO_DOC: &str = "internals_info()\n--\n\n\
Describe the shared oxbind runtime as this module's shim copy sees it: its runtime id, \
internals ABI version, creator, the shim copies that joined it, and its counts. Every module \
on the same runtime reports the same values, except 'this_copy'.\0";

const REGISTER_DOC: &str = "_register_type(key, type)\n--\n\n\
Diagnostics: register `type` in the shared type registry under `key`. Returns True if this \
registration took effect, False if the key was already registered.\0";

const FIND_DOC: &str = "_find_type(key_or_type)\n--\n\n\
Diagnostics: look up a registered type by key (str) or by type object. Returns \
(key, type, owner) or None.\0";

const LEAK_DOC: &str = "set_leak_warnings(enabled)\n--\n\n\
Turn the leak report at interpreter exit on (True, the default) or off (False) for the whole \
runtime: every plugin and extension module sharing it. With the report off, a leak also never \
changes the exit status (OXBIND_LEAKS_FATAL). See spec/LEAKS.md.\0";

const LIVE_DOC: &str = "_live_instances(key)\n--\n\n\
Diagnostics: how many instances of the registered class `key` are alive now, as the leak \
report counts them; None if the class is not registered or not counted.\0";

/// The diagnostics functions, as module-level functions.
pub static METHODS: CpythonStatic<[ffi::PyMethodDef; 6]> = CpythonStatic::new([
    ffi::PyMethodDef {
        ml_name: c"set_leak_warnings".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: set_leak_warnings,
        },
        ml_flags: ffi::METH_O,
        ml_doc: LEAK_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"_live_instances".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: live_instances,
        },
        ml_flags: ffi::METH_O,
        ml_doc: LIVE_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"internals_info".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: internals_info,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: INFO_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"_register_type".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: register_type,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: REGISTER_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"_find_type".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: find_type,
        },
        ml_flags: ffi::METH_O,
        ml_doc: FIND_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef::zeroed(),
]);

/// The runtime this copy joined, or `None` with RuntimeError set.
///
/// # Safety
/// The thread is attached.
unsafe fn joined() -> Option<&'static crate::runtime::Joined> {
    let j = crate::runtime::joined();
    if j.is_none() {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_RuntimeError is an exception class CPython set up at start-up.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                "this oxbind copy has not joined a runtime",
            );
        }
    }
    j
}

/// # Safety
/// Called by CPython as the `METH_NOARGS` function `internals_info` of a
/// module [`add_to`] added it to, on an attached thread.
unsafe extern "C" fn internals_info(
    _m: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this on an attached thread (this function's
    // contract), which is all `joined` and `info_dict` require.
    unsafe {
        let Some(j) = joined() else {
            return ptr::null_mut();
        };
        crate::diagnostics::info_dict(j).map_or(ptr::null_mut(), Owned::into_raw)
    }
}

/// # Safety
/// Called by CPython as the `METH_O` function `set_leak_warnings` of a module
/// [`add_to`] added it to, on an attached thread; `arg` is a live object
/// CPython keeps alive for the call.
unsafe extern "C" fn set_leak_warnings(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `arg` is live for the call (this
    // function's contract).
    if unsafe { ffi::PyBool_Check(arg) } == 0 {
        // SAFETY: as above: attached, and `arg` is live for the call.
        unsafe {
            errors::type_error(&format!(
                "set_leak_warnings() argument 'enabled' must be bool, not {}",
                errors::type_name(arg)
            ));
        }
        return ptr::null_mut();
    }
    // SAFETY: the thread is attached (this function's contract).
    let Some(j) = (unsafe { joined() }) else {
        return ptr::null_mut();
    };
    let i = j.internals;
    let Some(set) = i.set_leak_warnings() else {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_RuntimeError is an exception class CPython set up at start-up.
        unsafe {
            errors::raise(
                ffi::PyExc_RuntimeError,
                &format!(
                    "set_leak_warnings(): this runtime's creator ({}) predates the leak report",
                    i.creator().as_str()
                ),
            );
        }
        return ptr::null_mut();
    };
    // SAFETY: `set` is the creator's function from the joined runtime's
    // internals and gets that runtime's own `state`, on an attached thread as
    // the internals require; Py_True and Py_None are immortal singletons.
    unsafe {
        set(i.state(), arg == ffi::Py_True());
        ffi::Py_NewRef(ffi::Py_None())
    }
}

/// # Safety
/// Called by CPython as the `METH_O` function `_live_instances` of a module
/// [`add_to`] added it to, on an attached thread; `arg` is a live object
/// CPython keeps alive for the call.
unsafe extern "C" fn live_instances(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached and `arg` is live for the call (this
    // function's contract).
    let Some(key) = (unsafe { str_arg(arg, "_live_instances", "key") }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached (this function's contract).
    let Some(j) = (unsafe { joined() }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached and `j` is the runtime this copy joined;
    // `live` is the counting function of the registered record `r` (records
    // and the code of every copy live as long as the process) and gets that
    // record.
    let live_count = unsafe {
        crate::runtime::registry::find_type_by_key(j, &key).and_then(|r| match r.live_instances() {
            Some(oxbind_internals::abi_stable::std_types::RSome(live)) => Some(live(r)),
            _ => None,
        })
    };
    match live_count {
        // SAFETY: the thread is attached (this function's contract); Py_None
        // is an immortal singleton.
        Some(n) => unsafe { ffi::PyLong_FromLongLong(n) },
        // SAFETY: as above.
        None => unsafe { ffi::Py_NewRef(ffi::Py_None()) },
    }
}

/// # Safety
/// Called by CPython as the `METH_FASTCALL` function `_register_type` of a
/// module [`add_to`] added it to, on an attached thread: `args` points to
/// `nargs` live objects CPython keeps alive for the call.
unsafe extern "C" fn register_type(
    _m: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if nargs != 2 {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::type_error(&format!(
                "_register_type() takes 2 arguments ({nargs} given)"
            ));
        }
        return ptr::null_mut();
    }
    // SAFETY: `args` points to `nargs` (checked above to be 2) argument
    // pointers (this function's contract).
    let (key, ty) = unsafe { (*args, *args.add(1)) };
    // SAFETY: the thread is attached and `key` is a live argument of the call.
    let Some(key) = (unsafe { str_arg(key, "_register_type", "key") }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached and `ty` is a live argument of the call.
    if unsafe { ffi::PyType_Check(ty) } == 0 {
        // SAFETY: as above: attached, and `ty` is live for the call.
        unsafe {
            errors::type_error(&format!(
                "_register_type() argument 'type' must be a type, not {}",
                errors::type_name(ty)
            ));
        }
        return ptr::null_mut();
    }
    // SAFETY: the thread is attached (this function's contract).
    let Some(j) = (unsafe { joined() }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached, `j` is the runtime this copy joined,
    // and the record's `py_type` is `ty`, checked above to be a type object.
    let winner = unsafe {
        crate::runtime::registry::register_type(
            j,
            crate::runtime::registry::plain_record(&key, ty, "<diagnostics>", "0"),
        )
    };
    // SAFETY: the thread is attached (this function's contract).
    unsafe { ffi::PyBool_FromLong((winner.py_type() == ty as *mut _) as _) }
}

/// # Safety
/// Called by CPython as the `METH_O` function `_find_type` of a module
/// [`add_to`] added it to, on an attached thread; `arg` is a live object
/// CPython keeps alive for the call.
unsafe extern "C" fn find_type(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract).
    let Some(j) = (unsafe { joined() }) else {
        return ptr::null_mut();
    };
    // SAFETY: the thread is attached and `arg` is live for the call (this
    // function's contract).
    let record = if unsafe { ffi::PyUnicode_Check(arg) } != 0 {
        // SAFETY: as above: attached, and `arg` is live for the call.
        let Some(key) = (unsafe { str_arg(arg, "_find_type", "key_or_type") }) else {
            return ptr::null_mut();
        };
        // SAFETY: the thread is attached and `j` is the runtime this copy
        // joined.
        unsafe { crate::runtime::registry::find_type_by_key(j, &key) }
    // SAFETY: the thread is attached and `arg` is live for the call.
    } else if unsafe { ffi::PyType_Check(arg) } != 0 {
        // SAFETY: the thread is attached and `j` is the runtime this copy
        // joined; `arg` is a live type object.
        unsafe { crate::runtime::registry::find_type_by_object(j, arg) }
    } else {
        // SAFETY: the thread is attached and `arg` is live for the call.
        unsafe {
            errors::type_error(&format!(
                "_find_type() argument 'key_or_type' must be str or type, not {}",
                errors::type_name(arg)
            ));
        }
        return ptr::null_mut();
    };
    let Some(r) = record else {
        // SAFETY: the thread is attached; Py_None is an immortal singleton.
        return unsafe { ffi::Py_NewRef(ffi::Py_None()) };
    };
    // SAFETY: the thread is attached; a registered record and the type it
    // names live as long as the process (the registry holds a strong
    // reference to the type forever).
    let parts = unsafe {
        [
            errors::new_str(r.key().as_str()),
            ffi::Py_NewRef(r.py_type() as *mut ffi::PyObject),
            errors::new_str(r.owner().as_str()),
        ]
    };
    if parts.iter().any(|p| p.is_null()) {
        for p in parts.into_iter().filter(|p| !p.is_null()) {
            // SAFETY: attached; each non-null part is a new reference made
            // above and owned by this function alone.
            unsafe { ffi::Py_DECREF(p) };
        }
        return ptr::null_mut();
    }
    // SAFETY: the thread is attached (this function's contract).
    let tuple = unsafe { ffi::PyTuple_New(3) };
    if tuple.is_null() {
        return ptr::null_mut();
    }
    for (i, p) in parts.into_iter().enumerate() {
        // SAFETY: `tuple` is a new 3-tuple only this function sees, `i` < 3,
        // and `p` is a non-null new reference owned here, which SetItem
        // steals.
        unsafe { ffi::PyTuple_SetItem(tuple, i as ffi::Py_ssize_t, p) };
    }
    tuple
}

/// `obj` as a Rust string, or `None` with TypeError (not a str) or the
/// decoding error set.
///
/// # Safety
/// The thread is attached and `obj` is a live object the caller keeps alive.
unsafe fn str_arg(obj: *mut ffi::PyObject, func: &str, param: &str) -> Option<String> {
    // SAFETY: the thread is attached and `obj` is live (this function's
    // contract).
    if unsafe { ffi::PyUnicode_Check(obj) } == 0 {
        // SAFETY: as above: attached, and `obj` is live.
        unsafe {
            errors::type_error(&format!(
                "{func}() argument '{param}' must be str, not {}",
                errors::type_name(obj)
            ));
        }
        return None;
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: the thread is attached and `obj` is a live str (checked above).
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj, &mut len) };
    if data.is_null() {
        return None;
    }
    // SAFETY: `data` is non-null and points to `len` bytes of UTF-8 cached in
    // `obj`, which the caller keeps alive past this copy.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len as usize) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Adds the diagnostics functions to `target` (a module), bound to `target`.
///
/// # Safety
/// The thread is attached and `target` is a module.
pub unsafe fn add_to(target: *mut ffi::PyObject) -> Result<(), ()> {
    // SAFETY: the thread is attached and `target` is a module (this
    // function's contract); METHODS is a static, null-terminated method
    // table that lives as long as the process.
    if unsafe { ffi::PyModule_AddFunctions(target, METHODS.get() as *mut ffi::PyMethodDef) } < 0 {
        return Err(());
    }
    Ok(())
}

// --- `internals_info()` ---

/// This copy's view of the runtime, for `internals_info()`.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn info_dict(joined: &Joined) -> Result<Owned, ()> {
    let i = joined.internals;
    // SAFETY: `stats` is the creator's function from the joined runtime's
    // internals and gets that runtime's own `state`, on an attached thread
    // (this function's contract) as the internals require.
    let stats = unsafe { (i.stats())(i.state()) };
    // SAFETY: the thread is attached; PyDict_New returns a new reference or
    // null, as `from_raw` takes.
    let dict = unsafe { Owned::from_raw(ffi::PyDict_New()) }.ok_or(())?;
    // The dict also holds name reservations (`name:<plugin>` → path):
    // count the modules only.
    // SAFETY: the thread is attached, and `plugins` is the runtime's plugin
    // dict, which the internals hold forever; the items are strong
    // references `dict_items` returned.
    let plugins = unsafe {
        crate::sync::containers::dict_items(i.plugins() as *mut ffi::PyObject)
            .iter()
            .filter(|(_, v)| ffi::PyModule_Check(v.as_ptr()) != 0)
            .count()
    } as ffi::Py_ssize_t;
    // SAFETY: the thread is attached; every value is a new reference or null
    // (with an error set), which `set_item` takes over.
    unsafe {
        #[allow(clippy::unnecessary_cast)] // RuntimeId is u32 with the fixture-bad-layout feature
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
    }
    // SAFETY: the thread is attached; PyList_New returns a new reference or
    // null, as `from_raw` takes.
    let copies = unsafe { Owned::from_raw(ffi::PyList_New(0)) }.ok_or(())?;
    for index in 0..stats.copies {
        // SAFETY: `copy_at` is the creator's function from the joined
        // runtime's internals and gets that runtime's own `state`, on an
        // attached thread.
        let Some(c) = unsafe { (i.copy_at())(i.state(), index) }.into_option() else {
            break;
        };
        let text = format!(
            "{} (shim {}, internals ABI {})",
            c.module.as_str(),
            c.shim_version.as_str(),
            version_of(c.version)
        );
        // SAFETY: the thread is attached; `new_str` returns a new reference
        // or null, as `from_raw` takes.
        let item = unsafe { Owned::from_raw(errors::new_str(&text)) }.ok_or(())?;
        // SAFETY: attached; `copies` is a list and `item` a live object, both
        // owned here (Append takes its own reference).
        if unsafe { ffi::PyList_Append(copies.as_ptr(), item.as_ptr()) } < 0 {
            return Err(());
        }
    }
    // SAFETY: the thread is attached; every value is a new reference or null
    // (with an error set), which `set_item` takes over.
    unsafe {
        set_item(&dict, "copies", copies.into_raw())?;
        set_item(
            &dict,
            "this_copy",
            errors::new_str(&this_copy_description(joined)),
        )?;
        set_item(&dict, "extension_field", extension_field(i))?;
    }
    Ok(dict)
}

pub(crate) fn this_copy_description(joined: &Joined) -> String {
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
///
/// # Safety
/// The thread is attached.
#[cfg(feature = "fixture-next-minor")]
pub(crate) unsafe fn extension_field(i: Internals_Ref) -> *mut ffi::PyObject {
    match i.motto() {
        // SAFETY: the thread is attached (this function's contract).
        Some(m) => unsafe { errors::new_str(m.as_str()) },
        // SAFETY: the thread is attached; Py_None is an immortal singleton.
        None => unsafe { ffi::Py_NewRef(ffi::Py_None()) },
    }
}

/// The value of the newer-minor fixture's field: `None`, as this copy does
/// not know the field.
///
/// # Safety
/// The thread is attached.
#[cfg(not(feature = "fixture-next-minor"))]
pub(crate) unsafe fn extension_field(_: Internals_Ref) -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract); Py_None is
    // an immortal singleton.
    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
}

/// Sets `dict[key] = value`, taking over `value`.
///
/// # Safety
/// The thread is attached; `dict` is a dict; `value` is null (with an error
/// set) or a new reference, which this function takes over and releases on
/// every path.
pub(crate) unsafe fn set_item(
    dict: &Owned,
    key: &str,
    value: *mut ffi::PyObject,
) -> Result<(), ()> {
    // SAFETY: `value` is null or a new reference the caller hands over (this
    // function's contract).
    let value = unsafe { Owned::from_raw(value) }.ok_or(())?;
    let key = errors::c_string(key);
    // SAFETY: the thread is attached; `dict` and `value` are live objects
    // owned by the caller and this function, and `key` is a C string.
    if unsafe { ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
        return Err(());
    }
    Ok(())
}
