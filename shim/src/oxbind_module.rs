//! The `oxbind` extension module: `PyInit_oxbind`, its exec slot, and
//! `oxbind.load`.
//!
//! Shared state: loaded plugins live in the runtime's plugin table
//! (`plugin/table.rs`), keyed by canonical path and by name, and a loaded
//! plugin is also registered in `sys.modules` under its name. Both are dicts
//! changed with atomic dict operations only; no oxbind lock is held.

use std::{
    ffi::OsStr,
    os::{raw::c_int, unix::ffi::OsStrExt},
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    ptr,
};

use pyo3_ffi as ffi;

use crate::{
    diagnostics,
    plugin::build,
    plugin::open,
    plugin::table,
    py::errors,
    py::module_def::{standard_slots, CpythonStatic, SLOT_COUNT},
    py::owned::Owned,
    stubs, SHIM_VERSION,
};

const LOAD_DOC: &str = "load(path_or_name)\n--\n\n\
Load an oxbind plugin and return it as a module, registered in sys.modules under its name.\n\n\
`path_or_name` is a path (a str containing '/' or ending in '.so', bytes, or os.PathLike), or a\n\
plugin name such as 'geometry'. A name answers with the loaded plugin of that name if there is\n\
one; otherwise it is looked up as lib<name>.so or <name>.so in the directories of\n\
OXBIND_PLUGIN_PATH, then in those of sys.path.\n\n\
The file is checked before any of its code runs: it must be a shared library exporting an oxbind\n\
plugin root with a compatible ABI version and layout; otherwise ImportError says what is wrong.\n\
Then the plugin's init runs, if it has one; if it fails, ImportError (whose __cause__ is the\n\
plugin's error) is raised and nothing of the plugin stays registered.\n\n\
Loading the same file again returns the same module. A different file that claims the name of a\n\
loaded plugin or standalone oxbind module, or a name that sys.modules holds already, raises\n\
ImportError. Concurrent loads of one plugin build it once. Plugins are never unloaded.\0";

const PLUGINS_DOC: &str = "plugins()\n--\n\n\
The loaded plugins, sorted by name: one dict each with 'name', 'version', 'path', 'sdk_version'\n\
(the oxbind plugin ABI it was built against) and 'free_threading_safe'.\0";

static METHODS: CpythonStatic<[ffi::PyMethodDef; 4]> = CpythonStatic::new([
    ffi::PyMethodDef {
        ml_name: c"load".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: load },
        ml_flags: ffi::METH_O,
        ml_doc: LOAD_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"plugins".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: plugins,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: PLUGINS_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef {
        ml_name: c"stub".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: stub },
        ml_flags: ffi::METH_O,
        ml_doc: stubs::STUB_DOC.as_ptr() as *const _,
    },
    ffi::PyMethodDef::zeroed(),
]);

static MODULE_SLOTS: CpythonStatic<[ffi::PyModuleDef_Slot; SLOT_COUNT]> =
    CpythonStatic::new(standard_slots(ffi::PyModuleDef_Slot {
        slot: ffi::Py_mod_exec,
        value: exec as *mut _,
    }));

const MODULE_DOC: &str = "oxbind: one runtime for many independently built Rust extensions.\n\n\
oxbind.load(path) loads a plugin built with the oxbind SDK and returns it as a module.\0";

static MODULE_DEF: CpythonStatic<ffi::PyModuleDef> = CpythonStatic::new(ffi::PyModuleDef {
    m_base: ffi::PyModuleDef_HEAD_INIT,
    m_name: c"oxbind".as_ptr(),
    m_doc: MODULE_DOC.as_ptr() as *const _,
    m_size: 0,
    m_methods: METHODS.get() as *mut ffi::PyMethodDef,
    m_slots: MODULE_SLOTS.get() as *mut ffi::PyModuleDef_Slot,
    m_traverse: None,
    m_clear: None,
    m_free: None,
});

/// The module's init function: multi-phase, so CPython learns from the slots
/// that oxbind does not need the GIL.
///
/// # Safety
/// Called by CPython's import machinery.
#[cfg(feature = "extension-module")]
#[no_mangle]
pub unsafe extern "C" fn PyInit_oxbind() -> *mut ffi::PyObject {
    ffi::PyModuleDef_Init(MODULE_DEF.get())
}

/// Runs `body`, turning a panic into `oxbind.PanicError` and `err` as return.
unsafe fn guarded<T: Copy>(what: &str, err: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            errors::raise_panic(&format!("internal error in the oxbind shim in {what}"));
            err
        }
    }
}

