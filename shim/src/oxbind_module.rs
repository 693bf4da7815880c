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
/// Called by CPython's import machinery, on an attached thread.
#[cfg(feature = "extension-module")]
#[no_mangle]
pub unsafe extern "C" fn PyInit_oxbind() -> *mut ffi::PyObject {
    // SAFETY: the thread is attached (this function's contract); MODULE_DEF
    // is a static definition that lives as long as the process, which
    // CPython initialises under its import lock.
    unsafe { ffi::PyModuleDef_Init(MODULE_DEF.get()) }
}

/// Runs `body`, turning a panic into `oxbind.PanicError` and `err` as return.
///
/// # Safety
/// The thread is attached (a panic in `body` is raised as a Python
/// exception).
unsafe fn guarded<T: Copy>(what: &str, err: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe { errors::raise_panic(&format!("internal error in the oxbind shim in {what}")) };
            err
        }
    }
}

/// # Safety
/// Called by CPython as the `Py_mod_exec` slot of the `oxbind` module:
/// `module` is the new module object, on an attached thread.
unsafe extern "C" fn exec(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: CPython runs the exec slot on an attached thread with `module`
    // the live module being executed (this function's contract), which is
    // what `guarded` and `exec_inner` require.
    unsafe { guarded("module exec", -1, || exec_inner(module).map_or(-1, |()| 0)) }
}

/// # Safety
/// The thread is attached and `module` is a live module object.
unsafe fn exec_inner(module: *mut ffi::PyObject) -> Result<(), ()> {
    // SAFETY: the thread is attached (this function's contract).
    unsafe { crate::runtime::publish::join("oxbind") }?;
    // SAFETY: attached, with no oxbind lock held (this function's contract).
    unsafe { crate::leaks::install_if_created() };
    let panic_error = errors::panic_error_type();
    if panic_error.is_null()
        // SAFETY: the thread is attached and `module` is a live module (this
        // function's contract); `panic_error` is non-null here, the runtime's
        // PanicError class, which is never released.
        || unsafe { ffi::PyModule_AddObjectRef(module, c"PanicError".as_ptr(), panic_error) } < 0
    {
        return Err(());
    }
    // The type of array results, for `isinstance` and the stubs' annotations.
    // SAFETY: the thread is attached and `module` is a live module (this
    // function's contract); the type is immortal (never released), and
    // AddObjectRef takes its own reference.
    if unsafe {
        ffi::PyModule_AddObjectRef(
            module,
            c"Array".as_ptr(),
            crate::py::buffer::array_type()? as *mut ffi::PyObject,
        )
    } < 0
    {
        return Err(());
    }
    // SAFETY: the thread is attached and `module` is a live module (this
    // function's contract).
    unsafe {
        add_str(module, c"__version__", SHIM_VERSION)?;
        add_str(module, c"ABI_VERSION", oxbind_abi::ABI_VERSION_STR)?;
        add_str(
            module,
            c"INTERNALS_ABI_VERSION",
            &crate::runtime::publish::version_of(oxbind_internals::VERSION),
        )?;
        diagnostics::add_to(module)
    }
}

