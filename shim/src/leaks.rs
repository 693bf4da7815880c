//! Leak accounting, and the leak report the runtime's creator prints at exit
//! (`spec/LEAKS.md`).
//!
//! **Counting instances.** Each shim copy counts the instances of the
//! classes it created: `instance::new_instance` adds one and
//! `instance::dealloc` takes one away, both in that copy's code. The count
//! lives in a table private to the counting *thread*: a thread only ever
//! writes its own table (a plain read and write, no locked instruction), so
//! construction touches nothing another thread writes. An instance freed on
//! another thread than the one that made it leaves +1 in one table and -1 in
//! the other; the sum over all tables is the live count, which only the
//! report reads. Tables outlive their threads: a thread that exits hands its
//! table (counts included) to the next new thread.
//!
//! **The report.** The copy that created the runtime registers
//! [`report_at_exit`] with `Py_AtExit`. It runs after the interpreter is
//! finalized, when every object that can be freed has been: what is still
//! alive then is leaked. It reads the type registry (each record's
//! `live_instances`, implemented by the copy that created the type) and the
//! instance map (reference wrappers that keep an owner alive).
//!
//! Shared state: [`TABLES`] is an append-only lock-free list; a table's
//! `in_use` flag hands it from thread to thread; a table's cells are written
//! only by the thread that holds it. [`LEAK_WARNINGS`] and [`REPORTER`] are
//! atomics of the creating copy.

use std::{
    cell::Cell,
    ptr,
    sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, Ordering},
};

/// Classes per chunk of a thread's table, and chunks per table: one copy
/// counts up to 4096 classes (later ones go uncounted, and are reported as
/// such).
const CHUNK: usize = 64;
const CHUNKS: usize = 64;

/// The classes a copy can count.
pub const MAX_COUNTED: u32 = (CHUNK * CHUNKS) as u32;

type Chunk = [AtomicI64; CHUNK];

/// One thread's counts, by class index.
struct Table {
    in_use: AtomicBool,
    next: *const Table,
    chunks: [AtomicPtr<Chunk>; CHUNKS],
}

// SAFETY: cells are atomics, written by the one thread holding the table;
// `next` is immutable after the table is published.
unsafe impl Sync for Table {}

/// Every table this copy ever made, newest first. Tables are never freed.
static TABLES: AtomicPtr<Table> = AtomicPtr::new(ptr::null_mut());

/// Counts made while a thread is being torn down (its table is gone):
/// shared and contended, but only ever touched in that rare case.
static ORPHAN: Table = Table {
    in_use: AtomicBool::new(true),
    next: ptr::null(),
    chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
};

/// The next class index this copy hands out.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);

/// A new class index, or `None` once `MAX_COUNTED` classes are counted.
pub fn new_class_index() -> Option<u32> {
    let i = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
    (i < MAX_COUNTED).then_some(i)
}

/// The table this thread holds; handed back when the thread exits.
struct Holder(Cell<*const Table>);

impl Drop for Holder {
    fn drop(&mut self) {
        let t = self.0.get();
        if !t.is_null() {
            // SAFETY: tables are never freed.
            unsafe { (*t).in_use.store(false, Ordering::Release) };
        }
    }
}

thread_local! {
    static HOLDER: Holder = const { Holder(Cell::new(ptr::null())) };
}

/// A free table, or a new one added to [`TABLES`].
fn acquire_table() -> &'static Table {
    let mut t = TABLES.load(Ordering::Acquire);
    while !t.is_null() {
        // SAFETY: tables are never freed.
        let table = unsafe { &*t };
        if table
            .in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return table;
        }
        t = table.next as *mut Table;
    }
    let table: &'static mut Table = Box::leak(Box::new(Table {
        in_use: AtomicBool::new(true),
        next: ptr::null(),
        chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
    }));
    let mut head = TABLES.load(Ordering::Acquire);
    loop {
        table.next = head;
        match TABLES.compare_exchange_weak(
            head,
            table as *mut Table,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return table,
            Err(now) => head = now,
        }
    }
}