unsafe extern "C" fn exec(module: *mut ffi::PyObject) -> c_int {
    guarded("module exec", -1, || exec_inner(module).map_or(-1, |()| 0))
}

unsafe fn exec_inner(module: *mut ffi::PyObject) -> Result<(), ()> {
    crate::runtime::publish::join("oxbind")?;
    let panic_error = errors::panic_error_type();
    if panic_error.is_null()
        || ffi::PyModule_AddObjectRef(module, c"PanicError".as_ptr(), panic_error) < 0
    {
        return Err(());
    }
    add_str(module, c"__version__", SHIM_VERSION)?;
    add_str(module, c"ABI_VERSION", oxbind_abi::ABI_VERSION_STR)?;
    add_str(
        module,
        c"INTERNALS_ABI_VERSION",
        &crate::runtime::publish::version_of(oxbind_internals::VERSION),
    )?;
    diagnostics::add_to(module)
}

unsafe fn add_str(
    module: *mut ffi::PyObject,
    name: &std::ffi::CStr,
    value: &str,
) -> Result<(), ()> {
    let value = Owned::from_raw(errors::new_str(value)).ok_or(())?;
    if ffi::PyModule_AddObjectRef(module, name.as_ptr(), value.as_ptr()) < 0 {
        return Err(());
    }
    Ok(())
}

unsafe extern "C" fn load(
    _module: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded("oxbind.load", ptr::null_mut(), || match load_inner(arg) {
        Ok(m) => m.into_raw(),
        Err(()) => ptr::null_mut(),
    })
}

/// `os.fspath(arg)` as a filesystem path.
unsafe fn fs_path(arg: *mut ffi::PyObject) -> Result<PathBuf, ()> {
    let Some(fspath) = Owned::from_raw(ffi::PyOS_FSPath(arg)) else {
        ffi::PyErr_Clear();
        errors::type_error(&format!(
            "load() argument 'path' must be str or os.PathLike, not {}",
            open::brief(errors::type_name(arg))
        ));
        return Err(());
    };
    let bytes = if ffi::PyUnicode_Check(fspath.as_ptr()) != 0 {
        Owned::from_raw(ffi::PyUnicode_EncodeFSDefault(fspath.as_ptr())).ok_or(())?
    } else {
        fspath
    };
    let data = ffi::PyBytes_AsString(bytes.as_ptr());
    if data.is_null() {
        return Err(());
    }
    let len = ffi::PyBytes_Size(bytes.as_ptr()) as usize;
    let raw = std::slice::from_raw_parts(data as *const u8, len);
    if raw.contains(&0) {
        errors::raise(
            ffi::PyExc_ValueError,
            "load() argument 'path' contains a NUL byte",
        );
        return Err(());
    }
    Ok(PathBuf::from(OsStr::from_bytes(raw)))
}

/// The plugin name `arg` stands for, if it is a name rather than a path: a
/// `str` with no '/' that does not end in ".so".
unsafe fn plugin_name(arg: *mut ffi::PyObject) -> Option<String> {
    if ffi::PyUnicode_Check(arg) == 0 {
        return None;
    }
    let mut len: ffi::Py_ssize_t = 0;
    let utf8 = ffi::PyUnicode_AsUTF8AndSize(arg, &mut len);
    if utf8.is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    let text =
        std::str::from_utf8(std::slice::from_raw_parts(utf8 as *const u8, len as usize)).ok()?;
    let is_name =
        !text.is_empty() && !text.contains('/') && !text.ends_with(".so") && !text.contains('\0');
    is_name.then(|| text.to_owned())
}

/// The directories a plugin name is looked up in: `OXBIND_PLUGIN_PATH`'s,
/// then `sys.path`'s (strings only; '' is the current directory).
unsafe fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("OXBIND_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let sys_path = ffi::PySys_GetObject(c"path".as_ptr()); // borrowed
    if !sys_path.is_null() && ffi::PyList_Check(sys_path) != 0 {
        if let Ok(items) = crate::py::containers::list_items(sys_path) {
            for item in items {
                if ffi::PyUnicode_Check(item.as_ptr()) == 0 {
                    continue;
                }
                if let Ok(dir) = fs_path(item.as_ptr()) {
                    dirs.push(if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir
                    });
                }
            }
        }
        ffi::PyErr_Clear();
    }
    dirs
}

