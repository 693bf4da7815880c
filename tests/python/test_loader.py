"""oxbind.load: by name, one file per plugin name (plugins and standalone
extension modules alike), sys.modules, plugin init and its rollback, and
oxbind.plugins(). Each test runs in a fresh interpreter, so that the plugins
it loads (and copies it makes) do not meet the suite's own."""

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
        assert p["sdk_version"] == "0.1.10"
        assert p["free_threading_safe"] is True
        assert p["path"] == str(plugin_path(p["name"]).resolve())


def test_plugins_doc(oxbind):
    assert oxbind.plugins.__text_signature__ == "()"
    assert "sdk_version" in oxbind.plugins.__doc__


def test_a_loaded_plugin_is_in_sys_modules_under_its_name():
    out = run_python(f"""
import sys, oxbind
counter = oxbind.load({str(plugin_path("counter"))!r})
import counter as imported
from counter import Counter
print(sys.modules["counter"] is counter, imported is counter, Counter is counter.Counter)
print(oxbind.load("counter") is counter, Counter.__module__)
""", env_update={"OXBIND_PLUGIN_PATH": None})
    assert out.stdout.split() == ["True", "True", "True", "True", "counter"]


def test_a_foreign_module_in_sys_modules_keeps_its_name():
    out = run_python(f"""
import sys, types, oxbind
sys.modules["hello"] = types.ModuleType("hello")
try:
    oxbind.load({str(plugin_path("hello"))!r})
except ImportError as e:
    print(e)
print(oxbind.plugins())
del sys.modules["hello"]
print(oxbind.load({str(plugin_path("hello"))!r}).greet("Ada"))
""")
    message, plugins, greeting = out.stdout.splitlines()
    assert message.endswith("sys.modules['hello'] is already <module 'hello'>, which is not this plugin")
    assert plugins == "[]"
    assert greeting == "Hello, Ada!"


STANDALONE_VS_PLUGIN = f"""
import sys, oxbind, geometry
standalone = geometry
try:
    oxbind.load({str(plugin_path("geometry"))!r})
except ImportError as e:
    print("refused:", e)
print(oxbind.load("geometry") is standalone, oxbind.load(standalone.__file__) is standalone)
"""


def test_a_standalone_module_holds_its_name_against_a_plugin():
    out = run_python(STANDALONE_VS_PLUGIN, env_update={"OXBIND_PLUGIN_PATH": None})
    refused, same = out.stdout.splitlines()
    assert refused.startswith("refused: oxbind: cannot load " + str(plugin_path("geometry").resolve()))
    assert "a different file is already loaded as plugin 'geometry'" in refused
    assert same == "True True"


def test_a_plugin_holds_its_name_against_a_standalone_module():
    out = run_python(f"""
import sys, oxbind
plugin = oxbind.load({str(plugin_path("geometry"))!r})
import geometry
print(geometry is plugin)
del sys.modules["geometry"]
try:
    import geometry
except ImportError as e:
    print("refused:", e)
""")
    same, refused = out.stdout.splitlines()
    assert same == "True"
    assert "a different file is already loaded as plugin 'geometry'" in refused
    assert str(plugin_path("geometry").resolve()) in refused


FLAKY = str(plugin_path("flaky"))

REGISTERED = """
def registered():
    info = oxbind.internals_info()
    return [info["types"], oxbind._find_type("flaky.Widget"), oxbind._find_type("flaky.Gadget"),
            "flaky" in sys.modules, [p["name"] for p in oxbind.plugins()]]
"""


@pytest.mark.parametrize("mode, cause, what", [
    ("error", "ValueError: FLAKY_INIT asks init to fail", "failed"),
    ("panic", "PanicError: FLAKY_INIT asks init to panic", "panicked"),
])
def test_a_failed_init_raises_import_error_and_registers_nothing(mode, cause, what):
    out = run_python(f"""
import os, sys, json, oxbind
{REGISTERED}
before = registered()
os.environ["FLAKY_INIT"] = {mode!r}
try:
    oxbind.load({FLAKY!r})
except ImportError as e:
    print(e)
    print(type(e.__cause__).__name__ + ": " + str(e.__cause__), e.path == {FLAKY!r})
print(json.dumps(registered() == before))
os.environ["FLAKY_INIT"] = "ok"
flaky = oxbind.load({FLAKY!r})
print(flaky.Gadget(flaky.Widget(3)).widget_size, flaky.init_counts())
print(registered()[0] == before[0] + 2, registered()[3:])
""")
    message, cause_line, nothing, works, after = out.stdout.splitlines()
    assert message == f"oxbind: cannot load flaky ({FLAKY}): its init {what}"
    assert cause_line == f"{cause} True"
    assert nothing == "true"
    assert works == "3 [2, 1]"
    assert after == "True [True, ['flaky']]"


def test_a_failed_class_registration_registers_nothing():
    # A type registered under flaky.Gadget beforehand makes the second class
    # fail: the first must not stay registered, and init must not run.
    out = run_python(f"""
import sys, json, oxbind
{REGISTERED}
class Impostor: pass
oxbind._register_type("flaky.Gadget", Impostor)
before = registered()
try:
    oxbind.load({FLAKY!r})
except ImportError as e:
    print(e)
print(json.dumps(registered() == before))
""")
    message, nothing = out.stdout.splitlines()
    assert message.startswith("flaky: cannot define class flaky.Gadget: it is already registered by plugin '<diagnostics>'")
    assert nothing == "true"


def test_concurrent_loads_of_one_plugin_build_it_once():
    out = run_python(f"""
import threading, oxbind
barrier = threading.Barrier(8)
results = [None] * 8
def load(i):
    barrier.wait()
    results[i] = oxbind.load({FLAKY!r} if i % 2 else "flaky")
threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len({{id(m) for m in results}}), results[0].init_counts(), len(oxbind.plugins()))
""", env_update={"FLAKY_INIT": "slow", "OXBIND_PLUGIN_PATH": str(plugin_path("flaky").parent)})
    assert out.stdout.split() == ["1", "[1,", "1]", "1"]


def test_a_package_shell_naming_the_file_is_replaced_and_no_other():
    out = run_python(f"""
import sys, types, oxbind
shell = types.ModuleType("hello")
shell.__oxbind_plugin_file__ = {str(plugin_path("counter"))!r}  # another file
sys.modules["hello"] = shell
try:
    oxbind.load({str(plugin_path("hello"))!r})
except ImportError as e:
    print("refused")
shell.__oxbind_plugin_file__ = {str(plugin_path("hello").parent / "." / "libhello.so")!r}
hello = oxbind.load({str(plugin_path("hello"))!r})
print(sys.modules["hello"] is hello, hello.greet("Ada"))
""")
    assert out.stdout.splitlines() == ["refused", "True Hello, Ada!"]
