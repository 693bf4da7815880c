"""`import test_thread_ext`, as nanobind's test_thread.py does it: this module
replaces itself with the oxbind plugin `tests/fixtures/nbthread`, which
provides what nanobind's tests/test_thread.cpp does."""

import sys

import oxbind
from conftest import plugin_path

# `oxbind.load` registers the plugin as sys.modules["test_thread_ext"], and
# refuses a name taken by another module: this one steps aside first. The
# import statement then returns the plugin.
del sys.modules[__name__]
oxbind.load(plugin_path("nbthread"))
