"""oxbind's benchmarks against the raw C-API floor and the peers (nanobind,
pybind11, PyO3): per-call overhead, one cross-module call, and scaling
across threads. Run by `cargo xtask bench`, which builds every extension and
puts them on PYTHONPATH; prints one JSON object.

Usage: bench.py --libs floor,nanobind,... [--scaling-libs ...] [--controls]

Libraries (each the same tiny API: add, Counter with inc / inc_safe / value,
return_self, detached, call_py, pair, dict10; and, for floor, nanobind and
oxbind, sum_f64 over a float64 buffer and arange(n), an array result): floor (tests/bench/floor.c), nanobind
(nb_counter), pybind11 (pb_counter), PyO3 (pyo3_counter), "oxbind plugin"
(the counter plugin through oxbind.load) and "oxbind standalone" (`import
counter`). The two oxbind forms cannot share a process (one module per
plugin name), so xtask runs this script once per form, each time with the
floor beside it.

Timing: each operation runs in a loop of `n` iterations, several rounds,
libraries interleaved round by round; the figure is the minimum over rounds
(the least disturbed run on a noisy machine), in ns per operation, loop
overhead included equally for every library; `call_py(f)` is in ns per call
of `f` (`n` calls of the Python function `ident`, made CALLS at a time by
`call_py(ident, CALLS)`). Loops read only locals: on 3.13t a closure
variable is read under the cell's lock. Scaling (3.13t only) times each
library in a process of its own (`--scaling-one`), alternating over
OXBIND_BENCH_SCALING_PROCESSES passes, and keeps the best times."""

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
import threading
import time

