//! Python's buffer protocol, both ways (`TypeKind::BUFFER`, plugin ABI
//! 0.1.7):
//!
//! - [`export`] reads an argument's buffer and checks it against a buffer
//!   parameter: element format and size, alignment, strides, contiguity,
//!   writability. The [`Export`] it returns keeps the buffer exported until
//!   it drops, and gives the bytes its elements span ([`Export::span`]),
//!   which the call path claims in the runtime's range registry.
//! - [`array_object`] wraps an array result (an `ArrayExport` a plugin gave
//!   up) in an `oxbind.Array`, which exports that memory and releases it
//!   when the object goes.

use std::{
    ffi::{c_char, c_int, c_void, CStr},
    ptr,
    sync::atomic::AtomicPtr,
};

use oxbind_abi::{ArrayExport, BufferArg, BufferMode, Element, MAX_DIMS};
use pyo3_ffi as ffi;
use smallvec::SmallVec;

use crate::py::errors;

/// Why an argument's buffer was refused.
pub(crate) enum Refusal {
    /// The object exports no buffer at all (a `TypeError` naming the
    /// parameter's type, raised by the caller).
    NotBuffer,
    /// It does, but not as the parameter needs: the exception class and
    /// what to say after "argument 'x' ".
    Mismatch(*mut ffi::PyObject, String),
    /// The exporter raised; its exception is set.
    Raised,
}

/// An argument's buffer, held for a call: exported (unless it is a `bytes`,
/// read directly) and described to the plugin by [`Export::arg`]. Filled in
/// place and never moved afterwards (the view CPython filled, and the
/// description's pointers into `shape` and `strides`, stay where they are).
/// Dropped attached.
pub(crate) struct Export {
    view: ffi::Py_buffer,
    exported: bool,
    shape: SmallVec<[usize; 4]>,
    strides: SmallVec<[isize; 4]>,
    arg: BufferArg,
    /// The bytes `[start, end)` the elements span; empty for no elements
    /// and for a `bytes` (immutable: nothing to claim).
    span: (usize, usize),
}

impl Export {
    /// An export not yet filled: [`export`] fills it in place, where it
    /// stays until it drops.
    pub(crate) fn empty() -> Export {
        Export {
            // SAFETY: `Py_buffer` is a plain C struct; all zeroes (null
            // pointers, zero sizes) is its "not filled" state.
            view: unsafe { std::mem::zeroed() },
            exported: false,
            shape: SmallVec::new(),
            strides: SmallVec::new(),
            arg: BufferArg {
                data: ptr::null_mut(),
                len: 0,
                ndim: 0,
                shape: ptr::null(),
                strides: ptr::null(),
                writable: false,
            },
            span: (0, 0),
        }
    }

    /// What the plugin reads, alive as long as `self`.
    pub(crate) fn arg(&self) -> *const BufferArg {
        &self.arg
    }

    /// The bytes `[start, end)` the elements span, to claim for the call
    /// (empty if there is nothing another call could write).
    pub(crate) fn span(&self) -> (usize, usize) {
        self.span
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        if self.exported {
            // SAFETY: the view was filled by `PyObject_GetBuffer` and not yet
            // released; an `Export` drops attached (its contract, `export`'s).
            unsafe { ffi::PyBuffer_Release(&mut self.view) };
        }
    }
}

/// How a buffer parameter is described in messages: "a writable
/// C-contiguous buffer of float64".
pub(crate) fn expected(mode: BufferMode, element: Element) -> String {
    if element == Element::U8 && mode == BufferMode::SLICE {
        return "a bytes-like object".to_owned();
    }
    format!(
        "a {}{}buffer of {}",
        if mode.is_mut() { "writable " } else { "" },
        if mode.is_slice() { "C-contiguous " } else { "" },
        element.numpy_name()
    )
}

