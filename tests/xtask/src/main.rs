//! `cargo xtask`: the project's automation, in plain Rust with no
//! dependencies.
//!
//! - `cargo xtask demo`: provisions the interpreters, builds everything and
//!   runs `example-plugins/demo.py` under 3.13t, 3.13 and 3.11.
//! - `cargo xtask test [PYTEST ARGS]`: provisions, builds (the wheels too),
//!   runs `cargo test` and the pytest suite under every interpreter. `.ci/run`
//!   runs this.
//! - `cargo xtask python <3.13t|3.13|3.11> script.py [ARGS]`: runs a script
//!   with `oxbind` importable and the example plugins built.
//! - `cargo xtask build [INTERPRETER...]`: builds the plugins and the shim.
//! - `cargo xtask provision [INTERPRETER]`: only provisions interpreters.
//! - `cargo xtask lint`: clippy with `-D warnings` (the shim under a
//!   free-threaded and a GIL interpreter) and the `# Safety` scan
//!   (`lint.rs`). `test` runs it first.
//! - `cargo xtask bench`: runs the benchmarks on 3.13t and 3.13 and writes
//!   `BENCHMARKS.md`.
//! - `cargo xtask wheels [INTERPRETER...]`: builds the `oxbind`, plugin and
//!   standalone wheels with maturin into `target/wheels/`.
//!
//! Interpreters are cached under `$OXBIND_CACHE` (default `~/.cache/oxbind`)
//! by `tests/provision-interpreters.sh`. Build outputs: plugins in
//! `target/release/`, the shim for interpreter T in `target/python/T/`.

mod bench;
mod layout;
mod lint;
mod wheels;

use std::{
    env,
    path::Path,
    process::{exit, Command},
};

use layout::{Interpreter, Layout, INTERPRETERS};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let layout = Layout::discover();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&layout),
        Some("test") => test(&layout, &args[1..]),
        Some("python") => python(&layout, &args[1..]),
        Some("build") => {
            let interps = select(&args[1..]);
            provision(&layout, &interps).and_then(|()| build(&layout, &interps))
        }
        Some("provision") => provision(&layout, &select(&args[1..])),
        Some("bench") => bench::bench(&layout),
        Some("lint") => {
            let interps = select(&[]);
            provision(&layout, &interps).and_then(|()| lint::lint(&layout))
        }
        Some("wheels") => {
            let interps = select(&args[1..]);
            provision(&layout, &interps)
                .and_then(|()| build(&layout, &interps))
                .and_then(|()| wheels::wheels(&layout, &interps))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <demo | test [PYTEST ARGS] | python <3.13t|3.13|3.11> SCRIPT [ARGS] | build [INTERP...] | provision [INTERP...] | wheels [INTERP...] | lint | bench>"
            );
            exit(2);
        }
    };
    if let Err(message) = result {
        eprintln!("xtask: {message}");
        exit(1);
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The interpreters named on the command line, or all of them.
fn select(names: &[String]) -> Vec<&'static Interpreter> {
    if names.is_empty() {
        return INTERPRETERS.iter().collect();
    }
    names
        .iter()
        .map(|n| {
            Interpreter::by_tag(n).unwrap_or_else(|| {
                eprintln!("xtask: unknown interpreter {n:?}; expected one of 3.13t, 3.13, 3.11");
                exit(2)
            })
        })
        .collect()
}

