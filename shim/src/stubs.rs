//! Type stubs (`.pyi`) for a plugin, generated from its registered
//! signatures: `oxbind.stub(module_or_name)`.
//!
//! The text is built from the plugin's descriptors alone (names, types,
//! defaults, docs), plus the implicit conversions registered in the runtime
//! for the classes its parameters take. Nothing here holds a lock.

use std::{collections::BTreeSet, fmt::Write as _};

use oxbind_abi::{
    ClassDesc, ClassOptions, FunctionDesc, MethodKind, Passing, PluginRoot, SlotKind, TypeDesc,
    TypeKind,
};
use pyo3_ffi as ffi;

use crate::{call, plugin::open, py::errors, py::owned::Owned, SHIM_VERSION};

/// `oxbind.stub`'s docstring.
pub const STUB_DOC: &str = "stub(module)\n--\n\n\
The type stub (.pyi text) of an oxbind plugin module, generated from its registered signatures.\n\n\
`module` is a module that oxbind loaded (a plugin or a standalone oxbind extension module), or\n\
anything oxbind.load accepts, which is loaded first. Parameters that take a class also name\n\
the implicit conversions registered for it when the stub is made.\0";

/// Implementation of `oxbind.stub(module)`.
///
/// # Safety
/// The thread is attached and no oxbind lock is held.
pub unsafe fn stub(module: *mut ffi::PyObject) -> Result<Owned, ()> {
    // SAFETY: the thread is attached (this function's contract) and `module`
    // is a live object the caller holds; PyObject_GetAttrString returns a new
    // reference or null, as `from_raw` takes.
    let Some(info) = (unsafe {
        Owned::from_raw(ffi::PyObject_GetAttrString(
            module,
            c"__oxbind_plugin__".as_ptr(),
        ))
    }) else {
        // SAFETY: attached, `module` is live, and no oxbind lock is held
        // (this function's contract), as `repr` requires.
        unsafe {
            ffi::PyErr_Clear();
            errors::type_error(&format!(
                "stub() argument 'module' must be a module that oxbind loaded, not {}",
                errors::repr(module)
            ));
        }
        return Err(());
    };
    // A strong reference: user code on another thread may change the dict.
    // SAFETY: the thread is attached and `info` is a live object owned here;
    // PyMapping_GetItemString returns a new reference or null.
    let path = unsafe {
        Owned::from_raw(ffi::PyMapping_GetItemString(
            info.as_ptr(),
            c"path".as_ptr(),
        ))
    };
    let path = match path {
        // SAFETY: the thread is attached and `p` is a live object owned here.
        Some(p) if unsafe { ffi::PyUnicode_Check(p.as_ptr()) } != 0 => p,
        _ => {
            // SAFETY: the thread is attached (this function's contract).
            unsafe {
                ffi::PyErr_Clear();
                errors::type_error("stub(): the module's __oxbind_plugin__ has no 'path'");
            }
            return Err(());
        }
    };
    // SAFETY: the thread is attached and `path` is a live str owned here.
    let path = std::path::PathBuf::from(unsafe { text_of(path.as_ptr()) }?);
    // The file is loaded already: this finds the same mapping and root.
    // SAFETY: the thread is attached (this function's contract).
    let checked = unsafe { open::open_detached(&path, "stub(): cannot read") }?;
    let Some(joined) = crate::runtime::joined() else {
        // SAFETY: the thread is attached (this function's contract).
        unsafe {
            ffi::PyErr_SetString(
                ffi::PyExc_RuntimeError,
                c"stub(): this oxbind copy has not joined a runtime".as_ptr(),
            )
        };
        return Err(());
    };
    let conversions = |key: &str| -> Vec<&'static FunctionDesc> {
        let i = joined.internals;
        (0..)
            .map_while(|n| {
                // SAFETY: `conversion_at` is the creator's function from the
                // joined runtime's internals and gets that runtime's own
                // `state`; `render` calls this closure on this thread, which
                // is attached (this function's contract).
                unsafe {
                    (i.conversion_at())(
                        i.state(),
                        oxbind_abi::abi_stable::std_types::RStr::from_str(key),
                        n,
                    )
                }
            })
            .collect()
    };
    let text = render(checked.root, &conversions);
    // SAFETY: the thread is attached (this function's contract); `new_str`
    // returns a new reference or null, as `from_raw` takes.
    unsafe { Owned::from_raw(errors::new_str(&text)) }.ok_or(())
}

