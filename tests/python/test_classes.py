"""Classes, instances and cross-plugin casts: geometry owns Point and
Polygon, physics uses Point through geometry-types, counter has Counter.
The plugins are loaded with oxbind.load here; test_standalone.py repeats
the cross-plugin checks with extension modules."""

import gc
import math
import json
import inspect
import pydoc
import re

import pytest

from conftest import GIL_STATE, expected_gil_state, plugin_path, run_python


# --- one class, end to end ---

def test_point_basics(geometry):
    P = geometry.Point
    p = P(1, 2)
    assert repr(p) == "Point(1.0, 2.0)"
    assert (p.x, p.y) == (1.0, 2.0)
    assert P(x=3, y=4).norm() == 5.0
    assert P.origin() == P(0, 0)
    assert type(p) is P and P.__module__ == "geometry" and P.__qualname__ == "Point"


def test_point_properties_read_and_write(geometry):
    p = geometry.Point(1, 2)
    p.x = 10
    p.y = -2.5
    assert p == geometry.Point(10, -2.5)
    with pytest.raises(TypeError, match=r"^Point.x\(\) argument 'value' must be float, not str$"):
        p.x = "nope"
    with pytest.raises(AttributeError, match="cannot delete property 'x'"):
        del p.x


def test_point_operators(geometry):
    P = geometry.Point
    p, q = P(1, 2), P(3.5, -1)
    assert p + q == P(4.5, 1) and p - q == P(-2.5, 3) and p * 2 == P(2, 4) and -p == P(-1, -2)
    assert p == P(1, 2) and p != q and (p == "x") is False
    assert hash(p) == hash(P(1, 2)) and len({p, P(1, 2), q}) == 2
    with pytest.raises(TypeError):
        p + 1  # no conversion from int: NotImplemented both ways
    with pytest.raises(TypeError):
        1 + p  # reflected operations are not supported


def test_scalar_operands_of_the_wrong_type_give_not_implemented():
    # Operators taking a scalar run on the fast path for methods on
    # scalars; before, `Num(3) == "x"` raised TypeError there.
    code = f"""
import oxbind
h = oxbind.load({str(plugin_path("hostile"))!r})
n = h.Num(3)
assert (n == 3, n == 4, n + 1, n < 5) == (True, False, 4, True)
assert (n == "x") is False and (n != "x") is True and (n == None) is False
for bad in (lambda: n + "x", lambda: n < "x"):
    try:
        bad()
    except TypeError as e:
        assert "unsupported operand" in str(e) or "not supported between" in str(e), e
    else:
        raise AssertionError("no TypeError")
try:
    n + 2**70
except OverflowError:
    pass
else:
    raise AssertionError("no OverflowError")
print("ok")
"""
    assert run_python(code).stdout == "ok\n"


def test_mutating_method_changes_the_instance(geometry):
    p = geometry.Point(1, 2)
    assert p.scale(3) is None
    assert p == geometry.Point(3, 6)


def test_signatures_docstrings_and_help(geometry):
    P = geometry.Point
    assert str(inspect.signature(P)) == "(x, y)"
    assert P.__doc__.startswith("A point in the plane.")
    assert str(inspect.signature(P.norm)) == "(self, /)"
    assert str(inspect.signature(P(1, 1).norm)) == "()"
    assert P.norm.__doc__ == "Distance from the origin."
    assert P.x.__doc__ == "The x coordinate."
    text = pydoc.render_doc(P, renderer=pydoc.plaintext)
    for piece in ("class Point", "norm(self, /)", "Distance from the origin.", "origin()", "scale(self, /, factor)", "x\n"):
        assert piece in text, piece
    assert "Polygon(points)" in pydoc.render_doc(geometry, renderer=pydoc.plaintext)


