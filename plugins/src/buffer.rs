//! Buffers and arrays, zero copy (plugin ABI 0.1.7, `TypeKind::BUFFER`).
//!
//! Parameters read memory that a Python object exports through the buffer
//! protocol (a NumPy array, `array.array`, `memoryview`, `bytearray`,
//! `bytes`), without copying it:
//!
//! | Rust parameter | accepts |
//! |---|---|
//! | `&[T]` | a C-contiguous buffer of `T` (any number of dimensions, read as one run) |
//! | `&mut [T]` | the same, writable |
//! | [`ArrayView<T>`] | a buffer of `T` of any shape and strides |
//! | [`ArrayViewMut<T>`] | the same, writable |
//! | `Vec<u8>` | a C-contiguous byte buffer, copied |
//!
//! `T` is one of the [`Element`] types: `i8` … `i64`, `u8` … `u64`,
//! `isize`, `usize`, `f32`, `f64`, and, for views and results only, `bool`
//! (a slice of `bool` could see a byte that is neither 0 nor 1, which no
//! Rust `bool` may hold, so `&[bool]` does not compile).
//!
//! The shim checks the buffer's format, item size, alignment, contiguity
//! and writability against the parameter, keeps the buffer exported for the
//! whole call, and claims its memory in the runtime's range registry: a
//! mutable claim fails with `BufferError` if any other argument of any
//! oxbind call in the process holds overlapping memory, so two `&mut [T]`
//! (or a `&mut [T]` and a `&[T]`) never alias. What is not guaranteed when
//! *Python* code writes the memory during the call is in
//! `spec/THREADING.md` ("Buffers").
//!
//! A result of type [`Array<T>`] keeps its Rust allocation: Python gets an
//! `oxbind.Array` exporting it (`numpy.asarray(result)` shares the memory),
//! and the allocation is freed when the last view of it goes.

use std::{ffi::c_void, marker::PhantomData, ptr::NonNull};

use oxbind_abi::{ArgValue, ArrayExport, BufferArg, BufferMode, RetValue, TypeDesc, TypeKind};

use crate::{
    convert::{unexpected, FromArg, IntoReturn, ReturnSlot},
    Error,
};

mod sealed {
    pub trait Sealed {}
}

/// A type a buffer's elements can have: a fixed-size number or `bool`.
///
/// # Safety
/// Sealed: implemented by the SDK only, with `CODE` the element's class and
/// size, and [`Element::read`] valid for every byte pattern of that size
/// (which is what a buffer may hold).
pub unsafe trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    /// The element's description (kind, name, [`oxbind_abi::Element`] code).
    const DESC: &'static TypeDesc;
    #[doc(hidden)]
    const NAMES: Names;
    /// Reads one element, with a volatile read: exactly once, where the
    /// code reads it, even if Python code writes the memory meanwhile.
    ///
    /// # Safety
    /// `p` is aligned and points at `size_of::<Self>()` readable bytes.
    #[doc(hidden)]
    unsafe fn read(p: *const Self) -> Self;
}

/// Every bit pattern of its size is a value: the element types a slice
/// (`&[T]`, `&mut [T]`) may have. All of [`Element`]'s but `bool`.
///
/// ```
/// #[oxbind::function]
/// fn count(v: oxbind::ArrayView<bool>) -> usize { v.iter().filter(|&b| b).count() }
/// # fn main() {}
/// ```
///
/// A buffer byte may be neither 0 nor 1, which no Rust `bool` may hold:
///
/// ```compile_fail
/// #[oxbind::function]
/// fn any(xs: &[bool]) -> bool { xs.iter().any(|&b| b) }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// #[oxbind::function]
/// fn clear(xs: &mut [bool]) { xs.fill(false) }
/// # fn main() {}
/// ```
///
/// # Safety
/// Sealed: implemented by the SDK only, for types with no invalid bit
/// pattern.
pub unsafe trait Plain: Element {}

/// The Rust names of the types built on one element type, for signatures
/// and messages.
#[doc(hidden)]
pub struct Names {
    pub slice: &'static str,
    pub slice_mut: &'static str,
    pub view: &'static str,
    pub view_mut: &'static str,
    pub array: &'static str,
}

