//! Containers of containers, tuples and sets (plugin ABI 0.1.6).
//!
//! Owns the conversions that make a container an item of another
//! container ([`ListItem`], [`IntoItem`]), the tuple and set types, and
//! maps as results:
//!
//! - `Option<T>`, `Vec<T>`, `Vec<u8>` / `&[u8]` (bytes), maps, sets and
//!   tuples are items too, so `Vec<Vec<f64>>`, `HashMap<String, Vec<T>>`
//!   and `Vec<(String, Option<i64>)>` are parameters and results;
//! - tuples `(A,)` to twelve items are `tuple[A, …]`;
//! - `HashSet<T>` and `BTreeSet<T>` are `set[T]` (a `frozenset` argument
//!   is accepted too);
//! - `HashMap<K, V>` and `BTreeMap<K, V>` are results as well as
//!   parameters.
//!
//! Every value crosses as the ABI's flat list (`ArgValue::List`,
//! `RetValue::List`); the shim checks shapes and converts items one by one
//! (`shim/src/call/args.rs`, `shim/src/call/compound.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use oxbind_abi::{abi_stable::std_types::RVec, ArgValue, RetValue, TypeDesc, TypeKind};

use crate::convert::{collect_items, list_value, unexpected, MapTypes};
use crate::object::as_argument;
use crate::{Error, FromArg, IntoItem, IntoObject, IntoReturn, ListItem, Object, ReturnSlot};

// --- Items that are themselves optional, lists or bytes -----------------

// SAFETY: ITEM is `T::ITEM` marked optional, which is `Option<T>`'s TYPE;
// its from_arg reads `None` itself and the rest through `T`'s conversion.
unsafe impl<'a, T: ListItem<'a>> ListItem<'a> for Option<T> {
    const ITEM: &'static TypeDesc = &TypeDesc {
        optional: true,
        ..*T::ITEM
    };
}

// SAFETY: ITEM is `Vec<T>`'s FromArg::TYPE (a list of `T::ITEM`).
unsafe impl<'a, T: ListItem<'a>> ListItem<'a> for Vec<T> {
    const ITEM: &'static TypeDesc = &TypeDesc::list(T::ITEM, "Vec");
}

// SAFETY: ITEM is BYTES, `Vec<u8>`'s FromArg::TYPE.
unsafe impl<'a> ListItem<'a> for Vec<u8> {
    const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::BYTES, "Vec<u8>");
}

// SAFETY: ITEM is BYTES, `&[u8]`'s FromArg::TYPE (borrowed bytes).
unsafe impl<'a> ListItem<'a> for &'a [u8] {
    const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::BYTES, "&[u8]");
}

// SAFETY: ITEM is the dict type `HashMap<K, V, S>`'s FromArg::TYPE is.
unsafe impl<'a, K, V, S> ListItem<'a> for HashMap<K, V, S>
where
    K: ListItem<'a> + Eq + Hash,
    V: ListItem<'a>,
    S: BuildHasher + Default,
{
    const ITEM: &'static TypeDesc = &TypeDesc::dict(MapTypes::<K, V>::PAIR, "HashMap");
}

// SAFETY: ITEM is the dict type `BTreeMap<K, V>`'s FromArg::TYPE is.
unsafe impl<'a, K: ListItem<'a> + Ord, V: ListItem<'a>> ListItem<'a> for BTreeMap<K, V> {
    const ITEM: &'static TypeDesc = &TypeDesc::dict(MapTypes::<K, V>::PAIR, "BTreeMap");
}

// SAFETY: ITEM is `T::ITEM` marked optional, the kind of value `Option<T>`'s
// into_item returns: `None`, or `T`'s own item.
unsafe impl<T: IntoItem> IntoItem for Option<T> {
    const ITEM: &'static TypeDesc = &TypeDesc {
        optional: true,
        ..*T::ITEM
    };
    fn into_item(self) -> Result<RetValue, Error> {
        match self {
            None => Ok(RetValue::None),
            Some(v) => v.into_item(),
        }
    }
}