/// The element class and size of a `struct` format string, if it is a
/// single native- or little-endian number or bool (NumPy's and `array`'s
/// formats: `'d'`, `'<i4'` is `'<i'`, `'=q'`, …). `itemsize` is the
/// exporter's.
fn format_element(format: &[u8], itemsize: usize) -> Option<Element> {
    let (order, code) = match format {
        [c] => (b'@', *c),
        [o, c] => (*o, *c),
        _ => return None,
    };
    let native_order = match order {
        b'@' | b'=' => true,
        b'<' => cfg!(target_endian = "little"),
        b'>' | b'!' => cfg!(target_endian = "big"),
        _ => false,
    };
    if !native_order {
        return None;
    }
    let class = match code {
        b'b' | b'h' | b'i' | b'l' | b'q' | b'n' => Element::SIGNED,
        b'B' | b'H' | b'I' | b'L' | b'Q' | b'N' | b'c' => Element::UNSIGNED,
        b'f' | b'd' => Element::FLOAT,
        b'?' => Element::BOOL,
        _ => return None,
    };
    let e = Element::new(class, itemsize);
    (itemsize <= 8 && e.is_valid()).then_some(e)
}

/// Reads `obj`'s buffer for a parameter of `mode` and `element` into `ex`,
/// in place. `expected` describes the parameter, for messages (called only
/// on failure). On failure `ex` may hold an export, released when it drops.
///
/// # Safety
/// The thread is attached; `obj` is a valid object the caller keeps alive
/// as long as `ex`, which is [`Export::empty`] and never moves until it
/// drops, attached (the exporter's view and the plugin's description point
/// into it). No oxbind lock is held (an exporter may run Python code).
pub(crate) unsafe fn export(
    obj: *mut ffi::PyObject,
    mode: BufferMode,
    element: Element,
    expected: &dyn Fn() -> String,
    ex: &mut Export,
) -> Result<(), Refusal> {
    let size = element.size();
    // An exact `bytes` is read directly: immutable, so never claimed. (A
    // subclass may define `__buffer__`, so it is asked like any exporter.)
    // SAFETY: attached, and `obj` is valid (this function's contract).
    if unsafe { ffi::PyBytes_CheckExact(obj) } != 0 {
        if element != Element::U8 {
            return Err(Refusal::Mismatch(
                // SAFETY: an exception class CPython sets up at start-up.
                unsafe { ffi::PyExc_TypeError },
                format!("must be {}, not bytes", expected()),
            ));
        }
        if mode.is_mut() {
            return Err(Refusal::Mismatch(
                // SAFETY: as above.
                unsafe { ffi::PyExc_BufferError },
                "must be a writable buffer, not bytes (read-only)".to_owned(),
            ));
        }
        // SAFETY: `obj` is a bytes object (checked above), alive as long as
        // the export (this function's contract); its contents never change.
        let (data, len) = unsafe {
            (
                ffi::PyBytes_AsString(obj) as *mut c_void,
                ffi::PyBytes_Size(obj) as usize,
            )
        };
        ex.shape.push(len);
        ex.strides.push(1);
        ex.arg.data = data;
        ex.arg.len = len;
        ex.arg.ndim = 1;
        ex.arg.shape = ex.shape.as_ptr();
        ex.arg.strides = ex.strides.as_ptr();
        return Ok(());
    }
    // SAFETY: attached, and `obj` is valid (this function's contract).
    if unsafe { ffi::PyObject_CheckBuffer(obj) } == 0 {
        return Err(Refusal::NotBuffer);
    }
    // SAFETY: attached, `obj` is valid and no lock of ours is held (this
    // function's contract); the view lives in the box, which does not move
    // until it is released in `Drop`.
    if unsafe { ffi::PyObject_GetBuffer(obj, &mut ex.view, ffi::PyBUF_RECORDS_RO) } != 0 {
        return Err(Refusal::Raised);
    }
    ex.exported = true;
    if mode.is_mut() && ex.view.readonly != 0 {
        // An exporter may give a writable view only when asked for one: ask.
        // SAFETY: the view was filled above and not yet released; attached.
        unsafe { ffi::PyBuffer_Release(&mut ex.view) };
        ex.exported = false;
        // SAFETY: as for the first request.
        if unsafe { ffi::PyObject_GetBuffer(obj, &mut ex.view, ffi::PyBUF_RECORDS) } != 0 {
            // SAFETY: attached; the refusal is reported as ours below.
            unsafe { ffi::PyErr_Clear() };
            return Err(Refusal::Mismatch(
                // SAFETY: an exception class CPython sets up at start-up.
                unsafe { ffi::PyExc_BufferError },
                format!("must be {}, not a read-only buffer", expected()),
            ));
        }
        ex.exported = true;
    }
    let view = &ex.view;
    // No format means unsigned bytes.
    let format: &[u8] = if view.format.is_null() {
        b"B"
    } else {
        // SAFETY: a format, when given, is a NUL-terminated string the
        // exporter keeps while the buffer is exported.
        unsafe { CStr::from_ptr(view.format) }.to_bytes()
    };
    let itemsize = view.itemsize.max(0) as usize;
    let given = format_element(format, itemsize);
    if given != Some(element) {
        let what = match given {
            Some(g) => format!(
                "a buffer of {} (format '{}')",
                g.numpy_name(),
                String::from_utf8_lossy(format)
            ),
            None => format!(
                "a buffer of format '{}' (item size {itemsize})",
                String::from_utf8_lossy(format)
            ),
        };
        return Err(Refusal::Mismatch(
            // SAFETY: an exception class CPython sets up at start-up.
            unsafe { ffi::PyExc_TypeError },
            format!("must be {}, not {what}", expected()),
        ));
    }
    let ndim = view.ndim.max(0) as usize;
    if ndim > MAX_DIMS || (ndim > 0 && view.shape.is_null()) || !view.suboffsets.is_null() {
        return Err(Refusal::Mismatch(
            // SAFETY: as above.
            unsafe { ffi::PyExc_BufferError },
            format!(
                "must be {}: its buffer has an unsupported layout",
                expected()
            ),
        ));
    }
    // SAFETY: `shape` (checked not null when ndim > 0) and `strides` (if
    // not null) hold `ndim` values each, kept while the buffer is exported.
    let (shape, byte_strides) = unsafe {
        (
            if ndim == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(view.shape, ndim)
            },
            (!view.strides.is_null() && ndim > 0)
                .then(|| std::slice::from_raw_parts(view.strides, ndim)),
        )
    };
    let shape: SmallVec<[usize; 4]> = shape.iter().map(|&n| n.max(0) as usize).collect();
    let len = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
    let Some(len) = len else {
        return Err(layout_error("its shape overflows"));
    };
    // Element strides; C order when the exporter gave none.
    let mut strides: SmallVec<[isize; 4]> = smallvec::smallvec![0isize; ndim];
    match byte_strides {
        Some(bs) => {
            for (d, &b) in bs.iter().enumerate() {
                if b % size as isize != 0 {
                    return Err(layout_error(&format!(
                        "its strides {bs:?} are not multiples of the item size {size}"
                    )));
                }
                strides[d] = b / size as isize;
            }
        }
        None => {
            let mut s = 1isize;
            for d in (0..ndim).rev() {
                strides[d] = s;
                s = s.saturating_mul(shape[d] as isize);
            }
        }
    }
    if len > 0 && view.buf.is_null() {
        return Err(layout_error("its data pointer is null"));
    }
    if len > 0 && (view.buf as usize) % size != 0 {
        return Err(Refusal::Mismatch(
            // SAFETY: as above.
            unsafe { ffi::PyExc_BufferError },
            format!(
                "must be {}: its data at {:#x} is not aligned for {}",
                expected(),
                view.buf as usize,
                element.numpy_name()
            ),
        ));
    }
    if mode.is_slice() && len > 0 {
        let mut want = 1isize;
        for d in (0..ndim).rev() {
            if shape[d] > 1 && strides[d] != want {
                return Err(Refusal::Mismatch(
                    // SAFETY: as above.
                    unsafe { ffi::PyExc_BufferError },
                    format!(
                        "must be C-contiguous ({}); given shape {:?} with strides {:?} \
                         (in items)",
                        expected(),
                        shape,
                        strides
                    ),
                ));
            }
            want = want.saturating_mul(shape[d] as isize);
        }
    }
    let writable = view.readonly == 0;
    if mode.is_mut() && !writable {
        return Err(Refusal::Mismatch(
            // SAFETY: as above.
            unsafe { ffi::PyExc_BufferError },
            format!("must be {}, not a read-only buffer", expected()),
        ));
    }
    // The bytes the elements span, for the claim.
    let (mut lo, mut hi) = (0isize, 0isize);
    if len > 0 {
        for d in 0..ndim {
            let reach = (shape[d] as isize - 1).saturating_mul(strides[d]);
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
    }
    let base = view.buf as usize;
    let start = base.wrapping_add_signed(lo * size as isize);
    let end = base.wrapping_add_signed(hi * size as isize) + size;
    let data = view.buf;
    if len > 0 {
        ex.span = (start, end);
    }
    ex.shape = shape;
    ex.strides = strides;
    ex.arg = BufferArg {
        data,
        len,
        ndim,
        shape: ex.shape.as_ptr(),
        strides: ex.strides.as_ptr(),
        writable,
    };
    Ok(())
}

