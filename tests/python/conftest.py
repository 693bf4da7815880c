"""Shared fixtures for the oxbind pytest suites.

The suite runs under `cargo xtask test`, which sets:
- OXBIND_PLUGIN_DIR: where the example plugins were built (target/release);
- OXBIND_INTERPRETER: the tag of the running interpreter (3.13t, 3.13, 3.11);
- OXBIND_INTERPRETERS: "tag=python=pythonpath;..." for every interpreter,
  so a test can run the same plugin file under all of them.
"""

import os
import pathlib
import sys
import sysconfig

import pytest

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite with `cargo xtask test`", returncode=2)
    return value


def plugin_path(name):
    """The path of the built example plugin `name`."""
    path = pathlib.Path(_require_env("OXBIND_PLUGIN_DIR")) / f"lib{name}.so"
    if not path.exists():
        pytest.fail(f"plugin {name} is not built at {path}")
    return path


def interpreters():
    """{tag: (python executable, PYTHONPATH with oxbind)} for every interpreter."""
    result = {}
    for entry in _require_env("OXBIND_INTERPRETERS").split(";"):
        tag, python, pythonpath = entry.split("=", 2)
        result[tag] = (python, pythonpath)
    return result


@pytest.fixture(scope="session")
def oxbind():
    import oxbind as module

    return module


@pytest.fixture(scope="session")
def hello(oxbind):
    return oxbind.load(plugin_path("hello"))


@pytest.fixture(scope="session")
def geometry(oxbind):
    return oxbind.load(plugin_path("geometry"))


@pytest.fixture(scope="session")
def physics(oxbind, geometry):
    return oxbind.load(plugin_path("physics"))


@pytest.fixture(scope="session")
def counter(oxbind):
    return oxbind.load(plugin_path("counter"))


def run_python(code, *, extra_path=(), check=True, env_update=None, timeout=120):
    """Runs `code` in a fresh interpreter of the running kind, with oxbind,
    the standalone example modules and `extra_path` importable. Returns the
    CompletedProcess (stdout and stderr as text). `env_update` sets (or,
    with None values, removes) environment variables. A run longer than
    `timeout` seconds fails the test (subprocess.TimeoutExpired)."""
    import subprocess

    path = [*map(str, extra_path), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
    env.pop("PYTHON_GIL", None)
    for key, value in (env_update or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"subprocess failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def fixture_dir():
    """The compatibility fixtures' directory (built by `cargo xtask build`)."""
    path = pathlib.Path(_require_env("OXBIND_FIXTURE_DIR"))
    if not path.is_dir():
        pytest.fail(f"the compatibility fixtures are not built at {path}: run `cargo xtask build`")
    return path


def expected_gil_state():
    """What `sys._is_gil_enabled()` must say in a process that imported
    oxbind and loaded plugins: False on free-threaded builds (the GIL stays
    off), True on 3.13 with the GIL, and "absent" on 3.11, which has no such
    function."""
    if FREE_THREADED:
        return False
    return True if hasattr(sys, "_is_gil_enabled") else "absent"


GIL_STATE = 'getattr(sys, "_is_gil_enabled", lambda: "absent")()'



def pytest_configure(config):
    # pytest-run-parallel registers this marker; declare it for plain runs too.
    config.addinivalue_line("markers", "thread_unsafe: do not run this test in several threads at once")


def pytest_collection_modifyitems(config, items):
    # nanobind's test_thread.py (tests/python/nanobind/, copied unchanged)
    # runs 8 threads per test already: not again under pytest-run-parallel.
    for item in items:
        if "nanobind" in item.path.parts:
            item.add_marker(pytest.mark.thread_unsafe)


# The module `import test_thread_ext` finds (it loads the plugin), not a test
# file, whatever its name says.
collect_ignore = ["nanobind/test_thread_ext.py"]
