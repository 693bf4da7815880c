//! `cargo xtask lint`: the `unsafe` discipline, as `.ci/run` checks it.
//!
//! - clippy with `-D warnings` on the shim, once per interpreter kind
//!   (free-threaded and GIL: each compiles different `cfg` branches), and
//!   on every other crate. The workspace lints (`Cargo.toml`) make a bare
//!   unsafe operation in an `unsafe fn`, an `unsafe` block without a
//!   `// SAFETY:` comment, and a public `unsafe fn` without a `# Safety`
//!   section errors.
//! - Every `static` in `shim/src` is named in `spec/THREADING.md`'s table
//!   of per-copy state, so that the table stays the one complete list.
//! - The shim's layers: `ARCHITECTURE.md`'s table "The shim, layer by
//!   layer" lists every top-level module of `shim/src`, bottom to top, and
//!   no module names (`crate::…`) a module of a row above its own, so the
//!   module graph has no cycle between layers.
//! - A scan for `unsafe fn`s of any visibility with no `# Safety` section
//!   in their doc comment: clippy's `missing_safety_doc` sees only public
//!   ones. Methods of trait impls are skipped (the trait states the
//!   contract).

use std::path::{Path, PathBuf};

use crate::{
    layout::{Interpreter, Layout},
    run, Result,
};

/// The interpreters whose `cfg`s the shim is checked under: one
/// free-threaded, one with the GIL (and before 3.13, where most version
/// gates are).
const SHIM_TAGS: [&str; 2] = ["3.13t", "3.11"];

/// The folders whose Rust sources the `# Safety` scan reads.
const SCANNED: [&str; 5] = [
    "shim/src",
    "shim/internals/src",
    "plugins",
    "example-plugins",
    "tests/fixtures",
];

