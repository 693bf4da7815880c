"""oxbind.stub(module): .pyi type stubs generated from a plugin's registered
signatures. Each stub must parse, cover every exported function, class,
method and property, agree with the runtime's signatures, and resolve every
name it uses."""

import ast
import inspect
import types
import typing

import pytest

from conftest import plugin_path, run_python

PLUGINS = ["hello", "geometry", "physics", "counter", "strings", "leaky", "callbacks", "protocol", "nbthread", "linalg"]

# Special methods oxbind fills from a plugin's slots, which the type then
# carries in its own __dict__ (the comparisons are left out: CPython adds
# all six wrappers whenever one comparison slot is filled).
SLOT_DUNDERS = {"__repr__", "__str__", "__hash__", "__add__", "__sub__", "__mul__", "__truediv__",
                "__neg__", "__len__", "__getitem__", "__bool__", "__iter__"}


@pytest.fixture(scope="module")
def loaded(oxbind, geometry):
    # geometry first: physics's parameters name its conversions.
    return {name: oxbind.load(plugin_path(name)) for name in PLUGINS}


def defs(body):
    """{name: [FunctionDef, ...]} of a module or class body (and an enum's
    members, `Red = 1`)."""
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                out.setdefault(target.id, []).append(node)
    return out


def public(namespace):
    return {n for n, v in namespace.items() if not n.startswith("_") and callable(v)}


@pytest.mark.parametrize("name", PLUGINS)
def test_the_stub_parses_and_covers_every_export(oxbind, loaded, name):
    module = loaded[name]
    stub = oxbind.stub(module)
    tree = ast.parse(stub)
    top = defs(tree.body)
    assert set(top) == public(vars(module))
    for cname, (node,) in ((n, v) for n, v in top.items() if isinstance(v[0], ast.ClassDef)):
        cls = getattr(module, cname)
        members = defs(node.body)
        runtime = {n for n, v in vars(cls).items() if not n.startswith("_")}
        assert {n for n in members if not n.startswith("_")} == runtime, cname
        dunders = {n for n, v in vars(cls).items() if n in SLOT_DUNDERS and v is not None}
        assert dunders <= set(members), (cname, dunders - set(members))
        if cls.__text_signature__ is not None:
            assert "__init__" in members, cname
            init = members["__init__"][0]
            expected = ["self", *inspect.signature(cls).parameters]
            assert [a.arg for a in init.args.args] == expected, cname


@pytest.mark.parametrize("name", PLUGINS)
def test_the_stub_agrees_with_the_runtime_signatures(oxbind, loaded, name):
    module = loaded[name]
    tree = ast.parse(oxbind.stub(module))
    for fname, nodes in defs(tree.body).items():
        obj = getattr(module, fname)
        if isinstance(nodes[0], ast.ClassDef):
            for mname, mnodes in defs(nodes[0].body).items():
                member = vars(obj).get(mname)
                if (len(mnodes) != 1 or mname.startswith("_") or isinstance(member, types.GetSetDescriptorType)
                        or isinstance(mnodes[0], ast.Assign)):  # an enum member
                    continue
                params = list(inspect.signature(member).parameters)
                args = [a.arg for a in mnodes[0].args.args]
                assert args == params or args == ["self", *params], (fname, mname, args, params)
        elif len(nodes) == 1:
            assert [a.arg for a in nodes[0].args.args] == list(inspect.signature(obj).parameters), fname


@pytest.mark.parametrize("name", PLUGINS)
def test_every_name_in_the_stub_resolves(oxbind, loaded, name):
    namespace = {"__name__": f"stub_{name}"}
    exec(compile(oxbind.stub(loaded[name]), f"{name}.pyi", "exec"), namespace)

    def check(func):
        for f in typing.get_overloads(func) or [func] if hasattr(typing, "get_overloads") else [func]:
            typing.get_type_hints(f)

    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__ == namespace["__name__"]:
            for member in vars(value).values():
                if isinstance(member, property):
                    check(member.fget)
                elif isinstance(member, staticmethod):
                    check(member.__func__)
                elif inspect.isfunction(member):
                    check(member)
        elif inspect.isfunction(value) and value.__module__ == namespace["__name__"]:
            check(value)


def test_stub_contents(oxbind, loaded):
    geometry = oxbind.stub(loaded["geometry"])
    assert "def midpoint(a: Point | tuple[float, float], b: Point | tuple[float, float]) -> Point:" in geometry
    assert "@overload\ndef scaled(polygon: Polygon, factor: float) -> Polygon:" in geometry
    assert "    def __iter__(self) -> Iterator[Point]: ..." in geometry
    assert "    @staticmethod\n    def origin() -> Point:" in geometry
    assert "    @x.setter\n    def x(self, value: float) -> None: ..." in geometry
    assert geometry.startswith('"""Plane geometry: Point, Polygon and friends."""\n'
                               "# Generated by oxbind 0.1.0 from the registered signatures of plugin 'geometry' 0.1.0.\n")
    physics = oxbind.stub(loaded["physics"])
    assert "\nimport geometry\n" in physics
    # `&mut` parameters take no implicit conversions.
    assert "def nudge(p: geometry.Point, dx: float, dy: float) -> None:" in physics
    assert "def total_mass(bodies: list[Body] | tuple[Body, ...]) -> float:" in physics
    counter = oxbind.stub(loaded["counter"])
    assert "def total(counts: dict[str, int]) -> int:" in counter
    assert "@final\nclass Counter:" in counter
    assert "    @property\n    def value(self) -> int:" in counter
    hello = oxbind.stub(loaded["hello"])
    assert "def greet(name: str, punctuation: str = '!') -> str:" in hello
    assert "final" not in hello and "overload" not in hello  # only what is used is imported


def test_stub_takes_a_name_or_a_path(oxbind, loaded):
    assert oxbind.stub("counter") == oxbind.stub(loaded["counter"])
    assert oxbind.stub(str(plugin_path("strings"))) == oxbind.stub(loaded["strings"])


def test_stub_refuses_what_oxbind_did_not_load(oxbind):
    with pytest.raises(TypeError, match=r"stub\(\) argument 'module' must be a module that oxbind loaded, not <module 'json'"):
        import json
        oxbind.stub(json)
    with pytest.raises(TypeError, match=r"load\(\) argument 'path' must be str or os.PathLike, not float"):
        oxbind.stub(1.5)
    assert "generated from its registered signatures" in oxbind.stub.__doc__
    assert oxbind.stub.__text_signature__ == "(module)"


def test_a_standalone_module_has_the_same_stub(oxbind, loaded):
    out = run_python("import oxbind, counter\nprint(oxbind.stub(counter), end='')")
    assert out.stdout == oxbind.stub(loaded["counter"])
