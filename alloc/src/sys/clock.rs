//! Time for sample ages and snapshot stamps, read without allocating.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{coarse_monotonic_ns, monotonic_ns};

/// Monotonic nanoseconds at which the profiler started (first allocation).
static START_NS: AtomicU64 = AtomicU64::new(0);

/// Wall-clock milliseconds at which the profiler started.
static START_UNIX_MS: AtomicU64 = AtomicU64::new(0);

/// Records the profiler's start; later calls keep the first value.
pub(crate) fn start() {
    let now = monotonic_ns().max(1);
    if START_NS
        .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        START_UNIX_MS.store(unix_ms(), Ordering::Relaxed);
    }
}

/// Wall-clock milliseconds at which the profiler started (about when the
/// process did: the profiler starts on the first allocation).
pub(crate) fn started_unix_ms() -> u64 {
    START_UNIX_MS.load(Ordering::Relaxed)
}

/// Milliseconds since the profiler started.
pub(crate) fn uptime_ms() -> u64 {
    since_start(monotonic_ns())
}

/// Milliseconds since the profiler started, to within a few milliseconds;
/// cheaper, for stamping samples.
pub(crate) fn coarse_uptime_ms() -> u64 {
    since_start(coarse_monotonic_ns())
}

fn since_start(now_ns: u64) -> u64 {
    let start = START_NS.load(Ordering::Relaxed);
    if start == 0 {
        return 0;
    }
    now_ns.saturating_sub(start) / 1_000_000
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A value that differs from run to run, for seeding the samplers.
pub(crate) fn entropy() -> u64 {
    let here = 0u8;
    monotonic_ns()
        ^ unix_ms().rotate_left(32)
        ^ (&here as *const u8 as u64)
        ^ std::process::id() as u64
}