pub fn lint(layout: &Layout) -> Result {
    for tag in SHIM_TAGS {
        let interp = Interpreter::by_tag(tag).unwrap();
        eprintln!("xtask: clippy on the shim for {tag}");
        let mut cmd = crate::shim_command(layout, interp, "clippy");
        cmd.args(["-p", "oxbind-shim", "--all-targets", "--", "-D", "warnings"]);
        run(&mut cmd)?;
    }
    eprintln!("xtask: clippy on the SDK, the ABI, the plugins and the tools");
    run(layout.cargo().args([
        "clippy",
        "--release",
        "--workspace",
        "--exclude",
        "oxbind-shim",
        // Built only with one of its features (`cargo xtask build`).
        "--exclude",
        "compat-fixture",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("xtask: every unsafe fn has a # Safety section");
    let mut missing = Vec::new();
    for dir in SCANNED {
        for file in rust_files(&layout.root.join(dir)) {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            for line in undocumented_unsafe_fns(&text) {
                let shown = file.strip_prefix(&layout.root).unwrap_or(&file);
                missing.push(format!("{}:{line}", shown.display()));
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} unsafe fn(s) without a `# Safety` section in their docs:\n  {}",
            missing.len(),
            missing.join("\n  ")
        ));
    }
    eprintln!("xtask: every static of the shim is in spec/THREADING.md");
    let spec = std::fs::read_to_string(layout.root.join("spec/THREADING.md"))
        .map_err(|e| format!("cannot read spec/THREADING.md: {e}"))?;
    let table = spec
        .split("### Per shim copy")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .ok_or("spec/THREADING.md has no \"### Per shim copy\" section")?;
    let mut unlisted = Vec::new();
    for file in rust_files(&layout.root.join("shim/src")) {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for name in statics(&text) {
            let named =
                table.contains(&format!("`{name}`")) || table.contains(&format!("::{name}`"));
            if !named {
                let shown = file.strip_prefix(&layout.root).unwrap_or(&file);
                unlisted.push(format!("{}: {name}", shown.display()));
            }
        }
    }
    if !unlisted.is_empty() {
        return Err(format!(
            "statics missing from spec/THREADING.md (\"Per shim copy\"):\n  {}",
            unlisted.join("\n  ")
        ));
    }
    eprintln!("xtask: the shim's modules keep ARCHITECTURE.md's layers");
    layers_hold(layout)
}

/// Checks that every top-level module of `shim/src` is in a row of
/// `ARCHITECTURE.md`'s layer table, and that none names a module of a
/// higher row.
fn layers_hold(layout: &Layout) -> Result {
    let doc = std::fs::read_to_string(layout.root.join("ARCHITECTURE.md"))
        .map_err(|e| format!("cannot read ARCHITECTURE.md: {e}"))?;
    let rows = layer_rows(&doc)
        .ok_or("ARCHITECTURE.md has no table \"| layer | folder or file | owns |\"")?;
    let row_of = |module: &str| rows.iter().position(|r| r.iter().any(|m| m == module));
    let src = layout.root.join("shim/src");
    let mut problems = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap_or(&file);
        let module = top_module(rel);
        if module == "lib" {
            continue; // the crate root declares the modules and the constants
        }
        let Some(own) = row_of(&module) else {
            problems.push(format!(
                "shim/src/{}: module `{module}` is in no row of ARCHITECTURE.md's layer table",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for used in crate_references(&text) {
            if used == module {
                continue;
            }
            if let Some(row) = row_of(&used) {
                if row > own {
                    problems.push(format!(
                        "shim/src/{}: `{module}` uses `crate::{used}`, a higher layer",
                        rel.display()
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the shim's modules break ARCHITECTURE.md's layers:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The modules of each row of `doc`'s layer table, bottom to top: the
/// backquoted names in its second column (`py/` and `leaks.rs` name the
/// modules `py` and `leaks`).
fn layer_rows(doc: &str) -> Option<Vec<Vec<String>>> {
    let table = doc.split("| layer | folder or file | owns |").nth(1)?;
    let mut rows = Vec::new();
    for line in table.lines().skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cell = line.split('|').nth(2)?;
        let names: Vec<String> = cell
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|n| n.trim_end_matches('/').trim_end_matches(".rs").to_owned())
            .collect();
        rows.push(names);
    }
    Some(rows)
}

/// The top-level module a file under `shim/src` belongs to.
fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules `text` names through `crate::`, in paths and in
/// `use crate::{a::…, b}` groups; comments are left out.
fn crate_references(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group at its own depth.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        out.push(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out.sort();
    out.dedup();
    out
}

/// The names of the `static`s declared in `text`, outside its unit tests
/// (a `#[cfg(test)]` module at the end of a file).
fn statics(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    for line in code.lines() {
        let mut rest = line.trim_start();
        for prefix in ["pub(crate) ", "pub(super) ", "pub "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(rest) = rest.strip_prefix("static ") else {
            continue;
        };
        let rest = rest.strip_prefix("mut ").unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// The `.rs` files under `dir`, skipping build output.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                out.extend(rust_files(&path));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The 1-based lines of `unsafe fn` definitions in `text` whose preceding
/// doc comment has no `# Safety` heading, outside trait impls.
fn undocumented_unsafe_fns(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    // Whether the current top-level item is `impl Trait for Type`.
    let mut in_trait_impl = false;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('}') {
            let item = line.trim_start_matches("unsafe ");
            if item.starts_with("impl") {
                in_trait_impl = item.contains(" for ");
            } else if !line.starts_with("//") && !line.starts_with("#[") {
                in_trait_impl = false;
            }
        }
        if !is_unsafe_fn(line) || (in_trait_impl && line.starts_with(' ')) {
            continue;
        }
        let documented = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("//") || l.starts_with("#["))
            .any(|l| l.starts_with("///") && l.contains("# Safety"));
        if !documented {
            out.push(i + 1);
        }
    }
    out
}

/// Whether `line` starts the definition of an `unsafe fn`.
fn is_unsafe_fn(line: &str) -> bool {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let Some(rest) = rest.strip_prefix("unsafe ") else {
        return false;
    };
    let rest = rest
        .strip_prefix("extern \"C\" ")
        .or_else(|| rest.strip_prefix("extern \"C-unwind\" "))
        .unwrap_or(rest);
    rest.starts_with("fn ")
}

#[cfg(test)]
mod tests {
    use super::undocumented_unsafe_fns;

    #[test]
    fn reads_the_layer_table_and_crate_paths() {
        let doc = "x\n| layer | folder or file | owns |\n|---|---|---|\n| glue | `py/` | `ffi` |\n| top | `a.rs`, `b.rs` | x |\n\nmore";
        assert_eq!(
            super::layer_rows(doc).unwrap(),
            [vec!["py".to_owned()], vec!["a".to_owned(), "b".to_owned()]]
        );
        let text = "use crate::{py::owned::Owned, sync::{lock, critical}};\nlet x = crate::class::lifecycle::dealloc; // crate::leaks\n";
        assert_eq!(super::crate_references(text), ["class", "py", "sync"]);
    }

    #[test]
    fn finds_statics_outside_tests() {
        let text = "static A: u8 = 0;\nthread_local! {\n    static B: u8 = 0;\n}\npub(crate) static C: u8 = 0;\nstatic mut E: u8 = 0;\n#[cfg(test)]\nmod tests {\n    static D: u8 = 0;\n}\n";
        assert_eq!(super::statics(text), ["A", "B", "C", "E"]);
    }

    #[test]
    fn finds_unsafe_fns_without_a_safety_section() {
        let text = "\
/// Does a thing.
///
/// # Safety
/// The thread is attached.
pub(crate) unsafe fn ok() {}

/// No contract stated.
unsafe extern \"C\" fn bad() {}

unsafe impl Trait for X {
    unsafe fn from_trait() {}
}

impl X {
    pub unsafe fn also_bad() {}
}
";
        assert_eq!(undocumented_unsafe_fns(text), vec![8, 15]);
    }
}
