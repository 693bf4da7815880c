//! Turning a checked plugin into a Python module.
//!
//! The plugin's descriptors are validated first (names, kinds, defaults,
//! receivers), and classes it uses from other plugins are checked against
//! their owners' records if those are loaded. A malformed or mismatched
//! plugin is refused with an ImportError before any Python object is built
//! for it.

use std::collections::HashSet;

use oxbind_abi::{
    ArgValue, CallOutcome, ClassDesc, ClassGc, ClassOptions, ClassRef, FunctionDesc, MethodDesc,
    MethodKind, Passing, Receiver, SlotKind, TypeDesc, TypeKind,
};
use pyo3_ffi as ffi;

use crate::call::types::check_type;
use crate::{
    call,
    class::{self, ClassFunctions},
    plugin::open::{self, CheckedPlugin},
    py::errors,
    py::owned::Owned,
};

/// A descriptor problem, reported as `ImportError: ... <path>: <this>`.
pub struct InvalidPlugin(pub String);

type Defaults = Vec<Option<ArgValue<'static>>>;

/// Where a function appears, which decides the receiver it may have.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Function,
    Constructor,
    Method,
    StaticMethod,
    /// A class method: no receiver; the first parameter takes the class.
    ClassMethod,
    /// A class attribute or a module constant: no receiver, no parameters.
    Constant,
    Conversion,
}

/// Checks one function and returns its normalised defaults.
fn validate_function(
    f: &FunctionDesc,
    context: &str,
    role: Role,
) -> Result<Defaults, InvalidPlugin> {
    let fname = f.name.as_str();
    if !is_identifier(fname) {
        return Err(InvalidPlugin(format!(
            "{context}: function name {fname:?} is not a Python identifier"
        )));
    }
    let receiver_ok = match role {
        Role::Method => f.receiver == Receiver::REF || f.receiver == Receiver::MUT,
        _ => f.receiver == Receiver::NONE,
    };
    if !receiver_ok {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() has receiver {} where it is not allowed",
            f.receiver.0
        )));
    }
    check_type(&f.ret, true)
        .map_err(|why| InvalidPlugin(format!("{context}: {fname}() result: {why}")))?;
    if role == Role::ClassMethod
        && !f.params.as_slice().first().is_some_and(|p| {
            p.ty.kind == TypeKind::ANY && !p.ty.optional && p.default.is_none() && !p.lock
        })
    {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() is a class method: its first parameter receives the class, an `oxbind::Object`"
        )));
    }
    if role == Role::Constant && (!f.params.is_empty() || f.lock_self) {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() is a constant: it takes no parameters"
        )));
    }
    if matches!(role, Role::Constructor | Role::Conversion)
        && !(f.ret.kind == TypeKind::OBJECT && f.ret.passing == Passing::VALUE && !f.ret.optional)
    {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() must return its class by value"
        )));
    }
    let locks = f.params.as_slice().iter().filter(|p| p.lock).count() + f.lock_self as usize;
    if locks > 2 {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() locks {locks} objects; at most two can be locked"
        )));
    }
    if f.lock_self && f.receiver == Receiver::NONE {
        return Err(InvalidPlugin(format!(
            "{context}: {fname}() has lock_self but no receiver"
        )));
    }
    let mut params = HashSet::new();
    let mut defaults = Vec::with_capacity(f.params.len());
    let mut seen_default = false;
    for p in f.params.as_slice() {
        let pname = p.name.as_str();
        if !is_identifier(pname) || !params.insert(pname) {
            return Err(InvalidPlugin(format!(
                "{context}: {fname}() has an invalid or repeated parameter name {pname:?}"
            )));
        }
        check_type(&p.ty, false).map_err(|why| {
            InvalidPlugin(format!("{context}: {fname}() parameter '{pname}': {why}"))
        })?;
        let default = match p.default.as_ref().into_option() {
            None if seen_default => {
                return Err(InvalidPlugin(format!(
                "{context}: {fname}() parameter '{pname}' has no default but follows one that has"
            )))
            }
            None => None,
            Some(d) => {
                seen_default = true;
                Some(normalise_default(*d, &p.ty).ok_or_else(|| {
                    InvalidPlugin(format!(
                        "{context}: {fname}() parameter '{pname}' has a default of the wrong type: {d:?} for a {} parameter",
                        call::signature::expected_name(&p.ty)
                    ))
                })?)
            }
        };
        defaults.push(default);
    }
    Ok(defaults)
}

