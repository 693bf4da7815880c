//! Standalone extension modules: a plugin crate built with the SDK's
//! `standalone` feature embeds a copy of this shim and exports
//! `PyInit_<name>`, which calls [`init`]. `import geometry` then works
//! without `oxbind.load`, and the module joins the same shared runtime as
//! every other oxbind module in the interpreter.
//!
//! Init is multi-phase: the `Py_mod_create` slot joins the runtime and
//! builds the module from the plugin root, the `Py_mod_gil` slot (3.13+)
//! declares that the module needs no GIL, and the
//! `Py_mod_multiple_interpreters` slot (3.12+) refuses subinterpreters.
//!
//! Shared state: [`DEF`], this copy's module definition, is created once
//! (compare-exchange) and never freed or changed; CPython writes its
//! `m_base` during `PyModuleDef_Init`, under the import lock.

use std::{
    ffi::{CStr, CString},
    os::unix::ffi::OsStrExt,
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

use oxbind_abi::PluginRoot;
use pyo3_ffi as ffi;

use crate::{
    diagnostics,
    plugin::build,
    plugin::open,
    plugin::table,
    py::errors,
    py::module_def::{standard_slots, SLOT_COUNT},
    py::owned::Owned,
};

/// A module definition with the plugin root it stands for. `def` comes
/// first, so the `PyModuleDef*` CPython passes back is a pointer to this.
#[repr(C)]
struct StandaloneDef {
    def: ffi::PyModuleDef,
    root: &'static PluginRoot,
    name: &'static str,
    slots: [ffi::PyModuleDef_Slot; SLOT_COUNT],
    _c_name: CString,
}

static DEF: AtomicPtr<StandaloneDef> = AtomicPtr::new(ptr::null_mut());

/// The body of `PyInit_<name>` for the plugin whose root is `root`.
///
/// # Safety
/// Called by CPython's import machinery, with the thread attached.
pub unsafe fn init(root: &'static PluginRoot) -> *mut ffi::PyObject {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut def = DEF.load(Ordering::Acquire);
        if def.is_null() {
            // SAFETY: `new_def` has no precondition; its result is published
            // in DEF (or leaked) and never freed, as it requires.
            let candidate = unsafe { new_def(root) };
            def = match DEF.compare_exchange(
                ptr::null_mut(),
                candidate,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => candidate,
                Err(winner) => winner, // the candidate is leaked; it is small and this race is rare
            };
        }
        // SAFETY: `def` is the StandaloneDef published in DEF, which is never
        // freed; the thread is attached (this function's contract), and
        // CPython writes the definition's `m_base` under its import lock.
        unsafe { ffi::PyModuleDef_Init(ptr::addr_of_mut!((*def).def)) }
    }));
    result.unwrap_or_else(|_| {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::import_error(
                "oxbind: internal error while initialising an extension module",
                None,
            );
        }
        ptr::null_mut()
    })
}

/// A new module definition for `root`, whose create slot is [`create`].
///
/// # Safety
/// No precondition on the arguments; the caller must never free the result,
/// since CPython keeps pointers into it (its name and slots) for the life of
/// the process.
unsafe fn new_def(root: &'static PluginRoot) -> *mut StandaloneDef {
    let name: &'static str = Box::leak(root.module.name().as_str().to_owned().into_boxed_str());
    let c_name = errors::c_string(name);
    let def = Box::into_raw(Box::new(StandaloneDef {
        def: ffi::PyModuleDef {
            m_base: ffi::PyModuleDef_HEAD_INIT,
            m_name: c_name.as_ptr(),
            m_doc: ptr::null(),
            m_size: 0,
            m_methods: ptr::null_mut(),
            m_slots: ptr::null_mut(),
            m_traverse: None,
            m_clear: None,
            m_free: None,
        },
        root,
        name,
        slots: standard_slots(ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_create,
            value: create as *mut _,
        }),
        _c_name: c_name,
    }));
    // SAFETY: `def` comes from `Box::into_raw` just above: valid, aligned,
    // and not yet shared with anyone.
    unsafe { (*def).def.m_slots = (*def).slots.as_mut_ptr() };
    def
}

/// # Safety
/// Called by CPython as the `Py_mod_create` slot of a definition made by
/// [`new_def`]: `def` is the `PyModuleDef` that starts a [`StandaloneDef`],
/// and `spec` the live module spec, on an attached thread with no oxbind lock
/// held.
unsafe extern "C" fn create(
    spec: *mut ffi::PyObject,
    def: *mut ffi::PyModuleDef,
) -> *mut ffi::PyObject {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: CPython passes back the definition `init` handed it, which
        // is the first field of a StandaloneDef (never freed); `spec` is the
        // live module spec and the thread is attached with no oxbind lock
        // held (this function's contract), as `create_module` requires.
        unsafe {
            let def = &*(def as *const StandaloneDef);
            create_module(spec, def).map_or(ptr::null_mut(), Owned::into_raw)
        }
    }));
    result.unwrap_or_else(|_| {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            errors::import_error(
                "oxbind: internal error while creating an extension module",
                None,
            );
        }
        ptr::null_mut()
    })
}

