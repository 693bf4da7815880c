"""The leak report at exit (spec/LEAKS.md): exact lines from a plugin that
leaks on purpose (tests/fixtures/leaky), the exit status that
OXBIND_LEAKS_FATAL asks for, the switch, a clean run that prints nothing,
and the per-thread live counts behind it. They run on every interpreter
the suite runs on: 3.13t, 3.13 and 3.11."""

import threading

import pytest

from conftest import plugin_path, run_python

LEAK = f"""
import oxbind
leaky = oxbind.load({str(plugin_path("leaky"))!r})
leaky.keep(leaky.Blob(3))
leaky.keep(leaky.Shelf(5).blob)   # a reference into the shelf: keeps it alive
"""

EXPECTED = [
    "oxbind: leaked 3 instances",
    "oxbind:   2 x leaky.Blob (plugin leaky 0.1.0)",
    "oxbind:   1 x leaky.Shelf (plugin leaky 0.1.0)",
    "oxbind: leaked 1 keep-alive record",
    "oxbind:   a leaky.Blob reference keeps a leaky.Shelf alive",
    "oxbind: turn this report off with oxbind.set_leak_warnings(False); see spec/LEAKS.md",
]

pytestmark = pytest.mark.thread_unsafe  # live counts are process-wide


def test_the_report_lists_leaked_instances_and_keep_alive_records():
    out = run_python(LEAK, env_update={"OXBIND_LEAKS_FATAL": None})
    assert out.returncode == 0
    assert out.stderr.splitlines() == EXPECTED


@pytest.mark.parametrize("value, status", [("1", 70), ("yes", 70), ("0", 0), ("", 0)])
def test_the_exit_status_follows_the_environment(value, status):
    out = run_python(LEAK, check=False, env_update={"OXBIND_LEAKS_FATAL": value})
    assert out.returncode == status, out.stderr
    assert out.stderr.splitlines() == EXPECTED


def test_set_leak_warnings_false_turns_report_and_status_off():
    out = run_python(LEAK + "oxbind.set_leak_warnings(False)\n", check=False,
                     env_update={"OXBIND_LEAKS_FATAL": "1"})
    assert (out.returncode, out.stderr) == (0, "")


def test_set_leak_warnings_from_a_standalone_module_controls_the_runtime():
    # The report belongs to the runtime, whichever module created it.
    out = run_python("import geometry\n" + LEAK + "geometry.__oxbind__.set_leak_warnings(False)\n",
                     check=False, env_update={"OXBIND_LEAKS_FATAL": "1"})
    assert (out.returncode, out.stderr) == (0, "")


def test_set_leak_warnings_wants_a_bool(oxbind):
    with pytest.raises(TypeError, match=r"set_leak_warnings\(\) argument 'enabled' must be bool, not int"):
        oxbind.set_leak_warnings(0)
    assert "leak report" in oxbind.set_leak_warnings.__doc__


# Every example plugin, as plugins only, or with geometry, counter and
# strings as standalone extension modules (one file per name, so those
# three are then not loaded as plugins).
CLEAN_LOADS = {
    "plugins": 'g = load("geometry"); c = load("counter"); s = load("strings")',
    "mixed": "import geometry as g, counter as c, strings as s",
}


@pytest.mark.parametrize("mode", sorted(CLEAN_LOADS))
def test_a_clean_run_of_every_example_plugin_prints_nothing(mode):
    code = f"""
import oxbind
d = {str(plugin_path("hello").parent)!r}
load = lambda name: oxbind.load(d + "/lib" + name + ".so")
{CLEAN_LOADS[mode]}
hello = load("hello")
ph = load("physics")
leaky = load("leaky")
hello.greet("x")
assert s.count_words("a b c") == 3
b = ph.Body(g.Point(1, 2), 3.0)
pos = b.position
assert pos is b.position
ph.distance(g.Point(0, 0), (3, 4))
k = c.Counter(); k.inc(); c.return_self(k); c.total({{"a": 1}})
t = c.Tally(); t.record(True)
assert leaky.hold_briefly(leaky.Blob(1))
try:
    hello.add("1", 2)
except TypeError as e:
    err = e
cycle = [b]; cycle.append(cycle)
assert sorted(p["name"] for p in oxbind.plugins()) == ["counter", "geometry", "hello", "leaky", "physics", "strings"]
"""
    out = run_python(code, check=False, env_update={"OXBIND_LEAKS_FATAL": "1"})
    assert (out.returncode, out.stderr) == (0, "")


