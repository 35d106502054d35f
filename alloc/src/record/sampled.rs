//! The sampled path: what happens when a sample is due, and when a block
//! that may be sampled is freed or reallocated. Every function here is cold
//! and runs under the re-entrancy guard.

use std::mem::MaybeUninit;

use super::counters::{self, Estimate, add_live, drop_sample};
use super::settings::{self, MAX_FRAMES_LIMIT};
use super::sites::{self, SiteTotals};
use super::table::{self, Live};
use super::thread::{self, Due, ThreadState};
use super::{filter, sampler, stack, watch};
use crate::sys::clock;

/// A live sample's part of the estimated live heap, in whole bytes and
/// thousandths of an allocation. Every change adds or takes away exactly
/// such parts, so the running sums never drift; and truncating needs no
/// libm call on the sampled path (`round` would).
fn estimate_of(live: &Live) -> Estimate {
    Estimate {
        bytes: live.estimated_bytes() as i64,
        count_milli: (live.weight * 1000.0) as i64,
    }
}

/// The change from `before` to `after`.
fn change(before: Estimate, after: Estimate) -> Estimate {
    Estimate {
        bytes: after.bytes - before.bytes,
        count_milli: after.count_milli - before.count_milli,
    }
}

/// A sample is due for the block at `ptr` (not null) of `size` bytes, which
/// took `counted` bytes off the countdown (its size, or its growth for a
/// realloc). `inner` names the inner allocator; `boundary` is the stack
/// pointer of the function the allocator called (the stack is recorded from
/// its caller outwards). `ensure_started` runs first, under the guard: the
/// profiler's one-time start-up, which lives above this layer.
#[cold]
#[inline(never)]
pub(crate) fn record_sample(
    ptr: *mut u8,
    size: usize,
    counted: usize,
    inner: &'static str,
    boundary: usize,
    ensure_started: fn(),
) {
    // Both callers record only what the inner allocator returned.
    debug_assert!(!ptr.is_null());
    thread::with(|state| {
        let Some(_guard) = state.enter() else {
            // The profiler's own allocation: it must not use up the countdown.
            state.give_back(counted);
            return;
        };
        ensure_started();
        counters::set_inner_allocator(inner);
        if let Some(due) = state.take_sample(counted) {
            record(state, ptr as usize, size, due, boundary);
        }
    });
}

fn record(state: &ThreadState, addr: usize, size: usize, due: Due, boundary: usize) {
    let weight = sampler::weight(size, due.interval);
    let mut buffer = [MaybeUninit::uninit(); MAX_FRAMES_LIMIT];
    let depth = settings::max_frames().min(MAX_FRAMES_LIMIT);
    let stack = stack::capture(&mut buffer[..depth], state, boundary);
    let Some(site) = sites::record_allocated(
        stack.frames,
        stack.hash,
        due.tag,
        (size as f64 * weight, weight),
        heapsnap_format::snapshot::is_exact(due.interval),
    ) else {
        return drop_sample();
    };
    watch::note_sampled(site, stack.frames, due.tag, size);
    let live = Live {
        site,
        scope: due.scope,
        size,
        consumed: size,
        weight,
        born_ms: clock::coarse_uptime_ms(),
    };
    match table::insert(addr, live) {
        Err(()) => {
            account_free(live);
            return drop_sample();
        }
        // A watched buffer that grew into a sample: already in the filter.
        Ok(Some(replaced)) => debug_assert!(replaced.is_watched()),
        Ok(None) => filter::add(addr),
    }
    counters::add_sample(estimate_of(&live));
}

/// A block whose filter slot is set is being freed: forgets it if it was
/// sampled.
pub(crate) fn forget_freed(addr: usize) {
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
    sites::record_freed(
        live.site,
        live.estimated_bytes(),
        live.weight,
        records_exactly(),
    );
}

/// True while this thread records every allocation (exact mode, or a test
/// scope): site totals may then wait in its cache (see `sites`).
fn records_exactly() -> bool {
    settings::interval() == 1 || thread::with(ThreadState::in_scope)
}

/// A tracked block is gone: out of the site's live bytes and the estimate
/// (a watched buffer was in neither).
fn forget(live: Live) {
    if live.is_watched() {
        return;
    }
    add_live(estimate_of(&live).negated());
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
/// and size. If the reallocation failed (`new` is null), the old block is
/// still there and is tracked again as it was.
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
        if new.is_null() {
            keep(old, live);
        } else {
            retrack(live, new as usize, new_size);
        }
    });
}

/// Tracks `live` at `addr` again; if it cannot be, it is forgotten.
fn keep(addr: usize, live: Live) {
    if let Ok(replaced) = table::insert(addr, live) {
        if replaced.is_none() {
            filter::add(addr);
        }
    } else if !live.is_watched() {
        forget(live);
        drop_sample();
    }
}

fn retrack(live: Live, new: usize, new_size: usize) {
    if live.is_watched() {
        // Follows the buffer; nothing to account.
        let consumed = live
            .consumed
            .saturating_add(new_size.saturating_sub(live.size));
        return keep(
            new,
            Live {
                size: new_size,
                consumed,
                ..live
            },
        );
    }
    let interval = settings::interval();
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
            freed_count: live.weight - weight,
            ..SiteTotals::default()
        },
        records_exactly(),
    );
    let changed = change(estimate_of(&live), estimate_of(&moved));
    add_live(changed);
    // Growth counts as allocated bytes, not as another allocation.
    counters::add_allocated_bytes(changed.bytes.max(0));
    keep(new, moved);
}
