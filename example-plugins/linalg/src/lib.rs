//! `linalg`: a dense `Matrix` of floats that speaks most of the class
//! protocol (operators with their reflected and in-place forms, indexing by
//! row, by `(row, col)` and by slice, lazy iteration over rows, copying and
//! pickling), and a `Graph` whose edges are directed or not (the enum
//! `Direction`) and whose adjacency matrix is a `Matrix`.
//!
//! No `unsafe` here: the SDK's macros write all of it.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};

use oxbind::{Error, LazyIter, Object, Slice};

/// A dense matrix of floats, stored row-major.
#[oxbind::class(module = "linalg")]
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    /// Element `(r, c)` is `data[r * cols + c]`.
    data: Vec<f64>,
}

/// Python's `MemoryError`. (The SDK has no constructor for it: raise the
/// built-in class itself.)
fn memory_error(message: String) -> Error {
    let exception = oxbind::import("builtins")
        .and_then(|b| b.getattr("MemoryError"))
        .and_then(|class| class.call((message.as_str(),)));
    match exception {
        Ok(exception) => Error::from_exception(exception),
        Err(e) => e,
    }
}

/// `i` as a position in `0..len`, counting from the end when negative, as
/// Python's sequences do; IndexError naming `what` otherwise.
fn position(i: isize, len: usize, what: &str) -> Result<usize, Error> {
    let k = if i < 0 {
        i.checked_add_unsigned(len)
    } else {
        Some(i)
    };
    match k {
        Some(k) if (0..len as isize).contains(&k) => Ok(k as usize),
        _ => Err(Error::index_error(format!(
            "{what} index {i} out of range for a matrix with {len} {what}s"
        ))),
    }
}

