//! `counter`: a `Counter` class, a `Tally` recorded through `&self` under
//! critical sections, integer arithmetic on scalars, lists and dicts, and a
//! process-wide count.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicI64, Ordering::Relaxed},
};

use oxbind::sync::{CriticalSection, PyMutex};

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

    /// Add one with the object's lock held (`lock_self`): the locked
    /// counterpart of `inc`, measured by `cargo xtask bench`.
    #[oxbind(lock_self)]
    fn inc_safe(&mut self) {
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

/// Return the sum of a list (or tuple) of integers.
#[oxbind::function]
pub fn sum_all(values: Vec<i64>) -> i64 {
    values.iter().fold(0i64, |a, v| a.wrapping_add(*v))
}

/// Return the sum of the values of a dict from names to integers. The dict
/// is read under its own lock: another thread may be changing it.
#[oxbind::function]
pub fn total(counts: HashMap<&str, i64>) -> i64 {
    counts.values().fold(0i64, |a, v| a.wrapping_add(*v))
}

/// Events, each a hit or a miss, recorded from many threads at once through
/// `&self`: the three counts change together under the object's critical
/// section, so `snapshot()` always sees `events == hits + misses`.
#[oxbind::class(module = "counter")]
pub struct Tally {
    events: AtomicI64,
    hits: AtomicI64,
    misses: AtomicI64,
}

#[oxbind::methods]
impl Tally {
    /// Create an empty tally.
    #[oxbind(new)]
    fn new() -> Tally {
        Tally {
            events: AtomicI64::new(0),
            hits: AtomicI64::new(0),
            misses: AtomicI64::new(0),
        }
    }

    /// Record one event, a hit or a miss.
    fn record(&self, hit: bool) -> oxbind::Result<()> {
        let _section = CriticalSection::lock(self)?;
        self.events.fetch_add(1, Relaxed);
        if hit {
            self.hits.fetch_add(1, Relaxed);
        } else {
            self.misses.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// `[events, hits, misses]`, read together.
    fn snapshot(&self) -> oxbind::Result<Vec<i64>> {
        let _section = CriticalSection::lock(self)?;
        Ok(vec![
            self.events.load(Relaxed),
            self.hits.load(Relaxed),
            self.misses.load(Relaxed),
        ])
    }

    /// `events - hits - misses`, which is always 0: the counts are read
    /// under the object's lock, taken by `lock_self` for the whole call
    /// rather than by a guard in the body, and `record` changes them together
    /// under that same lock.
    #[oxbind(lock_self)]
    fn imbalance(&self) -> i64 {
        self.events.load(Relaxed) - self.hits.load(Relaxed) - self.misses.load(Relaxed)
    }

    /// Move `other`'s counts into this tally (other drops to zero), with
    /// both objects locked: their sum never changes.
    fn absorb(&self, other: &Tally) -> oxbind::Result<()> {
        let _section = CriticalSection::lock2(self, other)?;
        for (mine, theirs) in [
            (&self.events, &other.events),
            (&self.hits, &other.hits),
            (&self.misses, &other.misses),
        ] {
            mine.fetch_add(theirs.swap(0, Relaxed), Relaxed);
        }
        Ok(())
    }

    /// Try to lock a copy of this tally, which no call borrowed: raises
    /// RuntimeError. (A test of the guard's check.)
    fn lock_a_copy(&self) -> oxbind::Result<()> {
        let copy = Tally::new();
        let _section = CriticalSection::lock(&copy)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "Tally(events={}, hits={})",
            self.events.load(Relaxed),
            self.hits.load(Relaxed)
        )
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
    functions: [add, inc_global, global_value, return_self, sum_all, total],
    classes: [Counter, Tally],
}
