//! The re-entrancy guard: while a thread runs profiler code, its own
//! allocations and frees bypass the profiler.
//!
//! Without it, recording a sample (which may allocate: a new stack, a larger
//! table) would sample that allocation, record it, and so on, and a free
//! under a profiler lock could try to take the same lock again. The flag
//! lives in the thread's state (`thread::ThreadState`).

use std::cell::Cell;

/// Proof that this thread is inside the profiler; leaving the scope (even by
/// unwinding) lets the thread be profiled again. Borrowing the thread's flag
/// keeps it on the thread that made it.
pub(crate) struct Guard<'a> {
    busy: &'a Cell<bool>,
}

impl<'a> Guard<'a> {
    /// Sets `busy`, or returns `None` when it already is.
    pub(crate) fn enter(busy: &'a Cell<bool>) -> Option<Guard<'a>> {
        if busy.replace(true) {
            None
        } else {
            Some(Guard { busy })
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.busy.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_entry_is_refused_and_exit_restores() {
        let busy = Cell::new(false);
        let outer = Guard::enter(&busy).expect("first entry");
        assert!(busy.get());
        assert!(Guard::enter(&busy).is_none());
        drop(outer);
        assert!(!busy.get());
        assert!(Guard::enter(&busy).is_some());
        assert!(!busy.get());
    }

    #[test]
    fn a_panic_inside_the_guard_releases_it() {
        let busy = Cell::new(false);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = Guard::enter(&busy).unwrap();
            panic!("inside");
        }));
        assert!(result.is_err());
        assert!(!busy.get());
    }
}
