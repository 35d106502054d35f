//! The re-entrancy guard: while a thread runs profiler code, its own
//! allocations and frees bypass the profiler.
//!
//! Without it, recording a sample (which may allocate: a new stack, a larger
//! table) would sample that allocation, record it, and so on, and a free
//! under a profiler lock could try to take the same lock again.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    // `const` and without a destructor: usable at any point of a thread's
    // life, thread-local destructors and thread exit included, and never
    // allocates.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Proof that this thread is inside the profiler; leaving the scope (even by
/// unwinding) lets the thread be profiled again.
pub(crate) struct Guard {
    // The flag is per thread: the guard must be dropped where it was made.
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    /// Marks this thread as inside the profiler, or returns `None` when it
    /// already is.
    pub(crate) fn enter() -> Option<Guard> {
        BUSY.with(|busy| {
            if busy.get() {
                None
            } else {
                busy.set(true);
                Some(Guard {
                    _not_send: PhantomData,
                })
            }
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        BUSY.with(|busy| busy.set(false));
    }
}

/// True while this thread runs profiler code.
#[cfg(test)]
fn is_busy() -> bool {
    BUSY.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_entry_is_refused_and_exit_restores() {
        let outer = Guard::enter().expect("first entry");
        assert!(is_busy());
        assert!(Guard::enter().is_none());
        drop(outer);
        assert!(!is_busy());
        assert!(Guard::enter().is_some());
        assert!(!is_busy());
    }

    #[test]
    fn a_panic_inside_the_guard_releases_it() {
        let result = std::panic::catch_unwind(|| {
            let _guard = Guard::enter().unwrap();
            panic!("inside");
        });
        assert!(result.is_err());
        assert!(!is_busy());
    }
}
