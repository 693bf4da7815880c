"""The oxbind demo: one plugin binary, loaded into whichever interpreter runs
this script. Run it with `cargo xtask demo` (all interpreters) or
`cargo xtask python 3.13t example-plugins/demo.py`."""

import inspect
import os
import sys

import oxbind

build = "free-threaded" if not getattr(sys, "_is_gil_enabled", lambda: True)() else "with the GIL"
print(f"Python {sys.version.split()[0]} ({build}), oxbind {oxbind.__version__}, plugin ABI {oxbind.ABI_VERSION}")

plugin_dir = os.environ.get("OXBIND_PLUGIN_DIR", "target/release")
hello = oxbind.load(os.path.join(plugin_dir, "libhello.so"))
print(f"loaded {hello.__name__} {hello.__version__} from {hello.__file__}")

print(f"  hello.add(40, 2)              -> {hello.add(40, 2)}")
print(f"  hello.greet('Ada')            -> {hello.greet('Ada')!r}")
print(f"  hello.greet('Ada', punctuation='?') -> {hello.greet('Ada', punctuation='?')!r}")
print(f"  hello.scale(2.5, round=True)  -> {hello.scale(2.5, round=True)}")
print(f"  hello.reverse_bytes(b'oxbind') -> {hello.reverse_bytes(b'oxbind')!r}")
print(f"  inspect.signature(hello.greet) = {inspect.signature(hello.greet)}")

for label, call in [
    ("hello.fail('bad input')", lambda: hello.fail("bad input")),
    ("hello.add('1', 2)", lambda: hello.add("1", 2)),
    ("hello.to_u8(300)", lambda: hello.to_u8(300)),
    ("hello.boom()", hello.boom),
]:
    try:
        call()
    except Exception as exc:
        print(f"  {label:<29} raised {type(exc).__name__}: {exc}")

print(f"  after the panic, hello.add(1, 2) -> {hello.add(1, 2)}")
if hasattr(sys, "_is_gil_enabled"):
    print(f"  GIL enabled after loading: {sys._is_gil_enabled()}")
