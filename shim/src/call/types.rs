//! Which type descriptions are valid: every kind known, every class
//! aligned as instances allow, containers' items of the kinds they may
//! hold, nesting bounded. Checked for every signature when a plugin loads
//! (`plugin::build`) and for the types plugins convert at run time
//! (`call::objects`), so that every walk over a type afterwards (argument
//! and result conversion, messages, stubs) is bounded.

use oxbind_abi::{BufferMode, Passing, TypeDesc, TypeKind};

use crate::instance;

/// How deep containers may nest in one type (`Vec<Vec<…>>` is depth 2).
/// Deeper descriptions are refused at load, and so are self-referential
/// ones (a static whose item points back at itself), which would otherwise
/// send every walk over the type into endless recursion.
pub(crate) const MAX_NESTING: usize = 32;

pub(crate) fn check_type(ty: &TypeDesc, is_result: bool) -> Result<(), String> {
    check_type_at(ty, is_result, 0)
}

fn check_type_at(ty: &TypeDesc, is_result: bool, depth: usize) -> Result<(), String> {
    let k = ty.kind;
    if k.0 > TypeKind::MAX.0 || (k == TypeKind::UNIT && !is_result) {
        return Err(format!("unknown type kind {}", k.0));
    }
    if depth > MAX_NESTING {
        return Err(format!(
            "containers nested more than {MAX_NESTING} deep (or a type that contains itself)"
        ));
    }
    match k {
        TypeKind::SLICE if is_result => Err("a slice is a parameter, not a result".into()),
        TypeKind::ENUM => {
            if ty.class.is_none() || ty.passing != Passing::VALUE || ty.item.is_some() {
                return Err("an enum type names its enum, and nothing else".into());
            }
            Ok(())
        }
        TypeKind::OBJECT => {
            let class = ty.class.ok_or("an object type without a class")?;
            if ty.passing.0 > Passing::HANDLE.0 {
                return Err(format!("unknown passing mode {}", ty.passing.0));
            }
            if is_result && ty.passing == Passing::HANDLE {
                return Err("results cannot be instance handles".into());
            }
            if is_result && ty.passing == Passing::MUT {
                return Err("results cannot be `&mut` references".into());
            }
            if class.align > instance::MAX_VALUE_ALIGN {
                return Err(format!(
                    "class {} needs alignment {} (at most {})",
                    class.key.as_str(),
                    class.align,
                    instance::MAX_VALUE_ALIGN
                ));
            }
            Ok(())
        }
        TypeKind::LIST => {
            let item = ty.item.ok_or("a list type without an item type")?;
            check_item(item, is_result, depth)
        }
        TypeKind::SET => {
            let item = ty.item.ok_or("a set type without an item type")?;
            check_hashable(item, "set items")?;
            check_item(item, is_result, depth)
        }
        TypeKind::TUPLE => {
            let items = ty.tuple_types().ok_or("a tuple type without item types")?;
            items
                .iter()
                .try_for_each(|item| check_item(item, is_result, depth))
        }
        TypeKind::DICT => {
            let (key, value) = ty
                .dict_types()
                .ok_or("a dict type without key and value types")?;
            check_hashable(key, "dict keys")?;
            check_item(key, is_result, depth)?;
            check_item(value, is_result, depth)
        }
        TypeKind::BUFFER => {
            let (mode, element, desc) = ty
                .buffer_element()
                .ok_or("a buffer type without an element type")?;
            if !element.is_valid() || desc.item.is_some() || desc.class.is_some() {
                return Err(format!("unknown buffer element {:#x}", element.0));
            }
            if mode.0 > BufferMode::MAX.0 {
                return Err(format!("unknown buffer mode {}", mode.0));
            }
            if is_result != (mode == BufferMode::OWNED) {
                return Err(if is_result {
                    "a buffer result must be an owned array (oxbind::Array)".into()
                } else {
                    "an owned array (oxbind::Array) is a result, not a parameter".into()
                });
            }
            if !is_result && element.class() == oxbind_abi::Element::BOOL && mode.is_slice() {
                return Err(
                    "a slice of bool is refused: a buffer byte may be neither 0 nor 1".into(),
                );
            }
            if depth > 0 {
                return Err(
                    "buffers and arrays are parameters and results only, never inside a \
                     container or a callable's signature"
                        .into(),
                );
            }
            Ok(())
        }
        TypeKind::ANY => {
            if ty.passing != Passing::VALUE || ty.class.is_some() {
                return Err("an object type has no class or passing mode".into());
            }
            match ty.item {
                // Since ABI 0.1.8, a result may name the type it yields
                // (`oxbind::LazyIter<T>`), for stubs only.
                Some(item) if is_result => check_item(item, true, depth),
                Some(_) => Err("an object parameter has no item type".into()),
                None => Ok(()),
            }
        }
        TypeKind::CALLABLE => {
            if ty.class.is_some() {
                return Err("a callable type has no class".into());
            }
            // The signature, if described: a result converted from Python
            // (as a parameter is; `()` ignores it), then parameters
            // converted to Python (as results are).
            if let Some((ret, params)) = ty.callable_types() {
                // A `Vec<u8>` result is a copy made while the result is
                // held, as for `Object::extract`: the one buffer a
                // callable's signature may hold.
                let byte_copy = ret.is_byte_slice();
                if ret.kind != TypeKind::UNIT && !byte_copy {
                    check_type_at(ret, false, depth + 1)
                        .map_err(|why| format!("the callable's result: {why}"))?;
                }
                for p in params {
                    if p.kind == TypeKind::UNIT {
                        return Err("a callable's parameter cannot be ()".into());
                    }
                    check_type_at(p, true, depth + 1)
                        .map_err(|why| format!("a callable's parameter: {why}"))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks a type description a plugin passes at run time to convert a
/// value (`Object::extract`, `Object::from_value`), as a parameter or a
/// result type is checked at load: whichever it is meant as, its kinds are
/// known and its nesting bounded.
pub(crate) fn check_value_type(ty: &TypeDesc) -> Result<(), String> {
    check_type(ty, false).or_else(|_| check_type(ty, true))
}

/// An item of a container (a list, tuple or set item, a dict key or
/// value), at `depth` containers in: anything a parameter (or a result)
/// may be, `()` aside; a container result holds class values, never
/// references into other objects.
fn check_item(item: &TypeDesc, is_result: bool, depth: usize) -> Result<(), String> {
    if item.kind == TypeKind::UNIT {
        return Err("a container's items cannot be ()".into());
    }
    if is_result && item.kind == TypeKind::OBJECT && item.passing != Passing::VALUE {
        return Err("a container result holds class values, not references".into());
    }
    check_type_at(item, is_result, depth + 1)
}

/// Dict keys and set items: Python requires them hashable, which lists,
/// dicts and sets are not.
fn check_hashable(ty: &TypeDesc, what: &str) -> Result<(), String> {
    if matches!(ty.kind, TypeKind::LIST | TypeKind::DICT | TypeKind::SET) {
        return Err(format!(
            "{what} must be hashable: not {}",
            ty.kind.python_name()
        ));
    }
    Ok(())
}
