//! `cargo xtask bench`: builds the tiny benchmark extension five ways for
//! 3.13t and 3.13 (the raw C-API floor, nanobind, pybind11, PyO3 and oxbind,
//! the last as a plugin and as a standalone module), timing each release
//! build and measuring its size; runs `tests/bench/bench.py` under each
//! interpreter; and writes `BENCHMARKS.md` with `tests/bench/render.py`.
//!
//! The peers' tools come from the registries, pinned in the project's files:
//! nanobind, pybind11, CMake, ninja (`tests/bench/requirements.txt`) and
//! matplotlib (`tests/bench/requirements-plot.txt`) are installed into a
//! bench virtualenv per interpreter, `$OXBIND_CACHE/venv/bench-<tag>`; PyO3
//! is the crate `tests/bench/peers/pyo3` (its own workspace and lock file).
//!
//! Environment: `OXBIND_BENCH_N`, `OXBIND_BENCH_ROUNDS`,
//! `OXBIND_BENCH_SCALING_N`, `OXBIND_BENCH_SCALING_ROUNDS`,
//! `OXBIND_BENCH_SCALING_PROCESSES` (read by bench.py; smaller values for a
//! quick check), and `OXBIND_BENCH_REUSE=1` to keep the
//! build directories of earlier runs (build times are then incremental and
//! the report says so).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::{
    build,
    layout::{Interpreter, Layout},
    provision, run, Result,
};

const TAGS: [&str; 2] = ["3.13t", "3.13"];

/// The libraries measured beside the oxbind plugin, and beside the
/// standalone module (each oxbind form in its own process: one module per
/// plugin name).
const PLUGIN_RUN: &str = "floor,nanobind,pybind11,PyO3,oxbind plugin";
const STANDALONE_RUN: &str = "floor,nanobind,oxbind standalone";

/// One built extension: release build time and size.
struct Built {
    name: &'static str,
    file: PathBuf,
    seconds: f64,
    clean: bool,
}

