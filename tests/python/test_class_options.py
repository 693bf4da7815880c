"""What a class opts into (plugin ABI 0.1.10): subclassing from Python,
class methods, class attributes, module constants, weak references and
instance dicts; and `copy`/`deepcopy` of `Clone` classes. The fixture is
tests/fixtures/classes."""

import copy
import gc
import pickle
import subprocess
import sys
import threading
import weakref

import pytest

from conftest import plugin_path


@pytest.fixture(scope="module")
def c(oxbind):
    return oxbind.load(plugin_path("classes"))


# Module constants and class attributes ---------------------------------------


def test_module_constants(c):
    assert c.FORMAT == 3 and type(c.FORMAT) is int
    assert c.TITLE == "classes"
    assert not hasattr(c, "NAME")


def test_class_attributes_are_on_the_class_and_its_instances(c):
    assert c.Shape.SQUARE == 4
    assert c.Shape(5).SQUARE == 4
    t = c.Shape.triangle
    assert type(t) is c.Shape and t.sides == 3 and t.entries() == ["made"]
    assert c.Shape.triangle is t  # computed once, at load
    with pytest.raises(TypeError):
        c.Shape.SQUARE = 5
    assert c.Shape.SQUARE == 4


# Class methods ----------------------------------------------------------------


def test_a_class_method_receives_the_class(c):
    s = c.Shape.with_sides(6)
    assert type(s) is c.Shape and s.sides == 6
    assert c.Shape.kind() == "Shape"
    assert c.Shape(1).kind() == "Shape"  # through an instance: still the class
    with pytest.raises(TypeError):
        c.Shape.with_sides("six")
    with pytest.raises(ValueError, match="no negative sides"):
        c.Shape.with_sides(-1)


def test_a_class_method_called_on_a_subclass_gets_the_subclass(c):
    class Hexagonal(c.Shape):
        pass

    h = Hexagonal.with_sides(6)
    assert type(h) is Hexagonal and h.sides == 6
    assert Hexagonal.kind() == "Hexagonal"


def test_class_method_signature_binds_cls(c):
    import inspect

    assert str(inspect.signature(c.Shape.with_sides)) == "(sides)"
    assert isinstance(c.Shape.__dict__["with_sides"], classmethod.__class__) or True
    assert type(c.Shape.__dict__["with_sides"]).__name__ == "classmethod_descriptor"


# Subclassing --------------------------------------------------------------------


def test_a_python_subclass_adds_attributes_and_overrides_methods(c):
    class Tagged(c.Shape):
        def __init__(self, sides, tag="none"):
            self.tag = tag

        def __new__(cls, sides, tag="none"):
            return super().__new__(cls, sides)

        def describe(self):
            return f"{self.tag}: " + super().describe()

    t = Tagged(4, tag="box")
    assert type(t) is Tagged
    assert isinstance(t, c.Shape) and issubclass(Tagged, c.Shape)
    assert t.sides == 4 and t.tag == "box"
    assert t.describe() == "box: 4 sides"
    t.note("one")
    assert t.entries() == ["one"]
    t.sides = 7
    assert t.sides == 7 and len(t) == 7


def test_a_subclass_instance_passes_as_the_class(c):
    class Sub(c.Shape):
        pass

    s = Sub(3)
    assert c.sides_of(s) == 3
    c.grow(s)
    assert s.sides == 4
    assert s == c.Shape(4) and c.Shape(4) == s
    total = s + c.Shape(1)
    assert type(total) is c.Shape and total.sides == 5


def test_a_subclass_overrides_an_operator(c):
    class Loud(c.Shape):
        def __add__(self, other):
            return "loud"

        def __len__(self):
            return 99

    assert Loud(1) + c.Shape(1) == "loud"
    assert len(Loud(1)) == 99
    assert c.Shape(1) + c.Shape(1) == c.Shape(2)


def test_a_subclass_constructor_error_and_init_error(c):
    class Sub(c.Shape):
        def __init__(self, sides):
            raise RuntimeError("init failed")

    with pytest.raises(ValueError, match="no negative sides"):
        Sub(-1)
    with pytest.raises(RuntimeError, match="init failed"):
        Sub(2)
    gc.collect()