def test_wrong_receiver_and_argument_types(geometry):
    P = geometry.Point
    with pytest.raises(TypeError, match=r"^Point\(\) argument 'x' must be float, not str$"):
        P("a", 1)
    with pytest.raises(TypeError, match="descriptor 'norm' for 'geometry.Point' objects doesn't apply to a 'int' object"):
        P.norm(3)
    with pytest.raises(TypeError, match=r"^midpoint\(\) argument 'b' must be geometry.Point, not str$"):
        geometry.midpoint(P(0, 0), "x")


def test_polygon_sequence_protocol(geometry):
    P = geometry.Point
    poly = geometry.Polygon([P(0, 0), P(4, 0), P(4, 3)])
    assert repr(poly) == "Polygon(3 points)"
    assert len(poly) == 3 and poly.area() == 6.0 and poly.perimeter() == 12.0
    assert poly[0] == P(0, 0) and poly[-1] == P(4, 3) and type(poly[1]) is P
    assert list(poly) == [P(0, 0), P(4, 0), P(4, 3)]
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        poly[3]
    with pytest.raises(TypeError, match=r"^Polygon\(\) argument 'points' item 1 must be geometry.Point, not int$"):
        geometry.Polygon([P(0, 0), 5])
    assert geometry.Polygon((P(0, 0), P(1, 0), P(0, 1))).area() == 0.5  # a tuple works too


def test_list_results_and_iteration(geometry):
    P = geometry.Point
    poly = geometry.Polygon([(0, 0), (3, 0), (3, 4)])
    assert poly.side_lengths() == [3.0, 4.0, 5.0]
    corners = poly.corners()
    assert corners == [P(0, 0), P(3, 0), P(3, 4)] and all(type(c) is P for c in corners)
    corners[0].x = 9  # new instances: the polygon is unchanged
    assert poly[0] == P(0, 0)
    assert type(iter(poly)).__name__ == "list_iterator"  # __iter__ fills tp_iter
    assert [p.y for p in poly] == [0.0, 0.0, 4.0]
    # Values with heap data are moved into their instances and dropped by them.
    square = geometry.Polygon([(0, 0), (2, 0), (2, 2), (0, 2)])
    triangles = square.triangulate()
    assert [t.area() for t in triangles] == [2.0, 2.0] and [len(t) for t in triangles] == [3, 3]
    del square
    gc.collect()
    assert list(triangles[1]) == [P(0, 0), P(2, 2), P(0, 2)]


@pytest.mark.thread_unsafe
def test_instances_hold_their_value_inline(geometry, oxbind):
    # Constructing instances registers nothing shared.
    before = oxbind.internals_info()["mapped_instances"]
    points = [geometry.Point(i, i) for i in range(1000)]
    assert oxbind.internals_info()["mapped_instances"] == before
    assert geometry.Point.__basicsize__ >= 16  # value inline, no pointer to a second allocation
    del points


# --- identity and keep-alive ---

def test_returning_an_argument_returns_the_same_object(counter):
    c = counter.Counter()
    assert counter.return_self(c) is c
    c.inc()
    c.inc_by(41)
    assert counter.return_self(c).value == 42 and repr(c) == "Counter(42)"


def test_lock_self_methods_on_scalars(counter):
    """`inc_safe` and `Tally.imbalance` are `lock_self` methods whose other
    parameters and result are scalars: they run under self's critical
    section on the method fast path, and argument errors still raise."""
    c = counter.Counter()
    for _ in range(3):
        c.inc_safe()
    c.inc()
    assert c.value == 4
    with pytest.raises(TypeError, match=r"Counter\.inc_safe\(\) takes 0 positional arguments but 1 was given"):
        c.inc_safe(1)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'n'"):
        c.inc_safe(n=1)
    assert c.value == 4
    t = counter.Tally()
    t.record(True)
    t.record(False)
    assert t.imbalance() == 0 and t.snapshot() == [2, 1, 1]


def test_interior_references_have_one_identity(physics, geometry):
    body = physics.Body(geometry.Point(1, 1), 2.0)
    assert body.position is body.position
    assert physics.position_of(body) is body.position
    assert type(body.position) is geometry.Point


