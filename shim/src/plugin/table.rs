//! The runtime's plugin table: which file holds each plugin name, which
//! module each file became, and which load is building a plugin right now.
//!
//! The table is `Internals::plugins`, one dict shared by every shim copy
//! (`spec/ABI.md`, "The plugin table"). Its entries:
//! - `<canonical path>` → the module built from that file, forever;
//! - `"name:<plugin>"` → the canonical path that holds the name. It is
//!   reserved before anything of the plugin is built, and released if the
//!   build fails;
//! - `"building:<plugin>"` → a token `(thread ident,)` of the one load that
//!   is building the plugin; removed when that load ends.
//!
//! Every change is one atomic dict operation (set-default or delete), and no
//! oxbind lock is held, so building may run Python code and plugin init.
//! Only the holder of `building:<plugin>` changes or deletes
//! `name:<plugin>`, and it deletes the name before the token, so a waiting
//! load never builds without the name.

// Finding a plugin by name or file is `oxbind.load`'s; a plugin built as its
// own module only claims its own name.
#![cfg_attr(not(feature = "extension-module"), allow(dead_code))]

use std::{marker::PhantomData, os::unix::ffi::OsStrExt, path::Path, time::Duration};

use pyo3_ffi as ffi;

use crate::{plugin::open::brief, py::errors, py::owned::Owned};

/// What [`claim`] found.
pub enum Claim {
    /// The file was loaded already: its module.
    Loaded(Owned),
    /// This load builds the plugin; finish or drop the reservation.
    Build(Reservation),
}

/// The right to build one plugin: its name is reserved for this file and the
/// build token is this load's. Dropping it without [`Reservation::finish`]
/// releases both, keeping any Python error that is set.
///
/// Created and dropped only on an attached thread (it is not `Send`).
pub struct Reservation {
    plugins: *mut ffi::PyObject,
    path_key: Owned,
    name_key: Owned,
    building_key: Owned,
    name: String,
    /// Set once the module is recorded: dropping then keeps the name.
    recorded: bool,
    _attached: PhantomData<*const ()>,
}

/// Claims the plugin `name` in file `path` (canonical) for this load:
/// returns the file's module if it is loaded, or the reservation to build
/// it. Waits, detached, while another thread builds the same plugin.
/// Raises ImportError if another file holds the name, or if this thread is
/// building the plugin already (a load from the plugin's own init).
///
/// # Safety
/// The thread is attached and `plugins` is the runtime's plugin table.
pub unsafe fn claim(plugins: *mut ffi::PyObject, name: &str, path: &Path) -> Result<Claim, ()> {
    let path_key = Owned::from_raw(errors::new_str(&path.to_string_lossy())).ok_or(())?;
    let name_key = Owned::from_raw(errors::new_str(&format!("name:{name}"))).ok_or(())?;
    let building_key = Owned::from_raw(errors::new_str(&format!("building:{name}"))).ok_or(())?;
    let me = crate::py::ffi::PyThread_get_thread_ident();
    let token = Owned::from_raw(ffi::PyTuple_New(1)).ok_or(())?;
    let ident = Owned::from_raw(ffi::PyLong_FromUnsignedLong(me)).ok_or(())?;
    // PyTuple_SetItem steals the reference it is given.
    ffi::PyTuple_SetItem(token.as_ptr(), 0, ident.into_raw());
    loop {
        if let Some(module) = crate::py::dict::dict_get(plugins, path_key.as_ptr())? {
            return Ok(Claim::Loaded(module));
        }
        let holder =
            crate::py::dict::dict_set_default(plugins, name_key.as_ptr(), path_key.as_ptr())?;
        if !same_text(holder.as_ptr(), path_key.as_ptr())? {
            errors::import_error(
                &format!(
                    "oxbind: cannot load {}: a different file is already loaded as plugin '{}' ({})",
                    brief(path),
                    brief(name),
                    brief(errors::repr(holder.as_ptr()))
                ),
                Some(path),
            );
            return Err(());
        }
        let builder =
            crate::py::dict::dict_set_default(plugins, building_key.as_ptr(), token.as_ptr())?;
        if builder.as_ptr() == token.as_ptr() {
            let reservation = Reservation {
                plugins,
                path_key,
                name_key,
                building_key,
                name: name.to_owned(),
                recorded: false,
                _attached: PhantomData,
            };
            // The build may have finished between the first look and the claim.
            if let Some(module) = crate::py::dict::dict_get(plugins, reservation.path_key.as_ptr())?
            {
                let mut reservation = reservation;
                reservation.recorded = true;
                return Ok(Claim::Loaded(module));
            }
            return Ok(Claim::Build(reservation));
        }
        if token_thread(builder.as_ptr()) == Some(me) {
            errors::import_error(
                &format!(
                    "oxbind: cannot load {}: this thread is loading plugin '{}' already \
                     (is oxbind.load called from the plugin's own init?)",
                    brief(path),
                    brief(name)
                ),
                Some(path),
            );
            return Err(());
        }
        drop(builder);
        // Another thread is building it: wait without holding the interpreter.
        crate::sync::detach::detached(|| std::thread::sleep(Duration::from_millis(1)));
        // Ctrl-C ends the wait (on the main thread) rather than the process.
        if ffi::PyErr_CheckSignals() < 0 {
            return Err(());
        }
    }
}