pub(crate) fn run(cmd: &mut Command) -> Result {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

pub(crate) fn provision(layout: &Layout, interps: &[&Interpreter]) -> Result {
    for interp in interps {
        if layout.venv_python(interp).exists() && layout.marker_ok(interp) {
            continue;
        }
        run(Command::new("bash")
            .arg(layout.root.join("tests/provision-interpreters.sh"))
            .arg(interp.tag))?;
    }
    Ok(())
}

/// Example plugins that are also built as standalone extension modules.
const STANDALONE: [&str; 4] = ["geometry", "physics", "counter", "strings"];

/// Compatibility fixtures: (cargo feature, module name), built for every
/// interpreter the suite runs on.
const FIXTURES: [(&str, &str); 3] = [
    ("minor", "compat_minor"),
    ("major", "compat_major"),
    ("bad-layout", "compat_bad"),
];
const FIXTURE_INTERPRETERS: [&str; 3] = ["3.13t", "3.13", "3.11"];

/// Builds the plugins once (they are interpreter-independent); then, per
/// interpreter, the shim, the standalone extension modules and the fixtures.
pub(crate) fn build(layout: &Layout, interps: &[&Interpreter]) -> Result {
    eprintln!("xtask: building the SDK and the example plugins (release)");
    run(layout.cargo().args(["build", "--release"]))?;
    // A physics plugin built against a Point whose layout differs from
    // geometry's, for the layout-check tests.
    let bad_dir = layout.root.join("target/fixture-plugins");
    run(layout
        .cargo()
        .args([
            "build",
            "--release",
            "-p",
            "physics",
            "--features",
            "physics/fixture-bad-point",
            "--target-dir",
        ])
        .arg(&bad_dir))?;
    copy_fresh(
        &bad_dir.join("release/libphysics.so"),
        &layout
            .root
            .join("target/fixture-plugins/libphysics_bad_point.so"),
    )?;
    for interp in interps {
        let suffix = layout.ext_suffix(interp)?;
        let dest_dir = layout.python_path(interp);
        std::fs::create_dir_all(&dest_dir).map_err(|e| e.to_string())?;
        let release = layout.shim_target_dir(interp).join("release");

        eprintln!("xtask: building the oxbind module for {}", interp.tag);
        run(shim_build(layout, interp).args(["-p", "oxbind-shim"]))?;
        copy_fresh(
            &release.join("liboxbind_shim.so"),
            &dest_dir.join(format!("oxbind{suffix}")),
        )?;

        eprintln!(
            "xtask: building standalone extension modules for {}",
            interp.tag
        );
        let features: Vec<String> = STANDALONE
            .iter()
            .map(|p| format!("{p}/standalone"))
            .collect();
        let mut cmd = shim_build(layout, interp);
        for p in STANDALONE {
            cmd.args(["-p", p]);
        }
        run(cmd.arg("--features").arg(features.join(",")))?;
        for p in STANDALONE {
            copy_fresh(
                &release.join(format!("lib{p}.so")),
                &dest_dir.join(format!("{p}{suffix}")),
            )?;
        }

        if FIXTURE_INTERPRETERS.contains(&interp.tag) {
            eprintln!("xtask: building compatibility fixtures for {}", interp.tag);
            let fixture_dir = layout.fixture_dir(interp);
            std::fs::create_dir_all(&fixture_dir).map_err(|e| e.to_string())?;
            for (feature, module) in FIXTURES {
                run(shim_build(layout, interp).args([
                    "-p",
                    "compat-fixture",
                    "--features",
                    feature,
                ]))?;
                copy_fresh(
                    &release.join("libcompat_fixture.so"),
                    &fixture_dir.join(format!("{module}{suffix}")),
                )?;
            }
        }
    }
    Ok(())
}

/// `cargo build --release` for code that links against `interp`'s C API.
/// The environment is the one maturin gives the same build (`cargo xtask
/// wheels` shares the target directory), so neither rebuilds pyo3-ffi
/// and everything above it for the other.
pub(crate) fn shim_build(layout: &Layout, interp: &Interpreter) -> Command {
    shim_command(layout, interp, "build")
}

/// `cargo <subcommand> --release` in the shim's environment for `interp`
/// (see [`shim_build`]).
pub(crate) fn shim_command(layout: &Layout, interp: &Interpreter, subcommand: &str) -> Command {
    let mut cmd = layout.cargo();
    let version = interp.tag.trim_end_matches('t');
    cmd.args([subcommand, "--release", "--target-dir"])
        .arg(layout.shim_target_dir(interp))
        .env("PYO3_PYTHON", layout.venv_python(interp))
        .env("PYTHON_SYS_EXECUTABLE", layout.venv_python(interp))
        .env(
            "PYO3_ENVIRONMENT_SIGNATURE",
            format!("cpython-{version}-64bit"),
        )
        .env("PYO3_BUILD_EXTENSION_MODULE", "1");
    cmd
}

/// Copies through a temporary file and a rename, so a running interpreter
/// that has the old file mapped is never handed a half-written one.
fn copy_fresh(from: &Path, to: &Path) -> Result {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))
}