macro_rules! elements {
    ($($t:ty => $class:ident, $plain:tt;)*) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: the code is the type's class and size; `read` of a plain
        // number is a plain aligned read, valid for every bit pattern.
        unsafe impl Element for $t {
            const DESC: &'static TypeDesc = &TypeDesc::element(
                oxbind_abi::Element::new(oxbind_abi::Element::$class, std::mem::size_of::<$t>()),
                stringify!($t),
            );
            const NAMES: Names = Names {
                slice: concat!("&[", stringify!($t), "]"),
                slice_mut: concat!("&mut [", stringify!($t), "]"),
                view: concat!("ArrayView<", stringify!($t), ">"),
                view_mut: concat!("ArrayViewMut<", stringify!($t), ">"),
                array: concat!("Array<", stringify!($t), ">"),
            };
            /// # Safety
            /// As for [`Element::read`].
            #[inline(always)]
            unsafe fn read(p: *const Self) -> Self {
                // SAFETY: aligned and readable (this function's contract);
                // every bit pattern is a value of a number type. Volatile:
                // read exactly once, here (spec/SOUNDNESS.md §1b).
                unsafe { p.read_volatile() }
            }
        }
        elements!(@plain $plain $t);
    )*};
    (@plain yes $t:ty) => {
        // SAFETY: a number type: every bit pattern is a value.
        unsafe impl Plain for $t {}
    };
    (@plain no $t:ty) => {};
}

elements! {
    i8 => SIGNED, yes;
    i16 => SIGNED, yes;
    i32 => SIGNED, yes;
    i64 => SIGNED, yes;
    isize => SIGNED, yes;
    u8 => UNSIGNED, yes;
    u16 => UNSIGNED, yes;
    u32 => UNSIGNED, yes;
    u64 => UNSIGNED, yes;
    usize => UNSIGNED, yes;
    f32 => FLOAT, yes;
    f64 => FLOAT, yes;
}

impl sealed::Sealed for bool {}
// SAFETY: the code is `BOOL`, one byte; `read` reads the byte as a `u8`
// (valid for every pattern) and maps it to a `bool`, never reading a
// `bool` that is not 0 or 1.
unsafe impl Element for bool {
    const DESC: &'static TypeDesc = &TypeDesc::element(
        oxbind_abi::Element::new(oxbind_abi::Element::BOOL, 1),
        "bool",
    );
    const NAMES: Names = Names {
        slice: "&[bool]",
        slice_mut: "&mut [bool]",
        view: "ArrayView<bool>",
        view_mut: "ArrayViewMut<bool>",
        array: "Array<bool>",
    };
    /// # Safety
    /// As for [`Element::read`].
    #[inline(always)]
    unsafe fn read(p: *const Self) -> Self {
        // SAFETY: one readable byte (this function's contract), read as a
        // `u8`, which every byte is; volatile, as for the numbers.
        unsafe { (p as *const u8).read_volatile() != 0 }
    }
}

/// The shim's description of a buffer argument.
///
/// # Safety
/// `value` was made by the shim for a `BUFFER` parameter: an `Object`
/// pointing at a [`BufferArg`] alive for `'a`.
unsafe fn buffer_arg<'a>(value: ArgValue<'a>) -> Result<&'a BufferArg, Error> {
    match value {
        // SAFETY: the shim's value for a BUFFER parameter points at its
        // `BufferArg`, alive for 'a (this function's contract).
        ArgValue::Object(p) if !p.is_null() => Ok(unsafe { &*(p as *const BufferArg) }),
        other => Err(unexpected(other, TypeKind::BUFFER)),
    }
}

/// The data pointer of `arg` as `*mut T`: dangling (aligned, never read)
/// for an empty buffer, whose exporter may give any address.
fn data_of<T>(arg: &BufferArg) -> *mut T {
    if arg.len == 0 || arg.data.is_null() {
        NonNull::<T>::dangling().as_ptr()
    } else {
        arg.data as *mut T
    }
}

