"""The stress-and-fault suite (spec/SOUNDNESS.md): panics in every plugin
callback, hostile argument objects, and threads that exit while holding
objects. Each runs in a subprocess with a timeout; the process must survive
and answer every call with a result or a clear exception. The exit, chain,
handle and bad-file faults are in test_soundness.py and
test_faults_loader.py; this file and those two make up the suite, a few
minutes on every interpreter."""

import pytest

from test_soundness import run


def test_a_panic_in_every_callback_is_an_exception():
    out = run("""
    from oxbind import PanicError
    b, ok = hostile.Bomb(1), hostile.Bomb(0)
    calls = {
        "constructor": lambda: hostile.Bomb(2),
        "method": b.method,
        "method_mut": b.method_mut,
        "method_locked": b.method_locked,
        "__repr__": lambda: repr(b),
        "__str__": lambda: str(b),
        "__eq__": lambda: b == ok,
        "__ne__": lambda: b != ok,
        "__lt__": lambda: b < ok,
        "__hash__": lambda: hash(b),
        "__len__": lambda: len(b),
        "__getitem__": lambda: b[0],
        "__iter__": lambda: list(b),
        "__bool__": lambda: bool(b),
        "__add__": lambda: b + ok,
        "__neg__": lambda: -b,
        "getter clone": lambda: hostile.Fused(-1).value,
        "setter conversion": lambda: setattr(hostile.Fused(1), "value", -2),
        "by-value clone": lambda: hostile.trap_value(hostile.Trap(hostile.Item(1))),
    }
    for name, call in calls.items():
        for _ in range(3):
            try:
                call()
            except PanicError as e:
                assert "exploded" in str(e) or "clone" in str(e) or "refused" in str(e), (name, e)
            else:
                raise AssertionError(name + " did not raise PanicError")
    # Everything still works afterwards, and nothing stayed borrowed.
    assert ok.method() == 1 and repr(ok) == "Bomb()" and list(ok) == [5] and ok[0] == 5
    f = hostile.Fused(3)
    f.value = 4
    assert f.value == 4
    print("ok")
    """)
    assert out.stdout == "ok\n"


def test_hostile_argument_objects_get_clear_errors():
    out = run("""
    import math
    class BadIndex:
        def __index__(self):
            raise ZeroDivisionError("no index")
    class BadFloat:
        def __float__(self):
            raise ZeroDivisionError("no float")
    class WeirdIndex:
        def __index__(self):
            return 2**100
    class IntSub(int):
        pass
    class StrSub(str):
        pass
    class Mutating(list):
        pass
    results = []
    def attempt(f, *args, **kwargs):
        try:
            r = f(*args, **kwargs)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError, IndexError) as e:
            assert str(e), (f, args, e)   # every error says something
            results.append(type(e).__name__)
        else:
            results.append(repr(r))
    attempt(hostile.echo_int, BadIndex())
    attempt(hostile.echo_int, WeirdIndex())
    attempt(hostile.echo_int, 2**63)
    attempt(hostile.echo_int, -2**63 - 1)
    attempt(hostile.echo_int, 2**10000)
    attempt(hostile.echo_int, IntSub(7))
    attempt(hostile.echo_int, True)
    attempt(hostile.echo_int, 1.5)
    attempt(hostile.echo_int, "1")
    attempt(hostile.echo_int, None)
    attempt(hostile.echo_float, BadFloat())
    attempt(hostile.echo_float, math.nan)
    attempt(hostile.echo_float, 10**400)
    attempt(hostile.echo_str, "a\\x00b")
    attempt(hostile.echo_str, "\\ud800")
    attempt(hostile.echo_str, StrSub("sub"))
    attempt(hostile.echo_str, b"bytes")
    attempt(hostile.echo_bytes, bytearray(b"xy"))
    attempt(hostile.echo_bytes, memoryview(b"xy"))
    attempt(hostile.echo_bytes, "str")
    attempt(hostile.sum_ints, [1, 2, BadIndex()])
    attempt(hostile.sum_ints, Mutating([1, 2, 3]))
    attempt(hostile.sum_ints, (1, 2, 3))
    attempt(hostile.sum_ints, iter([1, 2]))
    attempt(hostile.sum_ints, [1] * 100_000)
    attempt(hostile.count_keys, {StrSub("k"): 1})
    attempt(hostile.count_keys, {1: 1})
    attempt(hostile.count_keys, {"a": "b"})
    item = hostile.Item(3)
    attempt(hostile.sum_items, [item, item, item])
    attempt(hostile.sum_items, [item, hostile.Bag(1)])
    attempt(hostile.sum_items, [item, None])
    attempt(hostile.Item, 1, 2, 3)
    attempt(hostile.Item, value=1, extra=2)
    attempt(hostile.Item, 1, value=1)
    attempt(hostile.Item)
    attempt(item.bump, 1)
    attempt(hostile.Item.bump, hostile.Bag(1))
    attempt(hostile.Item.bump, None)
    print(len(results))
    for r in results:
        print(r)
    """)
    lines = out.stdout.split("\n")
    assert lines[0] == "38"
    # A wrong argument is a TypeError (oxbind converts only int, float, str,
    # bytes, list, tuple and dict, and their subclasses: no __index__ or
    # __float__ protocol; and, for `&[u8]`, any bytes-like object: plugin ABI
    # 0.1.7), a value out of range an OverflowError, and valid unusual
    # arguments convert.
    assert lines[1:39] == [
        "TypeError", "TypeError", "OverflowError", "OverflowError", "OverflowError", "7",
        "1", "TypeError", "TypeError", "TypeError",
        "TypeError", "nan", "OverflowError",
        "'a\\x00b'", "UnicodeEncodeError", "'sub'", "TypeError",
        "b'xy'", "b'xy'", "TypeError",
        "TypeError", "6", "6", "TypeError", "100000",
        "1", "TypeError", "TypeError",
        "9", "TypeError", "TypeError",
        "TypeError", "TypeError", "TypeError", "TypeError",
        "TypeError", "TypeError", "TypeError",
    ]


@pytest.mark.parametrize("kind", ["python", "plugin"])
def test_threads_that_exit_holding_objects_leave_exact_counts(kind):
    out = run(f"""
    before = oxbind._live_instances("hostile.Item")
    kept = []
    lock = threading.Lock()
    def work(i):
        mine = [hostile.Item(j) for j in range(50)]
        bag = hostile.Bag(3)
        first = bag.first          # a wrapper keeping the bag alive
        with lock:
            kept.append(mine[0])
            kept.append(first)
        if {kind!r} == "plugin":
            for item in mine:
                hostile.drop_later(item, 1)
        # the thread exits holding `mine`, `bag` and `first` in its frame
    for round in range(5):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(isinstance(k, hostile.Item) for k in kept)
    del kept
    deadline = time.monotonic() + 20
    while oxbind._live_instances("hostile.Item") != before and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    print(oxbind._live_instances("hostile.Item") - before)
    """, timeout=120, env_update={"OXBIND_LEAKS_FATAL": "1"})
    assert out.stdout == "0\n"
