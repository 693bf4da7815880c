"""The shared internals: one runtime per interpreter across the oxbind
module, standalone extension modules and loaded plugins; race-free
publication; version and layout checks between shim copies; the type
registry; subinterpreters."""

import gc
import json
import sys
import weakref

import pytest

from conftest import FREE_THREADED, fixture_dir, plugin_path, run_python


def run_checks(body):
    """Runs `body` (asserts) in a fresh interpreter, with standalone modules
    importable: in the suite's own process the session's loaded plugins
    hold the names geometry and counter (one file per plugin name)."""
    out = run_python("import json, sys, oxbind\n" + body + "\nprint('checked')\n")
    assert out.stdout.splitlines()[-1] == "checked"


def test_one_runtime_across_extension_modules_and_plugins():
    run_checks(f"""
hello = oxbind.load({str(plugin_path("hello"))!r})
import counter, geometry, strings
FREE_THREADED = {FREE_THREADED!r}
def shared_view(info):  # what every copy on one runtime must agree on
    return {{k: v for k, v in info.items() if k != "this_copy"}}
views = [oxbind.internals_info(), geometry.__oxbind__.internals_info(),
         counter.__oxbind__.internals_info(), strings.__oxbind__.internals_info()]
assert all(shared_view(v) == shared_view(views[0]) for v in views), views
info = views[0]
assert info["free_threaded"] is FREE_THREADED
assert info["key"] == ("__oxbind_internals_v0_1_ft__" if FREE_THREADED else "__oxbind_internals_v0_1__"), info
modules = [c.split()[0] for c in info["copies"]]
assert sorted(modules) == ["counter", "geometry", "oxbind", "strings"], modules
# Each copy knows which one it is.
assert views[1]["this_copy"].startswith("geometry (shim 0.1.0"), views[1]
# Plugins from every side are in one table: the loaded plugin and the three modules.
assert info["plugins"] == 4, info
assert oxbind.load(geometry.__file__) is geometry
assert hello.add(1, 2) == 3 and geometry.distance(0, 0, 3, 4) == 5.0
""")


def test_exact_counts_in_a_fresh_process():
    code = f"""
import json, geometry, counter, strings, oxbind
oxbind.load({str(plugin_path('hello'))!r})
infos = [m.internals_info() for m in (oxbind, geometry.__oxbind__, counter.__oxbind__, strings.__oxbind__)]
print(json.dumps(infos))
"""
    infos = json.loads(run_python(code).stdout)
    assert len({i["runtime_id"] for i in infos}) == 1
    for i in infos:
        # geometry.Point, geometry.Polygon, the enum geometry.Axis, counter.Counter
        # and counter.Tally.
        assert i["plugins"] == 4 and i["types"] == 5
        assert i["copies"] == [
            "geometry (shim 0.1.0, internals ABI 0.1.2)",
            "counter (shim 0.1.0, internals ABI 0.1.2)",
            "strings (shim 0.1.0, internals ABI 0.1.2)",
            "oxbind (shim 0.1.0, internals ABI 0.1.2)",
        ]
        assert i["creator"] == "oxbind-shim 0.1.0 (geometry)"
    assert infos[1]["this_copy"].endswith("copy #0, creator)")


PARALLEL_IMPORTS = """
import importlib, json, sys, threading
names = ["geometry", "counter", "strings", "oxbind"] * 2
barrier = threading.Barrier(len(names))
modules = [None] * len(names)
def worker(i):
    barrier.wait()
    modules[i] = importlib.import_module(names[i])
threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(names))]
for t in threads: t.start()
for t in threads: t.join()
views = []
for m in modules:
    info = (m if m.__name__ == "oxbind" else m.__oxbind__).internals_info()
    views.append((info["runtime_id"], sorted(c.split()[0] for c in info["copies"])))
print(json.dumps({"views": views, "gil": getattr(sys, "_is_gil_enabled", lambda: True)()}))
"""


