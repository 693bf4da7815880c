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
    ("hello.add(2**63 - 1, 1)", lambda: hello.add(2**63 - 1, 1)),
    ("hello.boom()", hello.boom),
]:
    try:
        call()
    except Exception as exc:
        print(f"  {label:<29} raised {type(exc).__name__}: {exc}")

print(f"  after the panic, hello.add(1, 2) -> {hello.add(1, 2)}")
if hasattr(sys, "_is_gil_enabled"):
    print(f"  GIL enabled after loading: {sys._is_gil_enabled()}")

# Classes shared across plugins: geometry owns Point; physics uses it.
geometry = oxbind.load(os.path.join(plugin_dir, "libgeometry.so"))
physics = oxbind.load(os.path.join(plugin_dir, "libphysics.so"))
P = geometry.Point
body = physics.Body((1, 2), mass=3.0)          # a (x, y) tuple converts to a Point
print(f"\n  {body!r}")
print(f"  body.position is body.position  -> {body.position is body.position}")
pos = body.position
del body                                        # pos keeps the body alive
print(f"  after del body, pos             -> {pos!r}")
print(f"  physics.distance(P(0, 0), (3, 4)) -> {physics.distance(P(0, 0), (3, 4))}")
c = physics.centroid([P(0, 0), (2, 0), (1, 3)])
print(f"  physics.centroid(...)           -> {c!r}, a {type(c).__module__}.{type(c).__qualname__}")
poly = geometry.Polygon([P(0, 0), P(4, 0), P(4, 3)])
print(f"  {poly!r}: area {poly.area()}, corners {list(poly)}")
try:
    physics.Body((0, 0), mass=float("nan"))
except ValueError as exc:
    print(f"  physics.Body((0, 0), mass=nan)  raised ValueError: {exc}")

# Python objects and callbacks: callables in, closures out, Rust threads calling Python.
callbacks = oxbind.load(os.path.join(plugin_dir, "libcallbacks.so"))
print(f"\n  callbacks.map(str.upper, ['a', 'b']) -> {callbacks.map(str.upper, ['a', 'b'])}")
print(f"  callbacks.sort_by(['ccc', 'a', 'bb'], len) -> {callbacks.sort_by(['ccc', 'a', 'bb'], len)}")
triple = callbacks.scaler(3.0)                  # a Rust closure, as a Python function
print(f"  triple = callbacks.scaler(3.0); triple(x=2) -> {triple(x=2)}, signature {inspect.signature(triple)}")
seen = []
hub = callbacks.EventHub()
hub.subscribe(lambda event, value: seen.append(value))
calls = hub.emit_from_worker("tick", 5)         # a Rust worker thread calls the handler
print(f"  hub.emit_from_worker('tick', 5) -> {calls} calls, handler saw {seen}")


class Invalid(Exception):
    pass


def reject():
    raise Invalid("raised in Python, returned through Rust")


try:
    callbacks.call_through(reject)
except Invalid as exc:
    print(f"  callbacks.call_through(reject) raised {type(exc).__name__}: {exc} (the same object)")
