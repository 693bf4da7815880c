"""Bad files of every kind, given to oxbind.load and oxbind.stub: each is
refused with a clear, bounded message, before anything could block, and the
process goes on to load a good plugin.

The loader stats the path before it opens anything and refuses anything but
a regular file (spec/PLUGIN-ABI.md, "Loading", check 1). Before that fix,
loading a FIFO blocked forever in open(2), so every load of a special file
runs in a subprocess with a timeout: a hang fails the test instead of the
suite."""

import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys

import pytest

from conftest import plugin_path

# A loader message shows at most 200 characters of a path or name: with the
# words around one path, it stays under this.
MESSAGE_BOUND = 400
TIMEOUT = 60


def _env():
    """The environment run_python gives a subprocess: oxbind importable."""
    env = dict(os.environ)
    env.pop("PYTHON_GIL", None)
    return env


def load_and_stub(path, *, cwd=None, setup=""):
    """In a fresh interpreter (with a timeout): runs `setup`, then
    oxbind.load(path) and oxbind.stub(path), then loads and calls a good
    plugin. Returns ([type, message, .path] for load, the same for stub,
    the good plugin's greeting)."""
    code = f"""
import json, os, socket, oxbind
{setup}
results = []
for call in (oxbind.load, oxbind.stub):
    try:
        call({str(path)!r})
        results.append(["no error", "", None])
    except Exception as e:
        results.append([type(e).__name__, str(e), getattr(e, "path", None)])
hello = oxbind.load({str(plugin_path("hello"))!r})
results.append(hello.greet("after"))
print(json.dumps(results))
"""
    try:
        out = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=cwd,
                             capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path} did not return within {TIMEOUT} s: it hangs")
    assert out.returncode == 0, f"subprocess failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


def assert_refused(results, path, *words):
    """Both load and stub raised ImportError naming `path` and `words`, and
    the good plugin loaded after them."""
    load, stub, greeting = results
    real = os.path.realpath(path)
    for kind, message, error_path in (load, stub):
        assert kind == "ImportError", (kind, message)
        assert real in message, message
        for word in words:
            assert word in message, (word, message)
        assert len(message) < MESSAGE_BOUND, message
        assert error_path == real
    assert greeting == "Hello, after!"


def make_fifo(d):
    path = d / "libfifo.so"
    os.mkfifo(path)
    return path


def make_dir(d):
    path = d / "libdir.so"
    path.mkdir()
    return path


def block_device(d):
    """A block device: one from /dev, else a node made in `d` (the tests run
    as root on CI); with neither, the test fails saying so."""
    for entry in os.scandir("/dev"):
        try:
            if stat.S_ISBLK(os.stat(entry.path).st_mode):
                return pathlib.Path(entry.path)
        except OSError:
            continue
    path = d / "libblock.so"
    try:
        os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except OSError as e:
        pytest.fail(f"no block device in /dev, and none can be made here ({e}): the test needs one")
    return path


SPECIAL = [
    ("fifo", make_fifo, "it is a named pipe (FIFO)"),
    ("character device /dev/null", lambda d: pathlib.Path("/dev/null"), "it is a character device"),
    ("character device /dev/zero", lambda d: pathlib.Path("/dev/zero"), "it is a character device"),
    ("block device", block_device, "it is a block device"),
    ("directory", make_dir, "it is a directory"),
]


@pytest.mark.parametrize("kind, make, what", SPECIAL, ids=[k[0] for k in SPECIAL])
def test_special_files_are_refused_without_opening_them(tmp_path, kind, make, what):
    path = make(tmp_path)
    assert_refused(load_and_stub(path), path, "cannot load", "not a loadable shared library", what,
                   "a plugin must be a regular file")


def test_a_socket_is_refused(tmp_path):
    # A unix socket's path is limited to about 108 bytes: bind a short,
    # relative name inside tmp_path, in the subprocess, which holds it.
    setup = "s = socket.socket(socket.AF_UNIX); s.bind('libsock.so')"
    path = tmp_path / "libsock.so"
    assert_refused(load_and_stub(path, cwd=tmp_path, setup=setup), path,
                   "not a loadable shared library", "it is a socket", "a plugin must be a regular file")


def test_a_symlink_to_a_fifo_is_refused_as_the_fifo(tmp_path):
    fifo = make_fifo(tmp_path)
    link = tmp_path / "liblink.so"
    link.symlink_to(fifo)
    # The message and .path give the file the link resolves to.
    assert_refused(load_and_stub(link), fifo, "it is a named pipe (FIFO)")


def test_a_fifo_found_by_name_is_not_a_candidate(tmp_path):
    os.mkfifo(tmp_path / "libfifoplugin.so")
    code = """
import oxbind
try:
    oxbind.load("fifoplugin")
except ModuleNotFoundError as e:
    print("ModuleNotFoundError", e)
"""
    env = dict(_env(), OXBIND_PLUGIN_PATH=str(tmp_path))
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("looking a name up next to a FIFO hangs")
    assert out.stdout.startswith("ModuleNotFoundError oxbind.load: no plugin named 'fifoplugin'"), out


def written(d, name, data):
    path = d / name
    path.write_bytes(data)
    return path


