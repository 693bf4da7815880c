//! `counter`: a `Counter` class, integer arithmetic and a process-wide
//! count.

use std::sync::atomic::{AtomicI64, Ordering};

/// The module-level count; atomic, so free-threaded callers never lose an
/// increment.
static GLOBAL: AtomicI64 = AtomicI64::new(0);

/// Return a + b.
#[oxbind::function]
pub fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Add one to the module-level count and return the new value.
#[oxbind::function]
pub fn inc_global() -> i64 {
    GLOBAL.fetch_add(1, Ordering::Relaxed) + 1
}

/// The module-level count.
#[oxbind::function]
pub fn global_value() -> i64 {
    GLOBAL.load(Ordering::Relaxed)
}

/// A counter that starts at zero.
#[oxbind::class(module = "counter")]
pub struct Counter {
    /// The current count.
    #[oxbind(get)]
    value: i64,
}

#[oxbind::methods]
impl Counter {
    /// Create a counter at zero.
    #[oxbind(new)]
    fn new() -> Counter {
        Counter { value: 0 }
    }

    /// Add one.
    fn inc(&mut self) {
        self.value += 1;
    }

    /// Add `n`.
    fn inc_by(&mut self, n: i64) {
        self.value += n;
    }

    fn __repr__(&self) -> String {
        format!("Counter({})", self.value)
    }
}

/// Return `c` itself: the same Python object.
#[oxbind::function]
pub fn return_self(c: &Counter) -> &Counter {
    c
}

oxbind::plugin! {
    name: "counter",
    doc: "Counting, safely from many threads.",
    functions: [add, inc_global, global_value, return_self],
    classes: [Counter],
}