fn python(layout: &Layout, args: &[String]) -> Result {
    let Some(tag) = args.first() else {
        return Err("usage: cargo xtask python <3.13t|3.13|3.11> SCRIPT [ARGS]".into());
    };
    let interp = select(std::slice::from_ref(tag))[0];
    provision(layout, &[interp])?;
    build(layout, &[interp])?;
    let status = layout
        .python(interp)
        .args(&args[1..])
        .status()
        .map_err(|e| format!("cannot run python: {e}"))?;
    exit(status.code().unwrap_or(1));
}

fn demo(layout: &Layout) -> Result {
    let all = select(&[]);
    provision(layout, &all)?;
    build(layout, &all)?;
    for interp in &all {
        println!("\n===== {} =====", interp.tag);
        run(layout
            .python(interp)
            .arg(layout.root.join("example-plugins/demo.py")))?;
    }
    Ok(())
}

fn test(layout: &Layout, pytest_args: &[String]) -> Result {
    let all = select(&[]);
    provision(layout, &all)?;
    // A lint failure fails the run, after the tests have run too.
    let linted = lint::lint(layout);
    build(layout, &all)?;
    // tests/python/test_wheels.py installs these.
    wheels::wheels(layout, &all)?;

    eprintln!("xtask: cargo test (SDK, ABI, plugins)");
    run(layout.cargo().args(["test", "--release"]))?;
    eprintln!("xtask: cargo test (shim unit tests, linked against 3.11's libpython)");
    run(layout
        .cargo()
        .args([
            "test",
            "--release",
            "-p",
            "oxbind-shim",
            "--lib",
            "--target-dir",
        ])
        .arg(layout.root.join("target/shim-unit"))
        .env(
            "PYO3_PYTHON",
            layout.venv_python(Interpreter::by_tag("3.11").unwrap()),
        ))?;

    let mut totals = layout::Counts::default();
    let mut failed_runs = Vec::new();
    // Every suite on every interpreter; then, on 3.13t and 3.13, the whole
    // suite again under pytest-run-parallel (each test in 4 threads at once).
    let mut runs: Vec<(&Interpreter, &[&str])> = all.iter().map(|i| (*i, &[][..])).collect();
    for tag in ["3.13t", "3.13"] {
        runs.push((
            Interpreter::by_tag(tag).unwrap(),
            &["--parallel-threads=4"][..],
        ));
    }
    for (interp, extra) in runs {
        let label = if extra.is_empty() {
            interp.tag.to_owned()
        } else {
            format!("{} {}", interp.tag, extra.join(" "))
        };
        println!("\n===== pytest on {label} =====");
        let report = layout.root.join(format!(
            "target/pytest-{}.xml",
            label.replace([' ', '='], "_")
        ));
        let _ = std::fs::remove_file(&report);
        let status = layout
            .python(interp)
            .args(["-m", "pytest", "-p", "no:cacheprovider", "-q"])
            // Any leak at exit fails the run, in pytest and in every
            // subprocess the tests start (spec/LEAKS.md).
            .env("OXBIND_LEAKS_FATAL", "1")
            .args(extra)
            .arg(format!("--junitxml={}", report.display()))
            .arg(layout.root.join("tests/python"))
            .args(pytest_args)
            .status()
            .map_err(|e| format!("cannot run pytest: {e}"))?;
        let counts = layout::Counts::from_junit(&report);
        if !status.success() || counts.tests == 0 {
            failed_runs.push(format!("{label} (exit {})", status.code().unwrap_or(-1)));
        }
        totals.add(&counts);
    }
    println!(
        "\noxbind: {} passed, {} failed, {} skipped",
        totals.passed(),
        totals.failures + totals.errors,
        totals.skipped
    );
    if !failed_runs.is_empty() {
        return Err(format!("pytest failed on: {}", failed_runs.join(", ")));
    }
    linted.map_err(|e| format!("lint failed: {e}"))
}
