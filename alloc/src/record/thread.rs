//! Each thread's profiler state, in one thread-local: the byte countdown
//! (the only thing the allocation fast path touches), the re-entrancy flag,
//! the random generator that draws the next countdown, the thread's current
//! tag and recording scope, and the top of its stack.
//!
//! One `const` thread-local without a destructor: no lazy initialisation on
//! the fast path, no registration with the thread-exit machinery, usable from
//! other thread-locals' destructors. One, because every `thread_local!`
//! access that the compiler does not inline (an access from another codegen
//! unit) is a call: the sampled path takes the state once and passes a
//! reference down. (The site cache of `sites`, which needs a destructor to
//! hand its totals over when the thread ends, is a thread-local of its own,
//! reached only on the sampled path.)

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::guard::Guard;
use super::{sampler, settings};

/// With sampling off, how many bytes a thread allocates before it looks at
/// the configuration again (so that turning sampling on takes effect).
const OFF_RECHECK_BYTES: i64 = 1 << 30;

/// Tag id of allocations made outside any `heapsnap::tag` scope.
pub(crate) const NO_TAG: u32 = 0;

/// Scope id of allocations made outside any recording scope (see
/// `heapsnap::testing`).
pub(crate) const NO_SCOPE: u32 = 0;

/// What a thread counted for the recording scope it is in: allocations
/// made and their bytes, exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScopeCounts {
    pub allocations: u64,
    pub bytes: u64,
}

/// One thread's profiler state.
pub(crate) struct ThreadState {
    /// Bytes this thread may still allocate before the next sample. Starts
    /// at zero, so that a thread's first allocation takes the slow path,
    /// which sets the thread up.
    countdown: Cell<i64>,
    /// True while the thread runs profiler code (see `guard`).
    busy: Cell<bool>,
    /// While busy, the countdown to return to: the live one is held at
    /// zero (see `guard`), and a sample's next countdown is drawn into
    /// this one.
    saved_countdown: Cell<i64>,
    /// splitmix64 state.
    rng: Cell<u64>,
    /// The configuration generation the countdown was drawn under; 0 for a
    /// thread that has not been set up.
    generation: Cell<u32>,
    tag: Cell<u32>,
    /// The recording scope the thread is in, or `NO_SCOPE`. While in one,
    /// the countdown is held at zero: every allocation is recorded, with
    /// weight one.
    scope: Cell<u32>,
    /// What the thread counted for that scope so far.
    scope_counts: Cell<ScopeCounts>,
    /// This thread's copy of the growth watch's threshold (see
    /// `settings::watch_threshold`), taken with the countdown's generation:
    /// the allocation fast path compares with it in one instruction, where
    /// the global is two (its address, then its value). `usize::MAX` until
    /// the thread is set up; the watch itself checks the global again.
    watch_from: Cell<usize>,
    /// Highest address of this thread's stack; 0 until first needed.
    #[cfg_attr(
        not(heapsnap_frame_pointers),
        allow(dead_code, reason = "only the frame-pointer walk needs it")
    )]
    stack_top: Cell<usize>,
}

/// Runs `f` with this thread's state.
///
/// Generic, and the thread-local declared inside: the allocator's fast path
/// is compiled in the user's crate (`Profiler<A>` is generic), and the
/// accessor of a thread-local declared in a generic scope is instantiated
/// there, where it can inline to one `%fs`-relative instruction. (Statics in
/// generic scopes are not duplicated: there is one state per thread.)
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    thread_local! {
        static STATE: ThreadState = const {
            ThreadState {
                countdown: Cell::new(0),
                busy: Cell::new(false),
                saved_countdown: Cell::new(0),
                rng: Cell::new(0),
                generation: Cell::new(0),
                tag: Cell::new(NO_TAG),
                scope: Cell::new(NO_SCOPE),
                scope_counts: Cell::new(ScopeCounts { allocations: 0, bytes: 0 }),
                watch_from: Cell::new(usize::MAX),
                stack_top: Cell::new(0),
            }
        };
    }
    STATE.with(f)
}

/// Numbers threads in the order they first allocate, to derive their seeds.
static THREADS: AtomicU64 = AtomicU64::new(0);

/// What a sample is weighed by and attributed to.
pub(crate) struct Due {
    /// The sampling interval.
    pub interval: u64,
    /// The thread's tag.
    pub tag: u32,
    /// The thread's recording scope (`NO_SCOPE` outside one).
    pub scope: u32,
}

impl ThreadState {
    /// The fast path: takes `bytes` off the countdown and says whether a
    /// sample is due.
    #[inline(always)]
    pub(crate) fn count_down(&self, bytes: usize) -> bool {
        // `left <= bytes` rather than `left - bytes <= 0`: the same test
        // (neither side overflows), but the subtraction's own flags decide
        // it, saving an instruction.
        let left = self.countdown.get();
        self.countdown.set(left.wrapping_sub(bytes as i64));
        left <= bytes as i64
    }

    /// The allocation fast path's two tests for an allocation of `bytes`:
    /// a sample is due ([`ThreadState::count_down`]), and the block is
    /// large enough to be watched for growth (see `record::watch`).
    #[inline(always)]
    pub(crate) fn due(&self, bytes: usize) -> (bool, bool) {
        (self.count_down(bytes), bytes >= self.watch_from.get())
    }

