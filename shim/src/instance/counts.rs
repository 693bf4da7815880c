//! How many instances of each class this copy created are alive: the
//! counts the leak report reads (`crate::leaks`, `spec/LEAKS.md`).
//!
//! Each shim copy counts the instances of the classes it created:
//! `crate::class::lifecycle::new_instance` adds one and
//! `crate::class::lifecycle::dealloc` takes one away, both in that copy's
//! code. The count lives in a table private to the counting *thread*: a
//! thread only ever writes its own table (a plain read and write, no locked
//! instruction), so construction touches nothing another thread writes. An
//! instance freed on another thread than the one that made it leaves +1 in
//! one table and -1 in the other; the sum over all tables is the live count,
//! which only the report reads. Tables outlive their threads: a thread that
//! exits hands its table (counts included) to the next new thread.
//!
//! Shared state: [`TABLES`] is an append-only lock-free list; a table's
//! `in_use` flag hands it from thread to thread; a table's cells are written
//! only by the thread that holds it; [`ORPHAN`] takes the counts of threads
//! being torn down, with atomic adds.

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
            // SAFETY: tables are never freed.
            t = unsafe { (*t).next } as *mut Table;
        }
        assert!(n < 20, "{n} tables for 20 sequential threads");
        assert_eq!(live(index), Some(20));
    }
}
