"""The bad-plugin fixture set: files that `oxbind.load` must refuse with a
clear ImportError, never a crash. Each kind is made at test time from a
good plugin (`libhello.so`), by patching one field of its frozen root
(spec/PLUGIN-ABI.md, "The root symbol"), or is a file that is not a plugin
at all. Each entry: (kind, build(directory) -> path, the message it must
give)."""

import pathlib
import shutil
import struct
import subprocess

from conftest import plugin_path

ROOT = "OXBIND_PLUGIN_ROOT"


def root_offset(path):
    """The file offset of the plugin root: its symbol's address, mapped
    through the section that holds it (readelf ships with the toolchain)."""
    symbols = subprocess.run(["readelf", "-sW", str(path)], capture_output=True, text=True, check=True).stdout
    value, index = next((int(f[1], 16), int(f[6])) for f in (line.split() for line in symbols.splitlines())
                        if len(f) >= 8 and f[7] == ROOT)
    sections = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    for line in sections.splitlines():
        line = line.replace("[ ", "[")
        fields = line.split()
        if fields and fields[0] == f"[{index}]":
            addr, offset = int(fields[3], 16), int(fields[4], 16)
            return value - addr + offset
    raise AssertionError(f"no section {index} in {path}")


def patched(directory, name, at, data):
    """A copy of the good plugin with `data` written at root offset `at`."""
    path = pathlib.Path(directory) / name
    shutil.copy(plugin_path("hello"), path)
    offset = root_offset(path)
    with open(path, "r+b") as f:
        f.seek(offset + at)
        f.write(data)
    return path


def written(directory, name, content):
    path = pathlib.Path(directory) / name
    path.write_bytes(content)
    return path


def renamed(directory, name, old, new):
    """A copy of the leaky fixture plugin with every occurrence of the bytes
    `old` replaced by `new` (same length): a descriptor the plugin's own
    macros would never produce."""
    assert len(old) == len(new)
    data = plugin_path("leaky").read_bytes()
    assert old in data, old
    path = pathlib.Path(directory) / name
    path.write_bytes(data.replace(old, new))
    return path


def truncated(directory):
    good = plugin_path("hello").read_bytes()
    return written(directory, "libtruncated.so", good[: len(good) // 3])


def good_library_without_root(directory):
    # A real shared library that is not a plugin: the C library.
    libc = subprocess.run(["gcc", "-print-file-name=libc.so.6"], capture_output=True, text=True).stdout.strip()
    path = pathlib.Path(directory) / "libnotaplugin.so"
    shutil.copy(libc, path)
    return path


KINDS = [
    ("empty file", lambda d: written(d, "libempty.so", b""), "not a loadable shared library"),
    ("text file", lambda d: written(d, "libtext.so", b"this is not a library\n"), "not a loadable shared library"),
    ("truncated library", truncated, "not a loadable shared library"),
    ("library without the root symbol", good_library_without_root, f"does not export the symbol {ROOT}"),
    ("wrong magic", lambda d: patched(d, "libmagic.so", 0, b"not-an-oxbind!!!"), "does not start with the oxbind magic bytes"),
    ("unknown root version", lambda d: patched(d, "librootv.so", 16, struct.pack("<I", 99)),
     "plugin root version 99 is not supported"),
    ("abi_stable header mismatch", lambda d: patched(d, "libabihdr.so", 24 + 32, struct.pack("<I", 77)),
     "abi_stable ABI 77."),
    ("next major version", lambda d: patched(d, "libmajor.so", 64, struct.pack("<III", 1, 0, 0)),
     "oxbind ABI 1.0.0, which is incompatible"),
    ("next 0.x line", lambda d: patched(d, "libline.so", 64, struct.pack("<III", 0, 2, 0)),
     "oxbind ABI 0.2.0, which is incompatible"),
    ("newer minor version", lambda d: patched(d, "libnewer.so", 64, struct.pack("<III", 0, 1, 99)),
     "oxbind ABI 0.1.99, newer than this oxbind's ABI"),
    ("a directory", lambda d: (pathlib.Path(d) / "libdir.so").mkdir() or pathlib.Path(d) / "libdir.so",
     "not a loadable shared library"),
    ("a missing file", lambda d: pathlib.Path(d) / "libmissing.so", "No such file or directory"),
    ("function name that is not an identifier",
     lambda d: renamed(d, "libbadname.so", b"hold_briefly", b"hold-briefly"),
     "function name \"hold-briefly\" is not a Python identifier"),
    ("two classes with one name", lambda d: renamed(d, "libtwice.so", b"leaky.Node", b"leaky.Blob"),
     "Blob is exported twice"),
    ("class layout mismatch", lambda d: plugin_path("geometry").parent.parent / "fixture-plugins" / "libphysics_bad_point.so",
     "field 'x': mismatched type (expected f64, found f32)"),
]
