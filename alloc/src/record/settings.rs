//! The settings the recording layer reads on its sampled path, as atomics:
//! the sampling interval (and a generation that changes with it), the seed,
//! the deepest stack, and how stacks are walked.
//!
//! The configuration (`config.rs`, above this layer) reads the environment
//! and stores here; this layer only reads.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The default mean number of bytes between samples: 512 KiB.
pub const DEFAULT_SAMPLE_INTERVAL: u64 = 512 * 1024;
/// The most frames ever recorded for one stack.
pub(crate) const MAX_FRAMES_LIMIT: usize = 128;
/// The deepest stack recorded unless configured otherwise.
pub(crate) const DEFAULT_MAX_FRAMES: usize = 64;
/// The most sites (stack and tag) recorded unless configured otherwise:
/// about 12 MiB of tables at most. Real servers have hundreds to a few
/// thousand; more come from exact recording of generated code.
pub const DEFAULT_MAX_SITES: usize = 32_768;

static INTERVAL: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_INTERVAL);
/// Bumped whenever the interval changes, so threads redraw their countdowns.
static GENERATION: AtomicU32 = AtomicU32::new(1);
static SEED: AtomicU64 = AtomicU64::new(0);
static MAX_FRAMES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_FRAMES);
static FORCE_BACKTRACE: AtomicBool = AtomicBool::new(false);
static SYMBOLIZE: AtomicU8 = AtomicU8::new(Symbolize::Auto as u8);
static MAX_SITES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_SITES);
static SCAN_BUDGET: AtomicU64 = AtomicU64::new(DEFAULT_SCAN_BUDGET);

/// The most bytes a snapshot reads to find which sampled blocks point at
/// which (the heap graph) unless configured otherwise: see
/// `snapshot::graph` and BENCHMARKS.md for what it costs.
pub const DEFAULT_SCAN_BUDGET: u64 = 64 << 20;
/// Allocations of this many bytes or more are watched for growth (see
/// `watch`); `usize::MAX` when the watch is off.
static WATCH_THRESHOLD: AtomicUsize =
    AtomicUsize::new(watch_threshold_for(DEFAULT_SAMPLE_INTERVAL));

/// The smallest size watched for growth: smaller buffers hold little.
const MIN_WATCHED: u64 = 4096;

/// The growth watch's threshold for a sampling interval: a sixty-fourth of
/// it, at least 4 KiB; off in exact mode (every allocation is a sample) and
/// when sampling is off.
const fn watch_threshold_for(interval: u64) -> usize {
    match interval {
        0 | 1 => usize::MAX,
        n if n / 64 > MIN_WATCHED => (n / 64) as usize,
        _ => MIN_WATCHED as usize,
    }
}

/// Allocations of this many bytes or more are watched for growth.
#[inline(always)]
pub(crate) fn watch_threshold() -> usize {
    WATCH_THRESHOLD.load(Ordering::Relaxed)
}

/// Mean bytes between samples (0 = off, 1 = every allocation).
pub(crate) fn interval() -> u64 {
    INTERVAL.load(Ordering::Relaxed)
}

/// Changes the sampling interval for every thread.
pub(crate) fn set_interval(bytes: u64) {
    INTERVAL.store(bytes, Ordering::Relaxed);
    WATCH_THRESHOLD.store(watch_threshold_for(bytes), Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Changes whenever the interval does.
pub(crate) fn generation() -> u32 {
    GENERATION.load(Ordering::Acquire)
}

/// The seed all threads' samplers derive from.
pub(crate) fn seed() -> u64 {
    SEED.load(Ordering::Relaxed)
}

pub(crate) fn set_seed(seed: u64) {
    SEED.store(seed, Ordering::Relaxed);
}

/// How many frames to record per stack.
pub(crate) fn max_frames() -> usize {
    MAX_FRAMES.load(Ordering::Relaxed)
}

/// Sets the deepest stack recorded (clamped to 4..=[`MAX_FRAMES_LIMIT`]).
pub(crate) fn set_max_frames(frames: usize) {
    MAX_FRAMES.store(frames.clamp(4, MAX_FRAMES_LIMIT), Ordering::Relaxed);
}

/// How many sites (stack and tag) are recorded at most; samples from new
/// stacks beyond them go to one site per tag without a stack.
pub(crate) fn max_sites() -> usize {
    MAX_SITES.load(Ordering::Relaxed)
}

/// Sets the most sites recorded (at least 16).
pub(crate) fn set_max_sites(sites: usize) {
    MAX_SITES.store(sites.max(16), Ordering::Relaxed);
}

/// True when stacks are always unwound with DWARF (`HEAPSNAP_STACK_WALK=backtrace`).
pub(crate) fn force_backtrace() -> bool {
    FORCE_BACKTRACE.load(Ordering::Relaxed)
}

pub(crate) fn set_force_backtrace(force: bool) {
    FORCE_BACKTRACE.store(force, Ordering::Relaxed);
}

/// Which snapshots name their frames in the process (`HEAPSNAP_SYMBOLIZE`);
/// the others keep bare addresses and the module map, which the reporter
/// names from the binary (on the same machine, unasked) or from what it is
/// given. Reading a binary's debug information takes tens of MiB at its
/// peak, which automatic dumps (near a memory limit above all) must not
/// pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Symbolize {
    /// Snapshots the program takes itself (`snapshot()`, `dump_to_dir`,
    /// `pprof()`, `dump_now`); not automatic dumps.
    Auto = 0,
    /// Every snapshot but near-limit and out-of-memory dumps.
    On = 1,
    /// None.
    Off = 2,
}

pub(crate) fn symbolize() -> Symbolize {
    match SYMBOLIZE.load(Ordering::Relaxed) {
        1 => Symbolize::On,
        2 => Symbolize::Off,
        _ => Symbolize::Auto,
    }
}

pub(crate) fn set_symbolize(mode: Symbolize) {
    SYMBOLIZE.store(mode as u8, Ordering::Relaxed);
}

/// The most bytes a snapshot's heap scan reads; 0 when the scan is off
/// (`HEAPSNAP_SCAN=off`).
pub(crate) fn scan_budget() -> u64 {
    SCAN_BUDGET.load(Ordering::Relaxed)
}

pub(crate) fn set_scan_budget(bytes: u64) {
    SCAN_BUDGET.store(bytes, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_follows_the_interval() {
        assert_eq!(watch_threshold_for(512 * 1024), 8192);
        assert_eq!(watch_threshold_for(64 * 1024), 4096);
        assert_eq!(watch_threshold_for(1), usize::MAX);
        assert_eq!(watch_threshold_for(0), usize::MAX);
    }
}