    /// Gives back bytes taken by [`ThreadState::count_down`], for
    /// allocations the profiler makes for itself: they must not use up the
    /// user's sampling budget.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.countdown
            .set(self.countdown.get().wrapping_add(bytes as i64));
    }

    /// Makes the next allocation take the slow path, which notices a changed
    /// configuration at once.
    pub(crate) fn reset_countdown(&self) {
        self.countdown.set(0);
    }

    /// Marks the thread as running profiler code until the guard drops, or
    /// returns `None` if it already is.
    pub(crate) fn enter(&self) -> Option<Guard<'_>> {
        Guard::enter(&self.busy, &self.countdown, &self.saved_countdown)
    }

    /// True while the thread runs profiler code.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.get()
    }

    /// Called when [`ThreadState::count_down`] said a sample is due for an
    /// allocation that counted `bytes`: decides whether it is taken. Sets the
    /// next countdown and returns the sampling interval to weigh the sample
    /// by and the thread's tag, or `None` when this allocation is not sampled
    /// after all (a new thread or a changed interval draws a fresh countdown
    /// first; sampling may be off).
    pub(crate) fn take_sample(&self, bytes: usize) -> Option<Due> {
        let scope = self.scope.get();
        if scope != NO_SCOPE {
            // Every allocation, whatever the interval; the next one too.
            self.set_next_countdown(0);
            let mut counts = self.scope_counts.get();
            counts.allocations += 1;
            counts.bytes += bytes as u64;
            self.scope_counts.set(counts);
            return Some(Due {
                interval: 1,
                tag: self.tag.get(),
                scope,
            });
        }
        let interval = settings::interval();
        let generation = settings::generation();
        if self.generation.get() != generation {
            if self.generation.get() == 0 {
                let index = THREADS.fetch_add(1, Ordering::Relaxed);
                let mut seed = settings::seed() ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
                // Decorrelate neighbouring seeds.
                let _ = sampler::next_random(&mut seed);
                self.rng.set(seed);
            }
            self.generation.set(generation);
            self.watch_from.set(settings::watch_threshold());
            if interval != 0 {
                let left = self.draw(interval).wrapping_sub(bytes as i64);
                if left > 0 {
                    self.set_next_countdown(left);
                    return None;
                }
            }
        }
        if interval == 0 {
            self.set_next_countdown(OFF_RECHECK_BYTES);
            return None;
        }
        self.set_next_countdown(self.draw(interval));
        Some(Due {
            interval,
            tag: self.tag.get(),
            scope: NO_SCOPE,
        })
    }

    /// Puts the thread in recording scope `scope` (not `NO_SCOPE`) with
    /// nothing counted yet; returns the scope it was in and what it had
    /// counted there, for [`ThreadState::leave_scope`].
    pub(crate) fn enter_scope(&self, scope: u32) -> (u32, ScopeCounts) {
        debug_assert_ne!(scope, NO_SCOPE);
        let previous = (
            self.scope.replace(scope),
            self.scope_counts.replace(ScopeCounts::default()),
        );
        // The next allocation takes the slow path.
        self.set_next_countdown(0);
        previous
    }

    /// Takes the thread out of its recording scope, back into `previous`
    /// (from [`ThreadState::enter_scope`]); returns what it counted. Out of
    /// every scope, sampling goes on with a fresh countdown: by the
    /// exponential's lack of memory, as if the scope had never been.
    pub(crate) fn leave_scope(&self, previous: (u32, ScopeCounts)) -> ScopeCounts {
        let counted = self.scope_counts.replace(previous.1);
        self.scope.set(previous.0);
        if previous.0 == NO_SCOPE {
            let interval = settings::interval();
            let fresh = if interval == 0 || self.generation.get() != settings::generation() {
                // The slow path sets the thread up, or rechecks.
                0
            } else {
                self.draw(interval)
            };
            self.set_next_countdown(fresh);
        }
        counted
    }

    /// True while the thread is in a recording scope.
    pub(crate) fn in_scope(&self) -> bool {
        self.scope.get() != NO_SCOPE
    }

    /// What the thread counted in its current recording scope so far,
    /// counting again from nothing.
    pub(crate) fn take_scope_counts(&self) -> ScopeCounts {
        self.scope_counts.take()
    }

    /// Sets the countdown the thread allocates by once out of profiler code
    /// (the live one while it is not in it).
    fn set_next_countdown(&self, bytes: i64) {
        if self.busy.get() {
            self.saved_countdown.set(bytes);
        } else {
            self.countdown.set(bytes);
        }
    }

    fn draw(&self, interval: u64) -> i64 {
        let mut rng = self.rng.get();
        let countdown = sampler::draw_countdown(&mut rng, interval);
        self.rng.set(rng);
        countdown
    }

    /// The thread's tag id.
    pub(crate) fn tag(&self) -> u32 {
        self.tag.get()
    }

    /// Sets the thread's tag id and returns the previous one.
    pub(crate) fn replace_tag(&self, tag: u32) -> u32 {
        self.tag.replace(tag)
    }

    /// The top of the thread's stack, computed by `find` the first time; 1
    /// when `find` could not tell (0 means "not computed yet").
    #[cfg_attr(
        not(heapsnap_frame_pointers),
        allow(dead_code, reason = "only the frame-pointer walk needs it")
    )]
    pub(crate) fn stack_top(&self, find: impl FnOnce() -> usize) -> usize {
        let mut top = self.stack_top.get();
        if top == 0 {
            top = find().max(1);
            self.stack_top.set(top);
        }
        top
    }
}