// SAFETY: ITEM is `Vec<T>`'s IntoReturn::TYPE, and into_item is its
// into_return, which never touches the (absent) slot.
unsafe impl<T: IntoItem> IntoItem for Vec<T> {
    const ITEM: &'static TypeDesc = &TypeDesc::list(T::ITEM, "Vec");
    fn into_item(self) -> Result<RetValue, Error> {
        self.into_return(ReturnSlot::NONE)
    }
}

// SAFETY: ITEM is BYTES, and into_item returns only `Bytes`.
unsafe impl IntoItem for Vec<u8> {
    const ITEM: &'static TypeDesc = &TypeDesc::scalar(TypeKind::BYTES, "Vec<u8>");
    fn into_item(self) -> Result<RetValue, Error> {
        Ok(RetValue::Bytes(RVec::from(self)))
    }
}

// --- Sets ---------------------------------------------------------------

// SAFETY: TYPE is a set of `T::ITEM`, and from_arg reads only the shim's
// list of items, each through `T`'s own conversion.
unsafe impl<'a, T, S> FromArg<'a> for HashSet<T, S>
where
    T: ListItem<'a> + Eq + Hash,
    S: BuildHasher + Default,
{
    const TYPE: TypeDesc = TypeDesc::set(T::ITEM, "HashSet");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a set of `T`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises.
        unsafe { collect_items(value, TypeKind::SET) }
    }
}

// SAFETY: ITEM is `HashSet<T, S>`'s FromArg::TYPE.
unsafe impl<'a, T, S> ListItem<'a> for HashSet<T, S>
where
    T: ListItem<'a> + Eq + Hash,
    S: BuildHasher + Default,
{
    const ITEM: &'static TypeDesc = &TypeDesc::set(T::ITEM, "HashSet");
}

// SAFETY: as for `HashSet`.
unsafe impl<'a, T: ListItem<'a> + Ord> FromArg<'a> for BTreeSet<T> {
    const TYPE: TypeDesc = TypeDesc::set(T::ITEM, "BTreeSet");
    /// # Safety
    /// As for [`FromArg::from_arg`]: `value` is the shim's, for a set of `T`.
    unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
        // SAFETY: as our caller promises.
        unsafe { collect_items(value, TypeKind::SET) }
    }
}

// SAFETY: ITEM is `BTreeSet<T>`'s FromArg::TYPE.
unsafe impl<'a, T: ListItem<'a> + Ord> ListItem<'a> for BTreeSet<T> {
    const ITEM: &'static TypeDesc = &TypeDesc::set(T::ITEM, "BTreeSet");
}

// SAFETY: TYPE is a set of `T::ITEM`, and into_return returns a `List` of
// `T`'s own items, never touching the slot.
unsafe impl<T: IntoItem, S> IntoReturn for HashSet<T, S> {
    const TYPE: TypeDesc = TypeDesc::set(T::ITEM, "HashSet");
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        list_value(self)
    }
}

// SAFETY: as for `HashSet`.
unsafe impl<T: IntoItem> IntoReturn for BTreeSet<T> {
    const TYPE: TypeDesc = TypeDesc::set(T::ITEM, "BTreeSet");
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        list_value(self)
    }
}

// --- Maps as results ----------------------------------------------------

impl<K: IntoItem, V: IntoItem> MapTypes<K, V> {
    /// The key and value types of a map result.
    const RET_PAIR: &'static [TypeDesc; 2] = &[*K::ITEM, *V::ITEM];
}

/// A dict result: key, value, key, value, …, each through its own
/// conversion.
fn map_value<K: IntoItem, V: IntoItem>(
    len: usize,
    pairs: impl Iterator<Item = (K, V)>,
) -> Result<RetValue, Error> {
    let mut flat = Vec::with_capacity(2 * len);
    for (k, v) in pairs {
        flat.push(k.into_item()?);
        flat.push(v.into_item()?);
    }
    Ok(RetValue::List(RVec::from(flat)))
}

