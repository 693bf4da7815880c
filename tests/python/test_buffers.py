"""Buffers and arrays, zero copy (plugin ABI 0.1.7, `TypeKind::BUFFER`;
the `values` fixture plugin).

- `&[T]` and `&mut [T]` over NumPy arrays, `array.array`, `memoryview`,
  `bytearray` and `bytes`: the plugin reads and writes the caller's memory
  (proved by writing through `&mut [T]` and by the address of `&[u8]`).
- `ArrayView<T>`/`ArrayViewMut<T>`: any shape and strides (transposed,
  sliced, reversed, broadcast), bool elements.
- Every mismatch raises TypeError or BufferError naming the parameter, the
  expected element type, contiguity or writability, and what was given.
- The range registry: a mutable buffer never aliases another argument of
  the same call or of a call in progress.
- `Array<T>` results: `numpy.asarray` shares their memory, which is freed
  when the last view goes.
- Concurrency: threads writing an array while calls read it, and calls on
  many threads at once."""

import array
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from conftest import plugin_path

@pytest.fixture(scope="module")
def values(oxbind):
    return oxbind.load(plugin_path("values"))

# --- Slices: zero copy, every exporter --------------------------------------

def test_slices_read_numpy_array_array_and_memoryview(values):
    a = np.arange(10, dtype=np.float64)
    assert values.sum_f64(a) == 45.0
    assert values.sum_f64(array.array("d", [1.5, 2.5])) == 4.0
    assert values.sum_f64(memoryview(array.array("d", [1.0, 2.0, 3.0]))) == 6.0
    assert values.sum_f64(np.zeros(0)) == 0.0
    # Any number of dimensions, C-contiguous, read as one run.
    assert values.sum_f64(np.ones((3, 4))) == 12.0
    assert values.sum_i32(np.array([1, -2, 3], dtype=np.int32)) == 2
    assert values.sum_i32(array.array("i", [5, 6])) == 11
    assert values.sum_f64_detached(np.full(1000, 0.5)) == 500.0
    assert values.maybe_sum(None) is None
    assert values.maybe_sum(np.ones(4)) == 4.0

def test_byte_slices_take_every_bytes_like_object_without_copying(values):
    for obj in [b"abc", bytearray(b"abc"), memoryview(b"abc"), array.array("B", b"abc"), np.frombuffer(b"abc", dtype=np.uint8)]:
        assert values.bytes_of(obj) == [97, 98, 99], type(obj)
    assert values.byte_len() == 3  # the b"abc" default
    assert values.byte_len(bytearray(5)) == 5
    # Zero copy: the address the plugin sees is the object's own.
    ba = bytearray(b"hello")
    a = np.frombuffer(ba, dtype=np.uint8)
    assert values.address_u8(ba) == a.ctypes.data
    big = np.zeros(1 << 20, dtype=np.uint8)
    assert values.address_u8(big) == big.ctypes.data
    # A memoryview slice starts inside its base.
    assert values.address_u8(memoryview(ba)[2:]) == a.ctypes.data + 2
    # Vec<u8> copies, from any bytes-like object too; the result is bytes.
    assert values.copy_bytes(bytearray(b"xyz")) == b"xyz"
    assert values.copy_bytes(memoryview(b"xyz")) == b"xyz"

def test_mutable_slices_write_the_callers_memory(values):
    a = np.arange(5, dtype=np.float64)
    assert values.scale(a, 2.0) is None
    assert a.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    arr = array.array("d", [1.0, 2.0])
    values.scale(arr, 10.0)
    assert arr.tolist() == [10.0, 20.0]
    m = np.ones((2, 3))
    values.scale(memoryview(m), 3.0)
    assert m.sum() == 18.0
    dst, src = np.zeros(3), np.array([1.0, 2.0, 3.0])
    values.add_into(dst, src)
    values.add_into(dst, src)
    assert dst.tolist() == [2.0, 4.0, 6.0]
    # Distinct halves of one array do not overlap: allowed.
    both = np.arange(6, dtype=np.float64)
    values.add_into(both[:3], both[3:])
    assert both.tolist() == [3.0, 5.0, 7.0, 3.0, 4.0, 5.0]

