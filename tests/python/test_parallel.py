"""Free-threading stress tests, in the style of nanobind's test_thread.py:
fresh threads started behind a Barrier, 8 threads, 100 000 iterations
each. They run on every interpreter; on 3.13t the threads really run in
parallel. Each checks an exact result, so a lost update or a race that
corrupts state fails the test.

They are marked thread_unsafe for pytest-run-parallel: each already runs
8 threads and checks process-wide totals."""

import threading

import pytest

from conftest import FREE_THREADED, plugin_path, run_python

THREADS = 8
ITERATIONS = 100_000

pytestmark = pytest.mark.thread_unsafe


def parallelize(func, n_threads=THREADS):
    """Runs func(thread_index) in n fresh threads released together."""
    barrier = threading.Barrier(n_threads)
    errors = []

    def run(i):
        barrier.wait()
        try:
            func(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_object_creation_with_identity_round_trip(counter):
    Counter, return_self = counter.Counter, counter.return_self

    def f(_):
        for _ in range(ITERATIONS):
            c = Counter()
            assert return_self(c) is c

    parallelize(f)


def test_global_counter_behind_a_pymutex(counter):
    start = counter.global_value()

    def f(_):
        inc = counter.inc_global
        for _ in range(ITERATIONS):
            inc()

    parallelize(f)
    assert counter.global_value() - start == THREADS * ITERATIONS


def test_mut_self_method_on_one_shared_counter(counter):
    c = counter.Counter()

    def f(_):
        inc = c.inc
        for _ in range(ITERATIONS):
            inc()

    parallelize(f)
    assert c.value == THREADS * ITERATIONS


def test_merge_in_both_orders_neither_deadlocks_nor_loses_counts(counter):
    a, b = counter.Counter(), counter.Counter()

    def f(i):
        first, second = (a, b) if i % 2 else (b, a)
        for k in range(ITERATIONS // 2):
            first.inc()
            if k % 2:
                first.merge(second)
            else:
                second.merge(first)

    parallelize(f)
    # Every increment survives the moves between the two counters.
    assert a.value + b.value == THREADS * (ITERATIONS // 2)


def test_distance_on_shared_points_from_many_threads(geometry, physics):
    P = geometry.Point
    p, q = P(0, 0), P(3, 4)
    results = [0.0] * THREADS

    def f(i):
        distance = physics.distance
        total = 0.0
        for _ in range(ITERATIONS):
            total += distance(p, q)
        results[i] = total

    parallelize(f)
    assert results == [5.0 * ITERATIONS] * THREADS


def test_shared_borrows_and_exclusive_borrows_interleave(geometry):
    """&self calls (norm) and &mut self calls (scale) on one Point: the
    exclusive calls wait for the shared ones, and no value is torn. With
    four writers each doubling then halving, up to four doublings can
    overlap, so the norm is always exactly 5 * 2**k; a torn read (x from
    one state, y from another) would not be."""
    p = geometry.Point(3, 4)
    allowed = {5.0 * 2**k for k in range(THREADS // 2 + 1)}

    def f(i):
        if i % 2:
            for _ in range(ITERATIONS // 10):
                n = p.norm()
                assert n in allowed, n
        else:
            for _ in range(ITERATIONS // 10):
                p.scale(2)
                p.scale(0.5)

    parallelize(f)
    assert p == geometry.Point(3, 4)


def test_critical_section_guard_keeps_counts_in_step(counter):
    """Four threads record events through `&self` while four take
    snapshots: every snapshot sees events == hits + misses, because both
    sides run under the object's critical section (without the guard, a
    snapshot between the two increments of `record` would not)."""
    t = counter.Tally()
    n = ITERATIONS // 4

    def f(i):
        if i % 2:
            for k in range(n):
                t.record(k % 3 == 0)
        else:
            for _ in range(n):
                events, hits, misses = t.snapshot()
                assert events == hits + misses, (events, hits, misses)

    parallelize(f)
    hits_per_thread = len(range(0, n, 3))
    assert t.snapshot() == [THREADS // 2 * n, THREADS // 2 * hits_per_thread,
                            THREADS // 2 * (n - hits_per_thread)]


def test_lock_self_holds_the_section_for_the_whole_call(counter):
    """`Tally.imbalance` takes no guard in its body: only the critical
    section that `lock_self` holds around the call keeps it from reading
    the counts between the two increments of a concurrent `record`."""
    t = counter.Tally()
    n = ITERATIONS // 4

    def f(i):
        if i % 2:
            for k in range(n):
                t.record(k % 2 == 0)
        else:
            imbalance = t.imbalance
            for _ in range(n):
                assert imbalance() == 0

    parallelize(f)
    assert t.snapshot() == [THREADS // 2 * n, THREADS // 4 * n, THREADS // 4 * n]


def test_locked_and_unlocked_exclusive_methods_on_one_object(counter):
    """`inc_safe` (`lock_self`, `&mut self`) and `inc` (`&mut self`, no
    lock) from threads at once on one Counter: the borrow, not the lock,
    keeps `inc` out of `inc_safe`, so no increment is lost."""
    c = counter.Counter()

    def f(i):
        step = c.inc_safe if i % 2 else c.inc
        for _ in range(ITERATIONS):
            step()

    parallelize(f)
    assert c.value == THREADS * ITERATIONS


def test_two_object_guard_in_both_orders_keeps_the_sum(counter):
    a, b = counter.Tally(), counter.Tally()
    n = ITERATIONS // 4

    def f(i):
        first, second = (a, b) if i % 2 else (b, a)
        for _ in range(n):
            first.record(True)
            first.absorb(second)

    parallelize(f)
    events = [x + y for x, y in zip(a.snapshot(), b.snapshot())]
    assert events == [THREADS * n, THREADS * n, 0]


def test_dict_argument_while_another_thread_mutates_it(counter):
    """Half the threads sum a dict that the other half grow and shrink (which
    resizes it). The dict is read under its own lock, so each sum is the
    sum of one state of the dict: the 100 fixed keys (total 4950) plus some
    of the transient keys, each worth 10**6."""
    d = {f"k{i}": i for i in range(100)}
    base = sum(d.values())

    def f(i):
        if i % 2:
            for k in range(ITERATIONS // 20):
                key = f"t{i}-{k % 50}"
                d[key] = 10**6
                if k % 50 == 49:
                    for j in range(50):
                        d.pop(f"t{i}-{j}", None)
        else:
            for _ in range(ITERATIONS // 20):
                s = counter.total(d)
                assert s >= base and (s - base) % 10**6 == 0, s

    parallelize(f)


def test_list_argument_while_another_thread_mutates_it(counter):
    """Each sum is of one state of the list: the fixed items (4950) plus one
    1000 for each of the (up to four) appenders between append and pop."""
    items = list(range(100))
    allowed = {4950 + 1000 * k for k in range(THREADS // 2 + 1)}

    def f(i):
        if i % 2:
            for k in range(ITERATIONS // 20):
                items.append(1000)
                items.pop()
        else:
            for _ in range(ITERATIONS // 20):
                s = counter.sum_all(items)
                assert s in allowed, s

    parallelize(f)


CONCURRENT_LOADS = """
import json, sys, threading, oxbind
names = ["hello", "geometry", "physics", "counter", "strings"] * 2
barrier = threading.Barrier(len(names))
modules = [None] * len(names)
def load(i):
    barrier.wait()
    modules[i] = oxbind.load({plugins!r} + "/lib" + names[i] + ".so")
threads = [threading.Thread(target=load, args=(i,)) for i in range(len(names))]
for t in threads: t.start()
for t in threads: t.join()
same = all(modules[i] is modules[i + 5] for i in range(5))
g, ph = modules[1], modules[2]
print(json.dumps({{
    "same": same,
    "plugins": oxbind.internals_info()["plugins"],
    "distance": ph.distance(g.Point(0, 0), (3, 4)),
    "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
}}))
"""


def test_concurrent_loads_of_different_plugins():
    import json

    for _ in range(5):
        out = run_python(CONCURRENT_LOADS.format(plugins=str(plugin_path("hello").parent)))
        result = json.loads(out.stdout)
        assert result["same"] is True and result["plugins"] == 5 and result["distance"] == 5.0
        if FREE_THREADED:
            assert result["gil"] is False