/// Extents and strides of a buffer argument, alive as long as it.
///
/// # Safety
/// `arg` is the shim's: its `shape` and `strides` point at `ndim` values
/// each, alive as long as `arg`.
unsafe fn dims(arg: &BufferArg) -> (&[usize], &[isize]) {
    if arg.ndim == 0 {
        return (&[], &[]);
    }
    // SAFETY: `ndim` values each, alive as long as `arg` (this function's
    // contract).
    unsafe {
        (
            std::slice::from_raw_parts(arg.shape, arg.ndim),
            std::slice::from_raw_parts(arg.strides, arg.ndim),
        )
    }
}

// SAFETY: TYPE is a read-only slice of `T`; from_arg reads an `Object`
// (the shim's `BufferArg`: C-contiguous, aligned, `len` elements of `T`'s
// format, exported and claimed shared for 'a) or, inside a container (where
// the item type is BYTES), a `Bytes` read as bytes.
unsafe impl<'a, T: Plain> FromArg<'a> for &'a [T] {
    const TYPE: TypeDesc = TypeDesc::buffer(T::DESC, BufferMode::SLICE, T::NAMES.slice);
    /// # Safety
    /// As for [`FromArg::from_arg`].
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        if let ArgValue::Bytes(b) = value {
            if T::DESC.passing.0 == oxbind_abi::Element::U8.0 {
                let b = b.as_slice();
                // SAFETY: `T` is `u8` (same element code; the codes are
                // sealed), so this is the same slice.
                return Ok(unsafe { std::slice::from_raw_parts(b.as_ptr() as *const T, b.len()) });
            }
            return Err(unexpected(value, TypeKind::BUFFER));
        }
        // SAFETY: as our caller promises: the shim's value for a BUFFER.
        let arg = unsafe { buffer_arg(value) }?;
        // SAFETY: the shim checked the buffer against `T` (format, size,
        // alignment, C-contiguity), keeps it exported for 'a, and claimed
        // its range shared, so no oxbind call writes it meanwhile.
        Ok(unsafe { std::slice::from_raw_parts(data_of::<T>(arg), arg.len) })
    }
}

// SAFETY: TYPE is a mutable slice of `T`; from_arg reads only an `Object`,
// the shim's `BufferArg` for a writable, C-contiguous buffer of `T` whose
// range it claimed exclusively for 'a.
unsafe impl<'a, T: Plain> FromArg<'a> for &'a mut [T] {
    const TYPE: TypeDesc = TypeDesc::buffer(T::DESC, BufferMode::SLICE_MUT, T::NAMES.slice_mut);
    /// # Safety
    /// As for [`FromArg::from_arg`].
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises: the shim's value for a BUFFER.
        let arg = unsafe { buffer_arg(value) }?;
        // SAFETY: as for `&[T]`, and the buffer is writable and its range
        // claimed exclusively: no other argument of any oxbind call holds
        // overlapping memory for 'a.
        Ok(unsafe { std::slice::from_raw_parts_mut(data_of::<T>(arg), arg.len) })
    }
}

// SAFETY: TYPE is a read-only byte slice (the bytes are copied during the
// call); from_arg reads the value only through `&[u8]`'s conversion.
unsafe impl<'a> FromArg<'a> for Vec<u8> {
    const TYPE: TypeDesc = TypeDesc::buffer(<u8 as Element>::DESC, BufferMode::SLICE, "Vec<u8>");
    /// # Safety
    /// As for [`FromArg::from_arg`].
    #[inline]
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: our caller's value was made for `&[u8]`'s kind (a BUFFER
        // of u8, or BYTES in a container) and lives for 'a.
        unsafe { <&[u8]>::from_arg(value) }.map(<[u8]>::to_vec)
    }
}

/// A read-only view of a Python buffer of `T`, of any shape and strides
/// (a NumPy array, a slice of one, a transposed one): zero copy.
///
/// Strides are in elements. Indexing checks every index against the shape.
#[derive(Clone, Copy)]
pub struct ArrayView<'a, T: Element> {
    data: *const T,
    len: usize,
    shape: &'a [usize],
    strides: &'a [isize],
    _memory: PhantomData<&'a [T]>,
}

// SAFETY: a view reads memory the shim keeps exported for 'a, like `&[T]`,
// and `T: Element` is `Sync`; it never writes.
unsafe impl<T: Element> Send for ArrayView<'_, T> {}
// SAFETY: as for `Send`: shared reads only.
unsafe impl<T: Element> Sync for ArrayView<'_, T> {}