/// The cell for `index` in `table`, allocating its chunk on first use.
fn cell(table: &Table, index: u32) -> &AtomicI64 {
    let (c, k) = (index as usize / CHUNK, index as usize % CHUNK);
    let mut chunk = table.chunks[c].load(Ordering::Acquire);
    if chunk.is_null() {
        let fresh = Box::into_raw(Box::new([const { AtomicI64::new(0) }; CHUNK]));
        match table.chunks[c].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => chunk = fresh,
            Err(existing) => {
                // Only the orphan table is shared; another thread won.
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
                chunk = existing;
            }
        }
    }
    // SAFETY: chunks are never freed.
    unsafe { &(*chunk)[k] }
}

/// Adds `delta` to the live count of class `index`, in this thread's table.
#[inline]
pub fn count(index: Option<u32>, delta: i64) {
    let Some(index) = index else { return };
    let counted = HOLDER.try_with(|h| {
        let mut t = h.0.get();
        if t.is_null() {
            t = acquire_table();
            h.0.set(t);
        }
        // SAFETY: tables are never freed.
        let c = cell(unsafe { &*t }, index);
        // Only this thread writes this cell: no locked instruction needed.
        c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    });
    if counted.is_err() {
        // The thread is being torn down: count in the shared orphan table.
        cell(&ORPHAN, index).fetch_add(delta, Ordering::Relaxed);
    }
}

/// The live count of class `index`: the sum over every table.
pub fn live(index: Option<u32>) -> Option<i64> {
    let index = index?;
    let read = |t: &Table| {
        let chunk = t.chunks[index as usize / CHUNK].load(Ordering::Acquire);
        if chunk.is_null() {
            0
        } else {
            // SAFETY: chunks are never freed.
            unsafe { (*chunk)[index as usize % CHUNK].load(Ordering::Relaxed) }
        }
    };
    let mut total = read(&ORPHAN);
    let mut t = TABLES.load(Ordering::Acquire);
    while !t.is_null() {
        // SAFETY: tables are never freed.
        let table = unsafe { &*t };
        total += read(table);
        t = table.next as *mut Table;
    }
    Some(total)
}

// ---------------------------------------------------------------------------
// The report (the creating copy only).

/// Whether the creator reports at exit (`oxbind.set_leak_warnings`).
pub static LEAK_WARNINGS: AtomicBool = AtomicBool::new(true);

/// The environment variable that turns a leak into exit status
/// [`LEAK_EXIT_STATUS`].
pub const FATAL_VARIABLE: &str = "OXBIND_LEAKS_FATAL";

/// The exit status of a process that leaked, with [`FATAL_VARIABLE`] set.
pub const LEAK_EXIT_STATUS: i32 = 70;

/// What the report lists, gathered by the runtime's creator.
#[derive(Default, Debug, PartialEq)]
pub struct Leaks {
    /// (type key, owning plugin and version, live count), by key.
    pub instances: Vec<(String, String, i64)>,
    /// Types whose instances could not be counted, by key.
    pub uncounted: Vec<String>,
    /// (wrapper type, owner type) per live keep-alive record.
    pub keep_alive: Vec<(String, String)>,
}

impl Leaks {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.keep_alive.is_empty()
    }

    /// The report's lines (`spec/LEAKS.md`, "Format").
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let total: i64 = self.instances.iter().map(|i| i.2).sum();
        out.push(format!(
            "oxbind: leaked {total} instance{}",
            if total == 1 { "" } else { "s" }
        ));
        for (key, owner, n) in &self.instances {
            out.push(format!("oxbind:   {n} x {key} (plugin {owner})"));
        }
        let k = self.keep_alive.len();
        if k > 0 {
            out.push(format!(
                "oxbind: leaked {k} keep-alive record{}",
                if k == 1 { "" } else { "s" }
            ));
            for (wrapper, owner) in &self.keep_alive {
                out.push(format!(
                    "oxbind:   a {wrapper} reference keeps a {owner} alive"
                ));
            }
        }
        for key in &self.uncounted {
            out.push(format!(
                "oxbind: (instances of {key} are not counted: its oxbind predates the leak report)"
            ));
        }
        out.push(format!(
            "oxbind: turn this report off with oxbind.set_leak_warnings(False); see spec/LEAKS.md"
        ));
        out
    }
}

