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