/// Finds the file of the plugin `name`, or raises ModuleNotFoundError.
unsafe fn find_plugin(name: &str) -> Result<PathBuf, ()> {
    let dirs = search_dirs();
    let files = [format!("lib{name}.so"), format!("{name}.so")];
    for dir in &dirs {
        for file in &files {
            let candidate = dir.join(file);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    errors::raise(
        ffi::PyExc_ModuleNotFoundError,
        &format!(
            "oxbind.load: no plugin named '{}': looked for {} and {} in {} directories \
             (OXBIND_PLUGIN_PATH, then sys.path)",
            open::brief(name),
            open::brief(&files[0]),
            open::brief(&files[1]),
            dirs.len()
        ),
    );
    Err(())
}

unsafe fn load_inner(arg: *mut ffi::PyObject) -> Result<Owned, ()> {
    let Some(joined) = crate::runtime::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind is not initialised");
        return Err(());
    };
    let plugins = joined.internals.plugins() as *mut ffi::PyObject;
    let wanted = plugin_name(arg);
    let path = match &wanted {
        Some(name) => {
            // A loaded plugin answers to its name, wherever its file is.
            if let Some(module) = table::loaded_by_name(plugins, name)? {
                return Ok(module);
            }
            find_plugin(name)?
        }
        None => fs_path(arg)?,
    };
    if path.as_os_str().is_empty() {
        errors::raise(
            ffi::PyExc_ValueError,
            "oxbind.load: the path is empty: pass the path of a plugin file \
             (such as 'target/release/libhello.so') or a plugin name (such as 'hello')",
        );
        return Err(());
    }
    let canonical = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) => {
            errors::import_error(
                &format!("oxbind.load: cannot load {}: {e}", open::brief(&path)),
                Some(&path),
            );
            return Err(());
        }
    };
    let key = Owned::from_raw(errors::new_str(&canonical.to_string_lossy())).ok_or(())?;
    if let Some(existing) = crate::py::dict::dict_get(plugins, key.as_ptr())? {
        return Ok(existing);
    }
    let checked = open::open_detached(&canonical, "oxbind.load: cannot load")?;
    let name = checked.root.module.name().as_str();
    if let Some(wanted) = &wanted {
        if wanted != name {
            errors::import_error(
                &format!(
                    "oxbind.load: {} was found for '{}' but is the plugin '{}'",
                    open::brief(&canonical),
                    open::brief(wanted),
                    open::brief(name)
                ),
                Some(&canonical),
            );
            return Err(());
        }
    }
    // One file per plugin name, one build per plugin (plugin_table.rs).
    let reservation = match table::claim(plugins, name, &canonical)? {
        table::Claim::Loaded(module) => return Ok(module),
        table::Claim::Build(r) => r,
    };
    table::check_sys_modules(name, &canonical)?;
    // On failure, dropping the reservation releases the name.
    let module = build::build(&checked)?;
    reservation.finish(module, true)
}

unsafe extern "C" fn stub(
    _module: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded("oxbind.stub", ptr::null_mut(), || {
        let module = if ffi::PyModule_Check(arg) != 0 {
            Owned::from_borrowed(arg)
        } else {
            match load_inner(arg) {
                Ok(m) => m,
                Err(()) => return ptr::null_mut(),
            }
        };
        stubs::stub(module.as_ptr()).map_or(ptr::null_mut(), Owned::into_raw)
    })
}

unsafe extern "C" fn plugins(
    _module: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded("oxbind.plugins", ptr::null_mut(), || {
        plugins_inner().map_or(ptr::null_mut(), Owned::into_raw)
    })
}

unsafe fn plugins_inner() -> Result<Owned, ()> {
    let Some(joined) = crate::runtime::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind is not initialised");
        return Err(());
    };
    let dict = joined.internals.plugins() as *mut ffi::PyObject;
    let mut infos: Vec<(String, Owned)> = Vec::new();
    for (_, value) in crate::py::containers::dict_items(dict) {
        if ffi::PyModule_Check(value.as_ptr()) == 0 {
            continue; // a name reservation
        }
        let Some(info) = Owned::from_raw(ffi::PyObject_GetAttrString(
            value.as_ptr(),
            c"__oxbind_plugin__".as_ptr(),
        )) else {
            return Err(());
        };
        let Some(copy) = Owned::from_raw(ffi::PyDict_Copy(info.as_ptr())) else {
            return Err(());
        };
        let name = ffi::PyModule_GetNameObject(value.as_ptr());
        let name = Owned::from_raw(name).map_or(String::new(), |n| errors::repr(n.as_ptr()));
        infos.push((name, copy));
    }
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    let list = Owned::from_raw(ffi::PyList_New(0)).ok_or(())?;
    for (_, info) in infos {
        if ffi::PyList_Append(list.as_ptr(), info.as_ptr()) < 0 {
            return Err(());
        }
    }
    Ok(list)
}