/// A `BufferError` saying the buffer's layout is unusable.
fn layout_error(why: &str) -> Refusal {
    // SAFETY: an exception class CPython sets up at start-up.
    Refusal::Mismatch(
        unsafe { ffi::PyExc_BufferError },
        format!("cannot be used: {why}"),
    )
}

// ---------------------------------------------------------------------------
// `oxbind.Array`: array results.

/// An `oxbind.Array`: a plugin's array result, exported through the buffer
/// protocol. Immutable after creation; `export` is released in dealloc.
#[repr(C)]
struct ArrayObject {
    ob_base: ffi::PyObject,
    export: *mut ArrayExport,
    element: Element,
    ndim: isize,
    /// `ndim` extents then `ndim` byte strides (C order), leaked from a
    /// boxed slice and freed in dealloc.
    dims: *mut ffi::Py_ssize_t,
}

/// This copy's `oxbind.Array` type, made on first use and immortal.
static ARRAY_TYPE: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// The `oxbind.Array` type of this copy (also the `oxbind` module's
/// attribute `Array`).
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn array_type() -> Result<*mut ffi::PyTypeObject, ()> {
    // SAFETY: attached (this function's contract); the spec's name, slots
    // and doc are static or leaked, so they outlive the type.
    unsafe {
        crate::py::type_once(&ARRAY_TYPE, || {
            let slots: &'static mut [ffi::PyType_Slot] = Box::leak(Box::new([
                ffi::PyType_Slot {
                    slot: ffi::Py_bf_getbuffer,
                    pfunc: array_getbuffer as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_dealloc,
                    pfunc: array_dealloc as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_repr,
                    pfunc: array_repr as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_doc,
                    pfunc: c"An array a plugin returned: Rust memory exported through the buffer protocol. \
        numpy.asarray(a) and memoryview(a) share it; it is freed when the last view goes."
                        .as_ptr() as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: 0,
                    pfunc: ptr::null_mut(),
                },
            ]));
            ffi::PyType_Spec {
                name: c"oxbind.Array".as_ptr(),
                basicsize: std::mem::size_of::<ArrayObject>() as c_int,
                itemsize: 0,
                // Only `array_object` makes instances: `oxbind.Array()` from Python
                // would have no export.
                flags: (ffi::Py_TPFLAGS_DEFAULT
                    | ffi::Py_TPFLAGS_IMMUTABLETYPE
                    | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
                slots: slots.as_mut_ptr(),
            }
        })
    }
}