@pytest.mark.thread_unsafe
def test_a_reference_keeps_its_owner_alive(physics, geometry, oxbind):
    body = physics.Body(geometry.Point(1, 1), 2.0)
    p = body.position
    body.move_by(1, 2)
    assert (p.x, p.y) == (2.0, 3.0)  # a view of the body's value, not a copy
    p.x = 7
    assert body.position.x == 7.0
    del body
    gc.collect()
    assert p.x == 7.0 and p.y == 3.0 and repr(p) == "Point(7.0, 3.0)"
    mapped = oxbind.internals_info()["mapped_instances"]
    del p
    gc.collect()
    assert oxbind.internals_info()["mapped_instances"] == mapped - 1


def test_a_new_wrapper_after_the_old_one_died(physics, geometry):
    body = physics.Body(geometry.Point(5, 5), 1.0)
    first_id = id(body.position)  # the wrapper dies right away
    again = body.position
    assert again == geometry.Point(5, 5) and again is body.position
    del first_id


def test_aliasing_borrows_are_refused(geometry, physics):
    P = geometry.Point
    p, q = P(0, 0), P(1, 2)
    p.set_to(q)
    assert p == q
    # `&mut self` and `&other` on one object would alias: refused, not UB.
    with pytest.raises(RuntimeError, match="geometry.Point is already mutably borrowed"):
        p.set_to(p)
    # A wrapper borrows the instance it points into.
    body = physics.Body(P(5, 5), 1.0)
    with pytest.raises(RuntimeError, match="already mutably borrowed"):
        body.position.set_to(body.position)
    body.position.set_to(q)
    assert body.position == q
    # Failed borrows leave nothing behind.
    p.set_to(P(7, 7))
    assert p == P(7, 7)


# --- across plugins ---

def test_physics_takes_and_returns_geometry_points(physics, geometry):
    P = geometry.Point
    assert physics.distance(P(0, 0), P(3, 4)) == 5.0
    c = physics.centroid([P(0, 0), P(2, 0), P(2, 2), P(0, 2)])
    assert type(c) is P and c == P(1, 1)
    bodies = [physics.Body(P(0, 0), 1.5), physics.Body(P(1, 1), 2.5)]
    assert physics.total_mass(bodies) == 4.0
    assert physics.total_mass([]) == 0.0
    with pytest.raises(ValueError, match="centroid of no points"):
        physics.centroid([])
    with pytest.raises(TypeError, match=r"^total_mass\(\) argument 'bodies' item 0 must be physics.Body, not geometry.Point$"):
        physics.total_mass([P(0, 0)])


def test_another_plugin_can_change_a_point_in_place(physics, geometry):
    P = geometry.Point
    p = P(1, 1)
    assert physics.nudge(p, 2, 3) is None
    assert p == P(3, 4)
    body = physics.Body(P(0, 0), 1.0)
    physics.nudge(body.position, 1, 1)  # through a reference into the body
    assert body.position == P(1, 1)
    # A temporary from a tuple cannot stand for a `&mut` parameter.
    with pytest.raises(TypeError, match=r"^nudge\(\) argument 'p' must be geometry.Point, not tuple$"):
        physics.nudge((0, 0), 1, 1)


def test_tuples_convert_to_points_in_every_plugin(physics, geometry):
    P = geometry.Point
    assert geometry.midpoint((0, 0), (2, 4)) == P(1, 2)
    assert physics.distance((0, 0), (3, 4)) == 5.0
    assert physics.centroid([(0, 0), P(2, 2)]) == P(1, 1)
    assert physics.Body((1, 2), 3.0).position == P(1, 2)
    with pytest.raises(TypeError, match=r"^distance\(\) argument 'a' must be geometry.Point, not tuple$"):
        physics.distance(("a", "b"), (0, 0))
    with pytest.raises(TypeError, match="must be geometry.Point, not tuple"):
        physics.distance((1, 2, 3), (0, 0))


