//! `pyo3_counter`: the benchmark's tiny extension written with PyO3, the
//! idiomatic way: `add`, a `Counter` class with `inc`, a locked `inc_safe`
//! and a `value` getter, `return_self`, `detached`, `call_py`, and the
//! tuple and dict results `pair` and `dict10`.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::sync::critical_section::with_critical_section;

/// Return a + b.
#[pyfunction]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// A counter that starts at zero.
#[pyclass]
struct Counter {
    #[pyo3(get)]
    value: i64,
}

#[pymethods]
impl Counter {
    #[new]
    fn new() -> Self {
        Counter { value: 0 }
    }

    /// Add one (PyO3's runtime borrow checker guards `&mut self`).
    fn inc(&mut self) {
        self.value += 1;
    }

    /// Add one inside the object's critical section (a no-op with the GIL),
    /// PyO3's counterpart of nanobind's `nb::lock_self()`.
    fn inc_safe(slf: &Bound<'_, Self>) {
        with_critical_section(slf.as_any(), || slf.borrow_mut().value += 1);
    }
}

/// Return `c` itself: the same Python object.
#[pyfunction]
fn return_self(c: Bound<'_, Counter>) -> Bound<'_, Counter> {
    c
}

/// Detach from the interpreter and re-attach around no work.
#[pyfunction]
fn detached(py: Python<'_>) {
    py.detach(|| ());
}

/// Call the Python callable `f(i)` for `i` in `0..n` and sum the int results.
#[pyfunction]
fn call_py(f: &Bound<'_, PyAny>, n: i64) -> PyResult<i64> {
    let mut total: i64 = 0;
    for i in 0..n {
        total = total.wrapping_add(f.call1((i,))?.extract::<i64>()?);
    }
    Ok(total)
}

/// The keys of `dict10`.
const KEYS: [&str; 10] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"];

/// `(1, "one")`, built afresh: a tuple result.
#[pyfunction]
fn pair() -> (i64, String) {
    (1, "one".to_owned())
}

/// `{"k0": 0, ..., "k9": 9}`, built afresh: a dict result.
#[pyfunction]
fn dict10() -> HashMap<String, i64> {
    KEYS.iter().zip(0..).map(|(k, v)| (k.to_string(), v)).collect()
}

#[pymodule(gil_used = false)]
fn pyo3_counter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add_function(wrap_pyfunction!(call_py, m)?)?;
    m.add_function(wrap_pyfunction!(detached, m)?)?;
    m.add_function(wrap_pyfunction!(return_self, m)?)?;
    m.add_function(wrap_pyfunction!(pair, m)?)?;
    m.add_function(wrap_pyfunction!(dict10, m)?)?;
    m.add_class::<Counter>()?;
    Ok(())
}