/// A writable view of a Python buffer of `T`, of any shape and strides:
/// zero copy. Its memory is claimed exclusively for the call.
pub struct ArrayViewMut<'a, T: Element> {
    view: ArrayView<'a, T>,
    _memory: PhantomData<&'a mut [T]>,
}

// SAFETY: the view's memory is claimed exclusively for the call, so this
// value is its only writer; moving it to another thread moves that right.
unsafe impl<T: Element> Send for ArrayViewMut<'_, T> {}
// SAFETY: `&ArrayViewMut` only reads (writing needs `&mut self`).
unsafe impl<T: Element> Sync for ArrayViewMut<'_, T> {}

impl<'a, T: Element> ArrayView<'a, T> {
    /// # Safety
    /// `arg` is the shim's, for a buffer of `T`, exported for `'a`.
    unsafe fn from_buffer(arg: &'a BufferArg) -> Self {
        // SAFETY: the shim's argument, alive for 'a (our contract).
        let (shape, strides) = unsafe { dims(arg) };
        ArrayView {
            data: data_of::<T>(arg),
            len: arg.len,
            shape,
            strides,
            _memory: PhantomData,
        }
    }

    /// The number of dimensions (0 for a scalar buffer).
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The extent of each dimension.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// The stride of each dimension, in elements (negative for a reversed
    /// dimension, 0 for a broadcast one).
    pub fn strides(&self) -> &'a [isize] {
        self.strides
    }

    /// How many elements the view has (the product of the shape).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the elements are laid out one after another in C order.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1isize;
        for (&n, &s) in self.shape.iter().zip(self.strides).rev() {
            if n > 1 && s != expected {
                return false;
            }
            expected = expected.saturating_mul(n as isize);
        }
        true
    }

    /// The offset, in elements, of the element at `index`; `None` if the
    /// index has the wrong number of dimensions or is out of bounds.
    fn offset(&self, index: &[usize]) -> Option<isize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut off = 0isize;
        for ((&i, &n), &s) in index.iter().zip(self.shape).zip(self.strides) {
            if i >= n {
                return None;
            }
            // Cannot overflow: the exporter's memory holds this element.
            off += i as isize * s;
        }
        Some(off)
    }

    /// The element at `index` (one index per dimension), or `None` if it is
    /// out of bounds.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        let off = self.offset(index)?;
        // SAFETY: `offset` checked every index against the shape, so the
        // element lies inside the exported buffer, aligned (the shim checked
        // the data and every stride against the element size).
        Some(unsafe { T::read(self.data.offset(off)) })
    }

    /// The elements in C order (the last index varying fastest).
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            view: *self,
            index: vec![0; self.shape.len()],
            offset: 0,
            left: self.len,
        }
    }

    /// The elements in C order, copied: a snapshot to work on when Python
    /// code may write the memory during the call.
    pub fn to_vec(&self) -> Vec<T> {
        if T::DESC.kind == TypeKind::BOOL || !self.is_contiguous() {
            return self.iter().collect();
        }
        let mut out = Vec::<T>::with_capacity(self.len);
        // SAFETY: contiguous in C order, so `len` elements from `data` are
        // the view's, inside the exported buffer; they are copied as bytes
        // into fresh capacity (no reference to the foreign memory is made),
        // and `T` is not `bool`, so any bytes are a value.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data, out.as_mut_ptr(), self.len);
            out.set_len(self.len);
        }
        out
    }

    fn as_slice_of(&self) -> Option<&'a [T]> {
        if T::DESC.kind == TypeKind::BOOL || !self.is_contiguous() {
            return None;
        }
        // SAFETY: contiguous in C order, so `len` elements from `data` are
        // the view's, inside the exported buffer; `T` is not `bool` (every
        // bit pattern of the other element types is a value).
        Some(unsafe { std::slice::from_raw_parts(self.data, self.len) })
    }
}

impl<'a, T: Plain> ArrayView<'a, T> {
    /// The elements as one slice, if they are contiguous in C order.
    pub fn as_slice(&self) -> Option<&'a [T]> {
        self.as_slice_of()
    }
}

/// The elements of an [`ArrayView`] in C order.
pub struct Iter<'a, T: Element> {
    view: ArrayView<'a, T>,
    index: Vec<usize>,
    offset: isize,
    left: usize,
}