/// # Safety
/// The thread is attached and `module` is a live module object.
unsafe fn add_str(
    module: *mut ffi::PyObject,
    name: &std::ffi::CStr,
    value: &str,
) -> Result<(), ()> {
    // SAFETY: the thread is attached (this function's contract); `new_str`
    // returns a new reference or null, as `from_raw` takes.
    let value = unsafe { Owned::from_raw(errors::new_str(value)) }.ok_or(())?;
    // SAFETY: the thread is attached, `module` is a live module (this
    // function's contract), `name` is a C string and `value` a live object
    // owned here (AddObjectRef takes its own reference).
    if unsafe { ffi::PyModule_AddObjectRef(module, name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(());
    }
    Ok(())
}

/// # Safety
/// Called by CPython as the `METH_O` function `oxbind.load`, on an attached
/// thread with no oxbind lock held; `arg` is a live object CPython keeps
/// alive for the call.
unsafe extern "C" fn load(
    _module: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this on an attached thread, with no oxbind lock
    // held and `arg` live for the call (this function's contract), which is
    // what `guarded` and `load_inner` require.
    unsafe {
        guarded("oxbind.load", ptr::null_mut(), || match load_inner(arg) {
            Ok(m) => m.into_raw(),
            Err(()) => ptr::null_mut(),
        })
    }
}

/// `os.fspath(arg)` as a filesystem path.
///
/// # Safety
/// The thread is attached, no oxbind lock is held (`__fspath__` may run
/// Python code), and `arg` is a live object the caller keeps alive.
unsafe fn fs_path(arg: *mut ffi::PyObject) -> Result<PathBuf, ()> {
    // SAFETY: the thread is attached and `arg` is live (this function's
    // contract); PyOS_FSPath returns a new reference or null, as `from_raw`
    // takes.
    let Some(fspath) = (unsafe { Owned::from_raw(ffi::PyOS_FSPath(arg)) }) else {
        // SAFETY: the thread is attached and `arg` is live; the error
        // PyOS_FSPath set is replaced by ours.
        unsafe {
            ffi::PyErr_Clear();
            errors::type_error(&format!(
                "load() argument 'path' must be str or os.PathLike, not {}",
                open::brief(errors::type_name(arg))
            ));
        }
        return Err(());
    };
    // SAFETY: the thread is attached and `fspath` is a live object owned
    // here; PyUnicode_EncodeFSDefault is only given a str and returns a new
    // reference or null, as `from_raw` takes.
    let bytes = unsafe {
        if ffi::PyUnicode_Check(fspath.as_ptr()) != 0 {
            Owned::from_raw(ffi::PyUnicode_EncodeFSDefault(fspath.as_ptr())).ok_or(())?
        } else {
            fspath
        }
    };
    // SAFETY: the thread is attached and `bytes` is a live object owned here
    // (PyBytes_AsString checks that it is bytes).
    let data = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) };
    if data.is_null() {
        return Err(());
    }
    // SAFETY: `bytes` is a live bytes object owned here (AsString succeeded).
    let len = unsafe { ffi::PyBytes_Size(bytes.as_ptr()) } as usize;
    // SAFETY: `data` points to the `len` bytes of `bytes`, which this
    // function owns and keeps alive past the last use of `raw`; bytes
    // objects are immutable.
    let raw = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    if raw.contains(&0) {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_ValueError is an exception class CPython set up at start-up.
        unsafe {
            errors::raise(
                ffi::PyExc_ValueError,
                "load() argument 'path' contains a NUL byte",
            );
        }
        return Err(());
    }
    Ok(PathBuf::from(OsStr::from_bytes(raw)))
}