# --- Mismatches ---------------------------------------------------------------

def test_wrong_element_type_names_expected_and_given(values):
    with pytest.raises(TypeError, match=r"sum_f64\(\) argument 'xs' must be a C-contiguous buffer of float64, not a buffer of int64 \(format 'l'\)"):
        values.sum_f64(np.arange(3))
    with pytest.raises(TypeError, match=r"argument 'xs' must be a C-contiguous buffer of float64, not a buffer of float32"):
        values.sum_f64(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"argument 'xs' must be a C-contiguous buffer of int32, not a buffer of uint32"):
        values.sum_i32(np.ones(3, dtype=np.uint32))
    with pytest.raises(TypeError, match=r"argument 'xs' must be a C-contiguous buffer of float64, not bytes"):
        values.sum_f64(b"12345678")
    with pytest.raises(TypeError, match=r"argument 'xs' must be a C-contiguous buffer of float64, not list"):
        values.sum_f64([1.0, 2.0])
    with pytest.raises(TypeError, match=r"argument 'xs' must be a bytes-like object, not str"):
        values.bytes_of("abc")
    # A big-endian array is another element type on this machine.
    with pytest.raises(TypeError, match=r"not a buffer of format '>d'"):
        values.sum_f64(np.ones(2, dtype=">f8"))
    # Record dtypes and other formats are named as given.
    with pytest.raises(TypeError, match=r"not a buffer of format"):
        values.sum_f64(np.zeros(2, dtype=[("a", "f8"), ("b", "f8")]))

def test_an_exporters_own_error_names_the_parameter(values):
    # NumPy cannot export datetimes: its ValueError keeps its class and
    # gains the function, the parameter and what was expected.
    with pytest.raises(ValueError, match=r"^sum_i32\(\) argument 'xs' could not be read as a C-contiguous buffer of int32: .+"):
        values.sum_i32(np.zeros(3, dtype="M8[s]"))
    if sys.version_info >= (3, 12):

        class Broken:
            def __buffer__(self, flags):
                raise RuntimeError("no buffer today")

        with pytest.raises(RuntimeError, match=r"^sum_f64\(\) argument 'xs' could not be read as a C-contiguous buffer of float64: no buffer today$"):
            values.sum_f64(Broken())


def test_layout_mismatches_raise_buffer_error(values):
    a = np.arange(12, dtype=np.float64)
    with pytest.raises(BufferError, match=r"sum_f64\(\) argument 'xs' must be C-contiguous .*strides \[2\]"):
        values.sum_f64(a[::2])
    with pytest.raises(BufferError, match=r"must be C-contiguous"):
        values.sum_f64(a.reshape(3, 4).T)
    ro = np.ones(3)
    ro.flags.writeable = False
    assert values.sum_f64(ro) == 3.0  # reading a read-only array is fine
    with pytest.raises(BufferError, match=r"scale\(\) argument 'xs' must be a writable C-contiguous buffer of float64, not a read-only buffer"):
        values.scale(ro, 2.0)
    with pytest.raises(BufferError, match=r"not a read-only buffer"):
        values.scale(memoryview(np.ones(2)).toreadonly(), 2.0)
    with pytest.raises(TypeError, match=r"bump_then\(\) argument 'xs' must be a writable C-contiguous buffer of int64, not bytes"):
        values.bump_then(b"12345678", lambda: None)
    # Misaligned: a float64 view starting one byte in.
    raw = np.zeros(17, dtype=np.uint8)
    mis = raw[1:].view(np.float64)
    with pytest.raises(BufferError, match=r"not aligned for float64"):
        values.sum_f64(mis)
    assert ro.tolist() == [1.0, 1.0, 1.0]