impl<T: Element> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // SAFETY: `offset` is that of `index`, which is inside the shape
        // (the iteration visits each of the `len` indices once), so the
        // element is in the exported buffer, aligned.
        let v = unsafe { T::read(self.view.data.offset(self.offset)) };
        // Advance the index, last dimension fastest.
        for d in (0..self.index.len()).rev() {
            self.index[d] += 1;
            self.offset += self.view.strides[d];
            if self.index[d] < self.view.shape[d] {
                break;
            }
            self.offset -= self.view.strides[d] * self.index[d] as isize;
            self.index[d] = 0;
        }
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T: Element> ExactSizeIterator for Iter<'_, T> {}

impl<'a, T: Element> ArrayViewMut<'a, T> {
    /// The view, read-only.
    pub fn view(&self) -> ArrayView<'_, T> {
        self.view
    }

    /// See [`ArrayView::shape`].
    pub fn shape(&self) -> &[usize] {
        self.view.shape
    }

    /// See [`ArrayView::strides`].
    pub fn strides(&self) -> &[isize] {
        self.view.strides
    }

    /// See [`ArrayView::ndim`].
    pub fn ndim(&self) -> usize {
        self.view.ndim()
    }

    /// See [`ArrayView::len`].
    pub fn len(&self) -> usize {
        self.view.len
    }

    /// See [`ArrayView::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.view.len == 0
    }

    /// See [`ArrayView::get`].
    pub fn get(&self, index: &[usize]) -> Option<T> {
        self.view.get(index)
    }

    /// Writes `value` at `index`; `false` (and nothing written) if the index
    /// is out of bounds.
    pub fn set(&mut self, index: &[usize], value: T) -> bool {
        let Some(off) = self.view.offset(index) else {
            return false;
        };
        // SAFETY: in bounds (checked by `offset`), aligned, in a writable
        // buffer this view holds exclusively (the shim's claim); `T` is an
        // element type, so `value` is a valid value of its bytes. Volatile,
        // as reads are.
        unsafe { (self.view.data.offset(off) as *mut T).write_volatile(value) };
        true
    }
}

impl<'a, T: Plain> ArrayViewMut<'a, T> {
    /// The element at `index`, to modify; `None` if out of bounds.
    pub fn get_mut(&mut self, index: &[usize]) -> Option<&mut T> {
        let off = self.view.offset(index)?;
        // SAFETY: in bounds, aligned, writable and held exclusively (as for
        // `set`); borrowed from `&mut self`, so no other reference to the
        // view's memory is made while it lives.
        Some(unsafe { &mut *(self.view.data.offset(off) as *mut T) })
    }

    /// The elements as one mutable slice, if they are contiguous in C order.
    pub fn as_slice_mut(&mut self) -> Option<&mut [T]> {
        if !self.view.is_contiguous() {
            return None;
        }
        // SAFETY: contiguous in C order, so `len` elements from `data` are
        // the view's, inside the exported buffer, writable and held
        // exclusively (the shim's claim); `T: Plain`, so any bytes are a
        // value. Made from the raw pointer (never from a shared slice), and
        // borrowed from `&mut self`, so no other reference to the memory is
        // made while it lives.
        Some(unsafe { std::slice::from_raw_parts_mut(self.view.data as *mut T, self.view.len) })
    }
}

// SAFETY: TYPE is a read-only view of `T`; from_arg reads only an `Object`,
// the shim's `BufferArg` for a buffer of `T` (format, size, alignment and
// strides checked) exported for 'a.
unsafe impl<'a, T: Element> FromArg<'a> for ArrayView<'a, T> {
    const TYPE: TypeDesc = TypeDesc::buffer(T::DESC, BufferMode::VIEW, T::NAMES.view);
    /// # Safety
    /// As for [`FromArg::from_arg`].
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises: the shim's value for a BUFFER.
        let arg = unsafe { buffer_arg(value) }?;
        // SAFETY: the shim's argument for a buffer of `T`, alive for 'a.
        Ok(unsafe { ArrayView::from_buffer(arg) })
    }
}

