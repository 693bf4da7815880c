"""The example plugin `linalg` (example-plugins/linalg): a `Matrix` that
uses most of the class protocol (operators with reflected and in-place
forms, indexing by row, by `(row, col)` and by slice, lazy iteration,
copying, pickling) and a `Graph` with the enum `Direction`."""

import copy
import enum
import inspect
import math
import pickle
import threading

import pytest

from conftest import plugin_path, run_python


@pytest.fixture(scope="module")
def la(oxbind):
    return oxbind.load(plugin_path("linalg"))


# Construction and properties ------------------------------------------------


def test_construction_shape_repr_and_transpose(la):
    m = la.Matrix([[1, 2, 3], [4, 5, 6]])  # ints convert to float
    assert m.shape == (2, 3) and len(m) == 2
    assert m.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert repr(m) == "Matrix([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])"
    assert eval(repr(m), {"Matrix": la.Matrix}) == m
    t = m.T
    assert t == la.Matrix([[1, 4], [2, 5], [3, 6]]) and t.shape == (3, 2)
    assert t.T == m and m.T is not m.T  # a computed property: a new matrix each time
    assert la.Matrix(((1.5, 2.5),)).tolist() == [[1.5, 2.5]]  # tuples are sequences too
    assert la.Matrix([]).shape == (0, 0) and repr(la.Matrix([])) == "Matrix([])"
    assert la.Matrix([[]]).shape == (1, 0)
    assert la.Matrix.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert la.Matrix.zeros(0, 3).shape == (0, 3) and la.Matrix.zeros(0, 3).T.shape == (3, 0)
    assert la.Matrix.identity(3).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert la.Matrix.identity(0).shape == (0, 0)
    assert str(inspect.signature(la.Matrix)) == "(rows)"
    assert "A dense matrix of floats" in la.Matrix.__doc__
    assert "The transpose" in type(m).T.__doc__


