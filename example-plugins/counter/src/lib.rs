//! `counter`: a `Counter` class, a `Tally` recorded through `&self` under
//! critical sections, integer arithmetic on scalars, lists and dicts, and a
//! process-wide count.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicI64, Ordering::Relaxed},
};

use oxbind::{
    sync::{CriticalSection, PyMutex},
    Error,
};

/// The module-level count, behind a PyMutex: free-threaded callers never
/// lose an increment.
static GLOBAL: PyMutex<i64> = PyMutex::new(0);

/// `a + b`, or OverflowError naming `what` when it does not fit in an
/// `i64`. Every sum here goes through it: plain `+` wraps silently in a
/// release build.
fn checked_sum(a: i64, b: i64, what: &str) -> Result<i64, Error> {
    a.checked_add(b).ok_or_else(|| {
        Error::overflow_error(format!(
            "{what}: {a} + {b} does not fit in a 64-bit signed integer"
        ))
    })
}

/// Return a + b; OverflowError if it does not fit in 64 bits.
#[oxbind::function]
pub fn add(a: i64, b: i64) -> Result<i64, Error> {
    checked_sum(a, b, "add()")
}

/// Add one to the module-level count and return the new value.
#[oxbind::function]
pub fn inc_global() -> Result<i64, Error> {
    let mut count = GLOBAL.lock();
    *count = checked_sum(*count, 1, "inc_global()")?;
    Ok(*count)
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
    fn inc(&mut self) -> Result<(), Error> {
        self.value = checked_sum(self.value, 1, "Counter.inc()")?;
        Ok(())
    }

    /// Add one with the object's lock held (`lock_self`): the locked
    /// counterpart of `inc`, measured by `cargo xtask bench`.
    #[oxbind(lock_self)]
    fn inc_safe(&mut self) -> Result<(), Error> {
        self.value = checked_sum(self.value, 1, "Counter.inc_safe()")?;
        Ok(())
    }

    /// Add `n`; OverflowError (and no change) if the count would not fit in
    /// 64 bits.
    fn inc_by(&mut self, n: i64) -> Result<(), Error> {
        self.value = checked_sum(self.value, n, "Counter.inc_by()")?;
        Ok(())
    }

    /// Move `other`'s count into this counter (other drops to zero), with
    /// both objects locked. The sum of the two never changes; if it would
    /// not fit in 64 bits, OverflowError, and neither changes.
    #[oxbind(lock_self)]
    fn merge(&mut self, #[oxbind(lock)] other: &mut Counter) -> Result<(), Error> {
        self.value = checked_sum(self.value, other.value, "Counter.merge()")?;
        other.value = 0;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("Counter({})", self.value)
    }
}

/// Return the sum of a list (or tuple) of integers; OverflowError if it
/// does not fit in 64 bits.
#[oxbind::function]
pub fn sum_all(values: Vec<i64>) -> Result<i64, Error> {
    // The exact sum, so that the answer does not depend on the order.
    let sum: i128 = values.iter().map(|&v| v as i128).sum();
    i64::try_from(sum).map_err(|_| {
        Error::overflow_error(format!(
            "sum_all(): the sum {sum} does not fit in a 64-bit signed integer"
        ))
    })
}

/// Return the sum of the values of a dict from names to integers;
/// OverflowError if it does not fit in 64 bits. The dict is read under its
/// own lock: another thread may be changing it.
#[oxbind::function]
pub fn total(counts: HashMap<&str, i64>) -> Result<i64, Error> {
    // The exact sum: a HashMap's order is arbitrary, and an intermediate
    // overflow must not depend on it.
    let sum: i128 = counts.values().map(|&v| v as i128).sum();
    i64::try_from(sum).map_err(|_| {
        Error::overflow_error(format!(
            "total(): the sum {sum} does not fit in a 64-bit signed integer"
        ))
    })
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
        CriticalSection::with(self, || {
            self.events.fetch_add(1, Relaxed);
            if hit {
                self.hits.fetch_add(1, Relaxed);
            } else {
                self.misses.fetch_add(1, Relaxed);
            }
        })
    }

    /// `[events, hits, misses]`, read together.
    fn snapshot(&self) -> oxbind::Result<Vec<i64>> {
        CriticalSection::with(self, || {
            vec![
                self.events.load(Relaxed),
                self.hits.load(Relaxed),
                self.misses.load(Relaxed),
            ]
        })
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
        CriticalSection::with2(self, other, || {
            for (mine, theirs) in [
                (&self.events, &other.events),
                (&self.hits, &other.hits),
                (&self.misses, &other.misses),
            ] {
                mine.fetch_add(theirs.swap(0, Relaxed), Relaxed);
            }
        })
    }

    /// Try to lock a copy of this tally, which no call borrowed: raises
    /// RuntimeError. (A test of the guard's check.)
    fn lock_a_copy(&self) -> oxbind::Result<()> {
        let copy = Tally::new();
        CriticalSection::with(&copy, || ())
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

/// Detach from the interpreter and re-attach around no work: the cost of
/// `#[oxbind(detach)]` itself (the benchmark's `detached()` row).
#[oxbind::function]
#[oxbind(detach)]
pub fn detached() {}

/// Call the Python callable `f(i)` for `i` in `0..n` and return the sum of
/// the results (ints); OverflowError if it does not fit in 64 bits. The cost
/// of calling Python from a plugin (the benchmark's `call_py(f)` row).
#[oxbind::function]
pub fn call_py(f: oxbind::Callback<(i64,), i64>, n: i64) -> Result<i64, Error> {
    let mut total = 0;
    for i in 0..n {
        total = checked_sum(total, f.call((i,))?, "call_py()")?;
    }
    Ok(total)
}

/// The keys of `dict10`.
const KEYS: [&str; 10] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"];

/// `(1, "one")`, built afresh: a tuple result (the benchmark's `pair()` row).
#[oxbind::function]
pub fn pair() -> (i64, String) {
    (1, "one".to_owned())
}

/// `{"k0": 0, ..., "k9": 9}`, built afresh: a dict result (the benchmark's
/// `dict10()` row).
#[oxbind::function]
pub fn dict10() -> HashMap<String, i64> {
    KEYS.iter()
        .zip(0..)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The sum of a float64 buffer, read in place (the benchmark's `sum(a1M)`
/// and `sum(a8)` rows).
#[oxbind::function]
pub fn sum_f64(xs: &[f64]) -> f64 {
    xs.iter().sum()
}

/// `0.0, 1.0, …, n - 1` as a float64 array whose memory NumPy shares (the
/// benchmark's `arange(1M)` row).
#[oxbind::function]
pub fn arange(n: usize) -> oxbind::Array<f64> {
    oxbind::Array::from_vec((0..n).map(|i| i as f64).collect())
}

oxbind::plugin! {
    name: "counter",
    doc: "Counting, safely from many threads.",
    functions: [add, inc_global, global_value, return_self, sum_all, total, detached, call_py,
                pair, dict10, sum_f64, arange],
    classes: [Counter, Tally],
}
