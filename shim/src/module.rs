//! The `oxbind` extension module: `PyInit_oxbind`, its exec slot, and
//! `oxbind.load`.
//!
//! Shared state: loaded plugins live in the runtime's `plugins` dict
//! (`internals.rs`), keyed by canonical path. It is only read and extended
//! with atomic dict operations (`PyDict_SetDefaultRef` on 3.13+,
//! `PyDict_SetDefault` under the GIL before that); no oxbind lock is held.

use std::{
    ffi::OsStr,
    os::{raw::c_int, unix::ffi::OsStrExt},
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    ptr,
};

use pyo3_ffi as ffi;

use crate::{
    diagnostics, errors, internals, loader,
    module_def::{standard_slots, CpythonStatic, SLOT_COUNT},
    plugin_module,
    pyref::Owned,
    SHIM_VERSION,
};

const LOAD_DOC: &str = "load(path)\n--\n\n\
Load the oxbind plugin at `path` (a str or os.PathLike) and return it as a module.\n\n\
The file is checked before any of its code runs: it must be a shared library exporting an oxbind\n\
plugin root with a compatible ABI version and layout; otherwise ImportError says what is wrong.\n\
Loading the same file again returns the same module. Plugins are never unloaded.\0";

static METHODS: CpythonStatic<[ffi::PyMethodDef; 2]> = CpythonStatic::new([
    ffi::PyMethodDef {
        ml_name: c"load".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: load },
        ml_flags: ffi::METH_O,
        ml_doc: LOAD_DOC.as_ptr() as *const _,
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
    internals::join("oxbind")?;
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
        &internals::version_of(oxbind_internals::VERSION),
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
            errors::type_name(arg)
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

unsafe fn load_inner(arg: *mut ffi::PyObject) -> Result<Owned, ()> {
    let path = fs_path(arg)?;
    let Some(joined) = internals::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind is not initialised");
        return Err(());
    };
    let plugins = joined.internals.plugins() as *mut ffi::PyObject;
    let canonical = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) => {
            errors::import_error(
                &format!("oxbind.load: cannot load {}: {e}", path.display()),
                Some(&path),
            );
            return Err(());
        }
    };
    let key = Owned::from_raw(errors::new_str(&canonical.to_string_lossy())).ok_or(())?;
    if let Some(existing) = internals::dict_get(plugins, key.as_ptr())? {
        return Ok(existing);
    }
    // Opening and checking runs no Python code: let other threads run.
    let state = ffi::PyEval_SaveThread();
    let opened = catch_unwind(|| loader::open(&canonical));
    ffi::PyEval_RestoreThread(state);
    let checked = match opened {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            errors::import_error(
                &format!("oxbind.load: cannot load {}: {e}", canonical.display()),
                Some(&canonical),
            );
            return Err(());
        }
        Err(_) => {
            errors::import_error(
                &format!(
                    "oxbind.load: cannot load {}: the ABI checks failed unexpectedly",
                    canonical.display()
                ),
                Some(&canonical),
            );
            return Err(());
        }
    };
    let module = plugin_module::build(&checked)?;
    internals::dict_set_default(plugins, key.as_ptr(), module.as_ptr())
}
