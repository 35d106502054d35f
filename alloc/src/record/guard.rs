//! The re-entrancy guard: while a thread runs profiler code, its own
//! allocations and frees bypass the profiler.
//!
//! Without it, recording a sample (which may allocate: a new stack, a larger
//! table) would sample that allocation, record it, and so on, and a free
//! under a profiler lock could try to take the same lock again. The flag
//! lives in the thread's state (`thread::ThreadState`).
//!
//! While the flag is set, the thread's sampling countdown is held at zero,
//! so that every allocation it makes takes the allocator's slow path: that
//! is where an allocation the inner allocator refuses is served from the
//! reserve instead (the profiler must not abort the program for want of
//! memory for itself). The countdown is restored on leaving.

use std::cell::Cell;

/// Proof that this thread is inside the profiler; leaving the scope (even by
/// unwinding) lets the thread be profiled again. Borrowing the thread's flag
/// keeps it on the thread that made it.
pub(crate) struct Guard<'a> {
    busy: &'a Cell<bool>,
    countdown: &'a Cell<i64>,
    /// The countdown on entry, given back on leaving (a sample taken inside
    /// sets it to the next one).
    saved: &'a Cell<i64>,
}

impl<'a> Guard<'a> {
    /// Sets `busy` and holds `countdown` at zero (its value kept in
    /// `saved`), or returns `None` when `busy` already is set.
    pub(crate) fn enter(
        busy: &'a Cell<bool>,
        countdown: &'a Cell<i64>,
        saved: &'a Cell<i64>,
    ) -> Option<Guard<'a>> {
        if busy.replace(true) {
            None
        } else {
            saved.set(countdown.replace(0));
            Some(Guard {
                busy,
                countdown,
                saved,
            })
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.countdown.set(self.saved.get());
        self.busy.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_entry_is_refused_and_exit_restores() {
        let busy = Cell::new(false);
        let countdown = Cell::new(1234);
        let saved = Cell::new(0);
        let outer = Guard::enter(&busy, &countdown, &saved).expect("first entry");
        assert!(busy.get());
        assert_eq!(countdown.get(), 0, "every allocation inside is slow");
        assert!(Guard::enter(&busy, &countdown, &saved).is_none());
        countdown.set(-40);
        drop(outer);
        assert!(!busy.get());
        assert_eq!(countdown.get(), 1234, "the user's countdown is back");
        let inner = Guard::enter(&busy, &countdown, &saved).unwrap();
        saved.set(99);
        drop(inner);
        assert_eq!(countdown.get(), 99, "a countdown drawn inside is kept");
        assert!(!busy.get());
    }

    #[test]
    fn a_panic_inside_the_guard_releases_it() {
        let busy = Cell::new(false);
        let countdown = Cell::new(7);
        let saved = Cell::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = Guard::enter(&busy, &countdown, &saved).unwrap();
            panic!("inside");
        }));
        assert!(result.is_err());
        assert!(!busy.get());
    }
}