def test_construction_errors(la):
    with pytest.raises(ValueError, match=r"^row 1 has 2 elements, but row 0 has 3$"):
        la.Matrix([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match=r"^row 2 has 0 elements, but row 0 has 1$"):
        la.Matrix([[1], [2], []])
    with pytest.raises(TypeError, match=r"item 0 of item 1 must be float, not str"):
        la.Matrix([[1.0], ["x"]])
    with pytest.raises(TypeError, match=r"must be list\[list\[float\]\], not int"):
        la.Matrix(3)
    with pytest.raises(OverflowError):
        la.Matrix.zeros(-1, 2)
    with pytest.raises(MemoryError, match=r"cannot allocate a 4294967296x4294967296 matrix"):
        la.Matrix.zeros(2**32, 2**32)  # 2**64 elements: the count overflows
    with pytest.raises(MemoryError, match=r"cannot allocate a 2147483648x2147483648 matrix"):
        la.Matrix.identity(2**31)  # 2**62 elements: too many bytes


def test_properties_are_read_only(la):
    m = la.Matrix([[1, 2]])
    with pytest.raises(AttributeError):
        m.shape = (2, 1)
    with pytest.raises(AttributeError):
        m.T = m
    with pytest.raises(AttributeError):
        m.data  # the storage is not exposed


def test_norm_and_trace(la):
    m = la.Matrix([[1, 2], [3, 4]])
    assert m.norm() == math.sqrt(30)
    assert la.Matrix([[3, 4]]).norm() == 5.0
    assert la.Matrix([]).norm() == 0.0 and math.copysign(1, la.Matrix([]).norm()) == 1.0  # not -0.0
    assert m.trace() == 5.0 and la.Matrix([]).trace() == 0.0
    with pytest.raises(ValueError, match=r"^trace of a non-square matrix of shape \(1, 2\)$"):
        la.Matrix([[1, 2]]).trace()


# Operators ------------------------------------------------------------------


def test_arithmetic(la):
    a = la.Matrix([[1, 2], [3, 4]])
    b = la.Matrix([[5, 6], [7, 8]])
    assert a + b == la.Matrix([[6, 8], [10, 12]])
    assert b - a == la.Matrix([[4, 4], [4, 4]])
    assert a * 2.0 == la.Matrix([[2, 4], [6, 8]])  # __mul__(f64)
    assert a * 2 == a * 2.0  # an int converts to float
    assert a * b == la.Matrix([[5, 12], [21, 32]])  # __mul__(&Matrix): element-wise
    assert a @ b == la.Matrix([[19, 22], [43, 50]])  # the matrix product
    assert la.Matrix([[1, 2, 3]]) @ la.Matrix([[1], [2], [3]]) == la.Matrix([[14]])
    assert la.Matrix.zeros(2, 0) @ la.Matrix.zeros(0, 3) == la.Matrix.zeros(2, 3)
    assert a @ la.Matrix.identity(2) == a
    assert -a == la.Matrix([[-1, -2], [-3, -4]])
    assert abs(la.Matrix([[-1.5, 2], [0, -3]])) == la.Matrix([[1.5, 2], [0, 3]])  # element-wise
    assert (a + b) is not a  # binary operators give new matrices
    assert a == la.Matrix([[1, 2], [3, 4]])  # and leave their operands alone


def test_reflected_scalar_forms(la):
    a = la.Matrix([[1, -2]])
    assert 2.0 * a == la.Matrix([[2, -4]])  # __rmul__
    assert 3 * a == la.Matrix([[3, -6]])
    assert 0.5 * a == a * 0.5


def test_equality_and_hashing(la):
    a = la.Matrix([[1, 2], [3, 4]])
    assert a == la.Matrix([[1.0, 2.0], [3.0, 4.0]])
    assert a != la.Matrix([[1, 2], [3, 5]])
    assert la.Matrix([[1, 2, 3, 4]]) != la.Matrix([[1, 2], [3, 4]])  # same elements, other shape
    assert la.Matrix.zeros(0, 2) != la.Matrix.zeros(2, 0)
    assert (a == "x") is False and (a != "x") is True  # NotImplemented, then identity
    assert a != [[1, 2], [3, 4]]
    nan = la.Matrix([[math.nan]])
    assert nan != nan  # element-wise float equality
    with pytest.raises(TypeError, match="unhashable"):
        hash(a)  # __eq__ without __hash__: mutable, so unhashable


def test_operands_no_overload_takes_fall_back_to_not_implemented(la):
    a = la.Matrix([[1, 2]])
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'linalg.Matrix' and 'str'"):
        a + "x"
    with pytest.raises(TypeError, match=r"can only concatenate str \(not \"linalg.Matrix\"\) to str"):
        "x" + a
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'linalg.Matrix' and 'int'"):
        a + 1  # no scalar broadcasting for +
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for -: 'int' and 'linalg.Matrix'"):
        1 - a  # no __rsub__
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*: 'linalg.Matrix' and 'NoneType'"):
        a * None
    with pytest.raises(TypeError, match=r"can't multiply sequence by non-int of type 'linalg.Matrix'"):
        a * "x"  # str is a sequence: Python tries its repeat last, as for any class
    with pytest.raises(TypeError, match=r"can't multiply sequence by non-int of type 'linalg.Matrix'"):
        "x" * a  # __rmul__ takes no str: str's own message
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for @: 'linalg.Matrix' and 'float'"):
        a @ 2.0
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for /"):
        a / 2.0


def test_python_falls_back_to_the_other_operand(la):
    class Other:
        def __radd__(self, m):
            return ("radd", m)

        def __rmatmul__(self, m):
            return ("rmatmul", m)

        def __rmul__(self, m):
            return ("rmul", m)

    a = la.Matrix([[1.0]])
    assert a + Other() == ("radd", a)
    assert a @ Other() == ("rmatmul", a)
    assert a * Other() == ("rmul", a)


def test_shape_mismatches_raise_value_error_with_both_shapes(la):
    a = la.Matrix([[1, 2], [3, 4]])
    row = la.Matrix([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"^cannot add matrices of shapes \(2, 2\) and \(1, 3\)$"):
        a + row
    with pytest.raises(ValueError, match=r"^cannot subtract matrices of shapes \(1, 3\) and \(2, 2\)$"):
        row - a
    with pytest.raises(ValueError, match=r"^cannot multiply element-wise matrices of shapes \(2, 2\) and \(1, 3\)$"):
        a * row
    with pytest.raises(
        ValueError, match=r"^cannot multiply matrices of shapes \(2, 2\) @ \(1, 3\): inner dimensions 2 and 1 differ$"
    ):
        a @ row


def test_in_place_operators_keep_the_object(la):
    m = la.Matrix([[1, 2], [3, 4]])
    same = m
    m += la.Matrix([[1, 1], [1, 1]])
    assert m is same and m == la.Matrix([[2, 3], [4, 5]])
    m -= la.Matrix([[2, 2], [2, 2]])
    assert m is same and m == la.Matrix([[0, 1], [2, 3]])
    m *= 2
    assert m is same and m == la.Matrix([[0, 2], [4, 6]])
    m *= la.Matrix([[1, 2], [3, 4]])  # no __imul__ for a matrix: Python uses __mul__
    assert m is not same and m == la.Matrix([[0, 4], [12, 24]])
    assert same == la.Matrix([[0, 2], [4, 6]])


def test_in_place_errors_leave_the_value(la):
    m = la.Matrix([[1, 2]])
    same = m
    with pytest.raises(ValueError, match=r"^cannot add matrices of shapes \(1, 2\) and \(1, 1\)$"):
        m += la.Matrix([[1]])
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+=: 'linalg.Matrix' and 'str'"):
        m += "x"
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*=: 'linalg.Matrix' and 'str'"):
        m *= "x"
    # `m += m`: `&mut self` and `&Matrix` of one object (README, "Threads and borrows").
    with pytest.raises(RuntimeError, match="already mutably borrowed"):
        m += m
    assert m is same and m == la.Matrix([[1, 2]])
    m2 = m + m  # the binary form takes shared borrows only
    assert m2 == la.Matrix([[2, 4]])


# Indexing -------------------------------------------------------------------


def test_row_and_element_indexing(la):
    m = la.Matrix([[1, 2, 3], [4, 5, 6]])
    assert m[0] == [1.0, 2.0, 3.0] and m[1] == [4.0, 5.0, 6.0]
    assert m[-1] == [4.0, 5.0, 6.0] and m[-2] == [1.0, 2.0, 3.0]
    assert m[1, 2] == 6.0 and m[0, 0] == 1.0
    assert m[-1, -3] == 4.0 and m[0, -1] == 3.0
    assert m[(1, 0)] == 4.0  # the same tuple key
    assert type(m[0, 0]) is float


def test_out_of_range_and_bad_keys(la):
    m = la.Matrix([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(IndexError, match=r"^row index 2 out of range for a matrix with 2 rows$"):
        m[2]
    with pytest.raises(IndexError, match=r"^row index -3 out of range for a matrix with 2 rows$"):
        m[-3]
    with pytest.raises(IndexError, match=r"^column index 3 out of range for a matrix with 3 columns$"):
        m[0, 3]
    with pytest.raises(IndexError, match=r"^column index -4 out of range for a matrix with 3 columns$"):
        m[1, -4]
    with pytest.raises(IndexError, match=r"^row index 5 out of range"):
        m[5, 0]
    with pytest.raises(IndexError, match=r"^row index 0 out of range for a matrix with 0 rows$"):
        la.Matrix([])[0]
    with pytest.raises(OverflowError):
        m[2**70]
    with pytest.raises(TypeError, match=r"no overload matches"):
        m["x"]
    with pytest.raises(TypeError, match=r"no overload matches"):
        m[1.5]
    with pytest.raises(TypeError, match=r"no overload matches"):
        m[0, 1, 2]


def test_slicing_rows_gives_a_matrix(la):
    rows = [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]
    m = la.Matrix(rows)
    for sl in [slice(None), slice(1, 3), slice(None, None, -1), slice(-2, None), slice(4, 0, -2),
               slice(-100, 100), slice(None, None, 2)]:
        got = m[sl]
        assert isinstance(got, la.Matrix) and got.tolist() == rows[sl], sl
    assert m[3:1].shape == (0, 2)  # an empty slice keeps the columns
    assert la.Matrix([[], [], []])[1:].shape == (2, 0)
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        m[::0]


def test_setitem(la):
    m = la.Matrix.zeros(2, 3)
    m[0, 1] = 2
    m[-1, -1] = -6.5
    assert m.tolist() == [[0, 2, 0], [0, 0, -6.5]]
    m[1] = [7, 8, 9]
    m[-2] = (1, 1, 1)
    assert m.tolist() == [[1, 1, 1], [7, 8, 9]]
    with pytest.raises(ValueError, match=r"^cannot set a row of 2 elements in a matrix with 3 columns$"):
        m[0] = [1, 2]
    with pytest.raises(IndexError, match=r"^row index 2 out of range for a matrix with 2 rows$"):
        m[2] = [1, 2, 3]
    with pytest.raises(IndexError, match=r"^column index 3 out of range for a matrix with 3 columns$"):
        m[0, 3] = 1.0
    with pytest.raises(TypeError, match="no overload matches"):
        m[0, 0] = "x"
    with pytest.raises(TypeError, match="no overload matches"):
        m["a"] = 1.0
    with pytest.raises(TypeError, match="(does not|doesn't) support item deletion"):
        del m[0]
    assert m.tolist() == [[1, 1, 1], [7, 8, 9]]  # the failures changed nothing


def test_contains_looks_for_an_element(la):
    m = la.Matrix([[1, 2.5], [3, 4]])
    assert 2.5 in m and 4 in m  # an int converts to float
    assert 5.0 not in m
    assert "x" not in m and None not in m  # an item of another type is not contained
    assert [1.0, 2.5] not in m  # rows are not items; elements are
    assert 0.0 not in la.Matrix([])


# Iteration ------------------------------------------------------------------


def test_iteration_yields_rows_lazily(oxbind, la):
    m = la.Matrix([[1, 2], [3, 4], [5, 6]])
    it = iter(m)
    assert type(it).__name__ == "LazyIterator" and type(it).__module__ == "oxbind"
    assert iter(it) is it
    assert next(it) == [1.0, 2.0]  # one row per next()
    m[1] = [30, 40]  # the iterator owns a copy: rows as they were when it began
    assert next(it) == [3.0, 4.0]
    assert list(it) == [[5.0, 6.0]]
    with pytest.raises(StopIteration):
        next(it)
    assert list(m) == m.tolist() == [[1, 2], [30, 40], [5, 6]]
    assert list(la.Matrix([])) == [] and list(la.Matrix([[], []])) == [[], []]
    big = la.Matrix.zeros(200_000, 2)
    assert sum(1 for _ in big) == 200_000
    first, second = zip(*big)  # unpacking works through the iterator too
    assert len(first) == 200_000 and set(second) == {0.0}


# Copying and pickling -------------------------------------------------------


def test_copy_and_deepcopy(la):
    m = la.Matrix([[1, 2], [3, 4]])
    c = copy.copy(m)
    d = copy.deepcopy(m)
    assert c == m and d == m and c is not m and d is not m
    c[0, 0] = 100
    d[1] = [7, 7]
    assert m == la.Matrix([[1, 2], [3, 4]])  # independent values
    pair = copy.deepcopy([m, m])
    assert pair[0] is pair[1] and pair[0] is not m  # the memo is honoured


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_in_process(la, protocol):
    for m in [la.Matrix([[1.5, -2], [1e300, -0.0]]), la.Matrix.zeros(0, 3), la.Matrix([[], []]), la.Matrix([])]:
        back = pickle.loads(pickle.dumps(m, protocol=protocol))
        assert back == m and back.shape == m.shape and back is not m
    assert math.copysign(1, pickle.loads(pickle.dumps(la.Matrix([[-0.0]])))[0, 0]) == -1.0
    g = la.Graph(la.Direction.Directed)
    g.add_edge(1, 2)
    g.add_edge(2, 1)
    g.add_node(9)
    back = pickle.loads(pickle.dumps(g, protocol=protocol))
    assert back.direction is la.Direction.Directed
    assert list(back.edges()) == [(1, 2), (2, 1)] and 9 in back and len(back) == 3
    assert pickle.loads(pickle.dumps(la.Direction.Undirected, protocol=protocol)) is la.Direction.Undirected


def test_setstate_checks_its_state(la):
    m = la.Matrix([[1.0]])
    with pytest.raises(ValueError, match=r"^a 2x2 matrix cannot have 3 elements$"):
        m.__setstate__((2, 2, [1.0, 2.0, 3.0]))
    assert m == la.Matrix([[1.0]])
    m.__setstate__((1, 2, [5.0, 6.0]))
    assert m == la.Matrix([[5, 6]])


def test_pickle_across_processes(la):
    path = str(plugin_path("linalg"))
    dumped = run_python(f"""
import pickle, oxbind
la = oxbind.load({path!r})
m = la.Matrix([[1.5, -2.0], [3.25, 1e300]])
g = la.Graph(la.Direction.Directed)
g.add_edge(1, 2)
g.add_edge(2, 3)
g.add_node(9)
u = la.Graph()
u.add_edge(5, 4)
print(pickle.dumps((m, la.Matrix.zeros(0, 3), g, u, la.Direction.Undirected)).hex())
""").stdout.strip()
    loaded = run_python(f"""
import pickle, oxbind
la = oxbind.load({path!r})
m, z, g, u, d = pickle.loads(bytes.fromhex({dumped!r}))
print(repr(m), z.shape, g.direction, list(g.edges()), sorted(g), u.direction, list(u.edges()), d, sep="|")
""").stdout.strip()
    assert loaded.split("|") == [
        "Matrix([[1.5, -2.0], [3.25, 1e300]])", "(0, 3)", "Direction.Directed", "[(1, 2), (2, 3)]",
        "[1, 2, 3, 9]", "Direction.Undirected", "[(4, 5)]", "Direction.Undirected",
    ]
    # Unpickling imports the module `linalg`: it must be loaded first.
    out = run_python(f"import pickle\npickle.loads(bytes.fromhex({dumped!r}))", check=False)
    assert out.returncode != 0 and "No module named 'linalg'" in out.stderr


# Graph and Direction --------------------------------------------------------


def test_direction_is_a_real_enum(la):
    assert issubclass(la.Direction, enum.Enum) and not issubclass(la.Direction, int)
    assert [(d.name, d.value) for d in la.Direction] == [("Directed", 0), ("Undirected", 1)]
    assert la.Direction.__module__ == "linalg"
    assert la.Direction["Directed"] is la.Direction.Directed


def test_graph_direction_parameter_and_result(la):
    assert la.Graph().direction is la.Direction.Undirected
    assert la.Graph(None).direction is la.Direction.Undirected
    assert la.Graph(la.Direction.Directed).direction is la.Direction.Directed
    assert la.Graph(direction=la.Direction.Undirected).direction is la.Direction.Undirected
    assert str(inspect.signature(la.Graph)) == "(direction=None)"
    for bad, given in [(0, "int"), ("Directed", "str")]:
        with pytest.raises(TypeError, match=rf"^Graph\(\) argument 'direction' must be linalg.Direction or None, not {given}$"):
            la.Graph(bad)
    with pytest.raises(AttributeError):
        la.Graph().direction = la.Direction.Directed


def test_directed_graph(la):
    g = la.Graph(la.Direction.Directed)
    g.add_edge(1, 2)
    g.add_edge(1, 3)
    g.add_edge(3, 1)
    g.add_edge(1, 2)  # again: no second edge
    assert g.add_node(7) is True and g.add_node(7) is False and g.add_node(1) is False
    assert len(g) == 4
    assert 7 in g and 2 in g and 5 not in g
    assert "x" not in g and 1.5 not in g and None not in g  # not node ids
    assert list(g) == [1, 2, 3, 7]  # the nodes, in order
    assert list(g.neighbors(1)) == [2, 3]
    assert list(g.neighbors(2)) == []  # edges go one way
    assert list(g.neighbors(3)) == [1]
    assert list(g.edges()) == [(1, 2), (1, 3), (3, 1)]
    assert repr(g) == "Graph(Direction.Directed, 4 nodes, 3 edges)"
    with pytest.raises(KeyError, match=r"node 5 is not in the graph"):
        g.neighbors(5)
    with pytest.raises(OverflowError):
        g.neighbors(-1)
    with pytest.raises(OverflowError):
        g.add_edge(-1, 2)
    assert len(g) == 4


@pytest.mark.xfail(strict=True, raises=OverflowError,
                   reason="SDK: __contains__ raises OverflowError for an int outside the parameter's range "
                          "instead of answering False (README: an item that does not convert is not contained)")
def test_an_int_outside_the_item_type_is_not_contained(la):
    g = la.Graph()
    g.add_node(0)
    assert -1 not in g and 2**64 not in g  # no u64 node id
    assert 10**400 not in la.Matrix([[1.0]])  # no f64 (Python: `10**400 in [1.0]` is False)


def test_undirected_graph_and_its_adjacency_matrix(la):
    g = la.Graph()
    g.add_edge(2, 1)
    g.add_edge(1, 3)
    g.add_edge(4, 4)  # a loop
    assert list(g.neighbors(1)) == [2, 3] and list(g.neighbors(2)) == [1]
    assert list(g.edges()) == [(1, 2), (1, 3), (4, 4)]  # each edge once, smaller end first
    assert repr(g) == "Graph(Direction.Undirected, 4 nodes, 3 edges)"
    a = g.adjacency()
    assert a == la.Matrix([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    assert a == a.T  # undirected: symmetric
    assert (a @ a)[0, 0] == 2.0  # two walks 1 -> x -> 1
    assert la.Graph().adjacency().shape == (0, 0)


def test_graph_iterators_are_lazy_snapshots(la):
    g = la.Graph(la.Direction.Directed)
    for k in range(5):
        g.add_edge(k, k + 1)
    edges = g.edges()
    assert type(edges).__name__ == "LazyIterator"
    assert next(edges) == (0, 1)
    g.add_edge(0, 9)  # after the iteration began: not seen
    assert list(edges) == [(1, 2), (2, 3), (3, 4), (4, 5)]
    nb = g.neighbors(0)
    g.add_edge(0, 4)
    assert list(nb) == [1, 9] and list(g.neighbors(0)) == [1, 4, 9]


# Stubs ----------------------------------------------------------------------


def test_the_stub_shows_the_protocol(oxbind, la):
    stub = oxbind.stub(la)
    for line in [
        "    @property\n    def shape(self) -> tuple[int, int]:",
        "    @property\n    def T(self) -> Matrix:",
        "    @overload\n    def __mul__(self, k: float) -> Matrix: ...",
        "    @overload\n    def __mul__(self, o: Matrix) -> Matrix: ...",
        "    def __rmul__(self, k: float) -> Matrix: ...",
        "    @overload\n    def __getitem__(self, i: int) -> list[float]: ...",
        "    @overload\n    def __getitem__(self, key: tuple[int, int] | list[int]) -> float: ...",
        "    @overload\n    def __getitem__(self, s: slice) -> Matrix: ...",
        "    def __iter__(self) -> Iterator[list[float]]:",
        "    @staticmethod\n    def zeros(rows: int, cols: int) -> Matrix:",
        "class Direction(enum.Enum):",
        "    def __init__(self, direction: Direction | None = None) -> None:",
        "    def edges(self) -> Iterator[tuple[int, int]]:",
        "    def __iter__(self) -> Iterator[int]: ...",
    ]:
        assert line in stub, line


# Threads --------------------------------------------------------------------


@pytest.mark.thread_unsafe  # runs its own threads
def test_in_place_ops_and_shared_reads_under_threads(la):
    """8 threads each add a shared matrix into a matrix of their own, in
    place, while reading the shared one in several ways; every value is
    exact at the end and the shared matrix is unchanged."""
    shared = la.Matrix([[1, 2], [3, 4]])
    square = shared @ shared
    n = 2_000
    barrier = threading.Barrier(8)
    results = [None] * 8
    errors = []

    def work(k):
        mine = la.Matrix.zeros(2, 2)
        keep = mine
        barrier.wait()
        try:
            for i in range(n):
                mine += shared
                mine *= 1.0
                if i % 10 == k:
                    mine[0, 0] = mine[0, 0] + k  # a write through __setitem__ too
                assert shared[1, 0] == 3.0 and shared[-1] == [3.0, 4.0]
                assert shared @ shared == square
                assert list(shared) == [[1.0, 2.0], [3.0, 4.0]]
                assert 4.0 in shared and shared.norm() == math.sqrt(30)
            assert mine is keep
            results[k] = mine
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for k, mine in enumerate(results):
        assert mine == la.Matrix([[n + k * (n // 10), 2 * n], [3 * n, 4 * n]]), k
    assert shared == la.Matrix([[1, 2], [3, 4]])


@pytest.mark.thread_unsafe  # runs its own threads
def test_one_accumulator_under_threads(la):
    """8 threads add into one matrix in place: `__iadd__` takes `&mut
    self`, so no update is lost, and readers never see a half-done add."""
    acc = la.Matrix.zeros(2, 2)
    one = la.Matrix([[1, 1], [1, 1]])
    n = 2_000
    barrier = threading.Barrier(8)
    torn = []

    def work():
        local = acc
        barrier.wait()
        for _ in range(n):
            local += one
            row0, row1 = local  # a snapshot taken under a shared borrow
            if not (row0[0] == row0[1] == row1[0] == row1[1]):
                torn.append((row0, row1))

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not torn
    assert acc == la.Matrix([[8 * n] * 2] * 2)
