"""`oxbind.load` in the foundation slice: paths, caching, and clear errors
for files that are not plugins. (The full bad-plugin suite is
test_bad_plugins.py, with the loader issue.)"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import GIL_STATE, expected_gil_state, plugin_path


def test_load_returns_the_same_module_for_the_same_file(oxbind, hello):
    path = plugin_path("hello")
    assert oxbind.load(path) is hello
    assert oxbind.load(str(path)) is hello
    # A different spelling of the same file is the same plugin.
    assert oxbind.load(os.path.join(str(path.parent), ".", path.name)) is hello


def test_load_accepts_path_like_objects(oxbind, hello):
    class Custom:
        def __fspath__(self):
            return str(plugin_path("hello"))

    assert oxbind.load(Custom()) is hello
    assert oxbind.load(os.fsencode(str(plugin_path("hello")))) is hello


def test_load_rejects_a_non_path(oxbind):
    with pytest.raises(TypeError, match=r"^load\(\) argument 'path' must be str or os.PathLike, not int$"):
        oxbind.load(3)


def test_missing_file_is_an_import_error_with_the_path(oxbind, tmp_path):
    missing = tmp_path / "nope.so"
    with pytest.raises(ImportError, match="cannot load .*nope.so: No such file") as info:
        oxbind.load(missing)
    assert info.value.path == str(missing)


def test_a_text_file_is_not_a_shared_library(oxbind, tmp_path):
    fake = tmp_path / "fake.so"
    fake.write_text("this is not ELF\n")
    with pytest.raises(ImportError, match="not a loadable shared library") as info:
        oxbind.load(fake)
    assert info.value.path == str(fake.resolve())


def test_a_library_without_the_root_is_refused(oxbind):
    # The shim itself is a shared library, but not a plugin.
    with pytest.raises(ImportError, match="does not export the symbol OXBIND_PLUGIN_ROOT"):
        oxbind.load(oxbind.__file__)


def test_oxbind_module_metadata(oxbind):
    assert oxbind.__version__ == "0.1.0"
    assert oxbind.ABI_VERSION == "0.1.10"  # the plugin ABI (oxbind-abi) version
    assert oxbind.load.__text_signature__ == "(path_or_name)"
    assert oxbind.PanicError.__module__ == "oxbind"


def test_gil_state_after_import_and_load():
    """On 3.13t importing oxbind and loading a plugin leaves the GIL off
    (no RuntimeWarning about re-enabling it either); on GIL builds the GIL
    is simply there."""
    code = (
        "import json, sys, oxbind\n"
        f"before = {GIL_STATE}\n"
        f"h = oxbind.load({str(plugin_path('hello'))!r})\n"
        "h.add(1, 2); h.greet('x')\n"
        f"print(json.dumps([before, {GIL_STATE}]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                         env=env, capture_output=True, text=True, check=True)
    expected = expected_gil_state()
    assert json.loads(out.stdout) == [expected, expected]
