//! [`Instance<T>`]: a strong reference to a Python instance of a class, that
//! plugin code may keep beyond the call that received it.

use std::{ffi::c_void, marker::PhantomData};

use oxbind_abi::{ArgValue, Passing, TypeDesc, TypeKind};

use crate::{private::host, Class, Error, FromArg};

/// A strong reference to an instance of the class `T`, taken as a
/// parameter (`fn keep(item: oxbind::Instance<Blob>)`). Unlike `&T`, it may
/// outlive the call: store it, and the Python object stays alive until the
/// handle is dropped. It is an opaque keep-alive: it gives no access to the
/// value (take `&T` for that).
///
/// It may be cloned and dropped on any thread, threads the plugin spawns
/// included: a thread not attached to the interpreter never attaches for it
/// (the shim pools the release and applies it soon, on an attached thread;
/// `spec/SOUNDNESS.md`), so dropping one on a worker that the calling
/// thread joins cannot deadlock. A handle
/// that is never dropped (one in a `static`, say) keeps its object alive
/// for good: the leak report at exit lists it (`spec/LEAKS.md`).
pub struct Instance<T: Class> {
    obj: *mut c_void,
    _class: PhantomData<fn() -> T>,
}

// SAFETY: the handle only holds a reference count, which the shim changes
// attached to the interpreter, from whatever thread drops or clones it.
unsafe impl<T: Class> Send for Instance<T> {}
// SAFETY: `&Instance<T>` gives no access to the value, only `is` (a pointer
// comparison) and `clone`, which takes a reference through the shim's host
// API, safe from any thread as for `Send`.
unsafe impl<T: Class> Sync for Instance<T> {}

impl<T: Class> Instance<T> {
    /// The `PyObject*`, for the collector's visitor.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.obj
    }

    /// The instance as an [`crate::Object`] (the same reference, handed
    /// over).
    pub fn into_object_handle(self) -> crate::Object {
        let p = self.obj;
        std::mem::forget(self);
        // SAFETY: the reference this handle owned, now the object's.
        unsafe { crate::Object::from_owned(p) }
    }

    /// Whether two handles refer to the same Python object.
    pub fn is(&self, other: &Instance<T>) -> bool {
        self.obj == other.obj
    }
}

// SAFETY: TYPE is a HANDLE of T's class; from_arg takes its own reference.
unsafe impl<'a, T: Class> FromArg<'a> for Instance<T> {
    const TYPE: TypeDesc = TypeDesc::object(T::CLASS, Passing::HANDLE, "Instance");
    /// # Safety
    /// As for [`FromArg::from_arg`]: an `Object` value is the `PyObject*` of
    /// a live instance of `T`'s class, which the shim holds for the call.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        let ArgValue::Object(obj) = value else {
            return Err(Error::type_error(format!(
                "expected {}, got {value:?} (shim and plugin disagree on the parameter type)",
                TypeKind::OBJECT.python_name()
            )));
        };
        let incref = host().and_then(|h| h.incref()).ok_or_else(|| {
            Error::runtime_error("oxbind: this oxbind shim predates instance handles (plugin ABI 0.1.1); upgrade oxbind")
        })?;
        // SAFETY: the shim passed a live object for a HANDLE parameter.
        unsafe { incref(obj) };
        Ok(Instance {
            obj,
            _class: PhantomData,
        })
    }
}

impl<T: Class> Clone for Instance<T> {
    /// Takes another reference to the object.
    ///
    /// # Panics
    /// Inside `Traverse::traverse`: the collector is counting references
    /// there, and a new one would make it free an object a handle still
    /// holds. (The panic ends the traversal early, which is safe.)
    fn clone(&self) -> Self {
        if crate::gc::traversing() {
            panic!("oxbind::Instance cloned inside Traverse::traverse; traverse must only visit handles");
        }
        if let Some(incref) = host().and_then(|h| h.incref()) {
            // SAFETY: this handle keeps the object alive.
            unsafe { incref(self.obj) };
        }
        Instance {
            obj: self.obj,
            _class: PhantomData,
        }
    }
}

impl<T: Class> Drop for Instance<T> {
    fn drop(&mut self) {
        if let Some(decref) = host().and_then(|h| h.decref()) {
            // SAFETY: this handle owns one reference, taken in from_arg/clone.
            unsafe { decref(self.obj) };
        }
    }
}

impl<T: Class> std::fmt::Debug for Instance<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Instance<{}>({:p})", T::CLASS.key.as_str(), self.obj)
    }
}