ROUNDS = int(os.environ.get("OXBIND_BENCH_ROUNDS", "7"))
N = int(os.environ.get("OXBIND_BENCH_N", "300000"))
# Objects built (construction) or calls made (inc_safe) per thread, and rounds.
SCALING_N = int(os.environ.get("OXBIND_BENCH_SCALING_N", "200000"))
SCALING_ROUNDS = int(os.environ.get("OXBIND_BENCH_SCALING_ROUNDS", "5"))
# Passes over the libraries, each library's scaling in a fresh process.
SCALING_PROCESSES = int(os.environ.get("OXBIND_BENCH_SCALING_PROCESSES", "4"))
PLUGINS = os.environ.get("OXBIND_PLUGIN_DIR", "")
# Calls of the Python callable per call of `call_py` (the `call_py(f)` row).
CALLS = 100
# The array rows: elements of the large array, and how many calls of the
# large-array rows each round makes (their figure is still per call).
BIG = 1_000_000
HEAVY = max(3, N // 3000)
PER_OP = {"sum(a1M)": HEAVY, "arange(1M)": HEAVY}


def ident(x):
    """The Python callable that `call_py` calls: a plain Python function."""
    return x


def oxbind_plugin(name):
    import oxbind

    return oxbind.load(os.path.join(PLUGINS, f"lib{name}.so"))


def counter_module(lib):
    """The tiny extension of library `lib`."""
    if lib == "oxbind plugin":
        return oxbind_plugin("counter")
    name = {"floor": "floor", "nanobind": "nb_counter", "pybind11": "pb_counter",
            "PyO3": "pyo3_counter", "oxbind standalone": "counter"}[lib]
    return importlib.import_module(name)


def cross_modules(lib):
    """(Point, distance) from two modules sharing the Point type, or None."""
    if lib == "oxbind plugin":
        geometry, physics = oxbind_plugin("geometry"), oxbind_plugin("physics")
    elif lib == "oxbind standalone":
        geometry, physics = importlib.import_module("geometry"), importlib.import_module("physics")
    elif lib == "nanobind":
        geometry, physics = importlib.import_module("nb_geometry"), importlib.import_module("nb_physics")
    else:
        return None
    return geometry.Point, physics.distance


def loops(mod):
    """The per-call loops. Everything a loop touches is bound as a default
    argument, so that the loop reads locals: on 3.13t a closure variable is
    read under the cell's critical section (see `construction`), which would
    add a lock and an unlock to every iteration of every library."""
    add, Counter, return_self = mod.add, mod.Counter, mod.return_self
    c = Counter()
    inc = c.inc
    r = range(N)

    def bench_add(add=add, r=r):
        for _ in r:
            add(1, 2)

    def bench_counter(Counter=Counter, r=r):
        for _ in r:
            Counter()

    def bench_inc(inc=inc, r=r):
        for _ in r:
            inc()

    def bench_inc_attr(c=c, r=r):
        for _ in r:
            c.inc()

    def bench_inc_safe(c=c, r=r):
        for _ in r:
            c.inc_safe()

    def bench_value(c=c, r=r):
        for _ in r:
            c.value

    def bench_return_self(return_self=return_self, c=c, r=r):
        for _ in r:
            return_self(c)

    def bench_detached(detached=mod.detached, r=r):
        for _ in r:
            detached()

    # N calls of f in all, so that the figure is per call of f: N // CALLS
    # calls of call_py(ident, CALLS), and the rest in one more.
    def bench_call_py(call_py=mod.call_py, f=ident, k=CALLS, r=range(N // CALLS),
                      rest=N % CALLS):
        for _ in r:
            call_py(f, k)
        if rest:
            call_py(f, rest)

    def bench_pair(pair=mod.pair, r=r):
        for _ in r:
            pair()

    def bench_dict10(dict10=mod.dict10, r=r):
        for _ in r:
            dict10()

    arrays = {}
    if hasattr(mod, "sum_f64"):
        import numpy

        big, small = numpy.arange(BIG, dtype=numpy.float64), numpy.ones(8)
        assert mod.sum_f64(big) == BIG * (BIG - 1) / 2 and mod.sum_f64(small) == 8.0
        made = numpy.asarray(mod.arange(BIG))
        assert made.dtype == numpy.float64 and made.shape == (BIG,) and made[-1] == BIG - 1

        def bench_sum_big(sum_f64=mod.sum_f64, a=big, r=range(HEAVY)):
            for _ in r:
                sum_f64(a)

        def bench_sum_small(sum_f64=mod.sum_f64, a=small, r=r):
            for _ in r:
                sum_f64(a)

        def bench_arange(arange=mod.arange, asarray=numpy.asarray, n=BIG, r=range(HEAVY)):
            for _ in r:
                asarray(arange(n))

        arrays = {"sum(a1M)": bench_sum_big, "sum(a8)": bench_sum_small, "arange(1M)": bench_arange}

    return {
        "add(1, 2)": bench_add,
        "Counter()": bench_counter,
        "c.inc()": bench_inc_attr,
        "bound inc()": bench_inc,
        "c.inc_safe()": bench_inc_safe,
        "c.value": bench_value,
        "return_self(c)": bench_return_self,
        "detached()": bench_detached,
        "call_py(f)": bench_call_py,
        "pair()": bench_pair,
        "dict10()": bench_dict10,
    } | arrays


def cross_loop(Point, distance):
    p, q = Point(0.0, 0.0), Point(3.0, 4.0)
    assert distance(p, q) == 5.0
    r = range(N)

    def bench_distance(distance=distance, p=p, q=q, r=r):
        for _ in r:
            distance(p, q)

    return {"distance(p, q)": bench_distance}


def interleaved(benches):
    """benches: {lib: {op: fn}}. Best ns per call, rounds interleaved."""
    best = {lib: {op: float("inf") for op in ops} for lib, ops in benches.items()}
    ops = list(dict.fromkeys(op for b in benches.values() for op in b))
    for _ in range(ROUNDS):
        for op in ops:
            for lib, b in benches.items():
                if op not in b:
                    continue
                gc.collect()
                t0 = time.perf_counter_ns()
                b[op]()
                dt = (time.perf_counter_ns() - t0) / PER_OP.get(op, N)
                best[lib][op] = min(best[lib][op], dt)
    return best


def timed_threads(work, k):
    """Seconds for k fresh threads, released together, each running work():
    from the first thread's start to the last thread's end, as the threads
    themselves read the clock. (The main thread used to read it after the
    barrier, but with more threads than cores it could be scheduled late,
    after the workers had begun: the clock then started late, and the
    minimum over rounds picked exactly those runs. A two-thread run once
    measured a third of a one-thread run.)
    An exception in a thread is raised here: a thread that died early would
    otherwise pass for a fast one."""
    barrier = threading.Barrier(k)
    starts, ends, errors = [], [], []

    def run():
        barrier.wait()
        starts.append(time.perf_counter())
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - raised below
            errors.append(e)
        ends.append(time.perf_counter())

    ts = [threading.Thread(target=run) for _ in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"a benchmark thread failed: {errors[0]!r}") from errors[0]
    return max(ends) - min(starts)


def ratios_of(works, threads=(1, 2)):
    """works: {name: fn}. Best times for 1 and 2 threads each running the
    work, and their ratio; the works are interleaved round by round. Total
    work grows with the thread count: on 2 cores the ideal is 1.0."""
    best = {name: {k: float("inf") for k in threads} for name in works}
    for _ in range(SCALING_ROUNDS):
        for name, work in works.items():
            for k in threads:
                gc.collect()
                best[name][k] = min(best[name][k], timed_threads(work, k))
    return {name: {f"T{k}": b[k] for k in threads} | {"ratio": b[threads[-1]] / b[threads[0]]}
            for name, b in best.items()}


# Every scaling work function copies what its loop calls into a local first.
# On 3.13t, reading a closure variable (LOAD_DEREF) takes the cell's critical
# section (CPython 3.13's PyCell_GetRef), so a loop that named the class
# through the enclosing function's parameter made the threads contend on
# that one cell's lock on every iteration, whatever the library.


def construction(Counter):
    """Each thread builds SCALING_N instances into a list, then drops it."""

    def work():
        make, n = Counter, SCALING_N  # locals: see above
        items = [make() for _ in range(n)]
        del items

    return work


def inc_safe_shared(Counter):
    """Every thread calls inc_safe() SCALING_N times on one shared object."""
    c = Counter()

    def work():
        f, n = c.inc_safe, SCALING_N  # locals: see above
        for _ in range(n):
            f()

    return work


class Plain:
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def pure_python_loop(n=None):
    """The practical best: arithmetic in a pure-Python loop, sharing no object."""
    n = n or SCALING_N * 10

    def work():
        x, k = 0, n  # a local: see above
        for i in range(k):
            x += i * 2

    return work


def builtin_range():
    """Construction of a builtin object with no extension code involved:
    `range(1, 2, 3)`, 64 bytes on 3.13t, near an oxbind Counter's 72. What
    CPython's allocator alone costs two threads for objects of that size."""

    def work():
        make, n = range, SCALING_N  # locals: see above
        items = [make(1, 2, 3) for _ in range(n)]
        del items

    return work


# The scaling controls: no extension involved.
CONTROLS = {
    "pure Python class": lambda: construction(Plain),
    "builtin range(1, 2, 3) (64 bytes)": builtin_range,
    "pure-Python arithmetic loop (no shared object)": lambda: pure_python_loop(),
}


def scaling_one(name):
    """The scaling works of one library (or control), timed in this process
    alone: {"construction": {T1, T2}, "inc_safe": {T1, T2}} (no inc_safe for
    a control)."""
    if name in CONTROLS:
        return {"construction": ratios_of({name: CONTROLS[name]()})[name]}
    Counter = counter_module(name).Counter
    return {
        "construction": ratios_of({name: construction(Counter)})[name],
        "inc_safe": ratios_of({name: inc_safe_shared(Counter)})[name],
    }


def scaling(names):
    """Scaling ratios, each library (and control) in a process of its own:
    the heap one library's 2-thread run leaves behind (a mortal type's
    contended run above all) slowed the next library's run by up to 15% when
    they shared a process. The processes alternate over SCALING_PROCESSES
    passes, and the best T1 and T2 of each are kept."""
    best = {"construction": {}, "inc_safe": {}}
    failed = {}
    for _ in range(SCALING_PROCESSES):
        for name in names:
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--scaling-one", name],
                capture_output=True, text=True)
            if out.returncode != 0:
                # Kept out of the tables, and reported with its error.
                lines = out.stderr.strip().splitlines() or [f"exit status {out.returncode}"]
                failed.setdefault(name, lines[-1])
                continue
            for kind, times in json.loads(out.stdout).items():
                mine = best[kind].setdefault(name, {"T1": float("inf"), "T2": float("inf")})
                for k in ("T1", "T2"):
                    mine[k] = min(mine[k], times[k])
    for kind in best.values():
        for times in kind.values():
            times["ratio"] = times["T2"] / times["T1"]
    return best | {"failed": failed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libs")
    ap.add_argument("--scaling-libs", default=None, help="default: all of --libs")
    ap.add_argument("--controls", action="store_true",
                    help="also measure the pure-Python scaling controls")
    ap.add_argument("--scaling-one", metavar="NAME",
                    help="(internal) time one library's scaling works and print them")
    args = ap.parse_args()
    if args.scaling_one:
        print(json.dumps(scaling_one(args.scaling_one)))
        return
    if not args.libs:
        ap.error("--libs is required")
    libs = args.libs.split(",")
    scaling_libs = libs if args.scaling_libs is None else [x for x in args.scaling_libs.split(",") if x]
    mods = {lib: counter_module(lib) for lib in libs}
    free_threaded = not getattr(sys, "_is_gil_enabled", lambda: True)()

    single = interleaved({lib: loops(mods[lib]) for lib in libs})
    crosses = {lib: cross_loop(*pair) for lib in libs if (pair := cross_modules(lib))}
    cross = {lib: v["distance(p, q)"] for lib, v in interleaved(crosses).items()}

    result = {
        "python": sys.version.split()[0],
        "free_threaded": free_threaded,
        "n": N,
        "heavy": HEAVY,
        "rounds": ROUNDS,
        "libs": libs,
        "single": single,
        "cross": cross,
    }
    if free_threaded:
        names = scaling_libs + (list(CONTROLS) if args.controls else [])
        result["scaling"] = {
            "n": SCALING_N,
            "rounds": SCALING_ROUNDS,
            "processes": SCALING_PROCESSES,
            **scaling(names),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
