//! What the class protocol needs beyond plain values: [`Slice`], the key of
//! `obj[a:b:c]` (plugin ABI 0.1.8, `TypeKind::SLICE`), and [`LazyIter`], a
//! Rust iterator returned to Python as a Python iterator that yields as it
//! goes.

use std::sync::{Mutex, TryLockError};

use oxbind_abi::{ArgValue, RetValue, TypeDesc, TypeKind};

use crate::convert::{unexpected, FromArg, IntoItem, IntoReturn, ReturnSlot};
use crate::{import, Error, IntoObject, Object};

const SLICE: TypeDesc = TypeDesc::scalar(TypeKind::SLICE, "Slice");

/// A Python `slice` (`obj[start:stop:step]`), as `__getitem__`,
/// `__setitem__` and `__delitem__` receive it.
///
/// Its bounds are raw until [`Slice::indices`] clamps them to a length, as
/// Python's `slice.indices` does. Overload the special method to take both
/// an index and a slice:
///
/// ```
/// #[oxbind::class(module = "m")]
/// pub struct Row { items: Vec<i64> }
///
/// #[oxbind::methods]
/// impl Row {
///     #[oxbind(name = "__getitem__")]
///     fn item(&self, i: isize) -> oxbind::Result<i64> {
///         let n = self.items.len() as isize;
///         let k = if i < 0 { i + n } else { i };
///         (0..n).contains(&k)
///             .then(|| self.items[k as usize])
///             .ok_or_else(|| oxbind::Error::index_error("index out of range"))
///     }
///     #[oxbind(name = "__getitem__")]
///     fn items(&self, s: oxbind::Slice) -> Vec<i64> {
///         s.indices(self.items.len()).iter().map(|k| self.items[k]).collect()
///     }
/// }
/// # fn main() {}
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    start: isize,
    stop: isize,
    step: isize,
}

/// A [`Slice`] applied to a length: the positions it selects.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SliceIndices {
    /// The first position (meaningful when `len > 0`).
    pub start: isize,
    /// The position the slice stops before, as `slice.indices` gives it.
    pub stop: isize,
    /// Never 0.
    pub step: isize,
    /// How many positions it selects.
    pub len: usize,
}

impl Slice {
    /// `slice(start, stop, step)`; `step` must not be 0 (Python refuses
    /// such a slice before a method sees it).
    pub fn new(start: Option<isize>, stop: Option<isize>, step: Option<isize>) -> Self {
        // As `PySlice_Unpack`: a step below -isize::MAX is -isize::MAX.
        let step = step.unwrap_or(1).max(-isize::MAX);
        assert!(step != 0, "oxbind::Slice::new: a step of 0");
        let (lo, hi) = if step < 0 {
            (isize::MAX, isize::MIN)
        } else {
            (0, isize::MAX)
        };
        Slice {
            start: start.unwrap_or(lo),
            stop: stop.unwrap_or(hi),
            step,
        }
    }

    /// The step (never 0).
    pub fn step(&self) -> isize {
        self.step
    }

    /// The positions this slice selects in a sequence of `len` items,
    /// exactly as Python's `slice(...).indices(len)` and `list[...]` do.
    pub fn indices(&self, len: usize) -> SliceIndices {
        let len = len.min(isize::MAX as usize) as isize;
        let step = self.step;
        let clamp = |bound: isize, default_low: isize, default_high: isize| {
            if bound < 0 {
                let b = bound.saturating_add(len);
                if b < 0 {
                    default_low
                } else {
                    b
                }
            } else if bound >= len {
                default_high
            } else {
                bound
            }
        };
        let (start, stop) = if step < 0 {
            (
                clamp(self.start, -1, len - 1),
                clamp(self.stop, -1, len - 1),
            )
        } else {
            (clamp(self.start, 0, len), clamp(self.stop, 0, len))
        };
        let count = if step < 0 {
            if stop < start {
                (start - stop - 1) / (-step) + 1
            } else {
                0
            }
        } else if start < stop {
            (stop - start - 1) / step + 1
        } else {
            0
        };
        SliceIndices {
            start,
            stop,
            step,
            len: count as usize,
        }
    }
}

impl SliceIndices {
    /// The selected positions, in the slice's order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + 'static {
        let (start, step) = (self.start, self.step);
        (0..self.len).map(move |k| (start + k as isize * step) as usize)
    }
}

// SAFETY: TYPE is SLICE, and from_arg reads only a `List` of three `Int`s
// (a step of 0, which the shim passes as such, is refused here).
unsafe impl<'a> FromArg<'a> for Slice {
    const TYPE: TypeDesc = SLICE;
    /// # Safety
    /// As for [`FromArg::from_arg`]: the shim's value for a SLICE.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        if let ArgValue::List(parts) = value {
            if let [ArgValue::Int(start), ArgValue::Int(stop), ArgValue::Int(step)] =
                parts.as_slice()
            {
                if *step == 0 {
                    return Err(Error::value_error("slice step cannot be zero"));
                }
                return Ok(Slice {
                    start: *start as isize,
                    stop: *stop as isize,
                    step: *step as isize,
                });
            }
        }
        Err(unexpected(value, TypeKind::SLICE))
    }
}

/// The iterator state a [`LazyIter`]'s Python iterator calls into: `None`
/// once exhausted, so that it stays exhausted and its items' owner is
/// dropped at once.
type State<T> = Mutex<Option<Box<dyn Iterator<Item = T> + Send>>>;

