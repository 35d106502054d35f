//! Each thread's sampling state: the byte countdown (the only thing the
//! allocation fast path touches), the random generator that draws the next
//! countdown, the thread's current tag, and the top of its stack.
//!
//! All of it lives in `const` thread-locals without destructors: no lazy
//! initialisation on the fast path, no registration with the thread-exit
//! machinery, and valid to use from other thread-locals' destructors.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{config, sampler};

/// With sampling off, how many bytes a thread allocates before it looks at
/// the configuration again (so that turning sampling on takes effect).
const OFF_RECHECK_BYTES: i64 = 1 << 30;

/// Tag id of allocations made outside any `heapsnap::tag` scope.
pub(crate) const NO_TAG: u32 = 0;

thread_local! {
    /// Bytes this thread may still allocate before the next sample. Starts at
    /// zero so that a thread's first allocation takes the slow path, which
    /// sets the thread up.
    static COUNTDOWN: Cell<i64> = const { Cell::new(0) };
    static LOCAL: Local = const { Local::new() };
}

struct Local {
    /// splitmix64 state.
    rng: Cell<u64>,
    /// The configuration generation the countdown was drawn under; 0 for a
    /// thread that has not been set up.
    generation: Cell<u32>,
    tag: Cell<u32>,
    /// Highest address of this thread's stack; 0 until first needed.
    stack_top: Cell<usize>,
}

impl Local {
    const fn new() -> Self {
        Self {
            rng: Cell::new(0),
            generation: Cell::new(0),
            tag: Cell::new(NO_TAG),
            stack_top: Cell::new(0),
        }
    }
}

/// Numbers threads in the order they first allocate, to derive their seeds.
static THREADS: AtomicU64 = AtomicU64::new(0);

/// The fast path: takes `bytes` off this thread's countdown and says whether
/// a sample is due.
#[inline(always)]
pub(crate) fn count_down(bytes: usize) -> bool {
    COUNTDOWN.with(|countdown| {
        let left = countdown.get().wrapping_sub(bytes as i64);
        countdown.set(left);
        left <= 0
    })
}

/// Gives back bytes taken by [`count_down`], for allocations the profiler
/// makes for itself: they must not use up the user's sampling budget.
pub(crate) fn give_back(bytes: usize) {
    COUNTDOWN.with(|countdown| countdown.set(countdown.get().wrapping_add(bytes as i64)));
}

/// Makes this thread's next allocation take the slow path, which notices a
/// changed configuration at once.
pub(crate) fn reset_countdown() {
    COUNTDOWN.with(|countdown| countdown.set(0));
}

/// Called when [`count_down`] said a sample is due for an allocation that
/// counted `bytes`. Sets the next countdown and returns the sampling interval
/// to weigh the sample by, or `None` when this allocation is not sampled
/// after all (a new thread or a changed interval draws a fresh countdown
/// first; sampling may be off).
pub(crate) fn sample_due(bytes: usize) -> Option<u64> {
    LOCAL.with(|local| {
        let interval = config::interval();
        let generation = config::generation();
        if local.generation.get() != generation {
            if local.generation.get() == 0 {
                let index = THREADS.fetch_add(1, Ordering::Relaxed);
                let mut seed = config::seed() ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
                // Decorrelate neighbouring seeds.
                let _ = sampler::next_random(&mut seed);
                local.rng.set(seed);
            }
            local.generation.set(generation);
            if interval != 0 {
                let left = draw(local, interval).wrapping_sub(bytes as i64);
                if left > 0 {
                    COUNTDOWN.with(|countdown| countdown.set(left));
                    return None;
                }
            }
        }
        if interval == 0 {
            COUNTDOWN.with(|countdown| countdown.set(OFF_RECHECK_BYTES));
            return None;
        }
        let next = draw(local, interval);
        COUNTDOWN.with(|countdown| countdown.set(next));
        Some(interval)
    })
}

fn draw(local: &Local, interval: u64) -> i64 {
    let mut rng = local.rng.get();
    let countdown = sampler::draw_countdown(&mut rng, interval);
    local.rng.set(rng);
    countdown
}

/// This thread's current tag id.
pub(crate) fn tag() -> u32 {
    LOCAL.with(|local| local.tag.get())
}

/// Sets this thread's tag id and returns the previous one.
pub(crate) fn replace_tag(tag: u32) -> u32 {
    LOCAL.with(|local| local.tag.replace(tag))
}

/// The top of this thread's stack, computed by `find` the first time; 1 when
/// `find` could not tell (0 means "not computed yet").
pub(crate) fn stack_top(find: impl FnOnce() -> usize) -> usize {
    LOCAL.with(|local| {
        let mut top = local.stack_top.get();
        if top == 0 {
            top = find().max(1);
            local.stack_top.set(top);
        }
        top
    })
}
