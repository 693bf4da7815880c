"""Values crossing both ways (the `values` fixture plugin): integers over
their whole range, `u64`, `usize`, `i128` and `u128` (plugin ABI 0.1.5,
`TypeKind::WIDE_INT`), in every position a value can take: parameter,
result, default, `Option`, list item, dict key and value, class field,
`__hash__`, callback argument and result, `Object::extract` and
`Object::from_value`."""

import inspect
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