// SAFETY: TYPE is a dict of `K::ITEM` to `V::ITEM`, and into_return returns
// a `List` of keys and values, alternating, each `K`'s or `V`'s own item;
// it never touches the slot.
unsafe impl<K: IntoItem, V: IntoItem, S> IntoReturn for HashMap<K, V, S> {
    const TYPE: TypeDesc = TypeDesc::dict(MapTypes::<K, V>::RET_PAIR, "HashMap");
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        map_value(self.len(), self.into_iter())
    }
}

// SAFETY: as for `HashMap`.
unsafe impl<K: IntoItem, V: IntoItem> IntoReturn for BTreeMap<K, V> {
    const TYPE: TypeDesc = TypeDesc::dict(MapTypes::<K, V>::RET_PAIR, "BTreeMap");
    fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
        map_value(self.len(), self.into_iter())
    }
}

/// `IntoItem` and `IntoObject` for a result type whose item is the result
/// itself (containers here; paths and complex numbers in `path.rs`).
macro_rules! container_items {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        // SAFETY: ITEM is the type's IntoReturn::TYPE, and into_item is its
        // into_return, which never touches the (absent) slot.
        unsafe impl<$($g)*> IntoItem for $t {
            const ITEM: &'static TypeDesc = &<$t as IntoReturn>::TYPE;
            fn into_item(self) -> Result<RetValue, Error> {
                self.into_return(ReturnSlot::NONE)
            }
        }
        impl<$($g)*> IntoObject for $t {
            const TYPE: TypeDesc = <$t as IntoReturn>::TYPE;
            type Shape = $t;
            fn into_object(self) -> Result<Object, Error> {
                Object::from_value(self)
            }
            fn into_value(self) -> Result<RetValue, Error> {
                self.into_return(ReturnSlot::NONE).map_err(as_argument)
            }
        }
    )*};
}
pub(crate) use container_items;

container_items!(
    [K: IntoItem, V: IntoItem, S] HashMap<K, V, S>,
    [K: IntoItem, V: IntoItem] BTreeMap<K, V>,
    [T: IntoItem, S] HashSet<T, S>,
    [T: IntoItem] BTreeSet<T>,
);

// --- Tuples -------------------------------------------------------------

/// The item types of a tuple, as the one static `TypeDesc::tuple` needs:
/// `ARG` for a parameter, `RET` for a result.
pub(crate) struct TupleTypes<T>(std::marker::PhantomData<T>);