/// Releases an array result the plugin gave up, unused.
///
/// # Safety
/// `export` is null or an `ArrayExport` a plugin gave up, not yet released.
pub(crate) unsafe fn release_export(export: *mut ArrayExport) {
    if !export.is_null() {
        // SAFETY: the plugin's export, released once (this function's
        // contract); `release` never unwinds (plugin ABI).
        unsafe { ((*export).release)(export) };
    }
}

/// A new `oxbind.Array` holding `export`, an array result of `element`;
/// null with an exception set on failure (the export is then released).
///
/// # Safety
/// The thread is attached; `export` is null or an `ArrayExport` the plugin
/// gave up (taken over here), whose data holds `len` elements of `element`,
/// C-contiguous and aligned, in `ndim` extents whose product is `len`.
pub(crate) unsafe fn array_object(
    export: *mut ArrayExport,
    element: Element,
) -> *mut ffi::PyObject {
    let fail = |message: &str| {
        // SAFETY: the export is the plugin's, not yet released; attached.
        unsafe {
            release_export(export);
            errors::raise(ffi::PyExc_RuntimeError, message);
        }
        ptr::null_mut()
    };
    if export.is_null() {
        return fail("an array result without an export");
    }
    // SAFETY: not null, the plugin's export (this function's contract).
    let ex = unsafe { &*export };
    let size = element.size();
    if ex.ndim > MAX_DIMS
        || (ex.ndim > 0 && ex.shape.is_null())
        || (ex.len > 0 && (ex.data.is_null() || ex.data as usize % size != 0))
    {
        return fail("an array result with an invalid layout");
    }
    let shape = if ex.ndim == 0 {
        &[][..]
    } else {
        // SAFETY: `ndim` extents (checked not null when ndim > 0), alive
        // until the export is released.
        unsafe { std::slice::from_raw_parts(ex.shape, ex.ndim) }
    };
    let count = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
    if shape.iter().any(|&n| n > isize::MAX as usize) {
        return fail("an array result with an extent beyond isize::MAX");
    }
    if count != Some(ex.len)
        || ex
            .len
            .checked_mul(size)
            .is_none_or(|b| b > isize::MAX as usize)
    {
        return fail("an array result whose shape does not match its length");
    }
    let mut dims: Vec<ffi::Py_ssize_t> = shape.iter().map(|&n| n as ffi::Py_ssize_t).collect();
    let mut stride = size as ffi::Py_ssize_t;
    let mut strides = vec![0; ex.ndim];
    for d in (0..ex.ndim).rev() {
        strides[d] = stride;
        stride = stride.saturating_mul(dims[d]);
    }
    dims.extend(strides);
    // SAFETY: attached (this function's contract).
    let Ok(ty) = (unsafe { array_type() }) else {
        // SAFETY: the export is the plugin's, not yet released.
        unsafe { release_export(export) };
        return ptr::null_mut();
    };
    // SAFETY: attached; `ty` is a ready type; allocation failure returns
    // null with MemoryError set.
    let obj = unsafe { ffi::PyType_GenericAlloc(ty, 0) };
    if obj.is_null() {
        // SAFETY: as above.
        unsafe { release_export(export) };
        return ptr::null_mut();
    }
    let dims = Box::into_raw(dims.into_boxed_slice()) as *mut ffi::Py_ssize_t;
    // SAFETY: `obj` is a fresh `ArrayObject` (the type's basic size), whose
    // fields past the header are zeroed; no other thread has seen it.
    unsafe {
        let a = obj as *mut ArrayObject;
        (*a).export = export;
        (*a).element = element;
        (*a).ndim = ex.ndim as isize;
        (*a).dims = dims;
    }
    obj
}