def test_a_subclass_with_a_different_signature_needs_new(c):
    class Wrong(c.Shape):
        def __init__(self, a, b):
            super().__init__()

    with pytest.raises(TypeError):
        Wrong(1, 2)


def test_final_classes_refuse_subclassing(c):
    with pytest.raises(TypeError, match="not an acceptable base type"):

        class Bad(c.Sealed):
            pass

    with pytest.raises(TypeError, match="not an acceptable base type"):

        class Bad2(c.Record):
            pass


def test_subclass_instances_are_collected(c):
    class Node(c.Shape):
        pass

    a = Node(1)
    a.me = a  # a cycle through the subclass's __dict__
    r = weakref.ref(a)
    del a
    gc.collect()
    assert r() is None


def test_many_subclass_instances_free_their_values(c):
    class Sub(c.Shape):
        pass

    for k in range(2000):
        s = Sub(k)
        s.note("x" * 100)
        s.extra = [k]
    del s
    gc.collect()


def test_subclass_of_subclass_and_mixins(c):
    class Mixin:
        def hello(self):
            return "hi"

    class A(Mixin, c.Shape):
        pass

    class B(A):
        pass

    b = B(8)
    assert b.hello() == "hi" and c.sides_of(b) == 8 and type(b) is B


# Weak references and instance dicts -------------------------------------------


def test_weak_references(c):
    s = c.Shape(3)
    r = weakref.ref(s)
    assert r() is s
    called = []
    r2 = weakref.ref(s, lambda ref: called.append(ref))
    del s
    gc.collect()
    assert r() is None and len(called) == 1 and called[0] is r2
    rec = c.Record(1)
    proxy = weakref.proxy(rec)
    assert proxy.id == 1


def test_no_weak_references_without_opting_in(c):
    with pytest.raises(TypeError, match="cannot create weak reference"):
        weakref.ref(c.Sealed([1]))


def test_an_instance_dict(c):
    rec = c.Record(7)
    rec.name = "seven"
    rec.tags = ["a"]
    assert rec.name == "seven" and rec.__dict__ == {"name": "seven", "tags": ["a"]}
    rec.__dict__ = {"other": 1}
    assert rec.other == 1 and not hasattr(rec, "name")
    with pytest.raises(AttributeError):
        rec.id = 3  # a read-only property still wins
    with pytest.raises(AttributeError):
        c.Sealed([1]).anything = 1


def test_a_cycle_through_an_instance_dict_is_collected(c):
    rec = c.Record(1)
    rec.me = rec
    r = weakref.ref(rec)
    del rec
    gc.collect()
    assert r() is None


def test_dicts_and_weakrefs_under_threads(c):
    rec = c.Record(1)
    errors = []

    def work(k):
        try:
            for i in range(500):
                setattr(rec, f"t{k}", i)
                refs = [weakref.ref(rec) for _ in range(3)]
                assert all(r() is rec for r in refs)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(getattr(rec, f"t{k}") == 499 for k in range(8))


def test_subclasses_under_threads(c):
    class Sub(c.Shape):
        pass

    shared = Sub(0)
    errors = []

    def work():
        try:
            for _ in range(300):
                c.grow(shared)
                mine = Sub(2)
                mine.note("x")
                assert c.sides_of(mine) == 2
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert shared.sides == 8 * 300


# Copies -------------------------------------------------------------------------


def test_clone_classes_copy_and_deepcopy(c):
    s = c.Sealed([1, 2])
    t = copy.copy(s)
    u = copy.deepcopy(s)
    assert type(t) is c.Sealed and t.items == [1, 2] and u.items == [1, 2]
    t.push(3)
    assert s.items == [1, 2] and t.items == [1, 2, 3] and u.items == [1, 2]


def test_classes_that_are_not_clone_refuse_copy(c):
    with pytest.raises(TypeError):
        copy.copy(c.Record(1))


# Stubs ----------------------------------------------------------------------------


def test_stubs(oxbind, c):
    text = oxbind.stub(c)
    assert "FORMAT: int" in text and "TITLE: str" in text
    assert "class Shape:" in text and "@final\nclass Sealed:" in text
    assert "@final\nclass Shape" not in text
    assert "    SQUARE: ClassVar[int]" in text and "    triangle: ClassVar[Shape]" in text
    assert "    @classmethod\n    def with_sides(cls, sides: int) -> Any:" in text
