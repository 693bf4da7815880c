//! `cargo xtask wheels`: builds, with maturin, the `oxbind` shim wheel and
//! the standalone extension wheels per interpreter, and the
//! interpreter-independent plugin wheels, into `target/wheels/`.
//!
//! A plugin wheel (`oxbind-<name>`, tagged `py3-none`) holds the package
//! `<name>`: a generated `__init__.py` that loads the plugin file shipped
//! beside it (`<name>/_plugin/lib_plugin.so`, packaged by maturin's `cffi`
//! bindings, which ship a plain cdylib), its type stub `__init__.pyi` and
//! `py.typed`. It depends on the `oxbind` wheel. A standalone wheel
//! (`<name>-standalone`) holds the extension module `<name>` with the shim
//! embedded, and `<name>.pyi`.
//!
//! The maturin projects are generated under `target/wheel-projects/`, from
//! the templates below; maturin itself is installed, pinned, in a tools
//! virtualenv in the cache.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    layout::{Interpreter, Layout},
    run, Result,
};

/// The pinned packaging tools.
const TOOLS: [&str; 2] = ["maturin==1.16.0", "cffi==2.1.1"];

/// The plugins shipped as wheels, each with the plugins it needs loaded
/// first (physics takes geometry's Points).
pub const WHEEL_PLUGINS: [(&str, &[&str]); 3] = [
    ("geometry", &[]),
    ("physics", &["geometry"]),
    ("counter", &[]),
];

/// The plugins also shipped as standalone extension wheels.
const STANDALONE_WHEELS: [&str; 2] = ["geometry", "physics"];

pub fn wheels(layout: &Layout, interps: &[&Interpreter]) -> Result {
    let maturin = tools(layout)?;
    let out = layout.root.join("target/wheels");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    let projects = layout.root.join("target/wheel-projects");
    if projects.exists() {
        fs::remove_dir_all(&projects)
            .map_err(|e| format!("cannot clear {}: {e}", projects.display()))?;
    }
    let stub_python = interps
        .first()
        .ok_or("no interpreter to generate stubs with")?;

    for (name, needs) in WHEEL_PLUGINS {
        eprintln!("xtask: building the plugin wheel oxbind-{name}");
        let dir = projects.join("plugin").join(name);
        let package = dir.join("python").join(name);
        fs::create_dir_all(&package).map_err(|e| e.to_string())?;
        write(
            &dir.join("pyproject.toml"),
            &plugin_pyproject(layout, name, needs),
        )?;
        write(&package.join("__init__.py"), &plugin_init(name, needs))?;
        write(&package.join("py.typed"), "")?;
        write_stub(
            layout,
            stub_python,
            name,
            needs,
            &package.join("__init__.pyi"),
        )?;
        // maturin looks for cffi in VIRTUAL_ENV: the tools venv has it. No
        // pyo3 crate is in a plugin's build, so nothing reruns for it.
        let tools_venv = maturin.parent().and_then(Path::parent).unwrap_or(&dir);
        run(maturin_build(&maturin, &dir, &out)
            .env("CARGO_TARGET_DIR", layout.root.join("target"))
            .env("VIRTUAL_ENV", tools_venv))?;
    }
    for interp in interps {
        eprintln!("xtask: building the oxbind wheel for {}", interp.tag);
        let dir = projects.join("oxbind");
        let package = dir.join("python/oxbind");
        fs::create_dir_all(&package).map_err(|e| e.to_string())?;
        write(&dir.join("pyproject.toml"), &shim_pyproject(layout))?;
        write(&package.join("__init__.py"), &extension_init("oxbind"))?;
        run(maturin_build(&maturin, &dir, &out)
            .arg("-i")
            .arg(layout.venv_python(interp))
            .env("CARGO_TARGET_DIR", layout.shim_target_dir(interp)))?;
        for (name, needs) in WHEEL_PLUGINS
            .into_iter()
            .filter(|(n, _)| STANDALONE_WHEELS.contains(n))
        {
            eprintln!(
                "xtask: building the standalone wheel {name}-standalone for {}",
                interp.tag
            );
            let dir = projects.join("standalone").join(name);
            let package = dir.join("python").join(name);
            fs::create_dir_all(&package).map_err(|e| e.to_string())?;
            write(
                &dir.join("pyproject.toml"),
                &standalone_pyproject(layout, name, needs),
            )?;
            write(&package.join("__init__.py"), &extension_init(name))?;
            write(&package.join("py.typed"), "")?;
            write_stub(
                layout,
                stub_python,
                name,
                needs,
                &package.join("__init__.pyi"),
            )?;
            run(maturin_build(&maturin, &dir, &out)
                .arg("-i")
                .arg(layout.venv_python(interp))
                .env("CARGO_TARGET_DIR", layout.shim_target_dir(interp)))?;
        }
    }
    Ok(())
}

/// The maturin of the tools virtualenv, created on first use.
fn tools(layout: &Layout) -> Result<PathBuf> {
    let venv = layout.cache.join("venv/tools");
    let maturin = venv.join("bin/maturin");
    let ok = Command::new(venv.join("bin/python"))
        .args(["-c", "import cffi, maturin"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "xtask: installing {} in {}",
            TOOLS.join(" "),
            venv.display()
        );
        let base = Interpreter::by_tag("3.13").expect("3.13 is an interpreter");
        run(Command::new(layout.venv_python(base))
            .args(["-m", "venv", "--clear"])
            .arg(&venv))?;
        run(Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(TOOLS))?;
    }
    Ok(maturin)
}