/// Plain Rust helpers, not exported.
impl Matrix {
    /// The `rows x cols` matrix whose element `(r, c)` is `f(r, c)`;
    /// MemoryError rather than an abort when it cannot be allocated.
    fn from_fn(
        rows: usize,
        cols: usize,
        mut f: impl FnMut(usize, usize) -> f64,
    ) -> Result<Matrix, Error> {
        let too_big = || memory_error(format!("cannot allocate a {rows}x{cols} matrix"));
        let len = rows.checked_mul(cols).ok_or_else(too_big)?;
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| too_big())?;
        data.extend((0..len).map(|k| f(k / cols, k % cols)));
        Ok(Matrix { rows, cols, data })
    }

    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    fn row_slice(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    fn shape_str(&self) -> String {
        format!("({}, {})", self.rows, self.cols)
    }

    /// ValueError unless `other` has this matrix's shape.
    fn check_same_shape(&self, other: &Matrix, verb: &str) -> Result<(), Error> {
        if (self.rows, self.cols) == (other.rows, other.cols) {
            return Ok(());
        }
        Err(Error::value_error(format!(
            "cannot {verb} matrices of shapes {} and {}",
            self.shape_str(),
            other.shape_str()
        )))
    }

    /// The element-wise `f(a, b)` of two matrices of one shape.
    fn zip_with(&self, o: &Matrix, verb: &str, f: fn(f64, f64) -> f64) -> Result<Matrix, Error> {
        self.check_same_shape(o, verb)?;
        let data = self.data.iter().zip(&o.data).map(|(&a, &b)| f(a, b));
        Ok(Matrix {
            data: data.collect(),
            ..*self
        })
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Matrix {
        let data = self.data.iter().map(|&x| f(x)).collect();
        Matrix { data, ..*self }
    }
}

#[oxbind::methods]
impl Matrix {
    /// A matrix from its rows, `Matrix([[1, 2], [3, 4]])`. Every row must
    /// be as long as the first (ValueError); `Matrix([])` is 0x0.
    #[oxbind(new)]
    fn new(rows: Vec<Vec<f64>>) -> Result<Matrix, Error> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != cols) {
            return Err(Error::value_error(format!(
                "row {r} has {} elements, but row 0 has {cols}",
                row.len()
            )));
        }
        Ok(Matrix {
            rows: rows.len(),
            cols,
            data: rows.concat(),
        })
    }

    /// The `rows x cols` matrix of zeros.
    #[oxbind(staticmethod)]
    fn zeros(rows: usize, cols: usize) -> Result<Matrix, Error> {
        Matrix::from_fn(rows, cols, |_, _| 0.0)
    }

    /// The `n x n` identity matrix.
    #[oxbind(staticmethod)]
    fn identity(n: usize) -> Result<Matrix, Error> {
        Matrix::from_fn(n, n, |r, c| if r == c { 1.0 } else { 0.0 })
    }

    /// `(rows, cols)`.
    #[oxbind(getter)]
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The transpose, a new matrix.
    #[oxbind(getter, name = "T")]
    fn transpose(&self) -> Result<Matrix, Error> {
        Matrix::from_fn(self.cols, self.rows, |r, c| self.at(c, r))
    }

    /// The Frobenius norm: the square root of the sum of the squares.
    fn norm(&self) -> f64 {
        // Not `.sum()`: a float sum of nothing is -0.0.
        self.data.iter().fold(0.0, |acc, x| acc + x * x).sqrt()
    }

    /// The sum of the diagonal; ValueError for a matrix that is not square.
    fn trace(&self) -> Result<f64, Error> {
        if self.rows != self.cols {
            let shape = self.shape_str();
            return Err(Error::value_error(format!(
                "trace of a non-square matrix of shape {shape}"
            )));
        }
        Ok((0..self.rows).fold(0.0, |acc, k| acc + self.at(k, k)))
    }

    /// The rows, as a list of lists.
    fn tolist(&self) -> Vec<Vec<f64>> {
        (0..self.rows).map(|r| self.row_slice(r).to_vec()).collect()
    }

    fn __add__(&self, o: &Matrix) -> Result<Matrix, Error> {
        self.zip_with(o, "add", |a, b| a + b)
    }

    fn __sub__(&self, o: &Matrix) -> Result<Matrix, Error> {
        self.zip_with(o, "subtract", |a, b| a - b)
    }

    /// `m * k` scales every element.
    #[oxbind(name = "__mul__")]
    fn scaled(&self, k: f64) -> Matrix {
        self.map(|x| x * k)
    }

    /// `m * n` is the element-wise (Hadamard) product; `@` multiplies.
    #[oxbind(name = "__mul__")]
    fn hadamard(&self, o: &Matrix) -> Result<Matrix, Error> {
        self.zip_with(o, "multiply element-wise", |a, b| a * b)
    }

    /// `k * m`.
    fn __rmul__(&self, k: f64) -> Matrix {
        self.map(|x| k * x)
    }

    /// `m @ n`, the matrix product.
    fn __matmul__(&self, o: &Matrix) -> Result<Matrix, Error> {
        if self.cols != o.rows {
            return Err(Error::value_error(format!(
                "cannot multiply matrices of shapes {} @ {}: inner dimensions {} and {} differ",
                self.shape_str(),
                o.shape_str(),
                self.cols,
                o.rows
            )));
        }
        Matrix::from_fn(self.rows, o.cols, |r, c| {
            (0..self.cols).fold(0.0, |acc, k| acc + self.at(r, k) * o.at(k, c))
        })
    }

    /// `m += n` changes `m` itself (so `m += m` raises RuntimeError: the
    /// argument is the object borrowed for the change).
    fn __iadd__(&mut self, o: &Matrix) -> Result<(), Error> {
        self.check_same_shape(o, "add")?;
        self.data.iter_mut().zip(&o.data).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn __isub__(&mut self, o: &Matrix) -> Result<(), Error> {
        self.check_same_shape(o, "subtract")?;
        self.data.iter_mut().zip(&o.data).for_each(|(a, b)| *a -= b);
        Ok(())
    }

    /// `m *= k` scales `m` itself. (`m *= n` for a matrix `n` falls back
    /// to `m * n`: a new matrix.)
    fn __imul__(&mut self, k: f64) {
        self.data.iter_mut().for_each(|x| *x *= k);
    }

    fn __neg__(&self) -> Matrix {
        self.map(|x| -x)
    }

    /// `abs(m)`: the element-wise absolute value (the norm is `norm()`).
    fn __abs__(&self) -> Matrix {
        self.map(f64::abs)
    }

    fn __eq__(&self, o: &Matrix) -> bool {
        self == o
    }

    fn __repr__(&self) -> String {
        format!("Matrix({:?})", self.tolist())
    }

    /// The number of rows.
    fn __len__(&self) -> usize {
        self.rows
    }

    /// `m[i]`: row `i`, as a list (negative `i` counts from the end).
    #[oxbind(name = "__getitem__")]
    fn row(&self, i: isize) -> Result<Vec<f64>, Error> {
        Ok(self.row_slice(position(i, self.rows, "row")?).to_vec())
    }

    /// `m[i, j]`: one element.
    #[oxbind(name = "__getitem__")]
    fn element(&self, key: (isize, isize)) -> Result<f64, Error> {
        let r = position(key.0, self.rows, "row")?;
        Ok(self.at(r, position(key.1, self.cols, "column")?))
    }

    /// `m[a:b:c]`: those rows, as a new matrix.
    #[oxbind(name = "__getitem__")]
    fn row_range(&self, s: Slice) -> Matrix {
        let picked = s.indices(self.rows);
        let data = (picked.iter()).flat_map(|r| self.row_slice(r).iter().copied());
        Matrix {
            rows: picked.len,
            data: data.collect(),
            ..*self
        }
    }

    /// `m[i, j] = x`.
    #[oxbind(name = "__setitem__")]
    fn set_element(&mut self, key: (isize, isize), value: f64) -> Result<(), Error> {
        let r = position(key.0, self.rows, "row")?;
        let c = position(key.1, self.cols, "column")?;
        self.data[r * self.cols + c] = value;
        Ok(())
    }

    /// `m[i] = row`: the row must have `cols` elements (ValueError).
    #[oxbind(name = "__setitem__")]
    fn set_row(&mut self, i: isize, row: Vec<f64>) -> Result<(), Error> {
        let r = position(i, self.rows, "row")?;
        if row.len() != self.cols {
            return Err(Error::value_error(format!(
                "cannot set a row of {} elements in a matrix with {} columns",
                row.len(),
                self.cols
            )));
        }
        let cols = self.cols;
        self.data[r * cols..(r + 1) * cols].copy_from_slice(&row);
        Ok(())
    }

    /// `x in m`: whether some element equals `x`.
    fn __contains__(&self, x: f64) -> bool {
        self.data.contains(&x)
    }

    /// The rows, one list per `next()`, as they were when the iteration
    /// began (the iterator owns a copy of the elements).
    fn __iter__(&self) -> LazyIter<Vec<f64>> {
        let (cols, data) = (self.cols, self.data.clone());
        LazyIter::new((0..self.rows).map(move |r| data[r * cols..(r + 1) * cols].to_vec()))
    }

    fn __copy__(&self) -> Matrix {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: Object) -> Matrix {
        self.clone()
    }

    /// For pickle: the constructor needs an argument, so pickle makes an
    /// empty matrix (`Matrix([])`) and `__setstate__` fills it.
    fn __getnewargs__(&self) -> (Vec<Vec<f64>>,) {
        (Vec::new(),)
    }

    /// `(rows, cols, elements)`: exact, even for a 0x3 matrix, which a list
    /// of rows cannot describe.
    fn __getstate__(&self) -> (usize, usize, Vec<f64>) {
        (self.rows, self.cols, self.data.clone())
    }

    fn __setstate__(&mut self, state: (usize, usize, Vec<f64>)) -> Result<(), Error> {
        let (rows, cols, data) = state;
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::value_error(format!(
                "a {rows}x{cols} matrix cannot have {} elements",
                data.len()
            )));
        }
        *self = Matrix { rows, cols, data };
        Ok(())
    }
}

