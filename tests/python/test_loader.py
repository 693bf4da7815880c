"""oxbind.load by name, one file per plugin name, and oxbind.plugins()
(issue 7, first part). Each test runs in a fresh interpreter, so that the
plugins it loads (and copies it makes) do not meet the suite's own."""

import json
import shutil

import pytest

from conftest import plugin_path, run_python

PLUGIN_DIR = str(plugin_path("hello").parent)


def test_load_by_name_from_oxbind_plugin_path():
    out = run_python(f"""
import oxbind
by_name = oxbind.load("hello")
print(by_name is oxbind.load({str(plugin_path("hello"))!r}), by_name.greet("Ada"))
""", env_update={"OXBIND_PLUGIN_PATH": PLUGIN_DIR})
    assert out.stdout.split() == ["True", "Hello,", "Ada!"]


def test_load_by_name_from_sys_path():
    out = run_python(f"""
import sys, oxbind
sys.path.insert(0, {PLUGIN_DIR!r})
print(oxbind.load("counter").add(2, 3))
""", env_update={"OXBIND_PLUGIN_PATH": None})
    assert out.stdout.strip() == "5"


def test_an_unknown_name_raises_module_not_found():
    out = run_python("""
import oxbind
try:
    oxbind.load("no_such_plugin")
except ModuleNotFoundError as e:
    print(e)
""", env_update={"OXBIND_PLUGIN_PATH": None})
    assert out.stdout.startswith("oxbind.load: no plugin named 'no_such_plugin': looked for "
                                 "libno_such_plugin.so and no_such_plugin.so in ")


def test_a_file_found_for_a_name_must_be_that_plugin(tmp_path):
    shutil.copy(plugin_path("hello"), tmp_path / "libgreeter.so")
    out = run_python("""
import oxbind
try:
    oxbind.load("greeter")
except ImportError as e:
    print(type(e).__name__, e)
""", env_update={"OXBIND_PLUGIN_PATH": str(tmp_path)})
    assert out.stdout.strip().endswith("libgreeter.so was found for 'greeter' but is the plugin 'hello'")


def test_two_files_claiming_one_name_raise_import_error(tmp_path):
    copy = tmp_path / "libhello.so"
    shutil.copy(plugin_path("hello"), copy)
    out = run_python(f"""
import oxbind
first = oxbind.load({str(plugin_path("hello"))!r})
try:
    oxbind.load({str(copy)!r})
except ImportError as e:
    print(e.path == {str(copy)!r})
    print(e)
print(oxbind.load({str(plugin_path("hello"))!r}) is first)
print(len(oxbind.plugins()))
""")
    same_path, message, still_same, count = out.stdout.splitlines()
    assert same_path == "True"
    assert "a different file is already loaded as plugin 'hello'" in message
    assert str(plugin_path("hello").resolve()) in message
    assert still_same == "True" and count == "1"


def test_concurrent_loads_of_two_files_with_one_name_admit_one(tmp_path):
    copy = tmp_path / "libhello.so"
    shutil.copy(plugin_path("hello"), copy)
    code = f"""
import threading, oxbind
paths = [{str(plugin_path("hello"))!r}, {str(copy)!r}] * 4
barrier = threading.Barrier(len(paths))
results = [None] * len(paths)
def load(i):
    barrier.wait()
    try:
        results[i] = oxbind.load(paths[i])
    except ImportError:
        results[i] = "refused"
threads = [threading.Thread(target=load, args=(i,)) for i in range(len(paths))]
for t in threads: t.start()
for t in threads: t.join()
modules = {{id(r) for r in results if r != "refused"}}
loaded = [p for p, r in zip(paths, results) if r != "refused"]
print(len(modules), len(set(loaded)), len(oxbind.plugins()))
"""
    for _ in range(5):
        out = run_python(code)
        assert out.stdout.split() == ["1", "1", "1"]


def test_plugins_lists_what_is_loaded():
    out = run_python(f"""
import json, oxbind
assert oxbind.plugins() == []
oxbind.load({str(plugin_path("hello"))!r})
oxbind.load({str(plugin_path("counter"))!r})
print(json.dumps(oxbind.plugins()))
""")
    plugins = json.loads(out.stdout)
    assert [p["name"] for p in plugins] == ["counter", "hello"]
    for p in plugins:
        assert p["version"] == "0.1.0"
        assert p["sdk_version"] == "0.1.1"
        assert p["free_threading_safe"] is True
        assert p["path"] == str(plugin_path(p["name"]).resolve())


def test_plugins_doc(oxbind):
    assert oxbind.plugins.__text_signature__ == "()"
    assert "sdk_version" in oxbind.plugins.__doc__