/// `maturin build` of `project` into `out`. VIRTUAL_ENV is left unset, as
/// `cargo xtask build` leaves it: pyo3's build script reruns when it changes,
/// and with it every crate above pyo3-ffi.
fn maturin_build(maturin: &Path, project: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(maturin);
    cmd.current_dir(project)
        .args(["build", "--release", "--quiet", "-o"])
        .arg(out)
        .env_remove("VIRTUAL_ENV");
    cmd
}

/// Writes the plugin's stub, generated by `oxbind.stub` under `interp`.
fn write_stub(
    layout: &Layout,
    interp: &Interpreter,
    name: &str,
    needs: &[&str],
    to: &Path,
) -> Result {
    let plugins = layout.plugin_dir();
    let load_needs: String = needs
        .iter()
        .map(|n| format!("oxbind.load({:?})\n", plugins.join(format!("lib{n}.so"))))
        .collect();
    let code = format!(
        "import oxbind, pathlib\n{load_needs}pathlib.Path({to:?}).write_text(oxbind.stub(oxbind.load({:?})))\n",
        plugins.join(format!("lib{name}.so"))
    );
    run(layout.python(interp).args(["-c", &code]))
}

fn write(path: &Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn manifest(layout: &Layout, crate_dir: &str) -> String {
    layout
        .root
        .join(crate_dir)
        .join("Cargo.toml")
        .display()
        .to_string()
}

/// One wheel's `pyproject.toml`: the project table, then the maturin
/// settings for `crate_dir` (the lines after `manifest-path`).
struct Pyproject<'a> {
    what: &'a str,
    name: &'a str,
    description: &'a str,
    deps: Vec<String>,
    crate_dir: &'a str,
    maturin: &'a str,
}

impl Pyproject<'_> {
    fn render(&self, layout: &Layout) -> String {
        format!(
            r#"# Generated by `cargo xtask wheels`: {what}.
[build-system]
requires = ["maturin>=1.9,<2"]
build-backend = "maturin"

[project]
name = "{name}"
version = "0.1.0"
description = "{description}"
requires-python = ">=3.11"
dependencies = [{deps}]

[tool.maturin]
manifest-path = "{manifest}"
{maturin}"#,
            what = self.what,
            name = self.name,
            description = self.description,
            deps = self.deps.join(", "),
            manifest = manifest(layout, self.crate_dir),
            maturin = self.maturin,
        )
    }
}

fn plugin_pyproject(layout: &Layout, name: &str, needs: &[&str]) -> String {
    Pyproject {
        what: &format!("the plugin wheel of {name}"),
        name: &format!("oxbind-{name}"),
        description: &format!("The oxbind plugin {name}, loaded by the oxbind runtime."),
        deps: std::iter::once("\"oxbind==0.1.0\"".to_owned())
            .chain(needs.iter().map(|n| format!("\"oxbind-{n}==0.1.0\"")))
            .collect(),
        crate_dir: &format!("example-plugins/{name}"),
        maturin: &format!(
            "# cffi bindings ship the cdylib as it is; the package's own __init__.py loads it.\n\
             bindings = \"cffi\"\nmodule-name = \"{name}._plugin\"\npython-source = \"python\"\n"
        ),
    }
    .render(layout)
}

fn plugin_init(name: &str, needs: &[&str]) -> String {
    let imports: String = needs
        .iter()
        .map(|n| format!("import {n} as _{n}  # {name} takes {n}'s classes\n"))
        .collect();
    format!(
        r#""""The oxbind plugin `{name}`, installed from its wheel.

Importing this package loads the plugin file beside it through oxbind; the
plugin module then takes this package's place in sys.modules.
"""

import os as _os
import sys as _sys

import oxbind as _oxbind
{imports}
# maturin's cffi bindings name the plugin file after the `_plugin` module.
__oxbind_plugin_file__ = _os.path.join(_os.path.dirname(__file__), "_plugin", "lib_plugin.so")
_sys.modules[__name__] = _oxbind.load(__oxbind_plugin_file__)
"#
    )
}

/// The `__init__.py` of a wheel whose package `<name>` holds the extension
/// module `<name>.<name>`: maturin always packages an extension module so,
/// and this puts the module itself in the package's place, dunders and all.
fn extension_init(name: &str) -> String {
    format!(
        r#""""`{name}`, installed from its wheel: this package is replaced in
sys.modules by the extension module it holds."""

import sys as _sys

from . import {name} as _module

_sys.modules[__name__] = _module
"#
    )
}

fn shim_pyproject(layout: &Layout) -> String {
    Pyproject {
        what: "the oxbind runtime wheel",
        name: "oxbind",
        description: "One runtime for many independently built Rust extensions.",
        deps: Vec::new(),
        crate_dir: "shim",
        maturin: "bindings = \"pyo3-ffi\"\nmodule-name = \"oxbind.oxbind\"\n\
                  python-source = \"python\"\nfeatures = [\"extension-module\"]\n",
    }
    .render(layout)
}

fn standalone_pyproject(layout: &Layout, name: &str, needs: &[&str]) -> String {
    Pyproject {
        what: &format!("{name} as a standalone extension module"),
        name: &format!("{name}-standalone"),
        description: &format!(
            "The oxbind plugin {name} as its own extension module (the oxbind runtime embedded)."
        ),
        deps: needs
            .iter()
            .map(|n| format!("\"{n}-standalone==0.1.0\""))
            .collect(),
        crate_dir: &format!("example-plugins/{name}"),
        maturin: &format!(
            "bindings = \"pyo3-ffi\"\nmodule-name = \"{name}.{name}\"\n\
             python-source = \"python\"\nfeatures = [\"standalone\"]\n"
        ),
    }
    .render(layout)
}