/// Whether a graph's edges go one way (`Directed`) or both.
#[oxbind::class(module = "linalg")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// An edge `a -> b` makes `b` a neighbour of `a` only.
    Directed,
    /// An edge joins both ends.
    Undirected,
}

/// A graph on integer node ids.
#[oxbind::class(module = "linalg")]
pub struct Graph {
    direction: Direction,
    /// Each node's neighbours (for an undirected graph, both ways).
    adjacent: BTreeMap<u64, BTreeSet<u64>>,
}

impl Graph {
    /// Every edge, an undirected one once (`a <= b`).
    fn edge_list(&self) -> Vec<(u64, u64)> {
        let undirected = self.direction == Direction::Undirected;
        (self.adjacent.iter())
            .flat_map(|(&a, next)| next.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| !undirected || a <= b)
            .collect()
    }
}

#[oxbind::methods]
impl Graph {
    /// An empty graph, undirected unless `direction` says otherwise.
    #[oxbind(new)]
    fn new(#[oxbind(default = None)] direction: Option<Direction>) -> Graph {
        Graph {
            direction: direction.unwrap_or(Direction::Undirected),
            adjacent: BTreeMap::new(),
        }
    }

    /// Whether edges are directed.
    #[oxbind(getter)]
    fn direction(&self) -> Direction {
        self.direction
    }