def test_live_counts_follow_construction_and_destruction(counter, oxbind):
    before = oxbind._live_instances("counter.Counter")
    items = [counter.Counter() for _ in range(10)]
    assert oxbind._live_instances("counter.Counter") == before + 10
    del items
    assert oxbind._live_instances("counter.Counter") == before
    assert oxbind._live_instances("no.Such") is None


def test_objects_freed_on_another_thread_are_counted_once(counter, oxbind):
    before = oxbind._live_instances("counter.Counter")
    made = []
    maker = threading.Thread(target=lambda: made.extend(counter.Counter() for _ in range(100)))
    maker.start()
    maker.join()
    assert oxbind._live_instances("counter.Counter") == before + 100
    freer = threading.Thread(target=made.clear)
    freer.start()
    freer.join()
    assert oxbind._live_instances("counter.Counter") == before


def test_a_handle_kept_only_for_a_call_is_released(oxbind):
    leaky = oxbind.load(plugin_path("leaky"))
    before = oxbind._live_instances("leaky.Blob")
    assert leaky.hold_briefly(leaky.Blob(1)) is True
    assert oxbind._live_instances("leaky.Blob") == before
    with pytest.raises(TypeError, match=r"keep\(\) argument 'blob' must be leaky.Blob, not int"):
        leaky.keep(1)


# --- Garbage-collector support (`#[oxbind::class(gc)]`) ---------------------


@pytest.fixture(scope="module")
def leaky(oxbind):
    return oxbind.load(plugin_path("leaky"))


def test_a_gc_class_is_a_gc_type(leaky):
    import gc

    a = leaky.Node("a")
    assert gc.is_tracked(a)
    assert not gc.is_tracked(leaky.Blob(1))  # holds no Python references


def test_traverse_reports_held_references_without_changing_counts(leaky):
    import gc
    import sys

    a, b = leaky.Node("a"), leaky.Node("b")
    a.link(b)
    before = sys.getrefcount(b)
    referents = gc.get_referents(a)
    assert any(r is b for r in referents)
    assert type(a) in referents  # instances of heap types visit their type
    del referents
    assert sys.getrefcount(b) == before


def test_a_cycle_through_handles_is_collected(leaky, oxbind):
    import gc

    gc.collect()
    before = oxbind._live_instances("leaky.Node")
    a, b = leaky.Node("a"), leaky.Node("b")
    a.link(b)
    b.link(a)
    self_loop = leaky.Node("c")
    self_loop.link(self_loop)
    assert oxbind._live_instances("leaky.Node") == before + 3
    del a, b, self_loop
    gc.collect()
    assert oxbind._live_instances("leaky.Node") == before


def test_a_collected_cycle_leaves_no_leak_report():
    code = f"""
import gc, oxbind
leaky = oxbind.load({str(plugin_path("leaky"))!r})
for _ in range(100):
    a, b = leaky.Node("a"), leaky.Node("b")
    a.link(b); b.link(a)
gc.collect()
"""
    out = run_python(code, check=False, env_update={"OXBIND_LEAKS_FATAL": "1"})
    assert (out.returncode, out.stderr) == (0, "")


def test_cycles_collected_while_other_threads_make_more(leaky, oxbind):
    """On 3.13t the collector stops every thread; traversal must see only
    consistent values while other threads link nodes."""
    import gc

    gc.collect()
    before = oxbind._live_instances("leaky.Node")

    def churn():
        for _ in range(2000):
            a, b = leaky.Node("a"), leaky.Node("b")
            a.link(b)
            b.link(a)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(20):
        gc.collect()
    for t in threads:
        t.join()
    gc.collect()
    assert oxbind._live_instances("leaky.Node") == before