/// The plugin name `arg` stands for, if it is a name rather than a path: a
/// `str` with no '/' that does not end in ".so".
///
/// # Safety
/// The thread is attached and `arg` is a live object the caller keeps alive.
unsafe fn plugin_name(arg: *mut ffi::PyObject) -> Option<String> {
    // SAFETY: the thread is attached and `arg` is live (this function's
    // contract).
    if unsafe { ffi::PyUnicode_Check(arg) } == 0 {
        return None;
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: the thread is attached and `arg` is a live str (checked above).
    let utf8 = unsafe { ffi::PyUnicode_AsUTF8AndSize(arg, &mut len) };
    if utf8.is_null() {
        // SAFETY: the thread is attached; this drops the error just set.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: `utf8` is non-null and points to `len` bytes of UTF-8 cached
    // in `arg`, which the caller keeps alive past the copy made below.
    let text =
        std::str::from_utf8(unsafe { std::slice::from_raw_parts(utf8 as *const u8, len as usize) })
            .ok()?;
    let is_name =
        !text.is_empty() && !text.contains('/') && !text.ends_with(".so") && !text.contains('\0');
    is_name.then(|| text.to_owned())
}

/// The directories a plugin name is looked up in: `OXBIND_PLUGIN_PATH`'s,
/// then `sys.path`'s (strings only; '' is the current directory).
///
/// # Safety
/// The thread is attached and no oxbind lock is held.
unsafe fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("OXBIND_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    // `sys.path` as a strong reference: a borrowed one (PySys_GetObject)
    // could be freed by another thread rebinding `sys.path` on a
    // free-threaded build.
    // SAFETY: the thread is attached (this function's contract); each call
    // returns a new reference or null, as `from_raw` takes.
    let sys_path = unsafe {
        Owned::from_raw(ffi::PyImport_ImportModule(c"sys".as_ptr())).and_then(|sys| {
            Owned::from_raw(ffi::PyObject_GetAttrString(sys.as_ptr(), c"path".as_ptr()))
        })
    };
    // SAFETY: the thread is attached; a failed lookup only leaves an error
    // to clear (no sys.path means no directories from it).
    unsafe { ffi::PyErr_Clear() };
    let sys_path = sys_path
        .as_ref()
        .map_or(std::ptr::null_mut(), Owned::as_ptr);
    // SAFETY: the thread is attached and `sys_path`, when non-null, is a
    // strong reference held above.
    if !sys_path.is_null() && unsafe { ffi::PyList_Check(sys_path) } != 0 {
        // SAFETY: as above: attached, and `sys_path` is a live list (checked).
        if let Ok(items) = unsafe { crate::sync::containers::list_items(sys_path) } {
            for item in items {
                // SAFETY: the thread is attached and `item` is a strong
                // reference that `list_items` returned.
                if unsafe { ffi::PyUnicode_Check(item.as_ptr()) } == 0 {
                    continue;
                }
                // SAFETY: attached, no oxbind lock held (this function's
                // contract), and `item` is a live str owned here.
                if let Ok(dir) = unsafe { fs_path(item.as_ptr()) } {
                    dirs.push(if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir
                    });
                }
            }
        }
        // SAFETY: the thread is attached (this function's contract).
        unsafe { ffi::PyErr_Clear() };
    }
    dirs
}

/// Finds the file of the plugin `name`, or raises ModuleNotFoundError.
///
/// # Safety
/// The thread is attached and no oxbind lock is held.
unsafe fn find_plugin(name: &str) -> Result<PathBuf, ()> {
    // SAFETY: attached and no oxbind lock held (this function's contract).
    let dirs = unsafe { search_dirs() };
    let files = [format!("lib{name}.so"), format!("{name}.so")];
    for dir in &dirs {
        for file in &files {
            let candidate = dir.join(file);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    // SAFETY: the thread is attached (this function's contract), and
    // PyExc_ModuleNotFoundError is an exception class CPython set up at
    // start-up.
    unsafe {
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
    }
    Err(())
}

/// `oxbind.load(arg)`: the loaded module, or `Err` with an exception set.
///
/// # Safety
/// The thread is attached, no oxbind lock is held (Python code may run), and
/// `arg` is a live object the caller keeps alive.
unsafe fn load_inner(arg: *mut ffi::PyObject) -> Result<Owned, ()> {
    let Some(joined) = crate::runtime::joined() else {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_RuntimeError is an exception class CPython set up at start-up.
        unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind is not initialised") };
        return Err(());
    };
    let plugins = joined.internals.plugins() as *mut ffi::PyObject;
    // SAFETY: the thread is attached and `arg` is live (this function's
    // contract).
    let wanted = unsafe { plugin_name(arg) };
    // SAFETY: attached, no oxbind lock held and `arg` live (this function's
    // contract); `plugins` is the joined runtime's plugin table.
    let path = unsafe {
        match &wanted {
            Some(name) => {
                // A loaded plugin answers to its name, wherever its file is.
                if let Some(module) = table::loaded_by_name(plugins, name)? {
                    return Ok(module);
                }
                find_plugin(name)?
            }
            None => fs_path(arg)?,
        }
    };
    if path.as_os_str().is_empty() {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_ValueError is an exception class CPython set up at start-up.
        unsafe {
            errors::raise(
                ffi::PyExc_ValueError,
                "oxbind.load: the path is empty: pass the path of a plugin file \
                 (such as 'target/release/libhello.so') or a plugin name (such as 'hello')",
            );
        }
        return Err(());
    }
    let canonical = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::import_error(
                    &format!("oxbind.load: cannot load {}: {e}", open::brief(&path)),
                    Some(&path),
                );
            }
            return Err(());
        }
    };
    // SAFETY: the thread is attached (this function's contract); `new_str`
    // returns a new reference or null, as `from_raw` takes.
    let key = unsafe { Owned::from_raw(errors::new_str(&canonical.to_string_lossy())) }.ok_or(())?;
    // SAFETY: the thread is attached; `plugins` is the joined runtime's
    // plugin dict, which the internals hold forever, and `key` a live str.
    if let Some(existing) = unsafe { crate::py::dict::dict_get(plugins, key.as_ptr()) }? {
        return Ok(existing);
    }
    // SAFETY: the thread is attached (this function's contract).
    let checked = unsafe { open::open_detached(&canonical, "oxbind.load: cannot load") }?;
    let name = checked.root.module.name().as_str();
    if let Some(wanted) = &wanted {
        if wanted != name {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                errors::import_error(
                    &format!(
                        "oxbind.load: {} was found for '{}' but is the plugin '{}'",
                        open::brief(&canonical),
                        open::brief(wanted),
                        open::brief(name)
                    ),
                    Some(&canonical),
                );
            }
            return Err(());
        }
    }
    // One file per plugin name, one build per plugin (plugin_table.rs).
    // SAFETY: the thread is attached (this function's contract) and
    // `plugins` is the joined runtime's plugin table.
    let reservation = match unsafe { table::claim(plugins, name, &canonical) }? {
        table::Claim::Loaded(module) => return Ok(module),
        table::Claim::Build(r) => r,
    };
    // SAFETY: the thread is attached and no oxbind lock is held (this
    // function's contract), and this copy has joined a runtime (`joined`
    // above), as `build` requires.
    unsafe {
        table::check_sys_modules(name, &canonical)?;
        // On failure, dropping the reservation releases the name.
        let module = build::build(&checked)?;
        reservation.finish(module, true)
    }
}