def test_a_mutable_buffer_never_aliases_another_argument(values):
    a = np.ones(4)
    with pytest.raises(BufferError, match=r"add_into\(\) argument 'src' overlaps memory .* holds mutably"):
        values.add_into(a, a)
    # Overlapping slices of one array are refused too.
    with pytest.raises(BufferError, match=r"overlaps"):
        values.add_into(a[:3], a[2:])
    assert a.tolist() == [1.0] * 4  # nothing ran
    # The claims end with the call: the same array works again.
    values.add_into(a[:2], a[2:])
    assert a.tolist() == [2.0, 2.0, 1.0, 1.0]

def test_a_refused_claim_leaves_the_holders_claim_in_force(values):
    # A nested call refused for overlapping a held mutable buffer must not
    # end the holder's claim: a second attempt is refused too, and so is a
    # reader.
    xs = np.zeros(2, dtype=np.int64)
    outcomes = []

    def reenter():
        for f in (lambda: values.bump_then(xs, lambda: None),) * 3 + (lambda: values.sum_i32(xs.view(np.int32)),):
            try:
                f()
                outcomes.append("ran")
            except BufferError:
                outcomes.append("refused")

    values.bump_then(xs, reenter)
    assert outcomes == ["refused"] * 4
    assert xs.tolist() == [1, 1]


def test_a_mutable_buffer_is_claimed_through_callbacks(values):
    # While bump_then holds xs mutably, a nested call reading or writing
    # the same memory is refused; other memory is fine.
    xs = np.zeros(3, dtype=np.int64)
    seen = []

    def reenter():
        for f in (lambda: values.sum_f64(xs.view(np.float64)), lambda: values.bump_then(xs, lambda: None)):
            try:
                f()
                seen.append("ran")
            except BufferError as e:
                seen.append(str(e))
        seen.append(values.sum_f64(np.ones(2)))

    values.bump_then(xs, reenter)
    assert len(seen) == 3 and all("overlaps" in s for s in seen[:2]), seen
    assert seen[2] == 2.0
    assert xs.tolist() == [1, 1, 1]
    values.bump_then(xs, lambda: None)  # released after the call
    assert xs.tolist() == [2, 2, 2]

# --- Views --------------------------------------------------------------------

def test_views_read_any_shape_and_strides(values):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert values.describe(a) == ([3, 4], [4, 1], a.ravel().tolist())
    t = a.T
    assert values.describe(t) == ([4, 3], [1, 4], t.ravel().tolist())
    r = a[::-1, ::2]
    assert values.describe(r) == ([3, 2], [-4, 2], r.ravel().tolist())
    b = np.broadcast_to(np.array([1.0, 2.0]), (3, 2))
    assert values.describe(b) == ([3, 2], [0, 1], b.ravel().tolist())
    assert values.describe(np.float64(7.0).reshape(())) == ([], [], [7.0])
    assert values.describe(np.zeros((0, 5))) == ([0, 5], [5, 1], [])
    g = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert values.at2(g, 1, 2) == 5
    assert values.at2(g.T, 2, 1) == 5
    assert values.at2(g, 2, 0) is None
    assert values.count_true(np.array([True, False, True])) == 2
    # A bool view reads any byte as a bool: nonzero is True.
    assert values.count_true(memoryview(bytes([0, 1, 2, 255])).cast("?")) == 3

def test_mutable_views_write_strided_memory(values):
    a = np.zeros((4, 6))
    sub = a[1:3, ::2]
    values.fill_grid(sub)
    assert sub.tolist() == [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]]
    assert a[0].sum() == 0 and a[3].sum() == 0 and a[:, 1::2].sum() == 0
    values.fill_grid(a.T)
    assert a[2, 1] == 12.0
    with pytest.raises(BufferError, match=r"fill_grid\(\) argument 'v' must be a writable buffer of float64, not a read-only buffer"):
        values.fill_grid(np.broadcast_to(np.zeros(2), (2, 2)))
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        values.fill_grid(np.zeros(3))

