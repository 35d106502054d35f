//! The heap-wide figures every report starts with.

use heapsnap_format::snapshot::{Capture, Trigger};
use serde::Serialize;

use crate::load::Loaded;

/// The heap-wide figures a report starts with.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Where the snapshot came from.
    pub source: String,
    /// Process id.
    pub pid: u32,
    /// Executable path.
    pub exe: String,
    /// When it was taken (ms since the Unix epoch).
    pub taken_at_ms: u64,
    /// Process uptime then (ms).
    pub uptime_ms: u64,
    /// What wrote it.
    pub trigger: Trigger,
    /// Mean bytes between samples; 1 is exact.
    pub interval_bytes: u64,
    /// Estimated live bytes.
    pub live_bytes: u64,
    /// Estimated live allocations.
    pub live_allocs: u64,
    /// Standard deviation of `live_bytes` due to sampling.
    pub live_bytes_stddev: f64,
    /// Live samples behind the estimates.
    pub live_samples: u64,
    /// Bytes the allocator holds in resident pages, when known.
    pub allocator_resident_bytes: Option<u64>,
    /// Resident set size, when known.
    pub rss_bytes: Option<u64>,
    /// Cgroup memory limit, when there is one.
    pub memory_limit_bytes: Option<u64>,
    /// Samples the profiler had to drop.
    pub samples_dropped: u64,
    /// Samples of new stacks merged into their tag's stackless site after
    /// the profiler's site table filled.
    pub samples_merged: u64,
    /// The profiler's own cost in taking this snapshot: how long it took
    /// (ms), the longest it held a lock allocating threads take (µs), and
    /// the longest any thread waited for one of its locks since the
    /// previous snapshot (µs), as the snapshot records them.
    pub capture: Capture,
}

impl Summary {
    /// The summary of a loaded snapshot.
    pub fn of(loaded: &Loaded) -> Summary {
        let s = &loaded.snapshot;
        Summary {
            source: loaded.source.clone(),
            pid: s.process.pid,
            exe: s.process.exe.clone(),
            taken_at_ms: s.taken_at_ms,
            uptime_ms: s.uptime_ms,
            trigger: s.trigger.clone(),
            interval_bytes: s.sampling.interval_bytes,
            live_bytes: s.totals.live_bytes,
            live_allocs: s.totals.live_allocs,
            live_bytes_stddev: s.sites.iter().map(|s| s.live_bytes_var).sum::<f64>().sqrt(),
            live_samples: s.totals.live_samples,
            allocator_resident_bytes: s.totals.allocator.as_ref().map(|a| a.resident),
            rss_bytes: s.totals.rss_bytes,
            memory_limit_bytes: s.totals.memory_limit_bytes,
            samples_dropped: s.totals.samples_dropped,
            samples_merged: s.totals.samples_merged,
            capture: s.capture.clone(),
        }
    }
}
