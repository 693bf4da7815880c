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
/// The thread is attached, no oxbind lock is held (a repr may run Python
/// code, and the wait detaches), and `plugins` is the runtime's plugin table.
pub unsafe fn claim(plugins: *mut ffi::PyObject, name: &str, path: &Path) -> Result<Claim, ()> {
    // SAFETY: the thread is attached (this function's contract). Each new
    // reference, or null, goes straight into an `Owned`, and the item stolen
    // by PyTuple_SetItem fills slot 0 of the new 1-tuple.
    let (path_key, name_key, building_key, me, token) = unsafe {
        let path_key = Owned::from_raw(errors::new_str(&path.to_string_lossy())).ok_or(())?;
        let name_key = Owned::from_raw(errors::new_str(&format!("name:{name}"))).ok_or(())?;
        let building_key =
            Owned::from_raw(errors::new_str(&format!("building:{name}"))).ok_or(())?;
        let me = crate::py::ffi::PyThread_get_thread_ident();
        let token = Owned::from_raw(ffi::PyTuple_New(1)).ok_or(())?;
        let ident = Owned::from_raw(ffi::PyLong_FromUnsignedLong(me)).ok_or(())?;
        // PyTuple_SetItem steals the reference it is given.
        ffi::PyTuple_SetItem(token.as_ptr(), 0, ident.into_raw());
        (path_key, name_key, building_key, me, token)
    };
    loop {
        // SAFETY: attached, and `plugins` is the plugin table (this
        // function's contract); `path_key` is a live str.
        if let Some(module) = unsafe { crate::py::dict::dict_get(plugins, path_key.as_ptr()) }? {
            return Ok(Claim::Loaded(module));
        }
        // SAFETY: as above; `name_key` and `path_key` are live strs.
        let holder = unsafe {
            crate::py::dict::dict_set_default(plugins, name_key.as_ptr(), path_key.as_ptr())
        }?;
        // SAFETY: `holder` and `path_key` are live objects we own; the
        // comparison runs no Python code.
        if !unsafe { same_text(holder.as_ptr(), path_key.as_ptr()) }? {
            // SAFETY: attached, and no oxbind lock is held (contract), so the
            // repr of `holder`, a live object we own, may run Python code.
            unsafe {
                errors::import_error(
                    &format!(
                        "oxbind: cannot load {}: a different file is already loaded as plugin '{}' ({})",
                        brief(path),
                        brief(name),
                        brief(errors::repr(holder.as_ptr()))
                    ),
                    Some(path),
                )
            };
            return Err(());
        }
        // SAFETY: attached; the table, `building_key` and `token` are live.
        let builder = unsafe {
            crate::py::dict::dict_set_default(plugins, building_key.as_ptr(), token.as_ptr())
        }?;
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
            // SAFETY: attached; the table and `path_key` are live.
            let found =
                unsafe { crate::py::dict::dict_get(plugins, reservation.path_key.as_ptr()) }?;
            if let Some(module) = found {
                let mut reservation = reservation;
                reservation.recorded = true;
                return Ok(Claim::Loaded(module));
            }
            return Ok(Claim::Build(reservation));
        }
        // SAFETY: attached; `builder` is a live object we own.
        if unsafe { token_thread(builder.as_ptr()) } == Some(me) {
            // SAFETY: attached (this function's contract).
            unsafe {
                errors::import_error(
                    &format!(
                        "oxbind: cannot load {}: this thread is loading plugin '{}' already \
                         (is oxbind.load called from the plugin's own init?)",
                        brief(path),
                        brief(name)
                    ),
                    Some(path),
                )
            };
            return Err(());
        }
        drop(builder);
        // Another thread is building it: wait without holding the interpreter.
        // SAFETY: attached and holding no oxbind lock (this function's
        // contract); the closure only sleeps.
        unsafe { crate::sync::detach::detached(|| std::thread::sleep(Duration::from_millis(1))) };
        // Ctrl-C ends the wait (on the main thread) rather than the process.
        // SAFETY: attached again (`detached` re-attached), with no lock held,
        // so a signal handler may run Python code.
        if unsafe { ffi::PyErr_CheckSignals() } < 0 {
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
        // SAFETY: attached (this function's contract); `self.plugins` is the
        // runtime's plugin table, which lives for the process, and the key
        // and the module are live objects we own.
        let stored = unsafe {
            crate::py::dict::dict_set_default(self.plugins, self.path_key.as_ptr(), module.as_ptr())
        }?;
        // Recorded: from here on the name stays, even if sys.modules fails
        // (out of memory); dropping `self` ends the build.
        self.recorded = true;
        if in_sys_modules {
            // SAFETY: attached (this function's contract); `sys.modules` is
            // borrowed from the interpreter, which outlives this call, the
            // new key or null goes straight into an `Owned`, and `stored` is
            // a live module we own.
            unsafe {
                let modules = ffi::PyImport_GetModuleDict(); // borrowed; lives with the interpreter
                let key = Owned::from_raw(errors::new_str(&self.name)).ok_or(())?;
                if ffi::PyDict_SetItem(modules, key.as_ptr(), stored.as_ptr()) < 0 {
                    return Err(());
                }
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
    // SAFETY: attached (this function's contract); `sys.modules` is borrowed
    // from the interpreter, which outlives this call, and the new key or
    // null goes straight into an `Owned`.
    let (modules, key) = unsafe {
        let modules = ffi::PyImport_GetModuleDict();
        (modules, Owned::from_raw(errors::new_str(name)).ok_or(())?)
    };
    // SAFETY: attached; `modules` is a live dict and `key` a live str.
    if let Some(existing) = unsafe { crate::py::dict::dict_get(modules, key.as_ptr()) }? {
        // SAFETY: attached and no oxbind lock held (contract); `existing` is
        // a live object we own.
        if unsafe { names_this_file(existing.as_ptr(), path) } {
            return Ok(());
        }
        // SAFETY: attached and no oxbind lock held (contract), so the repr
        // of `existing`, a live object we own, may run Python code.
        unsafe {
            errors::import_error(
                &format!(
                    "oxbind: cannot load {}: sys.modules['{}'] is already {}, which is not this plugin",
                    brief(path),
                    brief(name),
                    brief(errors::repr(existing.as_ptr()))
                ),
                Some(path),
            )
        };
        return Err(());
    }
    Ok(())
}

/// Whether `module.__oxbind_plugin_file__` is a path to the file `path`.
///
/// # Safety
/// The thread is attached, `module` is a live object, and no oxbind lock is
/// held (the attribute lookup may run Python code).
unsafe fn names_this_file(module: *mut ffi::PyObject, path: &Path) -> bool {
    // SAFETY: attached, `module` live and no lock of ours held (this
    // function's contract); the attribute, a new reference or null, goes
    // straight into an `Owned`.
    let Some(file) = (unsafe {
        Owned::from_raw(ffi::PyObject_GetAttrString(
            module,
            c"__oxbind_plugin_file__".as_ptr(),
        ))
    }) else {
        // SAFETY: attached; clears the error the lookup raised.
        unsafe { ffi::PyErr_Clear() };
        return false;
    };
    // SAFETY: attached; `file` is a live object we own.
    if unsafe { ffi::PyUnicode_Check(file.as_ptr()) } == 0 {
        return false;
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: attached; `file` is a live str and `len` a local out-slot.
    let utf8 = unsafe { ffi::PyUnicode_AsUTF8AndSize(file.as_ptr(), &mut len) };
    if utf8.is_null() {
        // SAFETY: attached; clears the error the encoding raised.
        unsafe { ffi::PyErr_Clear() };
        return false;
    }
    // SAFETY: PyUnicode_AsUTF8AndSize succeeded, so `utf8` points at `len`
    // bytes cached in `file`, which is alive until the end of this function.
    let text = unsafe { std::slice::from_raw_parts(utf8 as *const u8, len as usize) };
    let named = Path::new(std::ffi::OsStr::from_bytes(text)).to_owned();
    // File I/O runs detached, like the loader's other file checks: a slow
    // file system must not stall other threads (a stop-the-world pause).
    // SAFETY: attached (this function's contract); the closure touches no
    // Python object (`named` is an owned copy of the text).
    unsafe { crate::sync::detach::detached(|| std::fs::canonicalize(&named)) }
        .is_ok_and(|p| p == path)
}

/// The module of the plugin `name`, if it is loaded.
///
/// # Safety
/// The thread is attached and `plugins` is the runtime's plugin table.
pub unsafe fn loaded_by_name(plugins: *mut ffi::PyObject, name: &str) -> Result<Option<Owned>, ()> {
    // SAFETY: attached (this function's contract); the new str, or null,
    // goes straight into an `Owned`.
    let name_key = unsafe { Owned::from_raw(errors::new_str(&format!("name:{name}"))) }.ok_or(())?;
    // SAFETY: attached; `plugins` is the plugin table (contract) and
    // `name_key` a live str.
    let Some(path) = unsafe { crate::py::dict::dict_get(plugins, name_key.as_ptr()) }? else {
        return Ok(None);
    };
    // SAFETY: attached; `plugins` and `path`, the value stored under the
    // name, are live objects.
    match unsafe { crate::py::dict::dict_get(plugins, path.as_ptr()) }? {
        // SAFETY: attached; `module` is a live object we own.
        Some(module) if unsafe { ffi::PyModule_Check(module.as_ptr()) } != 0 => Ok(Some(module)),
        _ => Ok(None),
    }
}

/// Whether two objects are equal strings (no Python code runs).
///
/// # Safety
/// The thread is attached, and `a` and `b` are live objects.
unsafe fn same_text(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> Result<bool, ()> {
    // SAFETY: attached, and `a` and `b` are live (this function's contract);
    // comparing two strs runs no Python code, and PyErr_Occurred only reads
    // the error indicator.
    unsafe {
        if ffi::PyUnicode_Check(a) == 0 || ffi::PyUnicode_Check(b) == 0 {
            return Ok(false);
        }
        match ffi::PyUnicode_Compare(a, b) {
            -1 if !ffi::PyErr_Occurred().is_null() => Err(()),
            r => Ok(r == 0),
        }
    }
}

/// The thread ident in a build token, if `obj` is one.
///
/// # Safety
/// The thread is attached and `obj` is a live object, kept alive by the
/// caller.
unsafe fn token_thread(obj: *mut ffi::PyObject) -> Option<std::os::raw::c_ulong> {
    // SAFETY: attached, and `obj` is live (this function's contract); item 0
    // of a 1-tuple exists and is borrowed from the tuple the caller keeps
    // alive. Reading an int runs no Python code; any error it raised is
    // cleared here.
    unsafe {
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
}

/// Deletes `key` from `dict` if present, leaving any Python error that was
/// set before as it was.
///
/// # Safety
/// The thread is attached; `dict` is a live `dict` and `key` a live str.
unsafe fn delete_keeping_error(dict: *mut ffi::PyObject, key: *mut ffi::PyObject) {
    // SAFETY: attached, `dict` and `key` live (this function's contract); the
    // pending exception taken (a reference or null) is handed back to
    // `restore_exception`, which consumes it.
    unsafe {
        let pending = errors::take_exception();
        if ffi::PyDict_DelItem(dict, key) < 0 {
            ffi::PyErr_Clear(); // absent: nothing to release
        }
        errors::restore_exception(pending);
    }
}