macro_rules! tuples {
    ($($n:literal: ($($a:ident $k:tt),+);)*) => {$(
        impl<'a, $($a: ListItem<'a>),+> TupleTypes<($($a,)+)> {
            const ARG: &'static [TypeDesc] = &[$(*$a::ITEM),+];
        }
        impl<$($a: IntoItem),+> TupleTypes<($($a,)+)> {
            const RET: &'static [TypeDesc] = &[$(*$a::ITEM),+];
        }

        // SAFETY: TYPE is a tuple of the items' `ITEM`s, and from_arg reads
        // only the shim's list of exactly that many values, each through
        // its own item's conversion.
        unsafe impl<'a, $($a: ListItem<'a>),+> FromArg<'a> for ($($a,)+) {
            const TYPE: TypeDesc = TypeDesc::tuple(TupleTypes::<($($a,)+)>::ARG, "tuple");
            /// # Safety
            /// As for [`FromArg::from_arg`]: `value` is the shim's, for a
            /// tuple of these item types.
            unsafe fn from_arg(value: ArgValue<'a>) -> Result<Self, Error> {
                match value {
                    ArgValue::List(items) if items.len() == $n => {
                        let items = items.as_slice();
                        // SAFETY: item `k` of the shim's tuple value was
                        // made for the `k`th item type and lives for 'a, as
                        // our caller promises.
                        Ok(($(unsafe { $a::from_arg(items[$k]) }?,)+))
                    }
                    other => Err(unexpected(other, TypeKind::TUPLE)),
                }
            }
        }

        // SAFETY: ITEM is the tuple's FromArg::TYPE.
        unsafe impl<'a, $($a: ListItem<'a>),+> ListItem<'a> for ($($a,)+) {
            const ITEM: &'static TypeDesc =
                &TypeDesc::tuple(TupleTypes::<($($a,)+)>::ARG, "tuple");
        }

        // SAFETY: TYPE is a tuple of the items' `ITEM`s, and into_return
        // returns a `List` of exactly that many values, each its own item's
        // into_item; it never touches the slot.
        unsafe impl<$($a: IntoItem),+> IntoReturn for ($($a,)+) {
            const TYPE: TypeDesc = TypeDesc::tuple(TupleTypes::<($($a,)+)>::RET, "tuple");
            fn into_return(self, _slot: ReturnSlot) -> Result<RetValue, Error> {
                Ok(RetValue::List(RVec::from(vec![$(self.$k.into_item()?),+])))
            }
        }

        container_items!([$($a: IntoItem),+] ($($a,)+));
    )*};
}

tuples! {
    1: (A 0);
    2: (A 0, B 1);
    3: (A 0, B 1, C 2);
    4: (A 0, B 1, C 2, D 3);
    5: (A 0, B 1, C 2, D 3, E 4);
    6: (A 0, B 1, C 2, D 3, E 4, F 5);
    7: (A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    8: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
    9: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
    10: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
    11: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
    12: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxbind_abi::abi_stable::std_types::{RSlice, RStr};

    #[test]
    fn nested_types_describe_their_items() {
        let t = <Vec<Vec<f64>> as FromArg>::TYPE;
        assert_eq!(t.kind, TypeKind::LIST);
        let inner = t.item.unwrap();
        assert_eq!(inner.kind, TypeKind::LIST);
        assert_eq!(inner.item.unwrap().kind, TypeKind::FLOAT);

        let t = <(String, Option<i64>) as FromArg>::TYPE;
        let items = t.tuple_types().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind, TypeKind::STR);
        assert!(items[1].optional && items[1].kind == TypeKind::INT);

        let t = <HashMap<String, BTreeSet<i64>> as IntoReturn>::TYPE;
        let (k, v) = t.dict_types().unwrap();
        assert_eq!((k.kind, v.kind), (TypeKind::STR, TypeKind::SET));
    }

    #[test]
    fn tuples_read_their_items_and_refuse_other_lengths() {
        let items = [ArgValue::Str(RStr::from_str("a")), ArgValue::None];
        let value = ArgValue::List(RSlice::from_slice(&items));
        // SAFETY: plain values that live for the call, as the shim passes.
        let got = unsafe { <(String, Option<i64>)>::from_arg(value) };
        assert_eq!(got, Ok(("a".to_owned(), None)));
        // SAFETY: as above.
        let short = unsafe { <(String, i64, bool)>::from_arg(value) };
        assert_eq!(short.unwrap_err().kind, crate::ErrorKind::TYPE_ERROR);
    }

    #[test]
    fn results_cross_as_flat_lists() {
        let mut m = BTreeMap::new();
        m.insert(1i64, vec![(true, 2.5f64)]);
        let v = m.into_return(ReturnSlot::NONE).unwrap();
        let RetValue::List(flat) = v else {
            panic!("{v:?}")
        };
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0], RetValue::Int(1));
        let RetValue::List(list) = &flat[1] else {
            panic!()
        };
        assert_eq!(
            list[0],
            RetValue::List(RVec::from(vec![RetValue::Bool(true), RetValue::Float(2.5)]))
        );
    }
}