/// `bf_getbuffer`: the array's memory, writable, C-contiguous.
///
/// # Safety
/// Called by CPython on an attached thread, with `obj` an `ArrayObject` and
/// `view` a buffer to fill.
unsafe extern "C" fn array_getbuffer(
    obj: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: `obj` is an `ArrayObject` (this function's contract),
    // immutable since `array_object` filled it.
    let a = unsafe { &*(obj as *const ArrayObject) };
    if a.export.is_null() || a.dims.is_null() {
        // Never for an instance `array_object` made (the only maker: the
        // type cannot be instantiated from Python).
        // SAFETY: attached; an exception class; `view` is CPython's.
        unsafe {
            errors::raise(ffi::PyExc_BufferError, "an oxbind.Array without memory");
            (*view).obj = ptr::null_mut();
        }
        return -1;
    }
    // SAFETY: the export lives as long as the object.
    let ex = unsafe { &*a.export };
    let size = a.element.size();
    let ndim = a.ndim as usize;
    let fortran_wanted = flags & ffi::PyBUF_F_CONTIGUOUS == ffi::PyBUF_F_CONTIGUOUS;
    // SAFETY: `dims` holds `ndim` extents then `ndim` strides.
    let shape = unsafe { std::slice::from_raw_parts(a.dims, ndim) };
    if fortran_wanted && ex.len > 0 && shape.iter().filter(|&&n| n > 1).count() > 1 {
        // SAFETY: attached; an exception class.
        unsafe {
            errors::raise(
                ffi::PyExc_BufferError,
                "oxbind.Array is C-contiguous, not Fortran-contiguous",
            )
        };
        // SAFETY: `view` is CPython's to fill (this function's contract).
        unsafe { (*view).obj = ptr::null_mut() };
        return -1;
    }
    let with_shape = flags & ffi::PyBUF_ND == ffi::PyBUF_ND;
    // SAFETY: `view` is CPython's to fill (this function's contract); the
    // pointers stored stay valid while `view.obj` (a new reference to the
    // array) keeps the array, and so its export and dims, alive.
    unsafe {
        let v = &mut *view;
        v.buf = if ex.len == 0 && ex.data.is_null() {
            ptr::NonNull::<u64>::dangling().as_ptr() as *mut c_void
        } else {
            ex.data
        };
        v.obj = ffi::Py_NewRef(obj);
        v.len = (ex.len * size) as ffi::Py_ssize_t;
        v.readonly = 0;
        v.itemsize = size as ffi::Py_ssize_t;
        v.format = if flags & ffi::PyBUF_FORMAT != 0 {
            a.element.format().as_ptr() as *mut c_char
        } else {
            ptr::null_mut()
        };
        if with_shape && ndim == 0 {
            // A scalar: the protocol wants no shape or strides.
            v.ndim = 0;
            v.shape = ptr::null_mut();
            v.strides = ptr::null_mut();
        } else if with_shape {
            v.ndim = a.ndim as c_int;
            v.shape = a.dims;
            v.strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                a.dims.add(ndim)
            } else {
                ptr::null_mut()
            };
        } else {
            v.ndim = 1;
            v.shape = ptr::null_mut();
            v.strides = ptr::null_mut();
        }
        v.suboffsets = ptr::null_mut();
        v.internal = ptr::null_mut();
    }
    0
}

