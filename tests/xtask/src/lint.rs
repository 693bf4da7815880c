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
    if unlisted.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "statics missing from spec/THREADING.md (\"Per shim copy\"):\n  {}",
            unlisted.join("\n  ")
        ))
    }
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