/// Joins the runtime and builds the module of `def`'s plugin.
///
/// # Safety
/// The thread is attached, no oxbind lock is held, and `spec` is a live
/// module spec the caller keeps alive.
unsafe fn create_module(spec: *mut ffi::PyObject, def: &StandaloneDef) -> Result<Owned, ()> {
    // SAFETY: the thread is attached (this function's contract).
    let joined = unsafe { crate::runtime::publish::join(def.name) }?;
    // SAFETY: attached, with no oxbind lock held (this function's contract).
    unsafe { crate::leaks::install_if_created() };
    // SAFETY: the thread is attached and `spec` is live (this function's
    // contract).
    let path = unsafe { spec_origin(spec) }?;
    if let Err(e) = open::check_root(def.root) {
        // SAFETY: the thread is attached (this function's contract).
        unsafe { errors::import_error(&format!("{}: {e}", def.name), Some(&path)) };
        return Err(());
    }
    let plugins = joined.internals.plugins() as *mut ffi::PyObject;
    // One file per plugin name, one build per plugin (plugin_table.rs). The
    // import system puts the module in sys.modules itself.
    // SAFETY: the thread is attached (this function's contract) and
    // `plugins` is the joined runtime's plugin table.
    let reservation = match unsafe { table::claim(plugins, def.name, &path) }? {
        table::Claim::Loaded(module) => return Ok(module),
        table::Claim::Build(r) => r,
    };
    // SAFETY: the thread is attached (this function's contract) and this
    // copy has joined a runtime (`join` above), as `build` requires; `module`
    // is the live module `build` returned.
    unsafe {
        let module = build::build(&open::CheckedPlugin {
            path,
            root: def.root,
        })?;
        add_namespace(module.as_ptr(), def.name)?;
        reservation.finish(module, false)
    }
}

/// `module.__oxbind__`: the shim copy's diagnostics and `PanicError`.
///
/// # Safety
/// The thread is attached and `module` is a live module the caller keeps
/// alive.
unsafe fn add_namespace(module: *mut ffi::PyObject, name: &str) -> Result<(), ()> {
    let ns_name = errors::c_string(&format!("{name}.__oxbind__"));
    // SAFETY: the thread is attached (this function's contract);
    // PyModule_New returns a new reference or null, as `from_raw` takes.
    let ns = unsafe { Owned::from_raw(ffi::PyModule_New(ns_name.as_ptr())) }.ok_or(())?;
    // SAFETY: the thread is attached and `ns` is a live module owned here.
    unsafe { diagnostics::add_to(ns.as_ptr()) }?;
    let panic_error = errors::panic_error_type();
    if !panic_error.is_null()
        // SAFETY: the thread is attached and `ns` is a live module owned here;
        // `panic_error` is non-null here, the runtime's PanicError class,
        // which is never released.
        && unsafe { ffi::PyModule_AddObjectRef(ns.as_ptr(), c"PanicError".as_ptr(), panic_error) }
            < 0
    {
        return Err(());
    }
    // SAFETY: the thread is attached, `module` is a live module (this
    // function's contract) and `ns` a live object owned here (AddObjectRef
    // takes its own reference).
    if unsafe { ffi::PyModule_AddObjectRef(module, c"__oxbind__".as_ptr(), ns.as_ptr()) } < 0 {
        return Err(());
    }
    Ok(())
}

/// The canonical path of the file the module spec names.
///
/// # Safety
/// The thread is attached and `spec` is a live object the caller keeps
/// alive.
unsafe fn spec_origin(spec: *mut ffi::PyObject) -> Result<PathBuf, ()> {
    // SAFETY: the thread is attached and `spec` is live (this function's
    // contract); each call returns a new reference or null, as `from_raw`
    // takes.
    let origin = unsafe { Owned::from_raw(ffi::PyObject_GetAttrString(spec, c"origin".as_ptr())) }
        .ok_or(())?;
    // SAFETY: the thread is attached and `origin` is a live object owned
    // here; PyUnicode_EncodeFSDefault returns a new reference (bytes) or null.
    let bytes =
        unsafe { Owned::from_raw(ffi::PyUnicode_EncodeFSDefault(origin.as_ptr())) }.ok_or(())?;
    // SAFETY: `bytes` is a bytes object owned here, so PyBytes_AsString
    // returns its NUL-terminated buffer, which stays alive and unchanged while
    // `raw` is used.
    let raw = unsafe { CStr::from_ptr(ffi::PyBytes_AsString(bytes.as_ptr())) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(raw.to_bytes()));
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}