impl Reservation {
    /// Records `module` as the file's module, registers it in `sys.modules`
    /// if `in_sys_modules`, and ends the build. Returns the module.
    ///
    /// # Safety
    /// The thread is attached.
    pub unsafe fn finish(mut self, module: Owned, in_sys_modules: bool) -> Result<Owned, ()> {
        let stored = crate::py::dict::dict_set_default(
            self.plugins,
            self.path_key.as_ptr(),
            module.as_ptr(),
        )?;
        // Recorded: from here on the name stays, even if sys.modules fails
        // (out of memory); dropping `self` ends the build.
        self.recorded = true;
        if in_sys_modules {
            let modules = ffi::PyImport_GetModuleDict(); // borrowed; lives with the interpreter
            let key = Owned::from_raw(errors::new_str(&self.name)).ok_or(())?;
            if ffi::PyDict_SetItem(modules, key.as_ptr(), stored.as_ptr()) < 0 {
                return Err(());
            }
        }
        Ok(stored)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: a reservation lives on an attached thread (it is not Send).
        // An unrecorded build releases the name before the token (module doc).
        unsafe {
            if !self.recorded {
                delete_keeping_error(self.plugins, self.name_key.as_ptr());
            }
            delete_keeping_error(self.plugins, self.building_key.as_ptr());
        }
    }
}

/// Checks, before a plugin is built, that `sys.modules` has no other module
/// under its name; raises ImportError if it has. The one module it may
/// replace is a package shell that names this very file in
/// `__oxbind_plugin_file__`: a plugin wheel's `__init__.py`, which loads
/// the plugin while it is being imported (`spec/PLUGIN-ABI.md`, "Wheels").
///
/// # Safety
/// The thread is attached and no oxbind lock is held (a repr may run Python code).
pub unsafe fn check_sys_modules(name: &str, path: &Path) -> Result<(), ()> {
    let modules = ffi::PyImport_GetModuleDict();
    let key = Owned::from_raw(errors::new_str(name)).ok_or(())?;
    if let Some(existing) = crate::py::dict::dict_get(modules, key.as_ptr())? {
        if names_this_file(existing.as_ptr(), path) {
            return Ok(());
        }
        errors::import_error(
            &format!(
                "oxbind: cannot load {}: sys.modules['{}'] is already {}, which is not this plugin",
                brief(path),
                brief(name),
                brief(errors::repr(existing.as_ptr()))
            ),
            Some(path),
        );
        return Err(());
    }
    Ok(())
}

/// Whether `module.__oxbind_plugin_file__` is a path to the file `path`.
unsafe fn names_this_file(module: *mut ffi::PyObject, path: &Path) -> bool {
    let Some(file) = Owned::from_raw(ffi::PyObject_GetAttrString(
        module,
        c"__oxbind_plugin_file__".as_ptr(),
    )) else {
        ffi::PyErr_Clear();
        return false;
    };
    if ffi::PyUnicode_Check(file.as_ptr()) == 0 {
        return false;
    }
    let mut len: ffi::Py_ssize_t = 0;
    let utf8 = ffi::PyUnicode_AsUTF8AndSize(file.as_ptr(), &mut len);
    if utf8.is_null() {
        ffi::PyErr_Clear();
        return false;
    }
    let text = std::slice::from_raw_parts(utf8 as *const u8, len as usize);
    let named = Path::new(std::ffi::OsStr::from_bytes(text));
    std::fs::canonicalize(named).is_ok_and(|p| p == path)
}

/// The module of the plugin `name`, if it is loaded.
///
/// # Safety
/// The thread is attached and `plugins` is the runtime's plugin table.
pub unsafe fn loaded_by_name(plugins: *mut ffi::PyObject, name: &str) -> Result<Option<Owned>, ()> {
    let name_key = Owned::from_raw(errors::new_str(&format!("name:{name}"))).ok_or(())?;
    let Some(path) = crate::py::dict::dict_get(plugins, name_key.as_ptr())? else {
        return Ok(None);
    };
    match crate::py::dict::dict_get(plugins, path.as_ptr())? {
        Some(module) if ffi::PyModule_Check(module.as_ptr()) != 0 => Ok(Some(module)),
        _ => Ok(None),
    }
}

/// Whether two objects are equal strings (no Python code runs).
unsafe fn same_text(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> Result<bool, ()> {
    if ffi::PyUnicode_Check(a) == 0 || ffi::PyUnicode_Check(b) == 0 {
        return Ok(false);
    }
    match ffi::PyUnicode_Compare(a, b) {
        -1 if !ffi::PyErr_Occurred().is_null() => Err(()),
        r => Ok(r == 0),
    }
}

/// The thread ident in a build token, if `obj` is one.
unsafe fn token_thread(obj: *mut ffi::PyObject) -> Option<std::os::raw::c_ulong> {
    if ffi::PyTuple_Check(obj) == 0 || ffi::PyTuple_Size(obj) != 1 {
        return None;
    }
    let ident = ffi::PyTuple_GetItem(obj, 0); // borrowed from the tuple we hold
    let value = ffi::PyLong_AsUnsignedLong(ident);
    if !ffi::PyErr_Occurred().is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    Some(value)
}

/// Deletes `key` from `dict` if present, leaving any Python error that was
/// set before as it was.
unsafe fn delete_keeping_error(dict: *mut ffi::PyObject, key: *mut ffi::PyObject) {
    let pending = errors::take_exception();
    if ffi::PyDict_DelItem(dict, key) < 0 {
        ffi::PyErr_Clear(); // absent: nothing to release
    }
    errors::restore_exception(pending);
}
