//! `counter`: a `Counter` class, integer arithmetic and a process-wide
//! count.

use oxbind::sync::PyMutex;

/// The module-level count, behind a PyMutex: free-threaded callers never
/// lose an increment.
static GLOBAL: PyMutex<i64> = PyMutex::new(0);

/// Return a + b.
#[oxbind::function]
pub fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Add one to the module-level count and return the new value.
#[oxbind::function]
pub fn inc_global() -> i64 {
    let mut count = GLOBAL.lock();
    *count += 1;
    *count
}

/// The module-level count.
#[oxbind::function]
pub fn global_value() -> i64 {
    *GLOBAL.lock()
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

    /// Move `other`'s count into this counter (other drops to zero), with
    /// both objects locked. The sum of the two never changes.
    #[oxbind(lock_self)]
    fn merge(&mut self, #[oxbind(lock)] other: &mut Counter) {
        self.value += other.value;
        other.value = 0;
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
