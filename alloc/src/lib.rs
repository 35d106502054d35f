//! heapsnap: a sampling heap profiler for long-running Rust servers.
//!
//! Install [`Profiler`] as the global allocator. It samples allocations by
//! bytes (Poisson sampling, one sample per 512 KiB allocated on average),
//! records each sample's call stack and keeps the live ones; a
//! [`snapshot()`] aggregates them by call site into a self-contained file
//! that the `heapsnap` command-line tool turns into top lists, flamegraphs,
//! growth diffs and leak suspects.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);
//!
//! fn main() -> Result<(), heapsnap::Error> {
//!     let registry: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
//!     heapsnap::snapshot().write_to_path("heap.json")?;
//!     drop(registry);
//!     Ok(())
//! }
//! ```
//!
//! The unsampled fast path costs a few instructions per allocation and free;
//! see `BENCHMARKS.md`. Build with `-C force-frame-pointers=yes` (cheap
//! stacks) and `-C symbol-mangling-version=v0` (concrete types in frame
//! names); the README explains both.
//!
//! Settings come from the environment (`HEAPSNAP_SAMPLE_INTERVAL`,
//! `HEAPSNAP_SEED`, `HEAPSNAP_MAX_FRAMES`, `HEAPSNAP_STACK_WALK`), read once at
//! start-up, or from [`set_sample_interval`].

#![deny(missing_docs)]

// Layers, top to bottom; each calls only the layers below it (see
// docs/ARCHITECTURE.md and tests/layers.rs): the entry points in this
// folder, then `dump`, `snapshot`, `record`, `sys`. `unsafe` is allowed
// only where marked.
mod autodump;
mod config;
mod dump;
#[allow(unsafe_code)]
mod fork;
#[allow(unsafe_code)]
mod profiler;
mod record;
pub mod snapshot;
mod start;
#[allow(unsafe_code)]
mod sys;
pub mod testing;

use std::path::{Path, PathBuf};

pub use autodump::{AutoDump, AutoDumpHandle};
pub use heapsnap_format::units;
pub use profiler::Profiler;
pub use record::settings::DEFAULT_SAMPLE_INTERVAL;
pub use record::tags::{TagGuard, Tagged, tag, tag_type, tagged};
pub use snapshot::{Error, ErrorKind, Snapshot};
#[cfg(heapsnap_jemalloc)]
pub use tikv_jemallocator::Jemalloc;

// jemalloc does not build with MSVC, and its build script says only that
// the compiler is not supported: say what to write instead.
#[cfg(all(feature = "jemalloc", target_env = "msvc"))]
compile_error!(
    "heapsnap's default `jemalloc` feature does not build for MSVC targets. \
     In Cargo.toml: heapsnap = { version = \"0.1\", default-features = false }; \
     in the program: static GLOBAL: heapsnap::Profiler<std::alloc::System> = \
     heapsnap::Profiler::new(std::alloc::System);"
);

use record::{settings, thread};

/// Takes a snapshot of the live heap: every live sampled allocation,
/// aggregated by call site and symbolised, with heap-wide totals.
///
/// Allocating threads are held up only while one shard of the live table is
/// copied; symbolisation happens afterwards. The first snapshot of a process
/// is the slowest (debug information is loaded and cached).
pub fn snapshot() -> Snapshot {
    start::ensure();
    snapshot::capture(snapshot::Trigger::Manual)
}

/// The live heap as a pprof profile (`profile.proto`, gzipped): a snapshot
/// in the format `go tool pprof`, Parca, Pyroscope and Grafana Alloy read,
/// for a handler in the program's own HTTP server (heapsnap never listens
/// on a socket itself). Sample types `inuse_space` (the default),
/// `inuse_objects`, `alloc_space`, `alloc_objects`; each site labelled
/// with its type and tag. Needs the `pprof` feature.
///
/// ```no_run
/// # fn respond(_: Vec<u8>) {}
/// // In the handler of `/debug/pprof/heap`:
/// respond(heapsnap::pprof());
/// ```
#[cfg(feature = "pprof")]
pub fn pprof() -> Vec<u8> {
    heapsnap_format::pprof::gzipped(&snapshot())
}

/// Takes a snapshot and writes it as the next numbered file
/// (`heapsnap-000001-PID-manual.json.gz`, ...: gzip-compressed JSON, or
/// `.json` with `HEAPSNAP_COMPRESS=off`) in `dir`, which is created if
/// missing. Returns the file's path.
pub fn dump_to_dir(dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    let snapshot = snapshot();
    // Writing it (the JSON, the compressor's buffers) is the profiler's own
    // work, as the capture was: not sampled into the program's profile, and
    // served from the reserve when memory runs out.
    thread::with(|state| {
        let _busy = state.enter();
        dump::files::write_next(dir.as_ref(), &snapshot)
    })
}

/// Sets the mean number of bytes between samples for every thread: `1`
/// records every allocation (exact, for tests), `0` stops sampling. Larger
/// than [`units::MAX_SAMPLE_INTERVAL`] (1 TiB) counts as that.
///
/// Takes effect at once on the calling thread, and on other threads when
/// they next reach the sampling slow path. Set it before starting threads
/// when every allocation must be seen.
pub fn set_sample_interval(bytes: u64) {
    config::set_interval(bytes.min(units::MAX_SAMPLE_INTERVAL));
    thread::with(thread::ThreadState::reset_countdown);
}

/// Heap-wide figures the profiler keeps as it goes, read without taking
/// a snapshot: no lock, no allocation, no symbolisation. Estimated from the
/// samples (exact with an interval of 1); for exact figures of one piece of
/// code, see [`testing::Scope`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Milliseconds since the profiler started (the clock snapshots are
    /// stamped with).
    pub uptime_ms: u64,
    /// The mean number of bytes between samples.
    pub interval_bytes: u64,
    /// The estimated live heap, in bytes.
    pub live_bytes: u64,
    /// The estimated number of live allocations.
    pub live_allocations: u64,
    /// Estimated bytes allocated since the profiler started (growth by
    /// reallocation included).
    pub allocated_bytes: u64,
    /// Estimated allocations made since the profiler started.
    pub allocations: u64,
    /// Samples the profiler could not record.
    pub samples_dropped: u64,
}

/// The profiler's running figures (see [`Stats`]).
pub fn stats() -> Stats {
    config::ensure_loaded();
    let (allocated_bytes, allocations) = record::counters::allocated_estimate();
    Stats {
        uptime_ms: sys::clock::uptime_ms(),
        interval_bytes: settings::interval(),
        live_bytes: record::counters::live_bytes_estimate(),
        live_allocations: record::counters::live_count_estimate(),
        allocated_bytes,
        allocations,
        samples_dropped: record::counters::dropped(),
    }
}

/// The mean number of bytes between samples.
pub fn sample_interval() -> u64 {
    config::ensure_loaded();
    settings::interval()
}