# --- Array results --------------------------------------------------------------

def test_array_results_share_their_memory_with_numpy(oxbind, values):
    r = values.arange(5)
    assert repr(r) == "oxbind.Array(float64, shape=(5,))"
    assert type(r).__name__ == "Array"
    a = np.asarray(r)
    assert a.dtype == np.float64 and a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    b = np.asarray(r)
    assert np.shares_memory(a, b)
    a[0] = 42.0
    assert b[0] == 42.0 and memoryview(r)[0] == 42.0
    # The memory outlives the result object while a view holds it.
    del r, b
    assert a.tolist() == [42.0, 1.0, 2.0, 3.0, 4.0]
    g = np.asarray(values.grid(2, 3))
    assert g.dtype == np.int32 and g.shape == (2, 3) and g.tolist() == [[0, 1, 2], [3, 4, 5]]
    m = memoryview(values.grid(2, 3))
    assert m.format == "i" and m.shape == (2, 3) and m.strides == (12, 4) and not m.readonly
    assert np.asarray(values.alternating(3)).tolist() == [True, False, True]
    assert values.maybe_ones(None) is None
    assert np.asarray(values.maybe_ones(2)).dtype == np.uint64
    assert np.asarray(values.arange(0)).shape == (0,)
    # An array result can go straight back in, zero copy.
    r = values.arange(4)
    assert values.sum_f64(r) == 6.0
    values.scale(r, 2.0)
    assert np.asarray(r).tolist() == [0.0, 2.0, 4.0, 6.0]
    with pytest.raises(ValueError, match=r"shape \[2, 2\] does not hold 3 elements"):
        values.bad_shape()

def test_array_results_cannot_be_forged_or_oversized(oxbind, values):
    A = type(values.arange(1))
    assert A is oxbind.Array
    assert isinstance(values.grid(1, 1), oxbind.Array)
    with pytest.raises(TypeError, match="cannot create 'oxbind.Array' instances"):
        A()
    with pytest.raises(TypeError):
        A.__new__(A)
    with pytest.raises(ValueError, match=r"does not hold 0 elements"):
        values.huge_extent()


def test_a_callables_bytes_result_takes_any_bytes_like_object(values):
    assert values.call_bytes(lambda: b"ab") == b"ab"
    assert values.call_bytes(lambda: bytearray(b"cd")) == b"cd"
    assert values.call_bytes(lambda: np.frombuffer(b"ef", dtype=np.uint8)) == b"ef"
    with pytest.raises(TypeError):
        values.call_bytes(lambda: "text")


def test_operators_fall_back_for_buffers_of_another_type(values):
    d = values.Dot(2.0)
    assert d * np.ones(3) == 6.0

    class Bytes(bytearray):
        def __rmul__(self, other):
            return "fell back"

    # A uint8 buffer is refused by __mul__'s float64 view: NotImplemented,
    # so Python asks the other operand.
    assert d * Bytes(b"ab") == "fell back"
    with pytest.raises(TypeError, match="unsupported operand"):
        d * object()


def test_writable_views_are_asked_for_when_read_only_is_given(values):
    # memoryview of a bytes is read-only however asked: refused clearly.
    with pytest.raises(BufferError, match=r"must be a writable C-contiguous buffer of float64, not a read-only buffer"):
        values.scale(memoryview(bytes(16)).cast("d"), 2.0)
    # An optional parameter's message says so.
    with pytest.raises(TypeError, match=r"maybe_sum\(\) argument 'xs' must be a C-contiguous buffer of float64 or None, not a buffer of int64"):
        values.maybe_sum(np.arange(2))