def test_concurrent_imports_publish_exactly_one_runtime():
    for _ in range(10):
        result = json.loads(run_python(PARALLEL_IMPORTS).stdout)
        assert len({rid for rid, _ in result["views"]}) == 1, result
        for _, copies in result["views"]:
            assert copies == ["counter", "geometry", "oxbind", "strings"], result
        if FREE_THREADED:
            assert result["gil"] is False


# --- compatibility between shim copies of different internals versions ---

def info_of(module_expr):
    return f"json.dumps({module_expr}.internals_info())"


def test_older_copy_joins_a_newer_runtime():
    out = run_python(f"""
import json, compat_minor, oxbind
print({info_of('compat_minor.__oxbind__')}); print({info_of('oxbind')})
""", extra_path=[fixture_dir()])
    newer, older = map(json.loads, out.stdout.splitlines())
    assert newer["runtime_id"] == older["runtime_id"]
    assert newer["abi_version"] == older["abi_version"] == "0.1.3"
    assert newer["creator"] == "oxbind-shim 0.1.0 (compat_minor)"
    assert older["copies"] == ["compat_minor (shim 0.1.0, internals ABI 0.1.3)", "oxbind (shim 0.1.0, internals ABI 0.1.2)"]
    # The newer copy reads the field it appended, from its own runtime.
    assert newer["extension_field"] == "appended by the newer-minor fixture"
    assert out.stderr == ""


def test_newer_copy_joins_an_older_runtime():
    out = run_python(f"""
import json, oxbind, compat_minor
print({info_of('compat_minor.__oxbind__')}); print({info_of('oxbind')})
assert compat_minor.which() == "compat_minor"
""", extra_path=[fixture_dir()])
    newer, older = map(json.loads, out.stdout.splitlines())
    assert newer["runtime_id"] == older["runtime_id"]
    assert newer["abi_version"] == "0.1.2"
    assert newer["creator"] == "oxbind-shim 0.1.0 (oxbind)"
    # The field the older creator never had reads as absent.
    assert newer["extension_field"] is None
    assert out.stderr == ""


@pytest.mark.parametrize("first", ["oxbind", "compat_major"])
def test_incompatible_major_runs_separately_with_a_warning(first):
    second = "compat_major" if first == "oxbind" else "oxbind"
    out = run_python(f"""
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import {first}, {second}
import oxbind, compat_major
print(json.dumps([str(w.message) for w in caught if w.category is RuntimeWarning]))
print({info_of('oxbind')}); print({info_of('compat_major.__oxbind__')})
assert compat_major.which() == "compat_major"
assert compat_major.__oxbind__.PanicError is not oxbind.PanicError
""", extra_path=[fixture_dir()])
    warnings, ours, theirs = map(json.loads, out.stdout.splitlines())
    assert len(warnings) == 1, warnings
    late = second
    assert warnings[0].startswith(f"{late} uses oxbind internals ABI")
    assert "0.2.0" in warnings[0] and "0.1.2" in warnings[0]
    assert "separate runtime" in warnings[0]
    assert ours["runtime_id"] != theirs["runtime_id"]
    assert ours["abi_version"] == "0.1.2" and theirs["abi_version"] == "0.2.0"
    assert theirs["key"].startswith("__oxbind_internals_v0_2")


def test_same_version_with_a_different_layout_is_refused():
    out = run_python(f"""
import oxbind
try:
    import compat_bad
except ImportError as e:
    print(e)
else:
    raise SystemExit("compat_bad was accepted")
h = oxbind.load({str(plugin_path('hello'))!r})
assert h.add(2, 2) == 4
print(len(oxbind.internals_info()["copies"]))
""", extra_path=[fixture_dir()])
    message, copies = out.stdout.splitlines()
    assert message.startswith("compat_bad: cannot join oxbind's shared internals")
    assert "internals ABI 0.1.2 (theirs) and 0.1.2 (this copy)" in message
    assert "field 'runtime_id': mismatched type (expected u64, found u32)" in message
    assert copies == "1"  # the refused copy joined nothing


