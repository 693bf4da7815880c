"""Plugins that are not thread-safe: a plugin declaring
`free_threading_safe: false` never runs two of its calls at once, on any
build (spec/THREADING.md, "Plugins that are not thread-safe").

The `racy` fixture's counter loses updates when two calls run at once (a
plain read, a pause, a plain write), and its calls detach, so that with the
GIL too only oxbind's per-plugin lock keeps them apart. `racy_control` is
the same code declared safe: the control, which must lose updates."""

import textwrap

from conftest import plugin_path, run_python

SCRIPT = """
import sys, threading
import oxbind
plugin = oxbind.load(sys.argv[1] if len(sys.argv) > 1 else {path!r})
def work():
    for _ in range(10):
        plugin.bump(20)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(plugin.count())
"""


def count_after_racing(name):
    out = run_python(textwrap.dedent(SCRIPT.format(path=str(plugin_path(name)))), timeout=120)
    return int(out.stdout)


def test_calls_of_a_plugin_that_is_not_thread_safe_run_one_at_a_time():
    assert count_after_racing("racy") == 4 * 10 * 20


def test_the_control_declared_safe_loses_updates():
    # Without the lock the same code races: this shows the test above can
    # fail. (Four threads with 20 µs between each read and write collide
    # on every build, since the calls detach.)
    assert count_after_racing("racy_control") < 4 * 10 * 20


def test_conversions_classes_and_the_report_under_the_lock():
    out = run_python(textwrap.dedent(f"""
    import json, threading, oxbind
    racy = oxbind.load({str(plugin_path("racy"))!r})
    # Methods and functions of the plugin share one lock: threads calling
    # either at once lose no update.
    p = racy.Plain(0)
    def mixed(i):
        for _ in range(10):
            (racy.bump if i % 2 else p.bump)(20)
    threads = [threading.Thread(target=mixed, args=(i,)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert racy.count() == 800, racy.count()
    # An implicit conversion the plugin registered runs inside its own
    # serialised call (the converter itself is not serialised).
    assert racy.value_of(racy.Wrapped(5)) == 5
    assert racy.value_of(racy.Plain(6)) == 6
    # Classes, constructors and properties run under the lock too.
    ps = []
    def make():
        for i in range(200):
            ps.append(racy.Plain(i).value)
    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert sorted(ps) == sorted(list(range(200)) * 4)
    info = {{p["name"]: p["free_threading_safe"] for p in oxbind.plugins()}}
    print(json.dumps(info))
    """), timeout=120)
    assert out.stdout.strip() == '{"racy": false}'