def test_array_memory_is_freed_when_the_last_view_goes(values):
    # 2000 arrays of 1 MiB: 2 GiB if they leaked. Each is viewed by NumPy
    # and dropped; the process's resident size stays bounded.
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    for _ in range(50):
        np.asarray(values.arange(1 << 17)).sum()
    before = rss()
    for _ in range(2000):
        a = np.asarray(values.arange(1 << 17))
        assert a[-1] == (1 << 17) - 1
        del a
    grown = rss() - before
    assert grown < 256 << 20, f"resident size grew by {grown >> 20} MiB"

def test_buffer_signatures_and_stubs(oxbind, values):
    import inspect

    assert str(inspect.signature(values.byte_len)) == "(xs=b'abc')"
    stub = oxbind.stub(values)
    # PEP 688's Buffer from 3.12; the built-in exporters before.
    buf = "collections.abc.Buffer" if sys.version_info >= (3, 12) else "bytes | bytearray | memoryview"
    for line in [
        f"def sum_f64(xs: {buf}) -> float:",
        f"def scale(xs: {buf}, k: float) -> None:",
        f"def maybe_sum(xs: {buf} | None) -> float | None:",
        "def arange(n: int) -> oxbind.Array:",
        "def maybe_ones(n: int | None) -> oxbind.Array | None:",
    ]:
        assert line in stub, (line, stub)
    assert "import oxbind" in stub
    assert ("import collections.abc" in stub) == (sys.version_info >= (3, 12))

# --- Threads ----------------------------------------------------------------------

def test_calls_on_many_threads_claim_and_release_correctly(values):
    # Four threads scale their own arrays and read a shared one: exact
    # results, and every claim released (the shared array is writable
    # again at the end).
    shared = np.ones(1000)
    own = [np.ones(100) for _ in range(4)]
    errors = []

    def work(k):
        try:
            for _ in range(500):
                assert values.sum_f64(shared) == 1000.0
                values.add_into(own[k], shared[:100])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for a in own:
        assert a.tolist() == [501.0] * 100
    values.scale(shared, 2.0)
    assert shared.sum() == 2000.0

def test_concurrent_mutable_claims_of_one_array_exclude_each_other(values):
    # Two threads add into the same array through &mut [f64]: each call
    # either runs alone on it or is refused with BufferError, never both at
    # once, so no update is lost. The callback holds the claim while the
    # other thread tries.
    a = np.zeros(4, dtype=np.int64)
    refused = []
    inside = threading.Event()
    release = threading.Event()

    def holder():
        values.bump_then(a, lambda: (inside.set(), release.wait(10)))

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(10)
    try:
        values.bump_then(a, lambda: None)
    except BufferError as e:
        refused.append(str(e))
    release.set()
    t.join()
    assert len(refused) == 1 and "overlaps" in refused[0]
    assert a.tolist() == [1, 1, 1, 1]

def test_arrays_written_by_other_threads_during_calls_never_crash(values):
    # Python threads write an array while calls read and write it. The
    # values seen are whatever the memory held (a data race the caller
    # chose, spec/THREADING.md "Buffers"), but the process never crashes
    # and every call completes. In a subprocess: a failure could be a crash.
    code = textwrap.dedent(
        """
        import threading, os
        import numpy as np, oxbind
        values = oxbind.load(os.environ["VALUES_PATH"])
        a = np.zeros(10000)
        stop = threading.Event()
        def writer():
            k = 0
            while not stop.is_set():
                a[k % 10000] = k
                a[:50] += 1.0
                k += 1
        ts = [threading.Thread(target=writer) for _ in range(2)]
        for t in ts: t.start()
        try:
            for _ in range(2000):
                s = values.sum_f64(a)
                assert s == s  # a float, never NaN from torn reads of these values
                values.describe(a[::7])
                values.scale(a[5000:], 1.0)
        finally:
            stop.set()
            for t in ts: t.join()
        print("done")
        """
    )
    env = dict(os.environ, VALUES_PATH=plugin_path("values"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done", out.stdout