def test_overloads_are_tried_in_order(geometry):
    P = geometry.Point
    assert geometry.scaled(P(1, 2), 2) == P(2, 4)
    assert geometry.scaled(geometry.Polygon([P(0, 0), P(1, 0), P(0, 1)]), 2).area() == 2.0
    assert geometry.scaled(2.5, 2) == 5.0
    assert geometry.scaled((1, 1), 3) == P(3, 3)  # the first overload, through the conversion
    with pytest.raises(TypeError) as info:
        geometry.scaled("x", factor=2)
    assert str(info.value) == (
        "scaled(): no overload matches the arguments (str, factor=int); the signatures are:\n"
        "    scaled(p: geometry.Point, factor: float)\n"
        "    scaled(polygon: geometry.Polygon, factor: float)\n"
        "    scaled(x: float, factor: float)"
    )
    assert "scaled(polygon, factor)" in geometry.scaled.__doc__


def test_gil_state_with_class_plugins():
    """Loading every class plugin leaves the GIL off on 3.13t (and changes
    nothing on GIL builds)."""
    out = run_python(f"""
import sys, json, oxbind
for name in ("geometry", "physics", "counter"):
    oxbind.load({str(plugin_path('geometry').parent)!r} + f"/lib{{name}}.so")
print(json.dumps({GIL_STATE}))
""")
    assert json.loads(out.stdout) == expected_gil_state()


# --- load order, missing owners, layout mismatches (fresh processes) ---

LOAD = "import oxbind\ng = lambda n: oxbind.load({!r} + '/lib' + n + '.so')\n".format(str(plugin_path("geometry").parent))


def test_physics_first_then_geometry():
    out = run_python(LOAD + """
physics = g("physics")
try:
    physics.distance((0, 0), (3, 4))
except TypeError as e:
    print(e)
geometry = g("geometry")
print(physics.distance(geometry.Point(0, 0), (3, 4)))
print(type(physics.centroid([(1, 1)])) is geometry.Point)
""")
    missing, distance, same_type = out.stdout.splitlines()
    assert missing == "distance() needs class geometry.Point, which plugin 'geometry' defines, but 'geometry' is not loaded"
    assert distance == "5.0" and same_type == "True"


BAD = str(plugin_path("geometry").parent.parent / "fixture-plugins" / "libphysics_bad_point.so")


def test_a_consumer_with_a_changed_layout_is_refused_at_load():
    out = run_python(LOAD + f"""
geometry = g("geometry")
try:
    oxbind.load({BAD!r})
except ImportError as e:
    print(e)
print(geometry.Point(1, 2))
""")
    message, still_fine = out.stdout.splitlines()
    assert message.startswith("oxbind: cannot load physics (")
    assert "class geometry.Point" in message
    assert "geometry-types 0.1.0" in message  # both crate versions are named
    assert "field 'x': mismatched type (expected f64, found f32)" in message
    assert still_fine == "Point(1.0, 2.0)"


def test_a_consumer_with_a_changed_layout_loaded_first_fails_at_use():
    out = run_python(LOAD + f"""
physics = oxbind.load({BAD!r})
geometry = g("geometry")
try:
    physics.distance(geometry.Point(0, 0), geometry.Point(3, 4))
except TypeError as e:
    print(e)
""")
    assert "distance() cannot use class geometry.Point (physics)" in out.stdout
    assert "field 'x': mismatched type (expected f64, found f32)" in out.stdout


# --- the example plugins at their edges (issue 14, "Example plugins") ---

def positive_zero(x):
    return x == 0.0 and math.copysign(1.0, x) == 1.0


def test_an_empty_polygon_has_zero_perimeter_and_area(geometry):
    empty = geometry.Polygon([])
    assert positive_zero(empty.perimeter()), empty.perimeter()
    assert positive_zero(empty.area()), empty.area()
    assert empty.side_lengths() == [] and empty.corners() == [] and empty.triangulate() == []
    assert len(empty) == 0 and list(empty) == [] and repr(empty) == "Polygon(0 points)"
    with pytest.raises(IndexError, match="index 0 is out of range for length 0"):
        empty[0]
    one = geometry.Polygon([(1, 2)])
    assert positive_zero(one.perimeter()) and positive_zero(one.area())
    assert positive_zero(geometry.scaled(empty, 2).perimeter())