/// `tp_repr`: `oxbind.Array(float64, shape=(2, 3))`.
///
/// # Safety
/// Called by CPython on an attached thread with `obj` an `ArrayObject`.
unsafe extern "C" fn array_repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as `array_getbuffer`.
    let a = unsafe { &*(obj as *const ArrayObject) };
    let shape = if a.dims.is_null() {
        &[][..]
    } else {
        // SAFETY: `dims` holds `ndim` extents first.
        unsafe { std::slice::from_raw_parts(a.dims, a.ndim as usize) }
    };
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let text = format!("oxbind.Array({}, shape={dims})", a.element.numpy_name());
    // SAFETY: attached (this function's contract).
    unsafe { errors::new_str(&text) }
}

/// `tp_dealloc`: releases the plugin's memory, then frees the object.
///
/// # Safety
/// Called by CPython when the last reference to `obj`, an `ArrayObject`,
/// goes (no view of its buffer is left: each holds a reference).
unsafe extern "C" fn array_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is an `ArrayObject` being freed (this function's
    // contract): nothing else reads its fields any more. `release` never
    // unwinds; `dims` was leaked from a boxed slice of 2 × ndim values.
    unsafe {
        let a = obj as *mut ArrayObject;
        release_export((*a).export);
        if !(*a).dims.is_null() {
            let n = 2 * (*a).ndim as usize;
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut((*a).dims, n)));
        }
        let ty = ffi::Py_TYPE(obj);
        if let Some(free) = (*ty).tp_free {
            free(obj as *mut c_void);
        }
        ffi::Py_DECREF(ty as *mut ffi::PyObject);
    }
}