/// A Rust iterator returned to Python as a Python iterator that converts
/// and yields one item per `next()`, as it goes (nothing is collected).
///
/// ```
/// #[oxbind::function]
/// fn countdown(n: u32) -> oxbind::LazyIter<u32> {
///     oxbind::LazyIter::new((0..n).rev())
/// }
/// # fn main() {}
/// ```
///
/// The iterator must own what it iterates (`'static`): clone or share
/// (`Arc`) the data, or hold an [`crate::Instance`] and read through it. It
/// may be advanced from any thread; like a Python generator, a `next()`
/// that finds another `next()` of the same iterator running (on another
/// thread, or re-entered from inside it) raises `ValueError` rather than
/// wait. A panic inside `next` raises `oxbind.PanicError` and leaves the
/// iterator exhausted.
pub struct LazyIter<T> {
    inner: Box<dyn Iterator<Item = T> + Send>,
}

impl<T> LazyIter<T> {
    /// Wraps any owning iterator.
    pub fn new<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        LazyIter {
            inner: Box::new(iter.into_iter()),
        }
    }
}

impl<T> std::fmt::Debug for LazyIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyIter")
    }
}

/// The next item of `state`, or `None` once it is exhausted.
fn advance<T>(state: &State<T>) -> Result<Option<T>, Error> {
    let mut guard = match state.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::WouldBlock) => {
            return Err(Error::value_error(
                "oxbind.LazyIter: iterator already executing",
            ))
        }
        // A panic inside `next` (the closure's call caught it): exhausted.
        Err(TryLockError::Poisoned(poisoned)) => {
            let mut guard = poisoned.into_inner();
            *guard = None;
            return Ok(None);
        }
    };
    let next = guard.as_mut().and_then(|it| it.next());
    if next.is_none() {
        // Drop what the iterator owns now (after the lock, below).
        let done = guard.take();
        drop(guard);
        drop(done);
    }
    Ok(next)
}

impl<T: IntoObject + 'static> LazyIter<T> {
    /// The Python iterator: an `oxbind.LazyIterator` (the host API's
    /// `new_iterator`) over a Rust closure that advances the iterator and
    /// converts the item, returning a private sentinel object at the end.
    fn into_python(self) -> Result<Object, Error> {
        let sentinel = import("builtins")?.getattr("object")?.call(())?;
        let state: State<T> = Mutex::new(Some(self.inner));
        let end = sentinel.clone();
        let next = Object::function(
            "__next__",
            "Advances the Rust iterator.",
            &[],
            move || -> Result<Object, Error> {
                match advance(&state)? {
                    Some(item) => item.into_object(),
                    None => Ok(end.clone()),
                }
            },
        )?;
        let new_iterator = crate::private::host()
            .and_then(|h| h.new_iterator())
            .ok_or_else(|| {
                Error::runtime_error(
                    "oxbind: this oxbind shim predates lazy iterators; upgrade oxbind",
                )
            })?;
        let mut out = std::ptr::null_mut();
        // SAFETY: the host's `new_iterator`, with two live objects we hold
        // for the call; `out` is valid for the write.
        let status = unsafe { new_iterator(next.as_ptr(), sentinel.as_ptr(), &mut out) };
        // SAFETY: the status and output of that operation.
        unsafe { crate::object::made(status, out) }
    }
}

const ITER_ANY: TypeDesc = TypeDesc::scalar(TypeKind::ANY, "LazyIter");

// SAFETY: TYPE is ANY (with the item type, for stubs: since ABI 0.1.8 an
// object result may name what it yields), and into_return returns a `Ref`
// holding a new strong reference (the iterator object's), never touching
// the slot.
unsafe impl<T: IntoObject + IntoItem + 'static> IntoReturn for LazyIter<T> {
    const TYPE: TypeDesc = TypeDesc {
        item: Some(T::ITEM),
        ..ITER_ANY
    };
    fn into_return(self, slot: ReturnSlot) -> Result<RetValue, Error> {
        self.into_python()?.into_return(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::Slice;

    /// `indices` against Python's own results for `list(range(n))[s]`.
    #[test]
    fn indices_match_python() {
        type Case = (
            Option<isize>,
            Option<isize>,
            Option<isize>,
            usize,
            &'static [usize],
        );
        let cases: &[Case] = &[
            (None, None, None, 5, &[0, 1, 2, 3, 4]),
            (Some(1), Some(3), None, 5, &[1, 2]),
            (None, None, Some(-1), 5, &[4, 3, 2, 1, 0]),
            (Some(-2), None, None, 5, &[3, 4]),
            (None, Some(-2), None, 5, &[0, 1, 2]),
            (Some(10), None, None, 5, &[]),
            (None, None, Some(2), 5, &[0, 2, 4]),
            (Some(3), Some(0), Some(-2), 5, &[3, 1]),
            (Some(-100), Some(100), None, 3, &[0, 1, 2]),
            (Some(100), Some(-100), Some(-1), 3, &[2, 1, 0]),
            (None, None, None, 0, &[]),
            (None, None, Some(-3), 0, &[]),
        ];
        for &(start, stop, step, len, want) in cases {
            let got: Vec<usize> = Slice::new(start, stop, step).indices(len).iter().collect();
            assert_eq!(got, want, "slice({start:?}, {stop:?}, {step:?}) of {len}");
        }
    }
}