def test_total_mass_of_no_bodies_is_positive_zero(physics):
    assert positive_zero(physics.total_mass([]))


# Each bad mass, and how the message shows it (Rust's `{:?}`).
BAD_MASSES = [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf"), (0.0, "0.0"), (-0.0, "-0.0"),
              (-1.0, "-1.0"), (0, "0.0")]


@pytest.mark.parametrize("mass, shown", BAD_MASSES, ids=[b[1] for b in BAD_MASSES])
def test_a_body_refuses_a_mass_that_is_not_finite_and_positive(physics, geometry, mass, shown):
    why = rf"a mass must be a finite number greater than 0, not {re.escape(shown)}$"
    with pytest.raises(ValueError, match=rf"argument 'mass': {why}"):
        physics.Body((0, 0), mass)
    with pytest.raises(ValueError, match=rf"argument 'mass': {why}"):
        physics.Body(position=geometry.Point(0, 0), mass=mass)
    # The setter converts with the same check: the body keeps its mass.
    body = physics.Body((0, 0), 2.0)
    with pytest.raises(ValueError, match=why):
        body.mass = mass
    assert body.mass == 2.0
    body.mass = 5e-30
    assert body.mass == 5e-30 and physics.total_mass([body]) == 5e-30


def test_angle_deg_refuses_nan_and_keeps_its_range(geometry):
    for dx, dy in [(math.nan, 0.0), (1.0, math.nan), (math.nan, math.nan)]:
        with pytest.raises(ValueError, match=r"^angle_deg\(\): the vector \(.*\) has a NaN component and no direction$"):
            geometry.angle_deg(dx, dy)
    with pytest.raises(ValueError, match="the zero vector has no direction"):
        geometry.angle_deg(-0.0, 0.0)
    assert geometry.angle_deg(-1.0, -0.0) == 180.0  # (-180, 180], as documented
    assert geometry.angle_deg(-1.0, 0.0) == 180.0
    assert geometry.angle_deg(0.0, -1.0) == -90.0
    assert geometry.angle_deg(math.inf, 1.0) == 0.0


def test_counter_arithmetic_raises_overflow_error_and_changes_nothing(counter):
    big = 2**63 - 1
    with pytest.raises(OverflowError, match=r"^add\(\): 9223372036854775807 \+ 1 does not fit in a 64-bit signed integer$"):
        counter.add(big, 1)
    assert counter.add(big, -big) == 0
    c = counter.Counter()
    c.inc_by(big)
    for call, name in [(c.inc, "Counter.inc"), (c.inc_safe, "Counter.inc_safe"),
                       (lambda: c.inc_by(1), "Counter.inc_by")]:
        with pytest.raises(OverflowError, match=rf"^{name}\(\): 9223372036854775807 \+ 1 does not fit"):
            call()
        assert c.value == big
    other = counter.Counter()
    other.inc()
    with pytest.raises(OverflowError, match=r"^Counter\.merge\(\): "):
        c.merge(other)
    assert (c.value, other.value) == (big, 1)  # neither changed
    c.inc_by(-1)
    c.merge(other)
    assert (c.value, other.value) == (big, 0)


def test_counter_sums_are_exact_or_raise(counter):
    big = 2**63 - 1
    assert counter.sum_all([big, 1, -1]) == big  # no intermediate wrap, whatever the order
    assert counter.sum_all([-big - 1, -1, 1]) == -big - 1
    with pytest.raises(OverflowError, match=r"^sum_all\(\): the sum 9223372036854775808 does not fit"):
        counter.sum_all([big, 1])
    assert counter.total({"a": big, "b": 1, "c": -1}) == big
    with pytest.raises(OverflowError, match=r"^total\(\): the sum -9223372036854775809 does not fit"):
        counter.total({"a": -big - 1, "b": -1})