/// # Safety
/// Called by CPython as the `METH_O` function `oxbind.stub`, on an attached
/// thread with no oxbind lock held; `arg` is a live object CPython keeps
/// alive for the call.
unsafe extern "C" fn stub(
    _module: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this on an attached thread, with no oxbind lock
    // held and `arg` live for the call (this function's contract), which is
    // what `guarded`, `from_borrowed`, `load_inner` and `stubs::stub` require;
    // `module` is a strong reference owned here.
    unsafe {
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
}

/// # Safety
/// Called by CPython as the `METH_NOARGS` function `oxbind.plugins`, on an
/// attached thread with no oxbind lock held.
unsafe extern "C" fn plugins(
    _module: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this on an attached thread with no oxbind lock
    // held (this function's contract), which is what `guarded` and
    // `plugins_inner` require.
    unsafe {
        guarded("oxbind.plugins", ptr::null_mut(), || {
            plugins_inner().map_or(ptr::null_mut(), Owned::into_raw)
        })
    }
}

/// `oxbind.plugins()`: one info dict per loaded plugin, sorted by name.
///
/// # Safety
/// The thread is attached and no oxbind lock is held (attribute lookups and
/// reprs may run Python code).
unsafe fn plugins_inner() -> Result<Owned, ()> {
    let Some(joined) = crate::runtime::joined() else {
        // SAFETY: the thread is attached (this function's contract), and
        // PyExc_RuntimeError is an exception class CPython set up at start-up.
        unsafe { errors::raise(ffi::PyExc_RuntimeError, "oxbind is not initialised") };
        return Err(());
    };
    let dict = joined.internals.plugins() as *mut ffi::PyObject;
    let mut infos: Vec<(String, Owned)> = Vec::new();
    // SAFETY: the thread is attached (this function's contract), and `dict`
    // is the joined runtime's plugin dict, which the internals hold forever.
    for (_, value) in unsafe { crate::sync::containers::dict_items(dict) } {
        // SAFETY: the thread is attached and `value` is a strong reference
        // that `dict_items` returned.
        if unsafe { ffi::PyModule_Check(value.as_ptr()) } == 0 {
            continue; // a name reservation
        }
        // SAFETY: the thread is attached and `value` is a live module owned
        // here; PyObject_GetAttrString returns a new reference or null, as
        // `from_raw` takes.
        let Some(info) = (unsafe {
            Owned::from_raw(ffi::PyObject_GetAttrString(
                value.as_ptr(),
                c"__oxbind_plugin__".as_ptr(),
            ))
        }) else {
            return Err(());
        };
        // SAFETY: the thread is attached and `info` is a live object owned
        // here (PyDict_Copy checks that it is a dict); the result is a new
        // reference or null, as `from_raw` takes.
        let Some(copy) = (unsafe { Owned::from_raw(ffi::PyDict_Copy(info.as_ptr())) }) else {
            return Err(());
        };
        // SAFETY: the thread is attached and `value` is a live module owned
        // here.
        let name = unsafe { ffi::PyModule_GetNameObject(value.as_ptr()) };
        if name.is_null() {
            // A module without a name sorts first; its error must not be
            // left set under a successful result.
            // SAFETY: the thread is attached (this function's contract).
            unsafe { ffi::PyErr_Clear() };
        }
        // SAFETY: `name` is a new reference or null, as `from_raw` takes;
        // `repr` gets a live object on an attached thread with no oxbind lock
        // held (this function's contract).
        let name =
            unsafe { Owned::from_raw(name).map_or(String::new(), |n| errors::repr(n.as_ptr())) };
        infos.push((name, copy));
    }
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    // SAFETY: the thread is attached; PyList_New returns a new reference or
    // null, as `from_raw` takes.
    let list = unsafe { Owned::from_raw(ffi::PyList_New(0)) }.ok_or(())?;
    for (_, info) in infos {
        // SAFETY: the thread is attached; `list` is a list and `info` a live
        // object, both owned here (Append takes its own reference).
        if unsafe { ffi::PyList_Append(list.as_ptr(), info.as_ptr()) } < 0 {
            return Err(());
        }
    }
    Ok(list)
}