    /// Add node `n`; False if it was there already.
    fn add_node(&mut self, n: u64) -> bool {
        let new = !self.adjacent.contains_key(&n);
        self.adjacent.entry(n).or_default();
        new
    }

    /// Add the edge `a -> b` (both ways if undirected), and its nodes.
    fn add_edge(&mut self, a: u64, b: u64) {
        self.adjacent.entry(a).or_default().insert(b);
        let back = self.adjacent.entry(b).or_default();
        if self.direction == Direction::Undirected {
            back.insert(a);
        }
    }

    /// The neighbours of `n`, in increasing order, lazily; KeyError if `n`
    /// is not a node.
    fn neighbors(&self, n: u64) -> Result<LazyIter<u64>, Error> {
        let next = self
            .adjacent
            .get(&n)
            .ok_or_else(|| Error::key_error(format!("node {n} is not in the graph")))?;
        Ok(LazyIter::new(next.iter().copied().collect::<Vec<_>>()))
    }

    /// Every edge `(a, b)`, lazily, as they were when the iteration began;
    /// an undirected edge once, with `a <= b`.
    fn edges(&self) -> LazyIter<(u64, u64)> {
        LazyIter::new(self.edge_list())
    }

    /// The adjacency matrix, rows and columns in increasing node order:
    /// `(A @ A)[i, j]` counts the walks of two steps from node i to node j.
    fn adjacency(&self) -> Result<Matrix, Error> {
        let index: BTreeMap<u64, usize> = self.adjacent.keys().copied().zip(0..).collect();
        let mut m = Matrix::zeros(index.len(), index.len())?;
        for (a, next) in &self.adjacent {
            for b in next {
                m.data[index[a] * m.cols + index[b]] = 1.0;
            }
        }
        Ok(m)
    }

    /// The number of nodes.
    fn __len__(&self) -> usize {
        self.adjacent.len()
    }

    /// The nodes, in increasing order, lazily (as they were when the
    /// iteration began).
    fn __iter__(&self) -> LazyIter<u64> {
        LazyIter::new(self.adjacent.keys().copied().collect::<Vec<_>>())
    }

    /// `n in g`: whether `n` is a node.
    fn __contains__(&self, n: u64) -> bool {
        self.adjacent.contains_key(&n)
    }

    fn __repr__(&self) -> String {
        let edges = self.edge_list().len();
        format!(
            "Graph(Direction.{:?}, {} nodes, {edges} edges)",
            self.direction,
            self.adjacent.len()
        )
    }

    /// For pickle (`Graph()` then `__setstate__`): the direction, the
    /// nodes and the edges.
    fn __getstate__(&self) -> (Direction, Vec<u64>, Vec<(u64, u64)>) {
        let nodes = self.adjacent.keys().copied().collect();
        (self.direction, nodes, self.edge_list())
    }

    fn __setstate__(&mut self, state: (Direction, Vec<u64>, Vec<(u64, u64)>)) {
        let (direction, nodes, edges) = state;
        *self = Graph::new(Some(direction));
        for n in nodes {
            self.add_node(n);
        }
        for (a, b) in edges {
            self.add_edge(a, b);
        }
    }
}

oxbind::plugin! {
    name: "linalg",
    doc: "Dense matrices and small graphs: an example of the class protocol.",
    classes: [Matrix, Graph],
    enums: [Direction],
}