/// Checks the descriptor of a closure made at run time
/// (`call::closure`), as a module function is checked at load; returns its
/// normalised defaults.
pub(crate) fn check_closure(f: &FunctionDesc) -> Result<Defaults, String> {
    validate_function(f, "closure", Role::Function).map_err(|e| e.0)
}

/// A default as the parameter expects it, or `None` if it cannot be one.
fn normalise_default(d: ArgValue<'static>, ty: &TypeDesc) -> Option<ArgValue<'static>> {
    match (d, ty.kind) {
        (ArgValue::None, _) if ty.optional => Some(d),
        (ArgValue::Int(v), TypeKind::FLOAT) => Some(ArgValue::Float(v as f64)),
        // A wide parameter's default is an `i64` (the SDK writes no other).
        (ArgValue::Int(_), TypeKind::WIDE_INT) => Some(d),
        // `&[u8]` and `Vec<u8>` take a `b"…"` default, read as bytes.
        (ArgValue::Bytes(_), TypeKind::BUFFER) if ty.is_byte_slice() => Some(d),
        (ArgValue::Object(_) | ArgValue::List(_), _) => None,
        // A scalar of the parameter's own kind (`Object` and `List`
        // defaults were refused just above).
        (d, kind) if d.kind() == Some(kind) => Some(d),
        _ => None,
    }
}

/// Whether `s` can name a Python function or parameter: an identifier
/// that is not a keyword (a keyword parameter could not be passed by name,
/// and `inspect.signature` and stubs naming it are invalid).
fn is_identifier(s: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&s)
}