pub fn bench(layout: &Layout) -> Result {
    let interps: Vec<&Interpreter> = TAGS
        .iter()
        .map(|t| Interpreter::by_tag(t).unwrap())
        .collect();
    provision(layout, &interps)?;
    build(layout, &interps)?;
    let reuse = std::env::var_os("OXBIND_BENCH_REUSE").is_some_and(|v| v == "1");
    let bench_root = layout.root.join("target/bench");

    // The plugin does not depend on the interpreter: one timed clean build.
    eprintln!("xtask: timing a clean release build of the counter plugin");
    let plugin_target = fresh_dir(&bench_root.join("oxbind-plugin-target"), reuse)?;
    let t = Instant::now();
    run(layout
        .cargo()
        .args(["build", "--release", "-p", "counter", "--target-dir"])
        .arg(&plugin_target))?;
    let plugin_build = Built {
        name: "oxbind plugin",
        file: plugin_target.join("release/libcounter.so"),
        seconds: t.elapsed().as_secs_f64(),
        clean: !reuse,
    };

    let mut per_interp = Vec::new();
    for (i, interp) in interps.iter().enumerate() {
        let dir = bench_root.join(interp.tag);
        let ext = dir.join("ext");
        std::fs::create_dir_all(&ext).map_err(|e| e.to_string())?;
        let venv = bench_venv(layout, interp, i == interps.len() - 1)?;
        let suffix = layout.ext_suffix(interp)?;
        let mut builds = Vec::new();

        eprintln!("xtask: building the C floor for {}", interp.tag);
        let include = python_out(
            &layout.venv_python(interp),
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        )?;
        let floor = ext.join(format!("floor{suffix}"));
        let t = Instant::now();
        run(Command::new("gcc")
            .args(["-O2", "-shared", "-fPIC", "-I"])
            .arg(&include)
            .arg(layout.root.join("tests/bench/floor.c"))
            .arg("-o")
            .arg(&floor))?;
        builds.push(Built {
            name: "floor",
            file: floor,
            seconds: t.elapsed().as_secs_f64(),
            clean: true,
        });

        for (peer, first, others) in [
            ("nanobind", "nb_counter", &["nb_geometry", "nb_physics"][..]),
            ("pybind11", "pb_counter", &[][..]),
        ] {
            eprintln!("xtask: building the {peer} peer for {}", interp.tag);
            let build_dir = fresh_dir(&dir.join(format!("{peer}-build")), reuse)?;
            let t = Instant::now();
            run(Command::new(venv.join("bin/cmake"))
                .arg("-S")
                .arg(layout.root.join("tests/bench/peers").join(peer))
                .arg("-B")
                .arg(&build_dir)
                .args(["-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"])
                .arg(format!(
                    "-DCMAKE_MAKE_PROGRAM={}",
                    venv.join("bin/ninja").display()
                ))
                .arg(format!(
                    "-DPython_EXECUTABLE={}",
                    venv.join("bin/python").display()
                ))
                .arg("-Wno-dev"))?;
            run(Command::new(venv.join("bin/cmake"))
                .arg("--build")
                .arg(&build_dir)
                .args(["--target", first]))?;
            let seconds = t.elapsed().as_secs_f64();
            run(Command::new(venv.join("bin/cmake"))
                .arg("--build")
                .arg(&build_dir))?;
            for module in std::iter::once(&first).chain(others) {
                crate::copy_fresh(
                    &build_dir.join(format!("{module}{suffix}")),
                    &ext.join(format!("{module}{suffix}")),
                )?;
            }
            builds.push(Built {
                name: peer,
                file: ext.join(format!("{first}{suffix}")),
                seconds,
                clean: !reuse,
            });
        }

        eprintln!("xtask: building the PyO3 peer for {}", interp.tag);
        let pyo3_target = fresh_dir(&dir.join("pyo3-target"), reuse)?;
        let t = Instant::now();
        run(layout
            .cargo()
            .args(["build", "--release", "--locked", "--manifest-path"])
            .arg(layout.root.join("tests/bench/peers/pyo3/Cargo.toml"))
            .arg("--target-dir")
            .arg(&pyo3_target)
            .env("PYO3_PYTHON", layout.venv_python(interp))
            .env("PYO3_BUILD_EXTENSION_MODULE", "1"))?;
        let seconds = t.elapsed().as_secs_f64();
        let pyo3 = ext.join(format!("pyo3_counter{suffix}"));
        crate::copy_fresh(&pyo3_target.join("release/libpyo3_counter.so"), &pyo3)?;
        builds.push(Built {
            name: "PyO3",
            file: pyo3,
            seconds,
            clean: !reuse,
        });

        eprintln!(
            "xtask: timing a clean release build of the standalone counter for {}",
            interp.tag
        );
        let standalone_target = fresh_dir(&dir.join("oxbind-standalone-target"), reuse)?;
        let t = Instant::now();
        run(layout
            .cargo()
            .args(["build", "--release", "-p", "counter"])
            .args(["--features", "counter/standalone", "--target-dir"])
            .arg(&standalone_target)
            .env("PYO3_PYTHON", layout.venv_python(interp))
            .env("PYO3_BUILD_EXTENSION_MODULE", "1"))?;
        builds.push(Built {
            name: "oxbind standalone",
            file: standalone_target.join("release/libcounter.so"),
            seconds: t.elapsed().as_secs_f64(),
            clean: !reuse,
        });
        builds.push(Built {
            name: plugin_build.name,
            file: plugin_build.file.clone(),
            seconds: plugin_build.seconds,
            clean: plugin_build.clean,
        });
        // The shim the plugin needs at run time (built by `cargo xtask build`).
        builds.push(Built {
            name: "oxbind shim",
            file: layout.python_path(interp).join(format!("oxbind{suffix}")),
            seconds: f64::NAN,
            clean: false,
        });

        let mut runs = Vec::new();
        for (key, libs, extra) in [
            ("plugin", PLUGIN_RUN, &["--controls"][..]),
            (
                "standalone",
                STANDALONE_RUN,
                &["--scaling-libs", "oxbind standalone"][..],
            ),
        ] {
            eprintln!("xtask: benchmarking {libs} on {}", interp.tag);
            // The bench's own extensions first; then `oxbind` and the
            // standalone example modules.
            let pythonpath = format!("{}:{}", ext.display(), layout.python_path(interp).display());
            let out = layout
                .python(interp)
                .env("PYTHONPATH", pythonpath)
                .arg(layout.root.join("tests/bench/bench.py"))
                .args(["--libs", libs])
                .args(extra)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "bench.py failed on {}: {}",
                    interp.tag,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            runs.push(format!(
                "\"{key}\": {}",
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
        let builds_json = builds
            .iter()
            .map(|b| b.json())
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        per_interp.push(format!(
            "\"{}\": {{{}, \"builds\": {{{builds_json}}}}}",
            interp.tag,
            runs.join(", ")
        ));
    }

    let tools = [
        ("rustc", command_out(Command::new("rustc").arg("-V"))),
        (
            "gcc",
            first_line(command_out(Command::new("gcc").arg("--version"))),
        ),
    ]
    .iter()
    .map(|(k, v)| format!("\"{k}\": {}", json_string(v)))
    .collect::<Vec<_>>()
    .join(", ");
    let report = bench_root.join("results.json");
    std::fs::write(
        &report,
        format!(
            "{{{}, \"tools\": {{{tools}}}, \"reused_builds\": {reuse}}}",
            per_interp.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    // Render with the bench venv that has matplotlib (the last interpreter).
    let renderer = bench_venv_dir(layout, interps[interps.len() - 1]).join("bin/python");
    run(Command::new(renderer)
        .current_dir(&layout.root)
        .arg(layout.root.join("tests/bench/render.py"))
        .arg(&report)
        .arg(layout.root.join("BENCHMARKS.md")))?;
    eprintln!("xtask: wrote BENCHMARKS.md");
    Ok(())
}

impl Built {
    fn json(&self) -> Result<String> {
        let bytes = std::fs::metadata(&self.file)
            .map_err(|e| format!("{}: {e}", self.file.display()))?
            .len();
        // The size without symbols: nanobind and pybind11 strip release
        // modules, cargo does not.
        let stripped_path = self.file.with_extension("stripped");
        run(Command::new("strip")
            .arg("--strip-unneeded")
            .arg("-o")
            .arg(&stripped_path)
            .arg(&self.file))?;
        let stripped = std::fs::metadata(&stripped_path)
            .map_err(|e| e.to_string())?
            .len();
        let _ = std::fs::remove_file(&stripped_path);
        let seconds = if self.seconds.is_finite() {
            format!("{:.2}", self.seconds)
        } else {
            "null".into()
        };
        Ok(format!(
            "\"{}\": {{\"seconds\": {seconds}, \"clean\": {}, \"bytes\": {bytes}, \"stripped\": {stripped}}}",
            self.name, self.clean
        ))
    }
}

/// `dir`, emptied first unless `reuse`.
fn fresh_dir(dir: &Path, reuse: bool) -> Result<PathBuf> {
    if !reuse && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    Ok(dir.to_owned())
}

fn bench_venv_dir(layout: &Layout, interp: &Interpreter) -> PathBuf {
    layout
        .cache
        .join("venv")
        .join(format!("bench-{}", interp.tag))
}

/// The bench virtualenv for `interp`, created from the project's venv if
/// missing, with the pinned requirements (and matplotlib if `plot`).
fn bench_venv(layout: &Layout, interp: &Interpreter, plot: bool) -> Result<PathBuf> {
    let venv = bench_venv_dir(layout, interp);
    if !venv.join("bin/python").exists() {
        eprintln!("xtask: creating {}", venv.display());
        run(Command::new(layout.venv_python(interp))
            .args(["-m", "venv"])
            .arg(&venv))?;
    }
    let reqs = layout.root.join("tests/bench");
    let mut pip = Command::new(venv.join("bin/python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "-r",
    ])
    .arg(reqs.join("requirements.txt"));
    if plot {
        pip.arg("-r").arg(reqs.join("requirements-plot.txt"));
    }
    run(&mut pip)?;
    Ok(venv)
}

fn python_out(python: &Path, code: &str) -> Result<String> {
    let out = Command::new(python)
        .args(["-c", code])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn command_out(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn first_line(s: String) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