/// The gathering function of the creator, set when it creates the runtime.
static REPORTER: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Registers the report at exit; called once, by the runtime's creator.
///
/// # Safety
/// The thread is attached; `gather` may be called after finalization.
pub unsafe fn install_report(gather: fn() -> Leaks) {
    if REPORTER
        .compare_exchange(
            ptr::null_mut(),
            gather as *mut (),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        pyo3_ffi::Py_AtExit(Some(report_at_exit));
    }
}

/// Runs after the interpreter is finalized (`Py_AtExit`): prints the leaks,
/// and exits with [`LEAK_EXIT_STATUS`] if any leaked and the environment
/// asks for it. Runs no Python code and touches no Python object's
/// reference count.
extern "C" fn report_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if !LEAK_WARNINGS.load(Ordering::Acquire) {
            return;
        }
        let gather = REPORTER.load(Ordering::Acquire);
        if gather.is_null() {
            return;
        }
        // SAFETY: set by `install_report` from a `fn() -> Leaks`.
        let gather: fn() -> Leaks = unsafe { std::mem::transmute(gather) };
        let leaks = gather();
        if leaks.is_empty() {
            return;
        }
        let text = leaks.lines().join("\n");
        eprintln!("{text}");
        let fatal = std::env::var(FATAL_VARIABLE).is_ok_and(|v| !v.is_empty() && v != "0");
        if fatal {
            std::process::exit(LEAK_EXIT_STATUS);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_sum_up() {
        let index = new_class_index();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        count(index, 1);
                    }
                    // Half the threads free what they made; the others
                    // leave theirs for the main thread to free.
                    if i % 2 == 0 {
                        for _ in 0..1000 {
                            count(index, -1);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(live(index), Some(2000));
        for _ in 0..2000 {
            count(index, -1);
        }
        assert_eq!(live(index), Some(0));
    }

    #[test]
    fn exited_threads_hand_their_tables_on() {
        let index = new_class_index();
        for _ in 0..20 {
            std::thread::spawn(move || count(index, 1)).join().unwrap();
        }
        let mut n = 0;
        let mut t = TABLES.load(Ordering::Acquire);
        while !t.is_null() {
            n += 1;
            t = unsafe { (*t).next } as *mut Table;
        }
        assert!(n < 20, "{n} tables for 20 sequential threads");
        assert_eq!(live(index), Some(20));
    }

    #[test]
    fn the_report_format() {
        let leaks = Leaks {
            instances: vec![
                ("leaky.Blob".into(), "leaky 0.1.0".into(), 2),
                ("leaky.Shelf".into(), "leaky 0.1.0".into(), 1),
            ],
            uncounted: vec![],
            keep_alive: vec![("leaky.Blob".into(), "leaky.Shelf".into())],
        };
        assert_eq!(
            leaks.lines(),
            [
                "oxbind: leaked 3 instances",
                "oxbind:   2 x leaky.Blob (plugin leaky 0.1.0)",
                "oxbind:   1 x leaky.Shelf (plugin leaky 0.1.0)",
                "oxbind: leaked 1 keep-alive record",
                "oxbind:   a leaky.Blob reference keeps a leaky.Shelf alive",
                "oxbind: turn this report off with oxbind.set_leak_warnings(False); see spec/LEAKS.md",
            ]
        );
        assert!(Leaks::default().lines().is_empty());
    }
}