def test_a_bad_creator_does_not_corrupt_later_copies():
    out = run_python("""
import compat_bad
try:
    import oxbind
except ImportError as e:
    print(e)
else:
    raise SystemExit("oxbind joined a runtime with a different layout")
assert compat_bad.which() == "compat_bad"
""", extra_path=[fixture_dir()])
    assert "field 'runtime_id': mismatched type" in out.stdout


# --- the type registry ---

def test_types_registered_by_one_copy_are_found_by_all():
    run_checks("""
import counter, geometry, strings
class Registered:
    pass
before = oxbind.internals_info()["types"]
assert counter.__oxbind__._register_type("tests.Registered", Registered) is True
for side in (oxbind, geometry.__oxbind__, strings.__oxbind__, counter.__oxbind__):
    assert side._find_type("tests.Registered") == ("tests.Registered", Registered, "<diagnostics>")
    assert side._find_type(Registered) == ("tests.Registered", Registered, "<diagnostics>")
# A second registration of the key does not replace the first.
assert geometry.__oxbind__._register_type("tests.Registered", int) is False
assert oxbind._find_type("tests.Registered")[1] is Registered
assert oxbind._find_type(int) is None
assert oxbind.internals_info()["types"] == before + 1
assert oxbind._find_type("tests.never-registered") is None
""")


@pytest.mark.thread_unsafe
def test_registered_types_are_never_freed(oxbind):
    Kept = type("Kept", (), {})
    ref = weakref.ref(Kept)
    oxbind._register_type("tests.Kept", Kept)
    del Kept
    gc.collect()
    assert ref() is not None
    assert oxbind._find_type("tests.Kept")[1] is ref()


def test_registry_arguments_are_checked(oxbind):
    with pytest.raises(TypeError, match=r"_register_type\(\) argument 'type' must be a type, not int"):
        oxbind._register_type("k", 3)
    with pytest.raises(TypeError, match=r"_find_type\(\) argument 'key_or_type' must be str or type, not float"):
        oxbind._find_type(1.5)


def test_registry_lookups_from_many_threads():
    run_checks("""
import threading
import geometry
classes = [type(f"C{i}", (), {}) for i in range(16)]
for i, c in enumerate(classes):
    oxbind._register_type(f"tests.threads.{i}", c)
barrier = threading.Barrier(8)
errors = []
def worker(n):
    barrier.wait()
    side = geometry.__oxbind__ if n % 2 else oxbind
    for _ in range(200):
        for i, c in enumerate(classes):
            if side._find_type(c)[0] != f"tests.threads.{i}" or side._find_type(f"tests.threads.{i}")[1] is not c:
                errors.append((n, i))
threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert errors == [], errors[:5]
""")


# --- subinterpreters ---

SUBINTERPRETER = """
try:
    import _interpreters as interpreters
except ImportError:
    import _xxsubinterpreters as interpreters
import {main_first}
iid = interpreters.create()
for name in ("oxbind", "geometry"):
    try:
        result = interpreters.run_string(iid, f"import {{name}}")
    except Exception as e:  # 3.11 raises RunFailedError
        result = str(e)
    text = str(result)
    assert "ImportError" in text and "subinterpreters" in text, text
    print("refused", name)
import oxbind, geometry
assert geometry.distance(0, 0, 0, 2) == 2.0
print("main ok")
"""


@pytest.mark.parametrize("main_first", ["sys", "oxbind, geometry"])
def test_subinterpreters_get_a_clear_import_error(main_first):
    out = run_python(SUBINTERPRETER.format(main_first=main_first))
    assert out.stdout.split("\n")[:3] == ["refused oxbind", "refused geometry", "main ok"]