// SAFETY: TYPE is a writable view of `T`; from_arg reads only an `Object`,
// the shim's `BufferArg` for a writable buffer of `T` exported for 'a and
// claimed exclusively.
unsafe impl<'a, T: Element> FromArg<'a> for ArrayViewMut<'a, T> {
    const TYPE: TypeDesc = TypeDesc::buffer(T::DESC, BufferMode::VIEW_MUT, T::NAMES.view_mut);
    /// # Safety
    /// As for [`FromArg::from_arg`].
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises: the shim's value for a BUFFER.
        let arg = unsafe { buffer_arg(value) }?;
        Ok(ArrayViewMut {
            // SAFETY: as for `ArrayView`.
            view: unsafe { ArrayView::from_buffer(arg) },
            _memory: PhantomData,
        })
    }
}

/// An array result: Rust memory and a shape. Python receives an
/// `oxbind.Array` that exports the memory through the buffer protocol
/// (`numpy.asarray(a)` and `memoryview(a)` share it, writable), and the
/// memory is freed when the last view of it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Array<T: Element> {
    data: Vec<T>,
    shape: Vec<usize>,
}

impl<T: Element> Array<T> {
    /// A one-dimensional array of `data`.
    pub fn from_vec(data: Vec<T>) -> Self {
        let shape = vec![data.len()];
        Array { data, shape }
    }

    /// An array of `shape` holding `data` in C order. Fails with
    /// `ValueError` unless the shape's product is `data.len()`, and if it
    /// has more than 64 dimensions.
    pub fn from_shape_vec(shape: impl Into<Vec<usize>>, data: Vec<T>) -> Result<Self, Error> {
        let shape = shape.into();
        if shape.len() > oxbind_abi::MAX_DIMS {
            return Err(Error::value_error(format!(
                "an array has at most {} dimensions, not {}",
                oxbind_abi::MAX_DIMS,
                shape.len()
            )));
        }
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .filter(|&n| n == data.len());
        if count.is_none() || shape.iter().any(|&n| n > isize::MAX as usize) {
            return Err(Error::value_error(format!(
                "shape {shape:?} does not hold {} elements",
                data.len()
            )));
        }
        Ok(Array { data, shape })
    }

    /// The extent of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements in C order.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The elements in C order, to modify.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The elements, giving up the shape.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
}

impl<T: Element> From<Vec<T>> for Array<T> {
    fn from(data: Vec<T>) -> Self {
        Array::from_vec(data)
    }
}

/// What a result gives up: the export the shim reads first, then the
/// memory it describes.
#[repr(C)]
struct Exported<T> {
    export: ArrayExport,
    data: Vec<T>,
    shape: Vec<usize>,
}

/// `ArrayExport::release` for an `Array<T>`: frees it all.
///
/// # Safety
/// `this` is the `export` field of an `Exported<T>` leaked by
/// `Array::<T>::into_return`, released once.
unsafe extern "C" fn release<T>(this: *mut ArrayExport) {
    // Freeing numbers and a Vec cannot panic, but nothing may unwind
    // across the shim's call.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: `export` is the first field of a `repr(C)` `Exported<T>`
        // boxed by `into_return` and released once (this function's
        // contract), so `this` is the box's pointer.
        drop(unsafe { Box::from_raw(this as *mut Exported<T>) });
    });
}

// SAFETY: TYPE is an owned buffer of `T`; into_return returns only a `Ref`
// to the `ArrayExport` of a leaked `Exported<T>` whose `data` holds `len`
// elements of `T`, C-contiguous, in the shape given, and whose `release`
// frees it.
unsafe impl<T: Element> IntoReturn for Array<T> {
    const TYPE: TypeDesc = TypeDesc::buffer(T::DESC, BufferMode::OWNED, T::NAMES.array);
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        let mut boxed = Box::new(Exported {
            export: ArrayExport {
                data: std::ptr::null_mut(),
                len: self.data.len(),
                ndim: self.shape.len(),
                shape: std::ptr::null(),
                release: release::<T>,
            },
            data: self.data,
            shape: self.shape,
        });
        boxed.export.data = boxed.data.as_mut_ptr() as *mut c_void;
        boxed.export.shape = boxed.shape.as_ptr();
        Ok(RetValue::Ref(Box::into_raw(boxed) as *const c_void))
    }
}
