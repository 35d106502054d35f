//! The sampled path: what happens when a sample is due, and when a block
//! that may be sampled is freed or reallocated. Every function here is cold
//! and runs under the re-entrancy guard.

use std::mem::MaybeUninit;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::config::{self, MAX_FRAMES_LIMIT};
use crate::sites::{self, SiteTotals};
use crate::table::{self, Live};
use crate::thread::{Due, ThreadState};
use crate::{clock, filter, fork, sampler, stack, thread, trigger};

/// Samples that could not be recorded (memory for the profiler's own tables
/// could not be had).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The estimated live heap, in bytes, kept up to date by the sampled path
/// for the growth trigger (which polls it without taking any lock).
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// The estimated live heap, in bytes.
pub(crate) fn live_bytes_estimate() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed).max(0) as u64
}

fn add_live(bytes: i64) {
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
}

/// A live sample's part of [`LIVE_BYTES`], in whole bytes. Every change adds
/// or takes away exactly such parts, so the running sum never drifts; and
/// truncating needs no libm call on the sampled path (`round` would).
fn estimate_of(live: &Live) -> i64 {
    live.estimated_bytes() as i64
}

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

/// True once [`start`] has run.
static STARTED: AtomicBool = AtomicBool::new(false);

/// One-time set-up, checked on every slow path: configuration, `fork`
/// handlers, automatic dumps asked for by the environment. Runs under the
/// re-entrancy guard, with no profiler lock held.
#[inline]
pub(crate) fn start() {
    if !STARTED.load(Ordering::Acquire) {
        start_once();
    }
}

#[cold]
fn start_once() {
    static ONCE: AtomicBool = AtomicBool::new(false);
    config::ensure_loaded();
    fork::register_once();
    if !ONCE.swap(true, Ordering::AcqRel) {
        // Mark started first: the dumper thread's own first allocation
        // comes back here.
        STARTED.store(true, Ordering::Release);
        trigger::start_from_env();
    }
}

/// A sample is due for the block at `ptr` (not null) of `size` bytes, which took
/// `counted` bytes off the countdown (its size, or its growth for a
/// realloc). `inner` names the inner allocator; `boundary` is the stack
/// pointer of the function the allocator called (the stack is recorded from
/// its caller outwards).
#[cold]
#[inline(never)]
pub(crate) fn sample_due(
    ptr: *mut u8,
    size: usize,
    counted: usize,
    inner: &'static str,
    boundary: usize,
) {
    // Both callers record only what the inner allocator returned.
    debug_assert!(!ptr.is_null());
    thread::with(|state| {
        let Some(_guard) = state.enter() else {
            // The profiler's own allocation: it must not use up the countdown.
            state.give_back(counted);
            return;
        };
        start();
        if INNER.get().is_none() {
            let _ = INNER.set(inner);
        }
        if let Some(due) = state.sample_due(counted) {
            record(state, ptr as usize, size, due, boundary);
        }
    });
}

fn record(state: &ThreadState, addr: usize, size: usize, due: Due, boundary: usize) {
    let weight = sampler::weight(size, due.interval);
    let mut buffer = [MaybeUninit::uninit(); MAX_FRAMES_LIMIT];
    let depth = config::max_frames().min(MAX_FRAMES_LIMIT);
    let stack = stack::capture(&mut buffer[..depth], state, boundary);
    let Some(site) = sites::record_allocated(
        stack.frames,
        stack.hash,
        due.tag,
        size as f64 * weight,
        weight,
    ) else {
        return drop_sample();
    };
    let live = Live {
        site,
        size,
        consumed: size,
        weight,
        born_ms: clock::coarse_uptime_ms(),
    };
    if table::insert(addr, live).is_err() {
        account_free(live);
        return drop_sample();
    }
    add_live(estimate_of(&live));
    filter::add(addr);
}

fn drop_sample() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// A block whose filter slot is set is being freed.
pub(crate) fn free(addr: usize) {
    thread::with(|state| {
        // A busy thread frees only the profiler's own memory, never sampled.
        if let Some(_guard) = state.enter()
            && let Some(live) = take(addr)
        {
            forget(live);
        }
    });
}

fn account_free(live: Live) {
    sites::record_freed(live.site, live.estimated_bytes(), live.weight);
}

/// A tracked block is gone: out of the site's live bytes and the estimate.
fn forget(live: Live) {
    add_live(-estimate_of(&live));
    account_free(live);
}

/// Before a block whose filter slot is set is reallocated: takes its entry
/// out of the live table now, because the inner allocator may hand the old
/// address to another thread the moment it returns.
#[cold]
#[inline(never)]
pub(crate) fn take_for_realloc(addr: usize) -> Option<Live> {
    thread::with(|state| {
        let _guard = state.enter()?;
        take(addr)
    })
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
    thread::with(|state| {
        // `take_for_realloc` returned `live`, so the thread was not busy.
        let _guard = state.enter();
        retrack(live, old, new, new_size);
    });
}

fn retrack(live: Live, old: usize, new: *mut u8, new_size: usize) {
    if new.is_null() {
        if table::insert(old, live).is_ok() {
            filter::add(old);
        } else {
            forget(live);
            drop_sample();
        }
        trigger::out_of_memory();
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
    let moved = Live {
        size: new_size,
        consumed,
        weight,
        ..live
    };
    let before = live.estimated_bytes();
    let after = moved.estimated_bytes();
    // Bytes it grew by count as allocated, bytes it shrank by as freed; a
    // weight that fell stands for fewer allocations than before.
    sites::adjust(
        live.site,
        SiteTotals {
            allocated_bytes: (after - before).max(0.0),
            freed_bytes: (before - after).max(0.0),
            allocated_count: 0.0,
            freed_count: live.weight - weight,
        },
    );
    add_live(estimate_of(&moved) - estimate_of(&live));
    if table::insert(new as usize, moved).is_ok() {
        filter::add(new as usize);
    } else {
        forget(moved);
        drop_sample();
    }
}
