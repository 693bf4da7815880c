"""Before/after check of two oxbind builds on the call paths a change
touches: scalar arguments, a method, class arguments, a list and a dict
argument. Prints one line of best-of-5 ns per call.

Run it alternately against the two builds, several rounds, on one
interpreter, and compare each line's figures side by side (the machine is
noisy: never compare runs made at different times):

    PYTHONPATH=<build>/target/python/3.13t PLUGINS=<build>/target/release \
        ~/.cache/oxbind/venv/3.13t/bin/python tests/bench/ab_calls.py

(The older build can live in a `git worktree` with its own
`CARGO_TARGET_DIR`.) `cargo xtask bench` is the measurement against the
peers; this is the quick check between two commits.
"""

import os, sys, time, oxbind
d = os.environ["PLUGINS"]
g = oxbind.load(f"{d}/libgeometry.so")
h = oxbind.load(f"{d}/libhello.so")
c = oxbind.load(f"{d}/libcounter.so")
p, q = g.Point(1.0, 2.0), g.Point(3.0, 4.0)
ctr = c.Counter()
L = list(range(100))
D = {str(k): k for k in range(10)}
def t(f, n=200000):
    best = 1e9
    for _ in range(5):
        s = time.perf_counter()
        for _ in range(n): f()
        best = min(best, time.perf_counter() - s)
    return best / n * 1e9
res = {
  "add": t(lambda: h.add(1, 2)),
  "inc": t(lambda: ctr.inc()),
  "midpoint(&P,&P)": t(lambda: g.midpoint(p, q)),
  "distance": t(lambda: g.distance(1.0, 2.0, 3.0, 4.0)),
  "sum_all(list100)": t(lambda: c.sum_all(L), 50000),
  "total(dict10)": t(lambda: c.total(D), 50000),
}
print(" ".join(f"{k}={v:.1f}" for k, v in res.items()))