def truncated_elf(d):
    good = plugin_path("hello").read_bytes()
    return written(d, "libtruncated.so", good[: len(good) // 3])


FILES = [
    ("empty file", lambda d: written(d, "libempty.so", b""), "0 bytes: too short for an ELF header"),
    ("text file", lambda d: written(d, "libtext.so", b"this is not a library\n" * 10), "not an ELF file"),
    ("truncated ELF", truncated_elf, "truncated"),
]


@pytest.mark.parametrize("kind, make, what", FILES, ids=[k[0] for k in FILES])
def test_regular_files_that_are_not_libraries(tmp_path, kind, make, what):
    path = make(tmp_path)
    assert_refused(load_and_stub(path), path, "cannot load", "not a loadable shared library", what)


def test_an_empty_path_says_so(oxbind):
    for call, arg in [(oxbind.load, ""), (oxbind.load, b""), (oxbind.stub, "")]:
        with pytest.raises(ValueError, match=r"^oxbind\.load: the path is empty: pass the path of a plugin "
                                             r"file \(.*\) or a plugin name"):
            call(arg)


def test_an_empty_pathlike_is_the_current_directory(oxbind):
    # os.fspath(pathlib.Path("")) is ".": a directory, refused as one.
    with pytest.raises(ImportError, match="it is a directory, and a plugin must be a regular file"):
        oxbind.load(pathlib.Path(""))


def test_a_100000_character_path_gives_a_short_message(oxbind):
    path = "/" + "a" * 99_999
    with pytest.raises(ImportError) as info:
        oxbind.load(path)
    message = str(info.value)
    assert len(message) < MESSAGE_BOUND, len(message)
    assert message.startswith("oxbind.load: cannot load /aaaa") and "…" in message
    assert "File name too long" in message
    assert info.value.path == path  # the attribute keeps the whole path


def test_a_100000_character_name_gives_a_short_message(oxbind):
    with pytest.raises(ModuleNotFoundError) as info:
        oxbind.load("x" * 100_000)
    message = str(info.value)
    # The name, and the two file names looked for, at most 200 characters each.
    assert len(message) < 3 * 200 + 150, len(message)
    assert message.startswith("oxbind.load: no plugin named 'xxxx") and "…" in message


def deep_dir(base, length=3000):
    """A directory whose path is about `length` characters (below PATH_MAX)."""
    d = base
    while len(str(d)) < length:
        d = d / ("d" * 200)
    d.mkdir(parents=True)
    return d


def test_a_long_real_path_keeps_its_start_and_end(tmp_path):
    d = deep_dir(tmp_path)
    path = d / "libtext.so"
    path.write_text("this is not a library\n" * 10)
    fifo = make_fifo(d)
    for target, what in [(path, "not an ELF file"), (fifo, "it is a named pipe (FIFO)")]:
        for kind, message, error_path in load_and_stub(target)[:2]:
            assert kind == "ImportError"
            assert what in message and len(message) < MESSAGE_BOUND, message
            shown = message.split("cannot load ")[1]
            assert shown.startswith(str(tmp_path.resolve())[:50]) and "…" in shown
            assert shown.split(": ")[0].endswith("ddd/" + target.name)
            assert error_path == str(target.resolve())


def gcc():
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        # Rust links with the C toolchain, so any machine that built the
        # plugins has one.
        pytest.fail("no C compiler (gcc or cc) on PATH; the Rust toolchain needs one, and so does this test")
    return compiler


def compile_library(directory, name, source, *link):
    c = directory / f"{name}.c"
    c.write_text(source)
    out = directory / f"lib{name}.so"
    subprocess.run([gcc(), "-shared", "-fPIC", "-o", str(out), str(c), *link], check=True,
                   capture_output=True, timeout=TIMEOUT)
    return out


UNDEFINED = """
void oxbind_test_missing_symbol(void);
void oxbind_test_call_it(void) { oxbind_test_missing_symbol(); }
"""


def test_a_dlopen_failure_gives_the_dynamic_loaders_reason(oxbind, tmp_path):
    path = compile_library(tmp_path, "undefined", UNDEFINED)
    with pytest.raises(ImportError) as info:
        oxbind.load(path)
    message = str(info.value)
    assert "not a loadable shared library (dlopen: " in message, message
    assert "undefined symbol: oxbind_test_missing_symbol" in message, message
    # The path is given once, by oxbind, not repeated by dlerror.
    assert message.count(path.name) == 1, message


def test_a_missing_dependency_is_named(oxbind, tmp_path):
    dep = compile_library(tmp_path, "oxbind_test_gone_dependency", "int oxbind_test_dep(void) { return 1; }")
    path = compile_library(tmp_path, "needs", "int oxbind_test_dep(void);\nint f(void) { return oxbind_test_dep(); }",
                           f"-L{tmp_path}", "-loxbind_test_gone_dependency")
    dep.unlink()
    with pytest.raises(ImportError,
                       match=r"dlopen: liboxbind_test_gone_dependency\.so: cannot open shared object file"):
        oxbind.load(path)


def test_a_dlopen_failure_under_a_long_path_is_bounded(oxbind, tmp_path):
    d = deep_dir(tmp_path)
    path = compile_library(d, "undefined", UNDEFINED)
    with pytest.raises(ImportError) as info:
        oxbind.load(path)
    message = str(info.value)
    assert len(message) < MESSAGE_BOUND, len(message)
    assert "undefined symbol: oxbind_test_missing_symbol" in message and "…" in message
