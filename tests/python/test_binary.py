"""One plugin binary, three interpreters: the same `.so` file, built once,
has no Python dependency and loads under 3.13t, 3.13 and 3.11."""

import hashlib
import json
import shutil
import subprocess

import pytest

from conftest import interpreters, plugin_path

# binutils come with the C toolchain Rust links with, so they are always
# here where the plugins were built; their absence is a broken machine.
READELF = shutil.which("readelf")
NM = shutil.which("nm")


def dynamic_needed(path):
    out = subprocess.run([READELF, "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def undefined_symbols(path):
    out = subprocess.run([NM, "-D", "--undefined-only", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def test_plugin_has_no_python_dependency(oxbind):
    assert READELF and NM, "readelf and nm (binutils) are needed to inspect the plugin"
    plugin = plugin_path("hello")
    needed = dynamic_needed(plugin)
    assert needed, "readelf found no NEEDED entries at all; the check would be vacuous"
    assert not [n for n in needed if "python" in n.lower()], needed
    assert not [s for s in undefined_symbols(plugin) if s.startswith(("Py", "_Py"))]
    # The same checks do see Python symbols in the shim, so they are not vacuous.
    assert any(s.startswith("Py") for s in undefined_symbols(oxbind.__file__))


SCRIPT = """
import json, sys, oxbind
h = oxbind.load(sys.argv[1])
try:
    h.boom()
    panicked = False
except oxbind.PanicError:
    panicked = True
try:
    h.add("x", 1)
    type_error = None
except TypeError as e:
    type_error = str(e)
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
    "add": h.add(40, 2),
    "greet": h.greet("Ada"),
    "panicked": panicked,
    "after_panic": h.add(1, 1),
    "type_error": type_error,
}))
"""


def test_the_same_plugin_file_works_under_every_interpreter():
    plugin = plugin_path("hello")
    digest_before = hashlib.sha256(plugin.read_bytes()).hexdigest()
    results = {}
    for tag, (python, pythonpath) in interpreters().items():
        out = subprocess.run([python, "-c", SCRIPT, str(plugin)], env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True)
        assert out.returncode == 0, f"{tag}: {out.stderr}"
        results[tag] = json.loads(out.stdout)
    assert set(results) == {"3.13t", "3.13", "3.11"}
    assert results["3.13t"]["version"] == [3, 13] and results["3.13t"]["gil"] is False
    assert results["3.13"]["version"] == [3, 13] and results["3.13"]["gil"] is True
    assert results["3.11"]["version"] == [3, 11]
    for tag, r in results.items():
        assert r["add"] == 42, tag
        assert r["greet"] == "Hello, Ada!", tag
        assert r["panicked"] is True and r["after_panic"] == 2, tag
        assert r["type_error"] == "add() argument 'a' must be int, not str", tag
    # Nothing rebuilt the file in between: one binary served all three.
    assert hashlib.sha256(plugin.read_bytes()).hexdigest() == digest_before
