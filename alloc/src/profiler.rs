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

use crate::record::{self, filter, reserve, settings, stack, thread, watch};
use crate::{dump, start};

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

// The fast paths below end in tail calls to the inner allocator: the
// countdown is taken before the call, and anything more happens in a cold
// function that makes the call itself. That keeps them free of register
// saves and stack frames (see BENCHMARKS.md for what each instruction costs).

/// Allocates through `inner` when a sample is due (`sampled`), or when the
/// block is large enough to be watched for growth (see `record::watch`):
/// records the block, or notes its size. One function for both, called
/// from one place in each entry point, so that the two record the same
/// stack for the same call: their highs and samples meet at one site.
#[cold]
#[inline(never)]
unsafe fn alloc_slow<A: GlobalAlloc>(
    inner: &A,
    layout: Layout,
    zeroed: bool,
    sampled: bool,
) -> *mut u8 {
    // The stack is recorded from this function's caller (the allocator's
    // entry point) outwards.
    let boundary = stack::stack_pointer();
    // SAFETY: our caller forwards its own caller's `alloc`/`alloc_zeroed`
    // contract.
    let ptr = unsafe {
        if zeroed {
            inner.alloc_zeroed(layout)
        } else {
            inner.alloc(layout)
        }
    };
    if ptr.is_null() {
        // The profiler's own allocation (a snapshot's tables): from the
        // reserve, so that the program is not aborted for the profiler's
        // sake. Busy threads always come here (see `record::guard`).
        if thread::with(thread::ThreadState::is_busy) {
            return reserve::alloc(layout, zeroed);
        }
        if sampled {
            dump::out_of_memory();
        }
    } else if sampled {
        record::record_sample(
            ptr,
            layout.size(),
            layout.size(),
            std::any::type_name::<A>(),
            boundary,
            start::ensure,
        );
    } else {
        watch::note(ptr, layout.size(), boundary, start::ensure);
    }
    ptr
}

/// Frees a block whose filter slot is set: forgets it if it was sampled.
#[cold]
#[inline(never)]
unsafe fn dealloc_maybe_sampled<A: GlobalAlloc>(inner: &A, ptr: *mut u8, layout: Layout) {
    if reserve::contains(ptr) {
        reserve::free(ptr);
        return;
    }
    record::forget_freed(ptr as usize);
    // SAFETY: our caller forwards its own caller's `dealloc` contract.
    unsafe { inner.dealloc(ptr, layout) }
}

/// Reallocates by moving: the block is a reserve's (a new block from the
/// inner allocator, or for the profiler's own, the reserve again), or the
/// inner allocator could not grow one the profiler uses for itself (a
/// block from the reserve). The contents are copied and the old block
/// given back where it came from; null, the old block kept, if there is no
/// memory.
#[cold]
#[inline(never)]
unsafe fn realloc_by_moving<A: GlobalAlloc>(
    inner: &A,
    ptr: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    let from_reserve = reserve::contains(ptr);
    // SAFETY: `realloc`'s contract makes `new_size` with `layout`'s
    // alignment a valid layout.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    let mut new = if from_reserve {
        // SAFETY: `new_layout` has a non-zero size (`realloc`'s contract).
        unsafe { inner.alloc(new_layout) }
    } else {
        std::ptr::null_mut()
    };
    if new.is_null() && thread::with(thread::ThreadState::is_busy) {
        new = reserve::alloc(new_layout, false);
    }
    if !new.is_null() {
        // SAFETY: `ptr` holds `layout.size()` bytes and `new` `new_size`;
        // they are distinct blocks. The old block is freed once, by its
        // owner: the reserve, or the inner allocator with its layout.
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            if from_reserve {
                reserve::free(ptr);
            } else {
                inner.dealloc(ptr, layout);
            }
        }
    }
    new
}

// SAFETY: every method forwards to the inner allocator with the caller's
// arguments unchanged and returns its result unchanged; the bookkeeping
// around the calls never touches the memory the allocator manages.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (sampled, watched) = thread::with(|state| state.due(layout.size()));
        if sampled || watched {
            // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract.
            return unsafe { alloc_slow(&self.inner, layout, false, sampled) };
        }
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (sampled, watched) = thread::with(|state| state.due(layout.size()));
        if sampled || watched {
            // SAFETY: our caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
            return unsafe { alloc_slow(&self.inner, layout, true, sampled) };
        }
        // SAFETY: our caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if filter::may_contain(ptr as usize) {
            // SAFETY: our caller upholds `GlobalAlloc::dealloc`'s contract.
            return unsafe { dealloc_maybe_sampled(&self.inner, ptr, layout) };
        }
        // SAFETY: our caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let tracked = if filter::may_contain(ptr as usize) {
            if reserve::contains(ptr) {
                // SAFETY: our caller upholds `GlobalAlloc::realloc`'s contract.
                return unsafe { realloc_by_moving(&self.inner, ptr, layout, new_size) };
            }
            record::take_for_realloc(ptr as usize)
        } else {
            None
        };
        // SAFETY: our caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        // A block that is no sample (unsampled, or only watched: see
        // `record::watch`) gets a fresh sampling decision for its growth.
        let mut unsampled = true;
        match tracked {
            Some(live) => {
                unsampled = live.is_watched();
                record::retrack_after_realloc(live, ptr as usize, new, new_size);
                if new.is_null() {
                    dump::out_of_memory();
                }
            }
            None if new.is_null() => {
                if thread::with(thread::ThreadState::is_busy) {
                    // SAFETY: our caller upholds `GlobalAlloc::realloc`'s
                    // contract, and the inner allocator kept `ptr`.
                    return unsafe { realloc_by_moving(&self.inner, ptr, layout, new_size) };
                }
                dump::out_of_memory();
            }
            None => {}
        }
        if unsampled && !new.is_null() && new_size > layout.size() {
            let growth = new_size - layout.size();
            if thread::with(|state| state.count_down(growth)) {
                // Inlined into the allocator's entry point: its stack
                // pointer is the boundary.
                let boundary = stack::stack_pointer();
                record::record_sample(
                    new,
                    new_size,
                    growth,
                    std::any::type_name::<A>(),
                    boundary,
                    start::ensure,
                );
            }
        }
        if !new.is_null() && new_size > layout.size() && new_size >= settings::watch_threshold() {
            watch::note(new, new_size, stack::stack_pointer(), start::ensure);
        }
        new
    }
}
