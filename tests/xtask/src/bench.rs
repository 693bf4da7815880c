//! `cargo xtask bench`: builds the raw C-API floor for 3.13t and 3.13, runs
//! `tests/bench/bench.py` under each, and writes `BENCHMARKS.md`.

use std::process::Command;

use crate::{
    build,
    layout::{Interpreter, Layout},
    provision, run, Result,
};

const TAGS: [&str; 2] = ["3.13t", "3.13"];

pub fn bench(layout: &Layout) -> Result {
    let interps: Vec<&Interpreter> = TAGS
        .iter()
        .map(|t| Interpreter::by_tag(t).unwrap())
        .collect();
    provision(layout, &interps)?;
    build(layout, &interps)?;
    let mut results = Vec::new();
    for interp in &interps {
        let dir = layout.root.join("target/bench").join(interp.tag);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let include = python_out(
            layout,
            interp,
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        )?;
        let suffix = layout.ext_suffix(interp)?;
        eprintln!("xtask: building the C floor for {}", interp.tag);
        crate::run(
            Command::new("gcc")
                .args(["-O2", "-shared", "-fPIC", "-I"])
                .arg(&include)
                .arg(layout.root.join("tests/bench/floor.c"))
                .arg("-o")
                .arg(dir.join(format!("floor{suffix}"))),
        )?;
        eprintln!("xtask: benchmarking on {}", interp.tag);
        let pythonpath = format!("{}:{}", layout.python_path(interp).display(), dir.display());
        let out = layout
            .python(interp)
            .env("PYTHONPATH", pythonpath)
            .arg(layout.root.join("tests/bench/bench.py"))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "bench.py failed on {}: {}",
                interp.tag,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        results.push((
            interp.tag,
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ));
    }
    let json = results
        .iter()
        .map(|(t, j)| format!("\"{t}\": {j}"))
        .collect::<Vec<_>>()
        .join(", ");
    let report = layout.root.join("target/bench/results.json");
    std::fs::write(&report, format!("{{{json}}}")).map_err(|e| e.to_string())?;
    // Render with Python (json is there already; the xtask has no dependencies).
    let script = layout.root.join("tests/bench/render.py");
    run(layout
        .python(interps[0])
        .arg(script)
        .arg(&report)
        .arg(layout.root.join("BENCHMARKS.md")))?;
    eprintln!("xtask: wrote BENCHMARKS.md");
    Ok(())
}

fn python_out(layout: &Layout, interp: &Interpreter, code: &str) -> Result<String> {
    let out = Command::new(layout.venv_python(interp))
        .args(["-c", code])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