/// The text of the str `s`, or `Err` with the decoding error set.
///
/// # Safety
/// The thread is attached and `s` is a live str the caller keeps alive.
unsafe fn text_of(s: *mut ffi::PyObject) -> Result<String, ()> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: the thread is attached and `s` is a live str (this function's
    // contract).
    let utf8 = unsafe { ffi::PyUnicode_AsUTF8AndSize(s, &mut len) };
    if utf8.is_null() {
        return Err(());
    }
    // SAFETY: `utf8` is non-null and points to `len` bytes of UTF-8 cached in
    // `s`, which the caller keeps alive past the copy made here.
    let bytes = unsafe { std::slice::from_raw_parts(utf8 as *const u8, len as usize) };
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// What rendering needs besides the descriptors.
struct Renderer<'a> {
    /// The plugin's module name: its own classes are named bare.
    module: &'a str,
    /// The conversions registered for a class key.
    conversions: &'a dyn Fn(&str) -> Vec<&'static FunctionDesc>,
    /// Modules the stub must import (other plugins' classes).
    imports: BTreeSet<String>,
    /// Whether `Iterator` is used.
    uses_iterator: bool,
    /// Whether `typing.Any` is used (an `oxbind::Object`).
    uses_any: bool,
    /// Whether `collections.abc.Callable` is used (an `oxbind::Callback`).
    uses_callable: bool,
    /// Whether `overload` is used.
    uses_overload: bool,
    /// Whether `ClassVar` is used (class attributes).
    uses_classvar: bool,
    /// Whether `final` is used (classes Python may not subclass).
    uses_final: bool,
}

