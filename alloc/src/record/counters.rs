//! Process-wide counters the sampled path keeps for snapshots, triggers
//! and `heapsnap::stats`: samples dropped, the estimated live heap and what
//! was allocated since start, and which allocator the profiler wraps.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Samples that could not be recorded (memory for the profiler's own tables
/// could not be had).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The running estimates, striped: each thread adds to the stripe its
/// state's address picks, so that threads recording at once (exact mode,
/// test scopes) do not fight over one cache line; readers sum the stripes.
#[repr(align(128))]
struct Stripe {
    /// The estimated live heap, in bytes (the growth trigger polls it).
    live_bytes: AtomicI64,
    /// The estimated number of live allocations, in thousandths (a sample
    /// stands for a fractional number of allocations).
    live_count_milli: AtomicI64,
    /// Estimated bytes and allocations (thousandths) allocated since start.
    allocated_bytes: AtomicI64,
    allocated_count_milli: AtomicI64,
    /// Samples taken since start.
    samples: AtomicI64,
}

const STRIPE_COUNT: usize = 16;

static STRIPES: [Stripe; STRIPE_COUNT] = [const {
    Stripe {
        live_bytes: AtomicI64::new(0),
        live_count_milli: AtomicI64::new(0),
        allocated_bytes: AtomicI64::new(0),
        allocated_count_milli: AtomicI64::new(0),
        samples: AtomicI64::new(0),
    }
}; STRIPE_COUNT];

/// This thread's stripe, picked by the address of its state (any
/// per-thread address would do).
fn stripe() -> &'static Stripe {
    let here = super::thread::with(|state| std::ptr::from_ref(state) as usize);
    &STRIPES[(super::hash::address(here) >> 60) as usize % STRIPE_COUNT]
}

impl Stripe {
    fn add_live(&self, change: Estimate) {
        self.live_bytes.fetch_add(change.bytes, Ordering::Relaxed);
        self.live_count_milli
            .fetch_add(change.count_milli, Ordering::Relaxed);
    }

    fn add_allocated(&self, change: Estimate) {
        self.allocated_bytes
            .fetch_add(change.bytes, Ordering::Relaxed);
        self.allocated_count_milli
            .fetch_add(change.count_milli, Ordering::Relaxed);
    }
}

fn sum(field: impl Fn(&Stripe) -> &AtomicI64) -> i64 {
    STRIPES
        .iter()
        .map(|s| field(s).load(Ordering::Relaxed))
        .sum()
}

/// The inner allocator's type name, known once the profiler has run.
static INNER: OnceLock<&'static str> = OnceLock::new();

/// A change to the running estimates: bytes, and allocations in
/// thousandths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub bytes: i64,
    pub count_milli: i64,
}

impl Estimate {
    /// The same change, the other way.
    pub(crate) fn negated(self) -> Estimate {
        Estimate {
            bytes: -self.bytes,
            count_milli: -self.count_milli,
        }
    }
}

/// The estimated live heap, in bytes.
pub(crate) fn live_bytes_estimate() -> u64 {
    sum(|s| &s.live_bytes).max(0) as u64
}

/// The estimated number of live allocations.
pub(crate) fn live_count_estimate() -> u64 {
    (sum(|s| &s.live_count_milli).max(0) as u64 + 500) / 1000
}

/// The estimated bytes and allocations allocated since start.
pub(crate) fn allocated_estimate() -> (u64, u64) {
    (
        sum(|s| &s.allocated_bytes).max(0) as u64,
        (sum(|s| &s.allocated_count_milli).max(0) as u64 + 500) / 1000,
    )
}

/// Moves the estimated live heap by `change`.
pub(crate) fn add_live(change: Estimate) {
    stripe().add_live(change);
}

/// Adds a new sample: to the live heap and to what was allocated since
/// start.
pub(crate) fn add_sample(sample: Estimate) {
    let stripe = stripe();
    stripe.add_live(sample);
    stripe.add_allocated(sample);
    stripe.samples.fetch_add(1, Ordering::Relaxed);
}

