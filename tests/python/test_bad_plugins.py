"""Every kind of bad plugin file (bad_plugins.KINDS) gets an ImportError
that gives the path and what is wrong; the process survives all of them in
one run, and a good plugin loads after them."""

import json

import pytest

from bad_plugins import KINDS
from conftest import plugin_path, run_python


def test_there_are_at_least_ten_kinds():
    assert len(KINDS) >= 10


@pytest.mark.parametrize("kind, build, message", KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_is_refused_with_a_clear_import_error(tmp_path, kind, build, message):
    path = build(tmp_path)
    out = run_python(f"""
import json, oxbind
{"geometry = oxbind.load(" + repr(str(plugin_path("geometry"))) + ")" if "layout" in kind else ""}
try:
    oxbind.load({str(path)!r})
except ImportError as e:
    print(json.dumps([type(e).__name__, str(e), e.path]))
""")
    name, text, error_path = json.loads(out.stdout)
    assert message in text, text
    assert str(path) in text or str(path.resolve()) in text or "cannot load physics" in text
    assert error_path is not None


def test_the_process_survives_them_all_and_then_loads_a_good_plugin(tmp_path):
    paths = []
    for i, (kind, build, _) in enumerate(KINDS):
        d = tmp_path / str(i)
        d.mkdir()
        paths.append(str(build(d)))
    out = run_python(f"""
import oxbind
geometry = oxbind.load({str(plugin_path("geometry"))!r})
refused = 0
for path in {paths!r}:
    for _ in range(2):  # a second attempt fails the same way
        try:
            oxbind.load(path)
        except ImportError:
            refused += 1
hello = oxbind.load({str(plugin_path("hello"))!r})
print(refused, hello.greet("after"), len(oxbind.plugins()))
""")
    refused, greeting, _, count = out.stdout.split()
    assert int(refused) == 2 * len(KINDS)
    assert greeting == "Hello," and count == "2"
