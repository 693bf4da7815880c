"""`oxbind.load` in the foundation slice: paths, caching, and clear errors
for files that are not plugins. (The full bad-plugin suite is
test_bad_plugins.py, with the loader issue.)"""

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import FREE_THREADED, plugin_path


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
    assert oxbind.ABI_VERSION == "0.1.0"
    assert "load(path)" in oxbind.load.__doc__ or oxbind.load.__text_signature__ == "(path)"
    assert oxbind.load.__text_signature__ == "(path)"
    assert oxbind.PanicError.__module__ == "oxbind"


@pytest.mark.skipif(not FREE_THREADED, reason="the GIL only exists to stay off on free-threaded builds")
def test_gil_stays_disabled_after_import_and_load():
    code = (
        "import sys, oxbind\n"
        "assert not sys._is_gil_enabled(), 'import enabled the GIL'\n"
        f"h = oxbind.load({str(plugin_path('hello'))!r})\n"
        "h.add(1, 2); h.greet('x')\n"
        "print(sys._is_gil_enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(FREE_THREADED, reason="GIL builds only")
def test_gil_build_reports_the_gil(oxbind):
    # On GIL builds there is nothing to disable; the attribute is 3.13+ only.
    if hasattr(sys, "_is_gil_enabled"):
        assert sys._is_gil_enabled()
