//! The sampled path: what happens when a sample is due, and when a block
//! that may be sampled is freed or reallocated. Every function here is cold
//! and runs under the re-entrancy guard.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{self, MAX_FRAMES_LIMIT};
use crate::guard::Guard;
use crate::sites::{self, SiteKey};
use crate::table::{self, Live};
use crate::{clock, filter, fork, sampler, stack, thread};

/// Samples that could not be recorded (memory for the profiler's own tables
/// could not be had).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The inner allocator's type name, known once the profiler has run.
static INNER: OnceLock<&'static str> = OnceLock::new();

/// Samples dropped so far.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The inner allocator's type name, or `None` when no `Profiler` has
/// allocated in this process (it is not the global allocator).
pub(crate) fn inner_allocator() -> Option<&'static str> {
    INNER.get().copied()
}

/// One-time set-up, on every slow path: configuration, `fork` handlers.
pub(crate) fn start() {
    config::ensure_loaded();
    fork::register_once();
}

/// A sample is due for the block at `ptr` of `size` bytes, which took
/// `counted` bytes off the countdown (its size, or its growth for a
/// realloc). `inner` names the inner allocator.
#[cold]
#[inline(never)]
pub(crate) fn sample_due(ptr: *mut u8, size: usize, counted: usize, inner: &'static str) {
    let Some(_guard) = Guard::enter() else {
        // The profiler's own allocation: it must not use up the countdown.
        thread::give_back(counted);
        return;
    };
    start();
    if INNER.get().is_none() {
        let _ = INNER.set(inner);
    }
    if let Some(interval) = thread::sample_due(counted) {
        record(ptr as usize, size, interval);
    }
}

fn record(addr: usize, size: usize, interval: u64) {
    let weight = sampler::weight(size, interval);
    let mut frames = [0usize; MAX_FRAMES_LIMIT];
    let depth = config::max_frames().min(MAX_FRAMES_LIMIT);
    let n = stack::capture(&mut frames[..depth]);
    let Some(stack) = sites::intern_stack(&frames[..n]) else {
        return drop_sample();
    };
    let site = SiteKey {
        stack,
        tag: thread::tag(),
    };
    if sites::add_allocated(site, size as f64 * weight, weight).is_none() {
        return drop_sample();
    }
    let live = Live {
        site,
        size,
        consumed: size,
        weight,
        born_ms: clock::uptime_ms(),
    };
    if table::insert(addr, live).is_err() {
        sites::add_freed(site, size as f64 * weight, weight);
        return drop_sample();
    }
    filter::add(addr);
}

fn drop_sample() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// A block whose filter slot is set is being freed.
#[cold]
#[inline(never)]
pub(crate) fn free(addr: usize) {
    // A busy thread frees only the profiler's own memory, never sampled.
    if let Some(_guard) = Guard::enter()
        && let Some(live) = take(addr)
    {
        account_free(live);
    }
}

fn account_free(live: Live) {
    sites::add_freed(live.site, live.size as f64 * live.weight, live.weight);
}

/// Before a block whose filter slot is set is reallocated: takes its entry
/// out of the live table now, because the inner allocator may hand the old
/// address to another thread the moment it returns.
#[cold]
#[inline(never)]
pub(crate) fn take_for_realloc(addr: usize) -> Option<Live> {
    let _guard = Guard::enter()?;
    take(addr)
}

fn take(addr: usize) -> Option<Live> {
    let live = table::remove(addr)?;
    filter::remove(addr);
    Some(live)
}

/// After reallocating a sampled block: it stays tracked, at its new address
/// and size. If the reallocation failed, the old block is still there and is
/// tracked again as it was.
///
/// A block that grew could have been sampled on any of the bytes it grew
/// by, so its weight falls with the bytes it has ever grown to; the change
/// in its estimated bytes and count goes into the site's running totals.
#[cold]
#[inline(never)]
pub(crate) fn retrack_after_realloc(live: Live, old: usize, new: *mut u8, new_size: usize) {
    let Some(_guard) = Guard::enter() else {
        return;
    };
    if new.is_null() {
        if table::insert(old, live).is_ok() {
            filter::add(old);
        } else {
            account_free(live);
            drop_sample();
        }
        return;
    }
    let interval = config::interval();
    let consumed = live
        .consumed
        .saturating_add(new_size.saturating_sub(live.size));
    let weight = if interval == 0 {
        live.weight
    } else {
        sampler::weight(consumed, interval).min(live.weight)
    };
    let before = live.size as f64 * live.weight;
    let after = new_size as f64 * weight;
    let moved = Live {
        size: new_size,
        consumed,
        weight,
        ..live
    };
    if after >= before {
        if sites::add_allocated(live.site, after - before, 0.0).is_none() {
            account_free(live);
            return drop_sample();
        }
    } else {
        sites::add_freed(live.site, before - after, 0.0);
    }
    if weight < live.weight {
        sites::add_freed(live.site, 0.0, live.weight - weight);
    }
    if table::insert(new as usize, moved).is_ok() {
        filter::add(new as usize);
    } else {
        account_free(moved);
        drop_sample();
    }
}