/// Every class a plugin names in a signature (each enum, tagged `true`).
fn classes_used(
    functions: &[FunctionDesc],
    classes: &[ClassDesc],
    conversions: &[FunctionDesc],
) -> Vec<(&'static ClassRef, bool)> {
    // Every type here passed `check_type`: nesting is bounded.
    fn add(ty: &TypeDesc, out: &mut Vec<(&'static ClassRef, bool)>) {
        if let Some(c) = ty.class {
            out.push((c, ty.kind == TypeKind::ENUM));
        }
        if let Some((k, v)) = ty.dict_types() {
            add(k, out);
            add(v, out);
        } else if let Some(items) = ty.tuple_types() {
            items.iter().for_each(|t| add(t, out));
        } else if let Some((ret, params)) = ty.callable_types() {
            add(ret, out);
            params.iter().for_each(|t| add(t, out));
        } else if let Some(item) = ty.item {
            add(item, out);
        }
    }
    fn add_fn(f: &FunctionDesc, out: &mut Vec<(&'static ClassRef, bool)>) {
        add(&f.ret, out);
        for p in f.params.as_slice() {
            add(&p.ty, out);
        }
    }
    let mut out = Vec::new();
    functions
        .iter()
        .chain(conversions)
        .for_each(|f| add_fn(f, &mut out));
    for c in classes {
        out.push((c.class, false));
        if let Some(ctor) = c.constructor.as_ref().into_option() {
            add_fn(ctor, &mut out);
        }
        c.methods
            .as_slice()
            .iter()
            .for_each(|m| add_fn(&m.func, &mut out));
        for p in c.properties.as_slice() {
            add_fn(&p.get, &mut out);
            if let Some(s) = p.set.as_ref().into_option() {
                add_fn(s, &mut out);
            }
        }
    }
    out
}

/// Checks all descriptors; returns the module functions' defaults.
pub fn validate(
    module_name: &str,
    functions: &[FunctionDesc],
    classes: &[ClassDesc],
    conversions: &[FunctionDesc],
) -> Result<Vec<Defaults>, InvalidPlugin> {
    if !is_identifier(module_name) {
        return Err(InvalidPlugin(format!(
            "module name {module_name:?} is not a Python identifier"
        )));
    }
    // Functions may share a name (overloads); classes may not share one.
    let mut names: HashSet<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    let mut all = Vec::with_capacity(functions.len());
    for f in functions {
        all.push(validate_function(f, module_name, Role::Function)?);
    }
    for c in classes {
        let cname = c.class.name();
        if c.class.module() != module_name || !is_identifier(cname) {
            return Err(InvalidPlugin(format!(
                "class key {:?} must be \"{module_name}.<identifier>\"",
                c.class.key.as_str()
            )));
        }
        if !names.insert(cname) {
            return Err(InvalidPlugin(format!("{cname} is exported twice")));
        }
        let context = format!("{module_name}.{cname}");
        if let Some(ctor) = c.constructor.as_ref().into_option() {
            validate_function(ctor, &context, Role::Constructor)?;
        }
        for m in c.methods.as_slice() {
            let role = match m.kind {
                MethodKind::STATIC => Role::StaticMethod,
                MethodKind::CLASSMETHOD => Role::ClassMethod,
                MethodKind::INSTANCE | MethodKind::GETTER | MethodKind::SETTER => Role::Method,
                MethodKind::SLOT if m.slot.0 >= 1 && m.slot.0 <= SlotKind::MAX.0 => Role::Method,
                _ => {
                    return Err(InvalidPlugin(format!(
                        "{context}: unknown method kind {} / slot {}",
                        m.kind.0, m.slot.0
                    )))
                }
            };
            validate_function(&m.func, &context, role)?;
            check_member(c, m, &context)?;
        }
        for p in c.properties.as_slice() {
            validate_function(&p.get, &context, Role::Method)?;
            if let Some(s) = p.set.as_ref().into_option() {
                validate_function(s, &context, Role::Method)?;
            }
        }
    }
    for conv in conversions {
        validate_function(conv, module_name, Role::Conversion)?;
    }
    Ok(all)
}

/// Checks what one method's kind asks of its shape: a slot's parameter
/// count, a getter's and a setter's receiver and parameters (and that a
/// setter has its getter), and that no name is both a property and a
/// method, or two kinds of method.
fn check_member(c: &ClassDesc, m: &MethodDesc, context: &str) -> Result<(), InvalidPlugin> {
    let name = m.func.name.as_str();
    let params = m.func.params.len();
    let fail = |why: String| Err(InvalidPlugin(format!("{context}.{name}: {why}")));
    match m.kind {
        MethodKind::GETTER if m.func.receiver != Receiver::REF || params != 0 => {
            return fail("a getter takes `&self` and no parameters".into());
        }
        MethodKind::SETTER if params != 1 => {
            return fail("a setter takes `&mut self` and one parameter, the new value".into());
        }
        MethodKind::SETTER
            if !c
                .methods
                .as_slice()
                .iter()
                .any(|g| g.kind == MethodKind::GETTER && g.func.name.as_str() == name) =>
        {
            return fail("a setter needs a getter of the same name".into());
        }
        MethodKind::SLOT => match m.slot.params() {
            Some(wanted) if wanted != params => {
                return fail(format!(
                    "{} takes {wanted} parameter{} besides self, not {params}",
                    m.slot.dunder(),
                    if wanted == 1 { "" } else { "s" }
                ));
            }
            _ => {}
        },
        _ => {}
    }
    if c.properties
        .as_slice()
        .iter()
        .any(|p| p.name.as_str() == name)
    {
        return fail("the name is both a field property and a method".into());
    }
    let clash = c.methods.as_slice().iter().any(|o| {
        o.func.name.as_str() == name
            && o.kind != m.kind
            && !matches!(
                (o.kind, m.kind),
                (MethodKind::GETTER, MethodKind::SETTER) | (MethodKind::SETTER, MethodKind::GETTER)
            )
    });
    if clash {
        return fail("the name is exported as two kinds of method".into());
    }
    if m.kind == MethodKind::CLASSMETHOD
        && c.methods
            .as_slice()
            .iter()
            .filter(|o| o.func.name.as_str() == name)
            .count()
            > 1
    {
        return fail("a class method cannot be overloaded".into());
    }
    Ok(())
}

fn defaults_of(f: &FunctionDesc) -> Defaults {
    // Already validated: normalise again (cheap) rather than thread the
    // vectors of every class member through validation.
    f.params
        .as_slice()
        .iter()
        .map(|p| {
            p.default
                .as_ref()
                .into_option()
                .and_then(|d| normalise_default(*d, &p.ty))
        })
        .collect()
}

/// Builds the module object for a checked plugin. Returns `Err` with a
/// Python error set.
///
/// The steps run in an order that leaves nothing half-registered: every
/// check, then the module, its functions and its (unregistered) class types,
/// then the plugin's init, and only then the registration of its classes
/// and conversions, which other plugins can see. A failure before the
/// registration leaves nothing behind in the runtime; the caller releases
/// the plugin's name.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
pub unsafe fn build(plugin: &CheckedPlugin) -> Result<Owned, ()> {
    // Whatever an earlier failed build on this thread left waiting.
    call::entry::discard_unclaimed();
    let module_ref = plugin.root.module;
    let name: &'static str = module_ref.name().as_str();
    let version: &'static str = module_ref.version().as_str();
    let functions = module_ref.functions().as_slice();
    let class_descs = module_ref.classes().as_slice();
    let conversions = module_ref.conversions().as_slice();
    // A plugin that is not thread-safe runs its calls one at a time, on
    // every build (`spec/THREADING.md`, "Plugins that are not thread-safe").
    let serial = (!module_ref.free_threading_safe()).then(crate::sync::serial::SerialLock::leaked);
    let refuse = |why: String| {
        // SAFETY: `refuse` is only called below, in this function, on its
        // attached thread (this function's contract).
        unsafe {
            errors::import_error(
                &format!(
                    "oxbind: cannot load {} ({}): {}",
                    open::brief(name),
                    open::brief(&plugin.path),
                    open::shorten(&why, open::DETAIL_CHARS)
                ),
                Some(&plugin.path),
            )
        };
    };
    let defaults = match validate(name, functions, class_descs, conversions) {
        Ok(d) => d,
        Err(InvalidPlugin(why)) => {
            refuse(format!("invalid plugin: {why}"));
            return Err(());
        }
    };
    // Appended in ABI 0.1.1: only plugins that new have it (its accessor
    // panics on an older plugin's module).
    let class_gc = if plugin.root.abi_version >= [0, 1, 1] {
        module_ref.class_gc().as_slice()
    } else {
        &[]
    };
    if !class_gc.is_empty() && class_gc.len() != class_descs.len() {
        refuse(format!(
            "it lists {} classes but garbage-collector hooks for {}",
            class_descs.len(),
            class_gc.len()
        ));
        return Err(());
    }
    if let Some(desc) = class_descs
        .iter()
        .zip(class_gc)
        .find_map(|(desc, gc)| (gc.traverse.is_some() != gc.clear.is_some()).then_some(desc))
    {
        refuse(format!(
            "class {} has only one of its garbage-collector hooks",
            desc.class.key.as_str()
        ));
        return Err(());
    }
    // Appended in ABI 0.1.9.
    let enum_descs: &'static [oxbind_abi::EnumDesc] = if plugin.root.abi_version >= [0, 1, 9] {
        module_ref.enums().as_slice()
    } else {
        &[]
    };
    {
        let mut taken: HashSet<&str> = functions.iter().map(|f| f.name.as_str()).collect();
        taken.extend(class_descs.iter().map(|c| c.class.name()));
        for e in enum_descs {
            if let Err(why) = crate::runtime::enums::validate(e, name) {
                refuse(why);
                return Err(());
            }
            if !taken.insert(e.class.name()) {
                refuse(format!("{} is exported twice", e.class.name()));
                return Err(());
            }
        }
    }
    // Appended in ABI 0.1.10: class options and attributes, module constants.
    let (class_options, constants): (&'static [ClassOptions], &'static [FunctionDesc]) =
        if plugin.root.abi_version >= [0, 1, 10] {
            (
                module_ref.class_options().as_slice(),
                module_ref.constants().as_slice(),
            )
        } else {
            (&[], &[])
        };
    if let Err(InvalidPlugin(why)) = validate_additions(
        name,
        functions,
        class_descs,
        enum_descs,
        class_options,
        constants,
    ) {
        refuse(format!("invalid plugin: {why}"));
        return Err(());
    }
    // Classes from other plugins that are loaded already are checked now.
    let joined = crate::runtime::joined().ok_or(())?;
    for (class, is_enum) in classes_used(functions, class_descs, conversions) {
        if class.module() == name {
            continue;
        }
        // SAFETY: attached, and this copy has joined a runtime (this
        // function's contract).
        let found =
            unsafe { crate::runtime::registry::find_type_by_key(joined, class.key.as_str()) };
        if let Some(record) = found {
            let checked = if is_enum {
                crate::runtime::enums::check_compatible(class, record)
            } else {
                crate::runtime::registry::check_compatible(class, record)
            };
            if let Err(why) = checked {
                let what = if is_enum { "enum" } else { "class" };
                refuse(format!("{what} {}: {why}", class.key.as_str()));
                return Err(());
            }
        }
    }

    let c_name = errors::c_string(name);
    // SAFETY: attached (this function's contract); `c_name` is NUL-terminated,
    // and each new reference, or null, goes straight into an `Owned`.
    let (module, module_name) = unsafe {
        let module = Owned::from_raw(ffi::PyModule_New(c_name.as_ptr())).ok_or(())?;
        (module, Owned::from_raw(errors::new_str(name)).ok_or(())?)
    };
    // SAFETY: attached; `module` is the live module just made, which no other
    // code has seen yet.
    unsafe {
        set_str_attr(module.as_ptr(), c"__file__", &plugin.path.to_string_lossy())?;
        set_str_attr(module.as_ptr(), c"__doc__", module_ref.doc().as_str())?;
        set_str_attr(module.as_ptr(), c"__version__", version)?;
        set_plugin_info(module.as_ptr(), plugin, name, version)?;
    }
    // Group functions by Python name, in order: a shared name is an overload set.
    let mut groups: Vec<(&str, Vec<&'static call::FunctionData>)> = Vec::new();
    for (desc, defaults) in functions.iter().zip(defaults) {
        let fname = desc.name.as_str();
        // SAFETY: attached (this function's contract), all `new_data` needs;
        // `desc` passed validation above.
        let data =
            unsafe { call::new_data(desc, defaults, fname.to_owned(), name, fname, serial) }?;
        match groups.iter_mut().find(|(n, _)| *n == fname) {
            Some((_, list)) => list.push(data),
            None => groups.push((fname, vec![data])),
        }
    }
    for (fname, mut candidates) in groups {
        let data = if candidates.len() == 1 {
            candidates.pop().expect("one")
        } else {
            // SAFETY: attached (this function's contract), all
            // `new_overloaded` needs.
            unsafe { call::new_overloaded(candidates) }?
        };
        // SAFETY: attached; `module` is a live module and `module_name` a
        // live str, and `func` is alive while it is added.
        unsafe {
            let func = call::entry::new_function(data, module.as_ptr(), module_name.as_ptr())?;
            add_attr(module.as_ptr(), fname, func.as_ptr())?;
        }
    }
    let mut prepared = Vec::with_capacity(class_descs.len());
    for (k, desc) in class_descs.iter().enumerate() {
        let gc = class_gc.get(k).copied().unwrap_or(ClassGc::NONE);
        let (options, generated) = class_options
            .get(k)
            .map_or((0, &[][..]), |o| (o.flags, o.generated.as_slice()));
        // SAFETY: attached, and this copy has joined a runtime (this
        // function's contract); `desc` passed validation above.
        prepared.push((desc, unsafe {
            prepare_class(desc, gc, options, generated, name, version, serial)
        }?));
    }

    crate::plugin::host::install(module_ref.host());
    // SAFETY: attached, joined, and no oxbind lock held (this function's
    // contract) while the init runs plugin code; the definitions that
    // `claim_entries` completes belong to this build's module and types,
    // which are not published yet.
    let claimed = unsafe { run_init(plugin, name).and_then(|()| call::entry::claim_entries()) };
    if claimed.is_err() {
        // A failed build gives back the entry points it would have used:
        // it claimed none (spec/SOUNDNESS.md, "Failed loads").
        call::entry::discard_unclaimed();
        return Err(());
    }

    // Registration: from here on other plugins can see the classes.
    let mut created = Vec::with_capacity(prepared.len());
    for (k, (desc, class)) in prepared.into_iter().enumerate() {
        let new = matches!(class, class::PreparedClass::New { .. });
        // SAFETY: attached and joined (this function's contract); `module`
        // is a live module and `ty` a live type while it is added.
        unsafe {
            let ty = crate::class::create::publish(class)?;
            add_attr(module.as_ptr(), desc.class.name(), ty.as_ptr())?;
            created.push((k, new, ty));
        }
    }
    for desc in enum_descs {
        // SAFETY: attached, joined and no oxbind lock held (this function's
        // contract); `desc` passed validation above; `module` is a live
        // module and `ty` a live type while it is added.
        unsafe {
            let ty = crate::runtime::enums::create(desc, name, version)?;
            add_attr(module.as_ptr(), desc.class.name(), ty.as_ptr())?;
        }
    }
    // Class attributes and module constants: computed once, now that every
    // class they may return is registered.
    for (k, new, ty) in created {
        let attributes = class_options
            .get(k)
            .map_or(&[][..], |o| o.attributes.as_slice());
        if !new || attributes.is_empty() {
            // A class registered before (the same class loaded again) has
            // its attributes already.
            continue;
        }
        let cname = class_descs[k].class.name();
        for attr in attributes {
            let aname = attr.name.as_str();
            // SAFETY: attached and joined, no oxbind lock held (this
            // function's contract); `attr` passed validation; `ty` is the
            // class's live type, created by this build.
            unsafe {
                let value = constant_value(attr, &format!("{cname}.{aname}"), name, serial)?;
                crate::class::create::set_class_attribute(ty.as_ptr(), aname, value.as_ptr())?;
            }
        }
    }
    for constant in constants {
        let cname = constant.name.as_str();
        // SAFETY: attached and joined, no oxbind lock held (this function's
        // contract); `constant` passed validation; `module` is live.
        unsafe {
            let value = constant_value(constant, cname, name, serial)?;
            add_attr(module.as_ptr(), cname, value.as_ptr())?;
        }
    }
    let i = joined.internals;
    for conv in conversions {
        let key = conv.ret.class.expect("validated").key;
        // SAFETY: `add_conversion` is the joined runtime's own function,
        // called with that runtime's state; `conv` is a validated descriptor
        // of this plugin, which is never unloaded.
        unsafe { (i.add_conversion())(i.state(), key, conv) };
    }
    Ok(module)
}

/// The value of a class attribute or module constant: its function,
/// called once with no arguments.
///
/// # Safety
/// The thread is attached, this copy has joined a runtime, and no oxbind
/// lock is held (plugin code runs); `desc` passed validation.
unsafe fn constant_value(
    desc: &'static FunctionDesc,
    qualname: &str,
    plugin: &'static str,
    serial: Option<&'static crate::sync::serial::SerialLock>,
) -> Result<Owned, ()> {
    // SAFETY: attached (this function's contract), all `new_data` needs.
    let data = unsafe {
        call::new_data(
            desc,
            Vec::new(),
            qualname.to_owned(),
            plugin,
            desc.name.as_str(),
            serial,
        )
    }?;
    // SAFETY: attached, no oxbind lock held (this function's contract); no
    // receiver and no arguments, which the function takes (validated); the
    // new reference (or null, with an error set) goes into `Owned`.
    let value = unsafe {
        Owned::from_raw(call::dispatch::dispatch(
            data,
            std::ptr::null_mut(),
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            call::Mode::Raise,
        ))
    }
    .ok_or(())?;
    // It lives as long as its class or module: not a leak at exit.
    // SAFETY: `value` is live; attached.
    unsafe { crate::class::lifecycle::uncount(value.as_ptr()) };
    Ok(value)
}

/// Checks what ABI 0.1.10 added: one options record per class with known
/// flags, class attributes and constants that take nothing, and names that
/// clash with nothing else the class or module exports.
fn validate_additions(
    module_name: &str,
    functions: &[FunctionDesc],
    classes: &[ClassDesc],
    enums: &[oxbind_abi::EnumDesc],
    options: &[ClassOptions],
    constants: &[FunctionDesc],
) -> Result<(), InvalidPlugin> {
    if !options.is_empty() && options.len() != classes.len() {
        return Err(InvalidPlugin(format!(
            "it lists {} classes but options for {}",
            classes.len(),
            options.len()
        )));
    }
    for (c, o) in classes.iter().zip(options) {
        let context = c.class.key.as_str();
        if o.flags & !ClassOptions::ALL != 0 {
            return Err(InvalidPlugin(format!(
                "{context}: unknown class option bits {:#x}",
                o.flags & !ClassOptions::ALL
            )));
        }
        let mut names: HashSet<&str> = c
            .methods
            .as_slice()
            .iter()
            .map(|m| m.func.name.as_str())
            .chain(c.properties.as_slice().iter().map(|p| p.name.as_str()))
            .collect();
        for g in o.generated.as_slice() {
            if g.kind != MethodKind::INSTANCE
                || !oxbind_abi::PLAIN_DUNDERS.contains(&g.func.name.as_str())
            {
                return Err(InvalidPlugin(format!(
                    "{context}: unexpected generated method {}",
                    g.func.name.as_str()
                )));
            }
            validate_function(&g.func, context, Role::Method)?;
        }
        for a in o.attributes.as_slice() {
            validate_function(a, context, Role::Constant)?;
            if !names.insert(a.name.as_str()) {
                return Err(InvalidPlugin(format!(
                    "{context}.{}: the class attribute's name is taken",
                    a.name.as_str()
                )));
            }
        }
    }
    let mut names: HashSet<&str> = functions
        .iter()
        .map(|f| f.name.as_str())
        .chain(classes.iter().map(|c| c.class.name()))
        .chain(enums.iter().map(|e| e.class.name()))
        .collect();
    for k in constants {
        validate_function(k, module_name, Role::Constant)?;
        if !names.insert(k.name.as_str()) || k.name.as_str().starts_with("__") {
            return Err(InvalidPlugin(format!(
                "{module_name}.{}: the constant's name is taken",
                k.name.as_str()
            )));
        }
    }
    Ok(())
}

/// Runs the plugin's init function, if it has one (plugin ABI 0.1.2). An
/// error or a panic becomes an ImportError whose cause is the plugin's
/// exception.
///
/// # Safety
/// The thread is attached, this copy has joined a runtime, and no oxbind
/// lock is held: the init runs plugin code, which may run Python code.
unsafe fn run_init(plugin: &CheckedPlugin, name: &str) -> Result<(), ()> {
    if plugin.root.abi_version < [0, 1, 2] {
        return Ok(());
    }
    let Some(init) = plugin.root.module.init().into_option() else {
        return Ok(());
    };
    let what = match init() {
        CallOutcome::Ok(_) => return Ok(()),
        CallOutcome::Err(record) => {
            // SAFETY: attached (this function's contract).
            unsafe { errors::raise_record(&record) };
            "failed"
        }
        CallOutcome::Panic(message) => {
            // SAFETY: attached (this function's contract).
            unsafe { errors::raise_panic(message.as_str()) };
            "panicked"
        }
    };
    // SAFETY: attached (contract), and an exception is set: the one just
    // raised (or the MemoryError from raising it).
    unsafe {
        errors::import_error_from_current(
            &format!(
                "oxbind: cannot load {} ({}): its init {what}",
                open::brief(name),
                open::brief(&plugin.path)
            ),
            Some(&plugin.path),
        )
    };
    Err(())
}

/// The functions and type of one class of the plugin, not yet registered.
///
/// # Safety
/// The thread is attached and this copy has joined a runtime.
unsafe fn prepare_class(
    desc: &'static ClassDesc,
    gc: ClassGc,
    options: u32,
    generated: &'static [MethodDesc],
    plugin: &'static str,
    version: &'static str,
    serial: Option<&'static crate::sync::serial::SerialLock>,
) -> Result<class::PreparedClass, ()> {
    let cname = desc.class.name();
    let ctor = match desc.constructor.as_ref().into_option() {
        Some(c) => {
            // SAFETY: attached (this function's contract), all `new_data`
            // needs.
            Some(unsafe {
                call::new_data(c, defaults_of(c), cname.to_owned(), plugin, cname, serial)
            }?)
        }
        None => None,
    };
    let mut methods: Vec<(MethodKind, SlotKind, Vec<&'static call::FunctionData>)> = Vec::new();
    let (mut getters, mut setters) = (Vec::new(), Vec::new());
    // The methods the class macro generated, unless the class wrote its own.
    let written = |name: &str| {
        desc.methods
            .as_slice()
            .iter()
            .any(|m| m.func.name.as_str() == name)
    };
    let extra = generated.iter().filter(|g| !written(g.func.name.as_str()));
    for m in desc.methods.as_slice().iter().chain(extra) {
        let mname = m.func.name.as_str();
        let make = if m.kind == MethodKind::CLASSMETHOD {
            call::new_class_method
        } else {
            call::new_data
        };
        // SAFETY: attached (this function's contract), all `new_data` and
        // `new_class_method` need.
        let data = unsafe {
            make(
                &m.func,
                defaults_of(&m.func),
                format!("{cname}.{mname}"),
                plugin,
                mname,
                serial,
            )
        }?;
        match m.kind {
            MethodKind::GETTER => getters.push((mname, m.func.doc.as_str(), data)),
            MethodKind::SETTER => setters.push((mname, data)),
            _ => match methods.iter_mut().find(
                |(k, s, d): &&mut (_, _, Vec<&call::FunctionData>)| {
                    *k == m.kind && *s == m.slot && d[0].desc.name.as_str() == mname
                },
            ) {
                // Methods sharing a kind, slot and name are an overload set.
                Some((_, _, candidates)) => candidates.push(data),
                None => methods.push((m.kind, m.slot, vec![data])),
            },
        }
    }
    let mut grouped = Vec::with_capacity(methods.len());
    for (kind, slot, mut candidates) in methods {
        let data = if candidates.len() == 1 {
            candidates.pop().expect("one")
        } else {
            // SAFETY: attached (this function's contract), all
            // `new_overloaded` needs.
            unsafe { call::new_overloaded(candidates) }?
        };
        grouped.push((kind, slot, data));
    }
    let methods = grouped;
    let mut properties = Vec::new();
    // Computed properties: each getter, with the setter of its name (checked
    // at validation: a setter always has a getter).
    for (pname, doc, get) in getters {
        let set = setters.iter().find(|(n, _)| *n == pname).map(|(_, d)| *d);
        properties.push((pname.to_owned(), doc.to_owned(), get, set));
    }
    for p in desc.properties.as_slice() {
        let pname = p.name.as_str();
        // SAFETY: attached (this function's contract), all `new_data` needs.
        let get = unsafe {
            call::new_data(
                &p.get,
                Vec::new(),
                format!("{cname}.{pname}"),
                plugin,
                pname,
                serial,
            )
        }?;
        let set = match p.set.as_ref().into_option() {
            // SAFETY: attached (this function's contract), all `new_data`
            // needs.
            Some(s) => Some(unsafe {
                call::new_data(
                    s,
                    defaults_of(s),
                    format!("{cname}.{pname}"),
                    plugin,
                    pname,
                    serial,
                )
            }?),
            None => None,
        };
        properties.push((pname.to_owned(), p.doc.as_str().to_owned(), get, set));
    }
    // SAFETY: attached, and this copy has joined a runtime (this function's
    // contract).
    unsafe {
        crate::class::create::prepare(
            desc,
            ClassFunctions {
                ctor,
                methods,
                properties,
                gc,
                options,
            },
            plugin,
            version,
        )
    }
}

/// Adds `value` to `module` as `name` (a new reference; the caller keeps
/// its own).
///
/// # Safety
/// The thread is attached; `module` is a live module and `value` a live
/// object.
unsafe fn add_attr(
    module: *mut ffi::PyObject,
    name: &str,
    value: *mut ffi::PyObject,
) -> Result<(), ()> {
    let c = errors::c_string(name);
    // SAFETY: attached, `module` and `value` live (this function's contract);
    // `c` is NUL-terminated, and PyModule_AddObjectRef takes its own
    // reference to `value`.
    if unsafe { ffi::PyModule_AddObjectRef(module, c.as_ptr(), value) } < 0 {
        return Err(());
    }
    Ok(())
}

/// Sets `obj.<attr>` to the str `value`.
///
/// # Safety
/// The thread is attached and `obj` is a live object.
unsafe fn set_str_attr(
    obj: *mut ffi::PyObject,
    attr: &std::ffi::CStr,
    value: &str,
) -> Result<(), ()> {
    // SAFETY: attached (this function's contract); the new str, or null, goes
    // straight into an `Owned`.
    let value = unsafe { Owned::from_raw(errors::new_str(value)) }.ok_or(())?;
    // SAFETY: attached; `obj` is live (contract), `attr` NUL-terminated and
    // `value` a live str.
    if unsafe { ffi::PyObject_SetAttrString(obj, attr.as_ptr(), value.as_ptr()) } < 0 {
        return Err(());
    }
    Ok(())
}

/// `__oxbind_plugin__`: what `oxbind.plugins()` lists about this plugin.
///
/// # Safety
/// The thread is attached and `module` is a live module.
unsafe fn set_plugin_info(
    module: *mut ffi::PyObject,
    plugin: &CheckedPlugin,
    name: &str,
    version: &str,
) -> Result<(), ()> {
    // SAFETY: attached (this function's contract); the new dict, or null,
    // goes straight into an `Owned`.
    let info = unsafe { Owned::from_raw(ffi::PyDict_New()) }.ok_or(())?;
    let [a, b, c] = plugin.root.abi_version;
    // SAFETY: attached (contract); each value is a new reference or null,
    // and the loop below takes every one of them into an `Owned`.
    let entries: [(&std::ffi::CStr, *mut ffi::PyObject); 5] = unsafe {
        [
            (c"name", errors::new_str(name)),
            (c"version", errors::new_str(version)),
            (c"path", errors::new_str(&plugin.path.to_string_lossy())),
            (c"sdk_version", errors::new_str(&format!("{a}.{b}.{c}"))),
            (
                c"free_threading_safe",
                ffi::PyBool_FromLong(plugin.root.module.free_threading_safe() as _),
            ),
        ]
    };
    let mut failed = false;
    for (key, value) in entries {
        // SAFETY: `value` is one of the new references (or null) made above,
        // owned by nothing else.
        let Some(value) = (unsafe { Owned::from_raw(value) }) else {
            failed = true;
            continue;
        };
        if !failed {
            // SAFETY: attached; `info` is a live dict, `key` NUL-terminated
            // and `value` live; the dict takes its own reference.
            let status =
                unsafe { ffi::PyDict_SetItemString(info.as_ptr(), key.as_ptr(), value.as_ptr()) };
            if status < 0 {
                failed = true;
            }
        }
    }
    if failed {
        return Err(());
    }
    // SAFETY: attached; `module` is a live module (contract) and `info` a
    // live dict.
    let status = unsafe {
        ffi::PyObject_SetAttrString(module, c"__oxbind_plugin__".as_ptr(), info.as_ptr())
    };
    if status < 0 {
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
        assert!(!is_identifier("from") && !is_identifier("lambda") && !is_identifier("None"));
    }
}
