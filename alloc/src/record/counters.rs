//! Process-wide counters the sampled path keeps for snapshots and triggers:
//! samples dropped, the estimated live heap, and which allocator the
//! profiler wraps.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Samples that could not be recorded (memory for the profiler's own tables
/// could not be had).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The estimated live heap, in bytes, kept up to date by the sampled path
/// for the growth trigger (which polls it without taking any lock).
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// The inner allocator's type name, known once the profiler has run.
static INNER: OnceLock<&'static str> = OnceLock::new();

/// The estimated live heap, in bytes.
pub(crate) fn live_bytes_estimate() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed).max(0) as u64
}

/// Moves the estimated live heap by `bytes`.
pub(crate) fn add_live(bytes: i64) {
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
}

/// Counts a sample that could not be recorded.
pub(crate) fn drop_sample() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// Samples dropped so far.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Records the inner allocator's type name (the first call wins).
pub(crate) fn set_inner_allocator(name: &'static str) {
    if INNER.get().is_none() {
        let _ = INNER.set(name);
    }
}

/// The inner allocator's type name, or `None` when no `Profiler` has
/// allocated in this process (it is not the global allocator).
pub(crate) fn inner_allocator() -> Option<&'static str> {
    INNER.get().copied()
}
