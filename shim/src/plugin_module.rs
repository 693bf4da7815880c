//! Turning a checked plugin into a Python module.
//!
//! The plugin's descriptors are validated first (names, kinds, defaults), so
//! a malformed plugin is refused with an ImportError before any Python object
//! is built for it.

use std::collections::HashSet;

use oxbind_abi::{ArgValue, FunctionDesc, TypeDesc, TypeKind};
use pyo3_ffi as ffi;

use crate::{errors, function, loader::CheckedPlugin, pyref::Owned};

/// A descriptor problem, reported as `ImportError: ... <path>: <this>`.
pub struct InvalidPlugin(pub String);

/// Checks every descriptor and returns each function's normalised defaults.
pub fn validate(functions: &[FunctionDesc], module_name: &str) -> Result<Vec<Vec<Option<ArgValue<'static>>>>, InvalidPlugin> {
    if !is_identifier(module_name) {
        return Err(InvalidPlugin(format!("module name {module_name:?} is not a Python identifier")));
    }
    let mut names = HashSet::new();
    let mut all_defaults = Vec::with_capacity(functions.len());
    for f in functions {
        let fname = f.name.as_str();
        if !is_identifier(fname) {
            return Err(InvalidPlugin(format!("function name {fname:?} is not a Python identifier")));
        }
        if !names.insert(fname) {
            return Err(InvalidPlugin(format!("function {fname}() is exported twice")));
        }
        check_kind(&f.ret, true).map_err(|k| InvalidPlugin(format!("{fname}() returns unknown type kind {k}")))?;
        let mut params = HashSet::new();
        let mut defaults = Vec::with_capacity(f.params.len());
        let mut seen_default = false;
        for p in f.params.as_slice() {
            let pname = p.name.as_str();
            if !is_identifier(pname) || !params.insert(pname) {
                return Err(InvalidPlugin(format!("{fname}() has an invalid or repeated parameter name {pname:?}")));
            }
            check_kind(&p.ty, false)
                .map_err(|k| InvalidPlugin(format!("{fname}() parameter '{pname}' has unknown type kind {k}")))?;
            let default = match p.default.as_ref().into_option() {
                None if seen_default => {
                    return Err(InvalidPlugin(format!(
                        "{fname}() parameter '{pname}' has no default but follows one that has"
                    )))
                }
                None => None,
                Some(d) => {
                    seen_default = true;
                    Some(normalise_default(*d, &p.ty).ok_or_else(|| {
                        InvalidPlugin(format!(
                            "{fname}() parameter '{pname}' has a default of the wrong type: {d:?} for a {} parameter",
                            crate::convert::expected_name(&p.ty)
                        ))
                    })?)
                }
            };
            defaults.push(default);
        }
        all_defaults.push(defaults);
    }
    Ok(all_defaults)
}

fn check_kind(ty: &TypeDesc, is_result: bool) -> Result<(), u8> {
    let k = ty.kind;
    if k.0 > TypeKind::MAX.0 || (k == TypeKind::UNIT && !is_result) {
        return Err(k.0);
    }
    Ok(())
}

/// A default as the parameter expects it, or `None` if it cannot be one.
fn normalise_default(d: ArgValue<'static>, ty: &TypeDesc) -> Option<ArgValue<'static>> {
    match (d, ty.kind) {
        (ArgValue::None, _) if ty.optional => Some(d),
        (ArgValue::Int(v), TypeKind::FLOAT) => Some(ArgValue::Float(v as f64)),
        (d, kind) if d.kind() == Some(kind) => Some(d),
        _ => None,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Builds the module object for a checked plugin. Returns `Err` with a
/// Python error set.
///
/// # Safety
/// The thread is attached.
pub unsafe fn build(plugin: &CheckedPlugin) -> Result<Owned, ()> {
    let module_ref = plugin.root.module;
    let name = module_ref.name().as_str();
    let functions = module_ref.functions().as_slice();
    let defaults = match validate(functions, name) {
        Ok(d) => d,
        Err(InvalidPlugin(why)) => {
            errors::import_error(
                &format!("oxbind.load: cannot load {}: invalid plugin: {why}", plugin.path.display()),
                Some(&plugin.path),
            );
            return Err(());
        }
    };
    let c_name = errors::c_string(name);
    let module = Owned::from_raw(ffi::PyModule_New(c_name.as_ptr())).ok_or(())?;
    let module_name = Owned::from_raw(errors::new_str(name)).ok_or(())?;
    set_str_attr(module.as_ptr(), c"__file__", &plugin.path.to_string_lossy())?;
    set_str_attr(module.as_ptr(), c"__doc__", module_ref.doc().as_str())?;
    set_str_attr(module.as_ptr(), c"__version__", module_ref.version().as_str())?;
    for (desc, defaults) in functions.iter().zip(defaults) {
        let func = function::new_function(desc, defaults, module.as_ptr(), module_name.as_ptr())?;
        let fname = errors::c_string(desc.name.as_str());
        if ffi::PyModule_AddObjectRef(module.as_ptr(), fname.as_ptr(), func.as_ptr()) < 0 {
            return Err(());
        }
    }
    Ok(module)
}

unsafe fn set_str_attr(obj: *mut ffi::PyObject, attr: &std::ffi::CStr, value: &str) -> Result<(), ()> {
    let value = Owned::from_raw(errors::new_str(value)).ok_or(())?;
    if ffi::PyObject_SetAttrString(obj, attr.as_ptr(), value.as_ptr()) < 0 {
        return Err(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("greet"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
