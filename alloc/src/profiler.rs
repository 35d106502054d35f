//! `Profiler<A>`: the global allocator wrapper.
//!
//! Rules of the hot path (every allocation of the user's process goes
//! through here):
//!
//! - Call the inner allocator first; record only what it returned. A null
//!   result is passed back untouched.
//! - The fast path is a thread-local countdown on allocation and one filter
//!   byte on free: no lock, no shared write, no call.
//! - Everything else is `#[cold]`, out of line, and runs under the
//!   re-entrancy guard; only there may the profiler allocate, and never while
//!   holding one of its locks.
//! - Never panic, never unwind: a sample that cannot be recorded is dropped
//!   and counted. A pointer the profiler does not know is simply unsampled.
//! - `debug_assert!` for invariants, never `unreachable_unchecked`.

use std::alloc::{GlobalAlloc, Layout};

use crate::{filter, recorder, thread};

/// A global allocator that samples allocations of the inner allocator `A`.
///
/// ```no_run
/// #[global_allocator]
/// static GLOBAL: heapsnap::Profiler<std::alloc::System> =
///     heapsnap::Profiler::new(std::alloc::System);
/// ```
///
/// With the default `jemalloc` feature, wrap [`Jemalloc`](crate::Jemalloc)
/// instead. All profilers in a process share one set of samples: there is
/// one global allocator per process.
#[derive(Debug, Default)]
pub struct Profiler<A> {
    inner: A,
}

impl<A> Profiler<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

/// After an allocation or growth: the countdown decides whether to sample.
#[inline(always)]
fn after_alloc<A>(ptr: *mut u8, size: usize, counted: usize) {
    if !ptr.is_null() && thread::count_down(counted) {
        recorder::sample_due(ptr, size, counted, std::any::type_name::<A>());
    }
}

// SAFETY: every method forwards to the inner allocator with the caller's
// arguments unchanged and returns its result unchanged; the bookkeeping
// around the calls never touches the memory the allocator manages.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        after_alloc::<A>(ptr, layout.size(), layout.size());
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: our caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        after_alloc::<A>(ptr, layout.size(), layout.size());
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if filter::may_contain(ptr as usize) {
            recorder::free(ptr as usize);
        }
        // SAFETY: our caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let tracked = if filter::may_contain(ptr as usize) {
            recorder::take_for_realloc(ptr as usize)
        } else {
            None
        };
        // SAFETY: our caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        match tracked {
            Some(live) => recorder::retrack_after_realloc(live, ptr as usize, new, new_size),
            // An unsampled block gets a fresh sampling decision for its growth.
            None if new_size > layout.size() => {
                after_alloc::<A>(new, new_size, new_size - layout.size());
            }
            None => {}
        }
        new
    }
}
