//! Classes a plugin uses but does not own: finding their record in the
//! shared registry and checking the plugin's view of the struct (crate,
//! version, size, abi_stable layout) against the owner's.

use oxbind_abi::{abi_stable::abi_stability::abi_checking::check_layout_compatibility, ClassRef};
use oxbind_internals::TypeRecord_Ref;
use pyo3_ffi as ffi;

use crate::{internals, py::errors};

/// The record of `class` for a function of `plugin`, checked.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn resolve(
    class: &'static ClassRef,
    plugin: &str,
    context: &str,
) -> Result<TypeRecord_Ref, ()> {
    let Some(joined) = internals::joined() else {
        errors::raise(ffi::PyExc_RuntimeError, "oxbind: no runtime");
        return Err(());
    };
    let Some(record) = internals::find_type_by_key(joined, class.key.as_str()) else {
        errors::type_error(&format!(
            "{context}() needs class {}, which plugin '{}' defines, but '{}' is not loaded",
            class.key.as_str(),
            class.module(),
            class.module()
        ));
        return Err(());
    };
    if let Err(why) = check_compatible(class, record) {
        errors::type_error(&format!(
            "{context}() cannot use class {} ({plugin}): {why}",
            class.key.as_str()
        ));
        return Err(());
    }
    Ok(record)
}

/// Whether a plugin's view of a class matches the registered class.
pub(crate) fn check_compatible(class: &ClassRef, record: TypeRecord_Ref) -> Result<(), String> {
    if record.size() == 0 && record.align() == 0 {
        return Err("that name is registered for a type that is not an oxbind class".into());
    }
    let (ours, theirs) = (
        format!(
            "{} {}",
            class.crate_name.as_str(),
            class.crate_version.as_str()
        ),
        format!(
            "{} {}",
            record.crate_name().as_str(),
            record.crate_version().as_str()
        ),
    );
    match (class.layout.into_option(), record.layout().into_option()) {
        (Some(mine), Some(owner)) => {
            if let Err(e) = check_layout_compatibility(owner, mine) {
                return Err(format!(
                    "its layout in {ours} does not match the owner's {theirs} (plugin '{}'): {}",
                    record.owner().as_str(),
                    crate::compat::summarize(&e.to_string())
                ));
            }
            if class.size != record.size() || class.align != record.align() {
                return Err(format!("its size differs between {ours} and {theirs}"));
            }
            Ok(())
        }
        _ if ours == theirs && class.size == record.size() && class.align == record.align() => Ok(()),
        _ => Err(format!(
            "the class is not declared shared (its struct does not derive StableAbi), so only code built from the same crate version can use it; this is {ours}, the owner has {theirs}"
        )),
    }
}
