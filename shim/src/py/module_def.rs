//! What every module definition of a shim copy shares: the wrapper for
//! statics that CPython reads and writes, and the standard module slots.

use std::{cell::UnsafeCell, ptr};

use pyo3_ffi as ffi;

/// A static that CPython reads (method tables) or writes once under its
/// import lock (module definitions). Rust code only hands out its pointer.
pub struct CpythonStatic<T>(UnsafeCell<T>);

// SAFETY: Rust never reads or writes the contents after start-up; CPython
// serialises its own initialisation of module definitions.
unsafe impl<T> Sync for CpythonStatic<T> {}

impl<T> CpythonStatic<T> {
    pub const fn new(value: T) -> Self {
        CpythonStatic(UnsafeCell::new(value))
    }

    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

#[cfg(Py_3_13)]
pub const SLOT_COUNT: usize = 4;
#[cfg(all(Py_3_12, not(Py_3_13)))]
pub const SLOT_COUNT: usize = 3;
#[cfg(not(Py_3_12))]
pub const SLOT_COUNT: usize = 2;

/// `first` (the exec or create slot), then the slots every oxbind module
/// declares: no subinterpreters (3.12+; the runtime is per process), no GIL
/// needed (3.13+), and the terminator.
pub const fn standard_slots(first: ffi::PyModuleDef_Slot) -> [ffi::PyModuleDef_Slot; SLOT_COUNT] {
    [
        first,
        #[cfg(Py_3_12)]
        ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_multiple_interpreters,
            value: ffi::Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED,
        },
        #[cfg(Py_3_13)]
        ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_gil,
            value: ffi::Py_MOD_GIL_NOT_USED,
        },
        ffi::PyModuleDef_Slot {
            slot: 0,
            value: ptr::null_mut(),
        },
    ]
}
