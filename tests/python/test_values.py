"""Values crossing both ways (the `values` fixture plugin).

- Integers over their whole range, `u64`, `usize`, `i128` and `u128`
  (plugin ABI 0.1.5, `TypeKind::WIDE_INT`), in every position a value can
  take: parameter, result, default, `Option`, list item, dict key and
  value, class field, `__hash__`, callback argument and result,
  `Object::extract` and `Object::from_value`.
- Tuples, sets, dict results and containers nested in containers (plugin
  ABI 0.1.6): round trips, what each accepts, the messages that name the
  path to a bad item, class values and borrowed instances inside them,
  callbacks, `Object::extract`/`from_value`, stubs, and containers that
  other threads mutate during the call.
- Paths (`PathBuf`, `&Path`: `str`, `bytes` or `os.PathLike` in,
  `pathlib.Path` out, undecodable bytes included) and complex numbers."""

import inspect
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import plugin_path

U64_MAX = 2**64 - 1
I128_MIN, I128_MAX = -(2**127), 2**127 - 1
U128_MAX = 2**128 - 1


@pytest.fixture(scope="module")
def values(oxbind):
    return oxbind.load(plugin_path("values"))


EDGES = {
    "echo_u64": (0, U64_MAX),
    "echo_usize": (0, U64_MAX),
    "echo_i128": (I128_MIN, I128_MAX),
    "echo_u128": (0, U128_MAX),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_every_value_in_range_round_trips(values, name):
    lo, hi = EDGES[name]
    f = getattr(values, name)
    probes = {lo, hi, lo + 1, hi - 1, 0, 1, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1}
    probes |= {-1, -(2**63), -(2**63) - 1, 2**64, 2**100, -(2**100)}
    for v in sorted(probes):
        if lo <= v <= hi:
            r = f(v)
            assert r == v and type(r) is int, (name, v, r)


@pytest.mark.parametrize("name", sorted(EDGES))
def test_values_out_of_range_raise_overflow_error_naming_parameter_and_type(values, name):
    lo, hi = EDGES[name]
    rust = name.removeprefix("echo_")
    f = getattr(values, name)
    for v in [lo - 1, hi + 1, lo - 2**70, hi + 2**200]:
        with pytest.raises(OverflowError, match=rf"^{name}\(\) argument 'v'.* {rust}$"):
            f(v)


def test_wrong_types_raise_type_error(values):
    for bad in ["1", 1.0, None, [1]]:
        with pytest.raises(TypeError, match=r"^echo_u64\(\) argument 'v'"):
            values.echo_u64(bad)
    # bool is an int subclass, as for every integer parameter.
    assert values.echo_u128(True) == 1


def test_int_subclasses_are_read_by_value(values):
    class Big(int):
        pass

    assert values.echo_u64(Big(U64_MAX)) == U64_MAX
    assert values.echo_i128(Big(I128_MIN)) == I128_MIN


def test_option_default_signature_and_stub(oxbind, values):
    assert values.echo_opt_u64(None) is None
    assert values.echo_opt_u64(U64_MAX) == U64_MAX
    assert values.default_u64() == 7
    assert values.default_u64(U64_MAX) == U64_MAX
    assert str(inspect.signature(values.default_u64)) == "(v=7)"
    stub = oxbind.stub(values)
    for line in [
        "def echo_u128(v: int) -> int:",
        "def echo_opt_u64(v: int | None) -> int | None:",
        "def sum_u64(values: list[int] | tuple[int, ...]) -> int:",
        "def top_u64(n: int) -> list[int]:",
        "def default_u64(v: int = 7) -> int:",
        "def value_of_max_key(d: dict[int, int]) -> int | None:",
        "def apply(f: Callable[[int], int], v: int) -> int:",
    ]:
        assert line in stub, (line, stub)


def test_lists_and_dicts_of_wide_integers(values):
    assert values.sum_u64([U64_MAX, U64_MAX, 1]) == 2 * U64_MAX + 1
    assert values.sum_u64((2**63, 2**63)) == 2**64
    assert values.top_u64(3) == [U64_MAX, U64_MAX - 1, U64_MAX - 2]
    with pytest.raises(OverflowError, match=r"^sum_u64\(\) argument 'values'"):
        values.sum_u64([1, -1])
    with pytest.raises(OverflowError):
        values.sum_u64([1, 2**64])
    assert values.value_of_max_key({1: 2, U64_MAX: U128_MAX, 2**63: 0}) == U128_MAX
    assert values.value_of_max_key({}) is None
    with pytest.raises(OverflowError):
        values.value_of_max_key({2**64: 1})


def test_a_list_mutated_by_another_thread_is_read_safely(values):
    # The items beyond i64 cross as the int objects themselves: the call
    # must hold them even if the list drops them meanwhile.
    items = [2**64 - 1 - k for k in range(2000)]
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            items[:] = [2**64 - 1 - k for k in range(2000)]

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(200):
            assert values.sum_u64(items) == sum(2**64 - 1 - k for k in range(2000))
    finally:
        stop.set()
        t.join()


def test_fields_hash_and_methods(values):
    w = values.Wide(U64_MAX)
    assert w.value == U64_MAX
    # A u64 hash above i64::MAX used to fail: it is hashed as the int is.
    assert hash(w) == hash(U64_MAX)
    assert {w: 1}[w] == 1
    w.value = 2**63
    assert w.add(2**63 - 1) == U64_MAX
    with pytest.raises(OverflowError, match=r"does not fit in u64"):
        w.add(1)
    assert w.value == U64_MAX
    with pytest.raises(OverflowError):
        w.value = -1
    with pytest.raises(OverflowError):
        values.Wide(2**64)


def test_callbacks_and_objects(values):
    assert values.apply(lambda v: -v, U64_MAX) == -U64_MAX
    assert values.apply(lambda v: I128_MIN, 1) == I128_MIN
    with pytest.raises(OverflowError, match=r"callback result"):
        values.apply(lambda v: I128_MAX + 1, 1)
    assert values.extract_u128(U128_MAX) == U128_MAX
    with pytest.raises(OverflowError):
        values.extract_u128(-1)
    with pytest.raises(TypeError):
        values.extract_u128("1")
    for v in [I128_MIN, I128_MAX, -1, 0, 2**63]:
        assert values.object_of_i128(v) == v


def test_wide_results_from_many_threads(values):
    errors = []

    def work(seed):
        try:
            for k in range(2000):
                v = U128_MAX - seed * 10_000 - k
                assert values.echo_u128(v) == v
                assert values.echo_i128(-v // 2) == -v // 2
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# --- Tuples, sets, dict results and nesting (plugin ABI 0.1.6) -----------


def test_nested_lists_round_trip(values):
    assert values.transpose([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]) == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert values.transpose([]) == []
    # Inner sequences may be tuples, and ints are accepted for floats.
    assert values.transpose(((1, 2),)) == [[1.0], [2.0]]
    assert values.count_cells([[[1.0, 2.0], []], [[3.0]]]) == (2, 3)
    with pytest.raises(ValueError, match="rows of different lengths"):
        values.transpose([[1.0], []])


def test_a_bad_nested_item_names_its_path(values):
    with pytest.raises(TypeError, match=r"^transpose\(\) argument 'm' item 0 of item 1 must be float, not str$"):
        values.transpose([[1.0], ["x"]])
    with pytest.raises(TypeError, match=r"^transpose\(\) argument 'm' item 1 must be list\[float\], not float$"):
        values.transpose([[1.0], 2.0])
    with pytest.raises(
        TypeError, match=r"^count_cells\(\) argument 'm' item 2 of item 0 of item 1 must be float, not NoneType$"
    ):
        values.count_cells([[], [[1.0, 2.0, None]]])
    w = values.Wide(1)
    with pytest.raises(
        TypeError, match=r"^totals\(\) argument 'd' item 1 of value for key 'a' must be values.Wide, not int$"
    ):
        values.totals({"a": [w, 3]})
    with pytest.raises(TypeError, match=r"^echo_pairs\(\) argument 'v' item 1 of item 0 must be int or None, not str$"):
        values.echo_pairs([("a", "b")])


def test_an_out_of_range_nested_item_names_its_path(values):
    with pytest.raises(OverflowError, match=r"^echo_pairs\(\) argument 'v' item 1 of item 2 is out of range for i64$"):
        values.echo_pairs([("a", 1), ("b", None), ("c", 2**70)])
    with pytest.raises(OverflowError, match=r"^invert\(\) argument 'd' value for key 'k' is out of range for i64$"):
        values.invert({"j": 1, "k": -(2**64)})


def test_tuples_round_trip_and_check_their_length(values):
    assert values.swap((1, "a")) == ("a", 1)
    assert type(values.swap((1, "a"))) is tuple
    assert values.swap([2, "b"]) == ("b", 2)  # a list of the right length is accepted

    class Pair:  # any sequence, not only tuples and lists
        def __len__(self):
            return 2

        def __getitem__(self, k):
            if k > 1:
                raise IndexError(k)
            return (3, "c")[k]

    assert values.swap(Pair()) == ("c", 3)
    assert values.echo_mixed(({1}, b"", False)) == ({1}, b"", False)
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' must be tuple\[int, str\] \(2 items\), not a range of 3 items$"):
        values.swap(range(3))
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' must be tuple\[int, str\], not bytes$"):
        values.swap(b"ab")

    class Broken(Pair):
        def __getitem__(self, k):
            raise KeyError("no items here")

    with pytest.raises(KeyError, match="no items here"):
        values.swap(Broken())
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' must be tuple\[int, str\] \(2 items\), not a tuple of 1 item$"):
        values.swap((1,))
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' must be tuple\[int, str\] \(2 items\), not a list of 3 items$"):
        values.swap([1, "a", None])
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' must be tuple\[int, str\], not str$"):
        values.swap("ab")
    with pytest.raises(TypeError, match=r"^swap\(\) argument 'p' item 1 must be str, not int$"):
        values.swap((1, 2))
    with pytest.raises(TypeError, match=r"^echo_pairs\(\) argument 'v' item 1 must be tuple\[str, int or None\] \(2 items\), not a tuple of 3 items$"):
        values.echo_pairs([("a", 1), ("b", 2, 3)])
    assert values.echo_pairs([("a", 1), ["b", None]]) == [("a", 1), ("b", None)]
    assert values.echo_mixed(({3, 1}, b"\x00z", True)) == ({1, 3}, b"\x00z", True)
    assert values.echo_nested_opt(None) is None
    assert values.echo_nested_opt([None, (1, 2)]) == [None, (1, 2)]


def test_sets_accept_sets_and_frozensets_only(values):
    assert values.set_sum({1, 2, 3}) == 6
    assert values.set_sum(frozenset({4, 5})) == 9
    assert values.set_sum(set()) == 0

    class MySet(set):
        pass

    assert values.set_sum(MySet({7})) == 7
    with pytest.raises(TypeError, match=r"^set_sum\(\) argument 's' must be set\[int\], not list$"):
        values.set_sum([1, 2])
    with pytest.raises(TypeError, match=r"^set_sum\(\) argument 's' item \d must be int, not str$"):
        values.set_sum({1, "x"})
    result = values.unique([3, 1, 3, 2])
    assert type(result) is set and result == {1, 2, 3}
    assert values.echo_str_set({"a", "b"}) == {"a", "b"}
    assert type(values.echo_str_set(frozenset())) is set


def test_dict_results_and_nested_values(values):
    assert values.invert({"a": 1, "b": 2, "c": 1}) == {1: ["a", "c"], 2: ["b"]}
    assert values.invert({}) == {}
    got = values.words(["a bb", ""])
    assert got == {"a bb": (["a", "bb"], {1, 2}), "": ([], set())}
    assert type(got["a bb"]) is tuple and type(got["a bb"][1]) is set
    assert list(values.object_of_map().items()) == [("even", {2, 4}), ("odd", {1, 3, 5})]


def test_class_values_and_borrowed_instances_nest(values):
    a, b, c = values.Wide(1), values.Wide(2), values.Wide(2**64 - 1)
    groups = values.group([("x", a), ("y", b), ("x", c)])
    assert sorted(groups) == ["x", "y"]
    assert [w.value for w in groups["x"]] == [1, 2**64 - 1]
    # Values were cloned in and moved out: new instances, independent.
    assert groups["x"][0] is not a
    groups["x"][0].value = 5
    assert a.value == 1
    assert values.totals({"p": [a, b], "q": [], "r": [c, c]}) == {"p": 3, "q": 0, "r": 2 * (2**64 - 1)}


def test_methods_return_containers_built_after_self_is_released(values):
    w = values.Wide(10)
    assert w.bump(7) == (11, 7)
    assert w.digits() == b"\x01\x01"  # Vec<u8> is bytes
    # Exclusive calls from four threads on one object: each sees its own
    # count (the borrow excludes), and waiting threads take the path that
    # waits for the borrow.
    seen = []
    lock = threading.Lock()

    def run():
        mine = [w.bump(1)[0] for _ in range(500)]
        with lock:
            seen.extend(mine)

    ts = [threading.Thread(target=run) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(seen) == list(range(12, 12 + 2000))
    assert w.value == 11 + 2000


def test_objects_nest_in_results(values):
    o = object()
    got = values.enumerate_objects([o, "s"])
    assert got == [(0, o), (1, "s")] and got[0][1] is o


def test_a_result_that_fails_midway_releases_what_it_holds(values):
    # Tag defines __eq__ and no __hash__: a dict keyed by Tags cannot be
    # built. The objects in the values not yet placed must be released,
    # and those placed freed with the half-built dict.
    objs = [object() for _ in range(5)]
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(3):
        with pytest.raises(TypeError, match="unhashable"):
            values.tagged(objs)
    assert [sys.getrefcount(o) for o in objs] == before
    got = values.labelled(objs)
    assert [sys.getrefcount(o) for o in objs] == [b + 1 for b in before]
    assert got["3"][0] is objs[3]
    del got
    assert [sys.getrefcount(o) for o in objs] == before


def test_callbacks_and_objects_take_nested_values(values):
    seen = []

    def f(pair):
        seen.append(pair)
        return [pair[0], len(pair[1])]

    assert values.apply_pair(f, 4, "abc") == [4, 3]
    assert seen == [(4, "abc")] and type(seen[0]) is tuple
    with pytest.raises(TypeError, match=r"callback result: .*item 0 must be int, not str"):
        values.apply_pair(lambda p: ["x"], 1, "")
    assert values.extract_pairs([("a", 1), ["b", 2]]) == [("a", 1), ("b", 2)]
    with pytest.raises(TypeError, match=r"cannot extract Vec from list: item 0 must be tuple\[str, int\] \(2 items\), not a tuple of 1 item"):
        values.extract_pairs([("a",)])


def test_compound_signatures_and_stubs(oxbind, values):
    stub = oxbind.stub(values)
    for line in [
        "def transpose(m: list[list[float] | tuple[float, ...]] | tuple[list[float] | tuple[float, ...], ...]) -> list[list[float]]:",
        "def swap(p: tuple[int, str] | list[int | str]) -> tuple[str, int]:",
        "def set_sum(s: set[int] | frozenset[int]) -> int:",
        "def unique(v: list[int] | tuple[int, ...]) -> set[int]:",
        "def invert(d: dict[str, int]) -> dict[int, list[str]]:",
        "def echo_nested_opt(v: list[tuple[int, int] | list[int] | None] | tuple[tuple[int, int] | list[int] | None, ...] | None)"
        " -> list[tuple[int, int] | None] | None:",
        "def group(items: list[tuple[str, Wide] | list[str | Wide]] | tuple[tuple[str, Wide] | list[str | Wide], ...]) -> dict[str, list[Wide]]:",
    ]:
        assert line in stub, (line, stub)


def test_nested_containers_mutated_by_other_threads(values):
    # Rows replaced, grown and shrunk while calls read them: every call sees
    # one consistent snapshot of each list (or fails cleanly), never a
    # crash. Run in a subprocess: a failure here could be a crash.
    code = textwrap.dedent(
        """
        import threading, oxbind, os
        values = oxbind.load(os.environ["VALUES_PATH"])
        rows = [[float(k)] * 8 for k in range(8)]
        s = {1, 2, 3}
        stop = threading.Event()
        def churn():
            n = 0
            while not stop.is_set():
                n += 1
                rows[n % 8] = [1.0] * (n % 5)
                rows[(n + 3) % 8].append(2.0)
                rows[(n + 5) % 8].clear()
                s.add(n); s.discard(n - 3)
        ts = [threading.Thread(target=churn) for _ in range(2)]
        for t in ts: t.start()
        ok = 0
        try:
            for _ in range(3000):
                lists, cells = values.count_cells([rows, rows])
                assert lists == 2 and cells >= 0
                assert values.set_sum(s) >= 0
                ok += 1
        finally:
            stop.set()
            for t in ts: t.join()
        print("done", ok)
        """
    )
    env = dict(os.environ, VALUES_PATH=plugin_path("values"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("done "), out.stdout


# --- Paths and complex numbers (plugin ABI 0.1.6) -------------------------


def test_paths_accept_str_bytes_and_pathlike_and_return_pathlib_paths(values):
    import pathlib

    assert values.components("/a/b") == ["/", "a", "b"]
    assert values.components(b"/a/b") == ["/", "a", "b"]
    assert values.components(pathlib.PurePosixPath("x/y")) == ["x", "y"]

    class Custom:
        def __fspath__(self):
            return "c/d"

    assert values.components(Custom()) == ["c", "d"]
    got = values.join(pathlib.Path("/tmp"), "f.txt")
    assert type(got) is pathlib.PosixPath and got == pathlib.Path("/tmp/f.txt")
    assert values.parents(["/a/b", "/"]) == [(pathlib.Path("/a/b"), pathlib.Path("/a")), (pathlib.Path("/"), None)]
    assert values.map_path(lambda p: p / "z", "/q") == pathlib.Path("/q/z")
    with pytest.raises(TypeError, match=r"^components\(\) argument 'p' must be str, bytes or os.PathLike, not int$"):
        values.components(3)

    class Bad:
        def __fspath__(self):
            raise ValueError("no path here")

    with pytest.raises(ValueError, match="no path here"):
        values.components(Bad())
    with pytest.raises(TypeError, match=r"callback result: cannot extract PathBuf from int"):
        values.map_path(lambda p: 5, "/q")


def test_undecodable_paths_cross_both_ways_unchanged(values):
    import os

    raw = b"/tmp/caf\xe9-\xff"
    assert values.path_bytes(raw) == raw
    as_text = os.fsdecode(raw)  # surrogate escapes
    assert values.path_bytes(as_text) == raw
    back = values.join(as_text, "x")
    assert os.fsencode(back) == raw + b"/x"


def test_complex_numbers(values):
    assert values.cmul(1 + 2j, 3 - 1j) == (1 + 2j) * (3 - 1j)
    assert values.cmul(2, 1.5) == 3 + 0j  # int and float are complex numbers too
    assert type(values.cmul(1j, 1j)) is complex

    class C:
        def __complex__(self):
            return 2j

    assert values.cmul(C(), 1) == 2j
    assert values.conjugates([1 + 1j, None, 2]) == [1 - 1j, None, 2 + 0j]
    with pytest.raises(TypeError, match=r"^cmul\(\) argument 'a' must be complex, not str$"):
        values.cmul("1", 1)
    with pytest.raises(TypeError, match=r"^conjugates\(\) argument 'v' item 0 must be complex or None, not list$"):
        values.conjugates([[1]])


def test_path_and_complex_stubs(oxbind, values):
    stub = oxbind.stub(values)
    for line in [
        "import os",
        "import pathlib",
        "def join(base: str | bytes | os.PathLike[str], name: str) -> pathlib.Path:",
        "def cmul(a: complex, b: complex) -> complex:",
        "def conjugates(v: list[complex | None] | tuple[complex | None, ...]) -> list[complex | None]:",
    ]:
        assert line in stub, (line, stub)