/// Samples taken since start.
pub(crate) fn samples() -> u64 {
    sum(|s| &s.samples).max(0) as u64
}

/// Adds the growth of a live sample to what was allocated since start.
pub(crate) fn add_allocated_bytes(bytes: i64) {
    stripe().add_allocated(Estimate {
        bytes,
        count_milli: 0,
    });
}

/// Counts a sample that could not be recorded.
pub(crate) fn drop_sample() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// Samples dropped so far.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Tags whose running figures are kept (for the live counters file): the
/// first this many a program names, ids 1 to `TAGS_KEPT`.
pub(crate) const TAGS_KEPT: usize = heapsnap_format::live::TAGS;

/// Estimated bytes allocated and freed under a kept tag.
struct TagTotals {
    allocated_bytes: AtomicI64,
    freed_bytes: AtomicI64,
}

static TAG_TOTALS: [TagTotals; TAGS_KEPT] = [const {
    TagTotals {
        allocated_bytes: AtomicI64::new(0),
        freed_bytes: AtomicI64::new(0),
    }
}; TAGS_KEPT];

/// Adds to a tag's figures what its sites' totals gained (the site table
/// calls it with each change; untagged and later tags are not kept).
pub(crate) fn add_to_tag(tag: u32, allocated_bytes: f64, freed_bytes: f64) {
    let Some(totals) = (tag as usize)
        .checked_sub(1)
        .and_then(|i| TAG_TOTALS.get(i))
    else {
        return;
    };
    totals
        .allocated_bytes
        .fetch_add(allocated_bytes.round() as i64, Ordering::Relaxed);
    totals
        .freed_bytes
        .fetch_add(freed_bytes.round() as i64, Ordering::Relaxed);
}

/// A kept tag's estimated live bytes and bytes allocated since start.
pub(crate) fn tag_estimate(tag: u32) -> Option<(u64, u64)> {
    let totals = TAG_TOTALS.get((tag as usize).checked_sub(1)?)?;
    let allocated = totals.allocated_bytes.load(Ordering::Relaxed).max(0);
    let freed = totals.freed_bytes.load(Ordering::Relaxed).max(0);
    Some(((allocated - freed).max(0) as u64, allocated as u64))
}

/// Samples of stacks the site table had no room for, recorded in their
/// tag's site without a stack.
static MERGED: AtomicU64 = AtomicU64::new(0);

/// Counts a sample merged into its tag's stackless site.
pub(crate) fn merge_sample() {
    MERGED.fetch_add(1, Ordering::Relaxed);
}

/// Samples merged so far.
pub(crate) fn merged() -> u64 {
    MERGED.load(Ordering::Relaxed)
}

/// Records the inner allocator's type name (the first call wins).
pub(crate) fn set_inner_allocator(name: &'static str) {
    if INNER.get().is_none() {
        let _ = INNER.set(name);
    }
}

/// The allocator a `Profiler` wraps, as far as the profiler treats them
/// differently (jemalloc's statistics and purge, glibc's trim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allocator {
    Jemalloc,
    System,
    /// Another `GlobalAlloc`: its type's name.
    Other(&'static str),
}

impl Allocator {
    fn of_type(type_name: &'static str) -> Allocator {
        match type_name {
            "tikv_jemallocator::Jemalloc" => Allocator::Jemalloc,
            "std::alloc::System" => Allocator::System,
            other => Allocator::Other(other),
        }
    }

    /// As a snapshot names it (`sampling.allocator`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::System => "system",
            Allocator::Other(name) => name,
        }
    }
}

/// The inner allocator, or `None` when no `Profiler` has allocated in this
/// process (it is not the global allocator).
pub(crate) fn inner_allocator() -> Option<Allocator> {
    INNER.get().copied().map(Allocator::of_type)
}
