"""geometry and physics as standalone extension modules (each embedding its
own shim copy), in either import order, and mixed with plugins loaded by
oxbind.load. Each case runs in a fresh interpreter."""

import json

from conftest import plugin_path, run_python

CROSS = """
import gc, json
P = geometry.Point
body = physics.Body(P(1, 1), 2.0)
pos = body.position
same = pos is body.position and physics.position_of(body) is pos
del body; gc.collect()
print(json.dumps({
    "distance": physics.distance(P(0, 0), (3, 4)),
    "centroid_type": type(physics.centroid([(0, 0), P(2, 2)])).__qualname__,
    "centroid_is_point": type(physics.centroid([(0, 0)])) is P,
    "identity": same,
    "kept_alive": repr(pos),
    "mass": physics.total_mass([physics.Body((0, 0), 1.0), physics.Body((1, 1), 3.0)]),
    "types": geometry.__oxbind__.internals_info()["types"] if hasattr(geometry, "__oxbind__") else None,
    "runtimes": len({m.__oxbind__.internals_info()["runtime_id"] for m in (geometry, physics) if hasattr(m, "__oxbind__")}),
}))
"""

EXPECTED = {
    "distance": 5.0,
    "centroid_type": "Point",
    "centroid_is_point": True,
    "identity": True,
    "kept_alive": "Point(1.0, 1.0)",
    "mass": 4.0,
}


def check(out):
    result = json.loads(out.stdout.splitlines()[-1])
    for key, value in EXPECTED.items():
        assert result[key] == value, (key, result)
    return result


def test_geometry_then_physics_as_extension_modules():
    result = check(run_python("import geometry, physics\n" + CROSS))
    assert result["types"] == 4 and result["runtimes"] == 1  # Point, Polygon, Axis, Body


def test_physics_then_geometry_as_extension_modules():
    out = run_python("""
import physics
try:
    physics.distance((0, 0), (1, 1))
except TypeError as e:
    print(e)
import geometry
""" + CROSS)
    assert out.stdout.splitlines()[0] == (
        "distance() needs class geometry.Point, which plugin 'geometry' defines, but 'geometry' is not loaded"
    )
    check(out)


def test_extension_module_with_a_loaded_plugin():
    plugins = str(plugin_path("physics").parent)
    check(run_python(f"import oxbind, geometry\nphysics = oxbind.load({plugins!r} + '/libphysics.so')\n" + CROSS))
    check(run_python(f"import oxbind, physics\ngeometry = oxbind.load({plugins!r} + '/libgeometry.so')\n" + CROSS))


def test_one_name_is_one_module_across_standalone_and_plugin():
    # One file per plugin name: with the standalone geometry imported, the
    # plugin file of the same name is refused (the classes it would define
    # are the standalone module's), and the name answers with the module.
    plugins = str(plugin_path("geometry").parent)
    out = run_python(f"""
import oxbind, geometry
try:
    oxbind.load({plugins!r} + '/libgeometry.so')
except ImportError as e:
    print(type(e).__name__, "a different file is already loaded as plugin 'geometry'" in str(e))
print(oxbind.load("geometry") is geometry, oxbind.load(geometry.__file__) is geometry)
print(geometry.midpoint(geometry.Point(0, 0), (2, 2)))
""", env_update={"OXBIND_PLUGIN_PATH": None})
    assert out.stdout.splitlines() == ["ImportError True", "True True", "Point(1.0, 1.0)"]
