//! The range registry: which memory buffer arguments hold, process-wide, so
//! that no two oxbind calls alias a mutable buffer (`spec/THREADING.md`,
//! "Buffers").
//!
//! A buffer argument claims the bytes it spans for its call: shared for a
//! read-only parameter (`&[T]`, `ArrayView<T>`), exclusive for a mutable one
//! (`&mut [T]`, `ArrayViewMut<T>`). A claim that overlaps an exclusive
//! claim, or an exclusive claim that overlaps any claim, is refused at once
//! with `BufferError`: waiting could deadlock (the holder may be waiting for
//! this thread), and Rust's own borrow rules refuse the same aliasing at
//! compile time. Two arguments of one call conflict too (`f(a, a)` with a
//! `&mut [T]`).
//!
//! The claims live in the creator's state ([`Claims`], behind its own
//! `PyLock`), reached through the internals table's `claim_range` and
//! `release_range`, so every shim copy shares them. A copy whose runtime's
//! creator predates them (internals ABI 0.1.1) keeps its own, in
//! [`LOCAL`]: its calls then exclude one another but not other copies'.
//! Nothing here runs Python code while the lock is held.

use std::ffi::c_void;

use crate::sync::lock::PyLock;

/// The claims in force: `(start, end, exclusive)`, one entry per claim (two
/// shared claims of one range are two entries).
#[derive(Default)]
pub(crate) struct Claims(Vec<(usize, usize, bool)>);

impl Claims {
    fn claim(&mut self, start: usize, end: usize, exclusive: bool) -> bool {
        let conflict = self
            .0
            .iter()
            .any(|&(s, e, x)| s < end && start < e && (x || exclusive));
        if !conflict {
            self.0.push((start, end, exclusive));
        }
        !conflict
    }

    fn release(&mut self, start: usize, end: usize, exclusive: bool) {
        if let Some(i) = self.0.iter().position(|&c| c == (start, end, exclusive)) {
            self.0.swap_remove(i);
        }
    }
}

/// A copy's own claims, when its runtime's creator has no registry.
static LOCAL: PyLock<Claims> = PyLock::new(Claims(Vec::new()));

/// The creator's `claim_range`.
///
/// # Safety
/// Called through the `claim_range` entry of the internals table of the
/// runtime this copy created: `state` is that table's `state`, and the
/// thread is attached.
pub(crate) unsafe extern "C" fn creator_claim_range(
    state: *const c_void,
    start: usize,
    end: usize,
    exclusive: bool,
) -> bool {
    // SAFETY: `state` is this copy's creator state and the thread is
    // attached (this function's contract); nothing runs Python code while
    // the guard lives.
    let mut claims = unsafe { crate::runtime::creator::creator_state(state).claims.lock() };
    claims.claim(start, end, exclusive)
}

/// The creator's `release_range`.
///
/// # Safety
/// As for [`creator_claim_range`].
pub(crate) unsafe extern "C" fn creator_release_range(
    state: *const c_void,
    start: usize,
    end: usize,
    exclusive: bool,
) {
    // SAFETY: as for `creator_claim_range`.
    let mut claims = unsafe { crate::runtime::creator::creator_state(state).claims.lock() };
    claims.release(start, end, exclusive);
}

/// One claim granted by [`claim`]; ended by dropping it (attached).
pub(crate) struct Claim {
    start: usize,
    end: usize,
    exclusive: bool,
}

/// The joined runtime's `claim_range` and `release_range` with its state,
/// if its creator has them (internals ABI 0.1.2); `None` means [`LOCAL`].
fn shared_registry() -> Option<(ClaimFn, ReleaseFn, *const c_void)> {
    let j = crate::runtime::joined()?;
    let (claim, release) = (j.internals.claim_range()?, j.internals.release_range()?);
    Some((claim, release, j.internals.state()))
}

type ClaimFn = unsafe extern "C" fn(*const c_void, usize, usize, bool) -> bool;
type ReleaseFn = unsafe extern "C" fn(*const c_void, usize, usize, bool);

/// Claims `[start, end)` for a call; `None` if it conflicts with a claim in
/// force. An empty range claims nothing and always succeeds.
///
/// # Safety
/// The thread is attached, and stays attached wherever the claim drops.
pub(crate) unsafe fn claim(start: usize, end: usize, exclusive: bool) -> Option<Option<Claim>> {
    if start >= end {
        return Some(None);
    }
    let granted = match shared_registry() {
        // SAFETY: the joined runtime's own function, with its state, on an
        // attached thread (this function's contract).
        Some((claim, _, state)) => unsafe { claim(state, start, end, exclusive) },
        // SAFETY: attached (this function's contract); nothing runs Python
        // code while the guard lives.
        None => unsafe { LOCAL.lock() }.claim(start, end, exclusive),
    };
    // Built only when granted: a `Claim` releases its range when dropped,
    // so making one for a refused claim would end the holder's claim.
    if granted {
        Some(Some(Claim {
            start,
            end,
            exclusive,
        }))
    } else {
        None
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let (start, end, exclusive) = (self.start, self.end, self.exclusive);
        match shared_registry() {
            // SAFETY: the joined runtime's own function, with its state; a
            // claim drops attached (`claim`'s contract), and was granted by
            // the same registry (the runtime a copy joined never changes).
            Some((_, release, state)) => unsafe { release(state, start, end, exclusive) },
            // SAFETY: attached (as above); no Python code runs under it.
            None => unsafe { LOCAL.lock() }.release(start, end, exclusive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn shared_claims_coexist_and_exclusive_ones_do_not() {
        let mut c = Claims::default();
        assert!(c.claim(0, 10, false));
        assert!(c.claim(5, 15, false));
        assert!(!c.claim(9, 20, true), "overlaps a shared claim");
        assert!(c.claim(15, 20, true), "adjacent, not overlapping");
        assert!(!c.claim(19, 30, false), "overlaps an exclusive claim");
        c.release(15, 20, true);
        assert!(c.claim(19, 30, false));
        c.release(0, 10, false);
        c.release(5, 15, false);
        assert!(c.claim(0, 15, true));
    }
}
