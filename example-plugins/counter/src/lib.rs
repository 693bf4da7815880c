//! `counter`: integer arithmetic and a process-wide count. (The `Counter`
//! class arrives with class support.)

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

oxbind::plugin! {
    name: "counter",
    doc: "Counting, safely from many threads.",
    functions: [add, inc_global, global_value],
}