/// The stub text of the plugin whose root is `root`.
fn render(root: &PluginRoot, conversions: &dyn Fn(&str) -> Vec<&'static FunctionDesc>) -> String {
    let module = root.module;
    let name = module.name().as_str();
    let mut r = Renderer {
        module: name,
        conversions,
        imports: BTreeSet::new(),
        uses_iterator: false,
        uses_any: false,
        uses_callable: false,
        uses_overload: false,
        uses_classvar: false,
        uses_final: false,
    };
    let mut body = String::new();
    let _ = writeln!(body, "__version__: str");
    // Appended in plugin ABI 0.1.10.
    let (options, constants) = if root.abi_version >= [0, 1, 10] {
        (
            module.class_options().as_slice(),
            module.constants().as_slice(),
        )
    } else {
        (&[][..], &[][..])
    };
    for k in constants {
        let ty = r.ty(&k.ret, false);
        let _ = writeln!(body, "{}: {ty}", k.name.as_str());
    }
    body.push('\n');
    for (i, class) in module.classes().as_slice().iter().enumerate() {
        r.class(&mut body, class, options.get(i));
    }
    // Appended in plugin ABI 0.1.9.
    if root.abi_version >= [0, 1, 9] {
        for e in module.enums().as_slice() {
            r.imports.insert("enum".to_owned());
            let base = if e.kind == oxbind_abi::EnumKind::INT_ENUM {
                "enum.IntEnum"
            } else {
                "enum.Enum"
            };
            let _ = writeln!(body, "class {}({base}):", e.class.name());
            let doc = e.doc.as_str();
            if !doc.is_empty() {
                let _ = writeln!(body, "    {}", docstring_literal(doc, "    "));
            }
            for v in e.variants.as_slice() {
                let _ = writeln!(body, "    {} = {}", v.name.as_str(), v.value);
            }
            body.push('\n');
        }
    }
    let functions = module.functions().as_slice();
    for f in functions {
        let overloaded = functions
            .iter()
            .filter(|g| g.name.as_str() == f.name.as_str())
            .count()
            > 1;
        if overloaded {
            r.uses_overload = true;
            body.push_str("@overload\n");
        }
        r.function(&mut body, "", f, f.name.as_str(), FnKind::Plain);
    }

    let mut out = String::new();
    let doc = module.doc().as_str();
    if !doc.is_empty() {
        let _ = writeln!(out, "{}", docstring_literal(doc, ""));
    }
    let _ = writeln!(
        out,
        "# Generated by oxbind {SHIM_VERSION} from the registered signatures of plugin '{name}' {}.",
        module.version().as_str()
    );
    out.push_str("from __future__ import annotations\n\n");
    let abc: Vec<&str> = [
        r.uses_callable.then_some("Callable"),
        r.uses_iterator.then_some("Iterator"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !abc.is_empty() {
        let _ = writeln!(out, "from collections.abc import {}", abc.join(", "));
    }
    let typing: Vec<&str> = [
        r.uses_any.then_some("Any"),
        r.uses_classvar.then_some("ClassVar"),
        r.uses_final.then_some("final"),
        r.uses_overload.then_some("overload"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !typing.is_empty() {
        let _ = writeln!(out, "from typing import {}", typing.join(", "));
    }
    for m in &r.imports {
        let _ = writeln!(out, "import {m}");
    }
    out.push('\n');
    out.push_str(&body);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FnKind {
    Plain,
    Method,
    Static,
    /// A class method: `cls`, then the parameters after the first.
    Class,
    Init,
}

impl Renderer<'_> {
    fn class(&mut self, out: &mut String, class: &ClassDesc, options: Option<&ClassOptions>) {
        let cname = class.class.name();
        let subclassable = options.is_some_and(|o| o.flags & ClassOptions::SUBCLASS != 0);
        if !subclassable {
            self.uses_final = true;
            out.push_str("@final\n");
        }
        let _ = writeln!(out, "class {cname}:");
        let doc = class.doc.as_str();
        if !doc.is_empty() {
            let _ = writeln!(out, "    {}", docstring_literal(doc, "    "));
        }
        let attributes = options.map_or(&[][..], |o| o.attributes.as_slice());
        for a in attributes {
            self.uses_classvar = true;
            let ty = self.ty(&a.ret, false);
            let _ = writeln!(out, "    {}: ClassVar[{ty}]", a.name.as_str());
        }
        if let Some(ctor) = class.constructor.as_ref().into_option() {
            self.function(out, "    ", ctor, "__init__", FnKind::Init);
        }
        // Field properties, then computed ones (a getter method, and the
        // setter of its name if there is one).
        let written = class.methods.as_slice();
        let generated = options.map_or(&[][..], |o| o.generated.as_slice());
        let methods: Vec<oxbind_abi::MethodDesc> = written
            .iter()
            .chain(generated.iter().filter(|g| {
                !written
                    .iter()
                    .any(|m| m.func.name.as_str() == g.func.name.as_str())
            }))
            .copied()
            .collect();
        let methods = methods.as_slice();
        let mut properties: Vec<(&str, &str, &FunctionDesc, Option<&FunctionDesc>)> = class
            .properties
            .as_slice()
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.doc.as_str(),
                    &p.get,
                    p.set.as_ref().into_option(),
                )
            })
            .collect();
        for g in methods.iter().filter(|m| m.kind == MethodKind::GETTER) {
            let name = g.func.name.as_str();
            let set = methods
                .iter()
                .find(|s| s.kind == MethodKind::SETTER && s.func.name.as_str() == name)
                .map(|s| &s.func);
            properties.push((name, g.func.doc.as_str(), &g.func, set));
        }
        for (pname, pdoc, get, set) in properties {
            let ty = self.ty(&get.ret, false);
            let _ = writeln!(out, "    @property\n    def {pname}(self) -> {ty}:");
            let _ = writeln!(out, "        {}", body_of(pdoc, "        "));
            if let Some(set) = set {
                let value = set
                    .params
                    .as_slice()
                    .first()
                    .map_or("object".to_owned(), |v| self.ty(&v.ty, true));
                let _ = writeln!(
                    out,
                    "    @{pname}.setter\n    def {pname}(self, value: {value}) -> None: ..."
                );
            }
        }
        let has_slot = |k: SlotKind| {
            methods
                .iter()
                .any(|m| m.kind == MethodKind::SLOT && m.slot == k)
        };
        if has_slot(SlotKind::NEXT) && !has_slot(SlotKind::ITER) {
            // An iterator class is its own iterable.
            let _ = writeln!(out, "    def __iter__(self) -> {cname}: ...");
        }
        for m in methods {
            if matches!(m.kind, MethodKind::GETTER | MethodKind::SETTER) {
                continue;
            }
            let (kind, name) = match m.kind {
                MethodKind::STATIC => (FnKind::Static, m.func.name.as_str()),
                MethodKind::CLASSMETHOD => (FnKind::Class, m.func.name.as_str()),
                MethodKind::SLOT => (FnKind::Method, m.slot.dunder()),
                _ => (FnKind::Method, m.func.name.as_str()),
            };
            let overloaded = methods
                .iter()
                .filter(|o| o.kind == m.kind && o.func.name.as_str() == m.func.name.as_str())
                .count()
                > 1;
            if overloaded {
                self.uses_overload = true;
                out.push_str("    @overload\n");
            }
            if kind == FnKind::Static {
                out.push_str("    @staticmethod\n");
            }
            if kind == FnKind::Class {
                out.push_str("    @classmethod\n");
            }
            if m.kind == MethodKind::SLOT {
                self.slot(out, m.slot, &m.func, cname);
            } else {
                self.function(out, "    ", &m.func, name, kind);
            }
        }
        if class.constructor.is_none()
            && class.properties.is_empty()
            && methods.is_empty()
            && attributes.is_empty()
            && doc.is_empty()
        {
            out.push_str("    ...\n");
        }
        out.push('\n');
    }

    /// A special method: its Python signature where it differs from the
    /// descriptor's (`__eq__` takes any object; `__iter__` yields the items).
    fn slot(&mut self, out: &mut String, slot: SlotKind, f: &FunctionDesc, cname: &str) {
        let name = slot.dunder();
        let line = match slot {
            SlotKind::EQ => "def __eq__(self, other: object) -> bool: ...".to_owned(),
            SlotKind::HASH => "def __hash__(self) -> int: ...".to_owned(),
            SlotKind::LEN => "def __len__(self) -> int: ...".to_owned(),
            SlotKind::BOOL => "def __bool__(self) -> bool: ...".to_owned(),
            SlotKind::ITER => {
                // A list or a lazy iterator of items, or an iterator class's
                // instance (which is the iterator itself).
                let ret = match f.ret.item {
                    Some(item) if matches!(f.ret.kind, TypeKind::LIST | TypeKind::ANY) => {
                        format!("Iterator[{}]", self.ty(item, false))
                    }
                    _ if f.ret.kind == TypeKind::OBJECT => self.ty(&f.ret, false),
                    _ => "Iterator[object]".to_owned(),
                };
                self.uses_iterator |= ret.starts_with("Iterator");
                format!("def __iter__(self) -> {ret}: ...")
            }
            SlotKind::NEXT => {
                // `None` ends the iteration: it is never yielded.
                let item = TypeDesc {
                    optional: false,
                    ..f.ret
                };
                format!("def __next__(self) -> {}: ...", self.ty(&item, false))
            }
            SlotKind::CONTAINS => "def __contains__(self, item: object) -> bool: ...".to_owned(),
            // An in-place method that returns `()` gives back the instance.
            _ if slot.is_in_place() && f.ret.kind == TypeKind::UNIT => {
                let mut sig = String::new();
                self.function(&mut sig, "", f, name, FnKind::Method);
                let line = sig.lines().next().unwrap_or_default();
                line.replacen(") -> None:", &format!(") -> {cname}:"), 1) + " ..."
            }
            _ => {
                let mut sig = String::new();
                self.function(&mut sig, "", f, name, FnKind::Method);
                // One line, without a docstring: special methods are documented by Python.
                sig.lines().next().unwrap_or_default().to_owned() + " ..."
            }
        };
        let _ = writeln!(out, "    {line}");
    }

    fn function(
        &mut self,
        out: &mut String,
        indent: &str,
        f: &FunctionDesc,
        name: &str,
        kind: FnKind,
    ) {
        let mut params = Vec::new();
        if matches!(kind, FnKind::Method | FnKind::Init) {
            params.push("self".to_owned());
        }
        let skip = if kind == FnKind::Class {
            params.push("cls".to_owned());
            1
        } else {
            0
        };
        for p in f.params.as_slice().iter().skip(skip) {
            let ty = self.ty(&p.ty, true);
            let default = p
                .default
                .as_ref()
                .into_option()
                .map(|d| match d {
                    oxbind_abi::ArgValue::Float(v) if !v.is_finite() => " = ...".to_owned(),
                    d => format!(" = {}", call::signature::default_literal(d)),
                })
                .unwrap_or_default();
            params.push(format!("{}: {ty}{default}", p.name.as_str()));
        }
        let ret = if kind == FnKind::Init {
            "None".to_owned()
        } else {
            self.ty(&f.ret, false)
        };
        let _ = writeln!(out, "{indent}def {name}({}) -> {ret}:", params.join(", "));
        let inner = format!("{indent}    ");
        let _ = writeln!(out, "{inner}{}", body_of(f.doc.as_str(), &inner));
    }

    /// The Python type of `ty`, as a parameter (what is accepted) or a result.
    fn ty(&mut self, ty: &TypeDesc, param: bool) -> String {
        let base = match ty.kind {
            TypeKind::UNIT => return "None".to_owned(),
            TypeKind::INT | TypeKind::WIDE_INT => "int".to_owned(),
            TypeKind::FLOAT => "float".to_owned(),
            TypeKind::BOOL => "bool".to_owned(),
            TypeKind::STR => "str".to_owned(),
            TypeKind::BYTES => "bytes".to_owned(),
            TypeKind::OBJECT => match ty.class {
                Some(class) => {
                    let mut alternatives =
                        vec![self.class_name(class.key.as_str(), class.module(), class.name())];
                    if param && ty.passing != Passing::MUT {
                        for conv in (self.conversions)(class.key.as_str()) {
                            alternatives.push(self.conversion_source(conv));
                        }
                    }
                    alternatives.join(" | ")
                }
                None => "object".to_owned(),
            },
            TypeKind::LIST => {
                let item = ty.item.map_or("object".to_owned(), |i| self.ty(i, param));
                if param {
                    format!("list[{item}] | tuple[{item}, ...]")
                } else {
                    format!("list[{item}]")
                }
            }
            TypeKind::DICT => match ty.dict_types() {
                Some((k, v)) => format!("dict[{}, {}]", self.ty(k, param), self.ty(v, param)),
                None => "dict[object, object]".to_owned(),
            },
            TypeKind::TUPLE => match ty.tuple_types() {
                Some(items) => {
                    let items: Vec<String> = items.iter().map(|t| self.ty(t, param)).collect();
                    let exact = format!("tuple[{}]", items.join(", "));
                    if param {
                        // A list of the right length is accepted too.
                        format!("{exact} | list[{}]", union_of(&items))
                    } else {
                        exact
                    }
                }
                None => "tuple[object, ...]".to_owned(),
            },
            TypeKind::SET => {
                let item = ty.item.map_or("object".to_owned(), |i| self.ty(i, param));
                if param {
                    format!("set[{item}] | frozenset[{item}]")
                } else {
                    format!("set[{item}]")
                }
            }
            TypeKind::PATH => {
                if param {
                    self.imports.insert("os".to_owned());
                    "str | bytes | os.PathLike[str]".to_owned()
                } else {
                    self.imports.insert("pathlib".to_owned());
                    "pathlib.Path".to_owned()
                }
            }
            TypeKind::COMPLEX => "complex".to_owned(),
            TypeKind::SLICE => "slice".to_owned(),
            TypeKind::ENUM => match ty.class {
                Some(class) => self.class_name(class.key.as_str(), class.module(), class.name()),
                None => "object".to_owned(),
            },
            TypeKind::BUFFER => {
                if param {
                    // Any exporter of the buffer protocol (PEP 688, 3.12+;
                    // before, the built-in exporters).
                    if cfg!(Py_3_12) {
                        self.imports.insert("collections.abc".to_owned());
                        "collections.abc.Buffer".to_owned()
                    } else {
                        "bytes | bytearray | memoryview".to_owned()
                    }
                } else {
                    self.imports.insert("oxbind".to_owned());
                    "oxbind.Array".to_owned()
                }
            }
            TypeKind::ANY => match ty.item {
                // An `oxbind::LazyIter<T>` result.
                Some(item) => {
                    self.uses_iterator = true;
                    format!("Iterator[{}]", self.ty(item, false))
                }
                None => {
                    self.uses_any = true;
                    "Any".to_owned()
                }
            },
            TypeKind::CALLABLE => {
                self.uses_callable = true;
                match ty.callable_types() {
                    Some((ret, params)) => {
                        // Its parameters are what Rust passes (results of
                        // Rust), its result what Rust accepts back.
                        let params: Vec<String> =
                            params.iter().map(|p| self.ty(p, false)).collect();
                        let ret = if ret.kind == TypeKind::UNIT {
                            self.uses_any = true;
                            "Any".to_owned() // the result is ignored
                        } else {
                            self.ty(ret, true)
                        };
                        format!("Callable[[{}], {ret}]", params.join(", "))
                    }
                    None => {
                        self.uses_any = true;
                        "Callable[..., Any]".to_owned()
                    }
                }
            }
            _ => "object".to_owned(),
        };
        if ty.optional {
            format!("{base} | None")
        } else {
            base
        }
    }

    fn class_name(&mut self, _key: &str, module: &str, name: &str) -> String {
        if module == self.module {
            name.to_owned()
        } else {
            self.imports.insert(module.to_owned());
            format!("{module}.{name}")
        }
    }

    /// What a conversion accepts: its one parameter's type, or a tuple of
    /// its parameters' types.
    fn conversion_source(&mut self, conv: &FunctionDesc) -> String {
        let params = conv.params.as_slice();
        let mut types: Vec<String> = Vec::with_capacity(params.len());
        for p in params {
            // A conversion's own class parameters take no further conversions.
            types.push(match p.ty.kind {
                TypeKind::OBJECT => self.ty(
                    &TypeDesc {
                        passing: Passing::MUT,
                        ..p.ty
                    },
                    true,
                ),
                _ => self.ty(&p.ty, true),
            });
        }
        if types.len() == 1 {
            types.pop().expect("one")
        } else {
            format!("tuple[{}]", types.join(", "))
        }
    }
}

/// A function body: its docstring, or `...`.
fn body_of(doc: &str, indent: &str) -> String {
    if doc.trim().is_empty() {
        "...".to_owned()
    } else {
        docstring_literal(doc, indent)
    }
}

/// `doc` as a triple-quoted literal, continuation lines indented.
fn docstring_literal(doc: &str, indent: &str) -> String {
    let escaped = doc
        .trim_end()
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\\\"\\\"");
    let escaped = if escaped.ends_with('"') {
        format!("{escaped} ")
    } else {
        escaped
    };
    let mut lines = escaped.lines();
    let mut text = lines.next().unwrap_or_default().to_owned();
    for line in lines {
        text.push('\n');
        if !line.is_empty() {
            text.push_str(indent);
        }
        text.push_str(line);
    }
    if text.contains('\n') {
        text.push('\n');
        text.push_str(indent);
    }
    format!("\"\"\"{text}\"\"\"")
}

/// `A | B` of distinct item types, in order (the item type of a list
/// that may stand for a tuple of them).
fn union_of(items: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item.as_str()) {
            seen.push(item);
        }
    }
    seen.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docstrings_are_escaped_and_indented() {
        assert_eq!(docstring_literal("One line.", ""), "\"\"\"One line.\"\"\"");
        assert_eq!(
            docstring_literal("a \"\"\" b\\n\nsecond", "    "),
            "\"\"\"a \\\"\\\"\\\" b\\\\n\n    second\n    \"\"\""
        );
        assert_eq!(
            docstring_literal("ends in \"", ""),
            "\"\"\"ends in \" \"\"\""
        );
    }
}
