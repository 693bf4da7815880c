"""oxbind's benchmarks: per-call overhead against a raw C-API floor, and
construction scaling across threads. Run by `cargo xtask bench`, which
builds the floor and passes the paths; prints one JSON object.

Timing: each operation runs in a loop of `n` iterations, several rounds,
libraries interleaved round by round; the figure is the minimum over rounds
(the least disturbed run on a noisy machine), in ns per operation, loop
overhead included equally for every library."""

import gc
import json
import os
import sys
import threading
import time

import floor
import oxbind

PLUGINS = os.environ["OXBIND_PLUGIN_DIR"]
counter = oxbind.load(os.path.join(PLUGINS, "libcounter.so"))
ROUNDS = int(os.environ.get("OXBIND_BENCH_ROUNDS", "7"))
N = int(os.environ.get("OXBIND_BENCH_N", "300000"))


def loops(lib):
    add, Counter, return_self = lib.add, lib.Counter, lib.return_self
    c = Counter()
    inc = c.inc
    r = range(N)

    def bench_add():
        for _ in r:
            add(1, 2)

    def bench_counter():
        for _ in r:
            Counter()

    def bench_inc():
        for _ in r:
            inc()

    def bench_inc_attr():
        for _ in r:
            c.inc()

    def bench_return_self():
        for _ in r:
            return_self(c)

    return {
        "add(1, 2)": bench_add,
        "Counter()": bench_counter,
        "c.inc()": bench_inc_attr,
        "bound inc()": bench_inc,
        "return_self(c)": bench_return_self,
    }


def single_thread():
    libs = {"floor": loops(floor), "oxbind": loops(counter)}
    best = {lib: {op: float("inf") for op in ops} for lib, ops in libs.items()}
    for _ in range(ROUNDS):
        for op in libs["floor"]:
            for lib in libs:
                gc.collect()
                t0 = time.perf_counter_ns()
                libs[lib][op]()
                dt = (time.perf_counter_ns() - t0) / N
                best[lib][op] = min(best[lib][op], dt)
    return best


def timed_threads(work, k):
    """Seconds for k fresh threads, released together, each running work()."""
    barrier = threading.Barrier(k + 1)

    def run():
        barrier.wait()
        work()

    ts = [threading.Thread(target=run) for _ in range(k)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def ratio_of(work, threads=(1, 2), rounds=5):
    """Best times for 1 and 2 threads each running work(), and their ratio.
    Total work grows with the thread count: on 2 cores the ideal is 1.0."""
    best = {k: float("inf") for k in threads}
    for _ in range(rounds):
        for k in threads:
            gc.collect()
            best[k] = min(best[k], timed_threads(work, k))
    return {f"T{k}": best[k] for k in threads} | {"ratio": best[threads[-1]] / best[threads[0]]}


def scaling(Counter, n_objects=200_000):
    """Each thread builds n_objects instances into a list, then drops it."""

    def work():
        items = [Counter() for _ in range(n_objects)]
        del items

    return ratio_of(work)


def pure_python_class_scaling():
    class Plain:
        __slots__ = ("value",)

        def __init__(self):
            self.value = 0

    return scaling(Plain)


def pure_python_loop_scaling(n=2_000_000):
    """The practical best: arithmetic in a pure-Python loop, sharing no object."""

    def work():
        x = 0
        for i in range(n):
            x += i * 2

    return ratio_of(work)


result = {
    "python": sys.version.split()[0],
    "free_threaded": not getattr(sys, "_is_gil_enabled", lambda: True)(),
    "single": single_thread(),
    "scaling": {
        "oxbind Counter": scaling(counter.Counter),
        "raw C heap type": scaling(floor.Counter),
        "pure Python class": pure_python_class_scaling(),
        "pure-Python arithmetic loop (no shared object)": pure_python_loop_scaling(),
    },
}
print(json.dumps(result))
