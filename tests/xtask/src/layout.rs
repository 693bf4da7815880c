//! Where things are: the repository, the interpreter cache, build outputs,
//! and the environment a Python process needs to find them.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// One interpreter the suite runs on.
pub struct Interpreter {
    /// The name used on the command line and in paths.
    pub tag: &'static str,
}

pub static INTERPRETERS: [Interpreter; 3] = [
    Interpreter { tag: "3.13t" },
    Interpreter { tag: "3.13" },
    Interpreter { tag: "3.11" },
];

impl Interpreter {
    pub fn by_tag(tag: &str) -> Option<&'static Interpreter> {
        INTERPRETERS.iter().find(|i| i.tag == tag)
    }
}

pub struct Layout {
    pub root: PathBuf,
    pub cache: PathBuf,
}

impl Layout {
    pub fn discover() -> Layout {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("repository root");
        let cache = match env::var_os("OXBIND_CACHE") {
            Some(c) => PathBuf::from(c),
            None => PathBuf::from(env::var_os("HOME").expect("HOME is set")).join(".cache/oxbind"),
        };
        Layout { root, cache }
    }

    pub fn cargo(&self) -> Command {
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.root);
        cmd
    }

    pub fn venv_python(&self, interp: &Interpreter) -> PathBuf {
        self.cache.join("venv").join(interp.tag).join("bin/python")
    }

    /// Whether the venv has the test dependencies (a cheap import check).
    pub fn marker_ok(&self, interp: &Interpreter) -> bool {
        Command::new(self.venv_python(interp))
            .args(["-c", "import pytest, pytest_run_parallel"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    pub fn shim_target_dir(&self, interp: &Interpreter) -> PathBuf {
        self.root.join("target/shim").join(interp.tag)
    }

    /// The directory holding `oxbind<EXT_SUFFIX>` for `interp`.
    pub fn python_path(&self, interp: &Interpreter) -> PathBuf {
        self.root.join("target/python").join(interp.tag)
    }

    /// The compatibility fixtures' extension modules for `interp`.
    pub fn fixture_dir(&self, interp: &Interpreter) -> PathBuf {
        self.root.join("target/fixtures").join(interp.tag)
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.root.join("target/release")
    }

    pub fn ext_suffix(&self, interp: &Interpreter) -> Result<String, String> {
        let out = Command::new(self.venv_python(interp))
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))",
            ])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.venv_python(interp).display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `python` for `interp`, with `oxbind` importable and the environment
    /// the tests read: the plugin directory and every interpreter's paths.
    pub fn python(&self, interp: &Interpreter) -> Command {
        let mut cmd = Command::new(self.venv_python(interp));
        cmd.current_dir(&self.root);
        cmd.env("PYTHONPATH", self.python_path(interp));
        cmd.env("OXBIND_PLUGIN_DIR", self.plugin_dir());
        cmd.env("OXBIND_INTERPRETER", interp.tag);
        cmd.env("OXBIND_FIXTURE_DIR", self.fixture_dir(interp));
        let all: Vec<String> = INTERPRETERS
            .iter()
            .map(|i| {
                format!(
                    "{}={}={}",
                    i.tag,
                    self.venv_python(i).display(),
                    self.python_path(i).display()
                )
            })
            .collect();
        cmd.env("OXBIND_INTERPRETERS", all.join(";"));
        cmd
    }
}

/// Test counts read from a JUnit XML report.
#[derive(Default)]
pub struct Counts {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn from_junit(path: &Path) -> Counts {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Counts::default();
        };
        let Some(start) = text.find("<testsuite ") else {
            return Counts::default();
        };
        let tag = &text[start..start + text[start..].find('>').unwrap_or(0)];
        let attr = |name: &str| -> u64 {
            let key = format!(" {name}=\"");
            tag.find(&key)
                .and_then(|i| tag[i + key.len()..].split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Counts {
            tests: attr("tests"),
            failures: attr("failures"),
            errors: attr("errors"),
            skipped: attr("skipped"),
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }

    pub fn passed(&self) -> u64 {
        self.tests
            .saturating_sub(self.failures + self.errors + self.skipped)
    }
}
