"""Detaching: `oxbind::detach` and `#[oxbind(detach)]` let other threads run
Python (and the garbage collector stop the world) while plugin code works,
without giving up the borrow rules (spec/THREADING.md, "Detaching").

Each check runs the `detaching` fixture (tests/fixtures/detaching) in a
subprocess with a timeout. Its waits are bounded: a call that failed to
detach makes a check fail with `False` instead of hanging the suite."""

import textwrap

from conftest import plugin_path, run_python

PRELUDE = f"""
import gc, os, sys, threading, time
import oxbind
d = oxbind.load({str(plugin_path("detaching"))!r})
"""


def run(body, *, timeout=120):
    code = PRELUDE + textwrap.dedent(body)
    out = run_python(code, check=False, timeout=timeout)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def test_a_detached_call_lets_other_threads_run_python_and_the_collector():
    # While one thread waits inside `wait_for_release`, the main thread runs
    # Python, a full collection (a stop-the-world pause on free-threaded
    # builds, the GIL with it) and the call that releases the wait. Had the
    # call stayed attached, none of that could run until its wait timed out.
    out = run("""
    for waiter in ("wait_for_release", "wait_attached"):
        d.reset()
        results = []
        t = threading.Thread(target=lambda: results.append(getattr(d, waiter)(3000)))
        t.start()
        while d.waiting() == 0:
            time.sleep(0.001)
        gc.collect()
        d.release()
        t.join()
        print(waiter, results)
    """)
    lines = out.stdout.splitlines()
    assert lines[0] == "wait_for_release [True]"
    # The control: an attached wait holds everyone else up until it times out.
    assert lines[1] == "wait_attached [False]"


def test_two_detached_calls_run_at_once():
    out = run("""
    for _ in range(5):
        d.reset()
        results = []
        threads = [threading.Thread(target=lambda: results.append(d.rendezvous(2, 5000))) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert results == [True, True], results
    print("met")
    """)
    assert out.stdout == "met\n"


def test_borrows_hold_while_detached():
    # Four threads add to one tally at once, detached, each through an
    # exclusive borrow of it: they take turns, and no update is lost.
    out = run("""
    tally = d.Tally()
    def work():
        for _ in range(20):
            tally.add_slowly(1000)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads: t.start()
    reads = [tally.read() for _ in range(50)]
    for t in threads: t.join()
    assert all(r % 1000 == 0 for r in reads), reads  # never half an add
    print(tally.total, tally.read())
    """)
    assert out.stdout == "80000 80000\n"


def test_critical_sections_inside_a_detached_region_reattach():
    out = run("""
    a, b = d.Tally(), d.Tally()
    a.add_slowly(3); b.add_slowly(4)
    errors = []
    def work():
        try:
            for _ in range(2000):
                assert a.sum_locked(b) == 7
                assert b.sum_locked(a) == 7
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors
    assert a.locked_read() == 3
    # The sections exclude one another: with the GIL because each takes
    # the GIL again, on free-threaded builds as real critical sections.
    most = []
    threads = [threading.Thread(target=lambda: most.append(a.probe_sections(50))) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert max(most) == 1, most
    print("ok")
    """)
    assert out.stdout == "ok\n"


def test_panics_nesting_and_handles_inside_detach():
    out = run("""
    try:
        d.panic_detached()
    except oxbind.PanicError as e:
        assert "boom while detached" in str(e), e
    else:
        raise AssertionError("no PanicError")
    assert d.nested(20) == 41
    t = d.Tally()
    before = sys.getrefcount(t)
    threads = [threading.Thread(target=lambda: d.Tally.churn(t, 10000)) for _ in range(4)]
    for th in threads: th.start()
    for th in threads: th.join()
    gc.collect()
    assert sys.getrefcount(t) == before, (sys.getrefcount(t), before)
    print("ok")
    """)
    assert out.stdout == "ok\n"
    assert "boom while detached" in out.stderr  # the panic hook's message


def test_a_once_lock_waits_for_its_initialiser_detached():
    # One thread initialises `SLOW` (waiting, detached, for `release()`);
    # a second asks for the value meanwhile and waits for the first. The
    # main thread still runs a collection and the release: the second
    # thread waits detached, not holding up the interpreter.
    out = run("""
    d.reset()
    results = []
    first = threading.Thread(target=lambda: results.append(d.slow_once(3000)))
    first.start()
    while d.waiting() == 0:
        time.sleep(0.001)
    second = threading.Thread(target=lambda: results.append(d.slow_once(3000)))
    second.start()
    time.sleep(0.05)
    gc.collect()
    d.release()
    first.join(); second.join()
    print(results, d.waiting())
    """, timeout=60)
    assert out.stdout == "[True, True] 1\n"  # one initialiser ran


def test_exit_does_not_wait_for_a_detached_call():
    # A daemon thread is inside a long detached call when the interpreter
    # exits. Exit goes ahead; the thread never re-attaches (it is parked),
    # and the process ends normally. Attached, the same call would hold up
    # finalization for a minute (the subprocess timeout is 60 s).
    out = run("""
    d.reset()
    t = threading.Thread(target=lambda: d.wait_for_release(120_000), daemon=True)
    t.start()
    while d.waiting() == 0:
        time.sleep(0.001)
    print("exiting")
    """, timeout=60)
    assert out.stdout == "exiting\n"


def test_objects_taken_or_cloned_in_a_detached_call_hold_real_counts():
    # With the GIL, a reference taken by a detached thread is pooled. An
    # argument's temporary (`[i]`) is freed as soon as the call returns, so
    # a reference taken from it must count by then; and a clone made
    # detached and returned must count before Python can release it.
    # (Taken detached and applied late, the first crashed 3.13 and 3.11.)
    run("""
    for i in range(3000):
        assert d.drop_detached([i])
        assert d.clone_detached([i]) == [i]
    junk = [[i] for i in range(100000)]
    x = object()
    gc.collect()
    before = sys.getrefcount(x)
    for _ in range(1000):
        d.drop_detached(x)
        assert d.clone_detached(x) is x
    gc.collect()  # applies the releases still pooled
    assert sys.getrefcount(x) == before, (sys.getrefcount(x), before)
    """)
