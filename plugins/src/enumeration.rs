//! [`Enum`]: a fieldless Rust enum exported as a Python enum class
//! (plugin ABI 0.1.9, `TypeKind::ENUM`). `#[oxbind::class]` on the enum
//! implements it and the conversions, which call the helpers here.

use oxbind_abi::{ArgValue, ClassRef, EnumDesc};

use crate::Error;

/// A fieldless Rust enum exported as a Python `enum.Enum` (or
/// `enum.IntEnum`) subclass. Implemented by `#[oxbind::class]` on the enum;
/// never by hand.
///
/// ```
/// /// A colour.
/// #[oxbind::class(module = "m")]
/// pub enum Colour { Red = 1, Green = 2, Blue = 4 }
///
/// #[oxbind::function]
/// fn brighter(c: Colour) -> Colour {
///     match c { Colour::Red => Colour::Green, _ => Colour::Blue }
/// }
///
/// oxbind::plugin! { name: "m", functions: [brighter], enums: [Colour] }
/// # fn main() {}
/// ```
///
/// A member crosses as its discriminant: a parameter accepts only members
/// of the enum class, and a result is the member of the variant's value.
///
/// # Safety
/// `CLASS` describes `Self` (its size, alignment and, for a shared enum, its
/// abi_stable layout), and `value`/`from_value` map each variant to its own
/// discriminant, the values `DESC` lists.
pub unsafe trait Enum: Sized + 'static {
    /// The enum's identity, as a class's.
    const CLASS: &'static ClassRef;
    /// Its members.
    const DESC: EnumDesc;
    /// The variant's discriminant.
    fn value(&self) -> i64;
    /// The variant of a discriminant.
    fn from_value(value: i64) -> Option<Self>;
}

/// `FromArg::from_arg` of an enum: the member's value the shim passes.
pub fn enum_from_arg<T: Enum>(value: ArgValue<'_>) -> Result<T, Error> {
    match value {
        ArgValue::Int(v) => T::from_value(v).ok_or_else(|| {
            Error::value_error(format!(
                "{} has no member of value {v}",
                T::CLASS.key.as_str()
            ))
        }),
        other => Err(Error::type_error(format!(
            "expected a member of {}, got {other:?} (shim and plugin disagree on the parameter type)",
            T::CLASS.key.as_str()
        ))),
    }
}
