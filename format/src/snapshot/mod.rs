//! The snapshot format (version 1): a self-contained JSON document that can
//! be read on another machine, without the profiled binary.
//!
//! A snapshot lists the *sites* of the live heap: a site is a call stack
//! (innermost frame first, allocator frames trimmed) plus an optional tag,
//! with estimated live bytes and allocations, estimated running totals since
//! the start, and the live bytes by allocation age. Estimates come from
//! samples; each carries its sampling variance so that readers can tell
//! growth from noise. Frames carry raw addresses and the module map, so the
//! stacks can be symbolised again offline.
//!
//! Readers validate everything: [`Snapshot::read_from_path`] returns a typed
//! [`Error`] for a file that is not JSON, not a snapshot, from a newer
//! version, or internally inconsistent.

mod error;
mod read;
mod words;
mod write;

use serde::{Deserialize, Serialize};

pub use crate::file::TEMP_SUFFIX;
pub use error::{Error, ErrorKind};
pub use words::{StackWalk, Trigger};

/// The value of the `format` field.
pub const FORMAT: &str = "heapsnap";
/// The newest format version this crate reads and the one it writes.
pub const VERSION: u32 = 1;

/// Upper bounds (exclusive, in milliseconds) of the allocation-age buckets of
/// [`Site::live_bytes_by_age`]; a last bucket holds everything older.
pub const AGE_BUCKETS_MS: [u64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_200_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
];

/// A heap snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// Always `"heapsnap"`.
    pub format: String,
    /// Format version; readers refuse newer versions.
    pub version: u32,
    /// The process the snapshot was taken in.
    pub process: Process,
    /// Sequence number of this snapshot within its process, from 0.
    pub seq: u64,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// When it was taken, in milliseconds since the profiler started.
    pub uptime_ms: u64,
    /// What asked for it.
    pub trigger: Trigger,
    /// How allocations were sampled.
    pub sampling: Sampling,
    /// Heap-wide figures.
    pub totals: Totals,
    /// Upper bounds of the age buckets of `Site::live_bytes_by_age`.
    pub age_buckets_ms: Vec<u64>,
    /// Every frame that some stack refers to.
    pub frames: Vec<Frame>,
    /// Stacks as indices into `frames`, innermost first.
    pub stacks: Vec<Vec<u32>>,
    /// Sites, most live bytes first.
    pub sites: Vec<Site>,
    /// Loaded objects, for offline symbolisation.
    pub modules: Vec<Module>,
    /// How taking the snapshot went (absent from older writers' files).
    #[serde(default)]
    pub capture: Capture,
}

/// How taking a snapshot went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capture {
    /// The longest an allocating thread could have waited on the snapshot:
    /// the longest single hold of a lock the allocation path takes, in
    /// microseconds (copying one shard of the live table, or the sites).
    pub max_pause_us: u64,
    /// All such holds together, in microseconds.
    pub total_pause_us: u64,
    /// Time to take the snapshot, symbolisation included, in milliseconds.
    pub duration_ms: u64,
}

/// Identifies the process a snapshot came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Path of the executable.
    pub exe: String,
    /// GNU build id of the executable, hex, when it has one.
    pub build_id: Option<String>,
    /// When the profiler started (about when the process did), milliseconds
    /// since the Unix epoch. With `pid`, tells processes apart.
    pub started_at_ms: u64,
}

/// How allocations were sampled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sampling {
    /// Mean bytes between samples; 1 means every allocation was recorded
    /// (exact), 0 that sampling was off.
    pub interval_bytes: u64,
    /// How stacks were captured.
    pub stack_walk: StackWalk,
    /// The deepest stack recorded.
    pub max_frames: u32,
    /// The allocator the profiler wrapped (`jemalloc`, `system`, or a type
    /// name); `None` when no profiler was installed as global allocator, in
    /// which case the snapshot has no sites.
    pub allocator: Option<String>,
}

/// Heap-wide figures. Byte and allocation counts are estimates scaled from
/// the samples (exact when `interval_bytes` is 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Estimated bytes in live allocations.
    pub live_bytes: u64,
    /// Estimated number of live allocations.
    pub live_allocs: u64,
    /// Estimated bytes allocated since the start.
    pub allocated_bytes: u64,
    /// Estimated allocations since the start.
    pub allocated_allocs: u64,
    /// Estimated bytes freed since the start.
    pub freed_bytes: u64,
    /// Estimated frees since the start.
    pub freed_allocs: u64,
    /// Live sampled allocations behind the estimates.
    pub live_samples: u64,
    /// Samples the profiler could not record (memory for its own tables was
    /// short); 0 normally.
    pub samples_dropped: u64,
    /// The allocator's own statistics, when available.
    pub allocator: Option<AllocatorStats>,
    /// Resident set size of the process.
    pub rss_bytes: Option<u64>,
    /// Memory limit of the process's cgroup, when it has one.
    pub memory_limit_bytes: Option<u64>,
}

/// jemalloc's statistics (see `stats.*` in jemalloc's manual).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AllocatorStats {
    /// Bytes allocated by the application.
    pub allocated: u64,
    /// Bytes in active pages.
    pub active: u64,
    /// Bytes in physically resident pages.
    pub resident: u64,
    /// Bytes in mapped extents.
    pub mapped: u64,
    /// Bytes retained (unmapped from use but kept as virtual memory).
    pub retained: u64,
}

/// A source-level frame. An address where functions were inlined yields
/// several frames with the same `ip`: the inlined ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Frame {
    /// Return address (a hex string in JSON).
    #[serde(with = "hex")]
    pub ip: u64,
    /// Demangled function name, generic arguments included when the symbols
    /// carry them; `None` when unknown.
    pub function: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// True when this function was inlined into the next frame.
    pub inlined: bool,
}

/// A site: a stack and a tag, with estimated figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Site {
    /// Index into `Snapshot::stacks`.
    pub stack: u32,
    /// The tag its allocations were made under, if any.
    pub tag: Option<String>,
    /// Estimated live bytes.
    pub live_bytes: u64,
    /// Estimated live allocations.
    pub live_allocs: u64,
    /// Estimated variance of `live_bytes` due to sampling (bytes²); 0 in
    /// exact mode.
    pub live_bytes_var: f64,
    /// Estimated bytes allocated here since the start.
    pub allocated_bytes: u64,
    /// Estimated allocations here since the start.
    pub allocated_allocs: u64,
    /// Estimated bytes freed since the start.
    pub freed_bytes: u64,
    /// Estimated frees since the start.
    pub freed_allocs: u64,
    /// Live samples behind the estimates.
    pub live_samples: u64,
    /// Estimated live bytes by allocation age, bucketed by
    /// `Snapshot::age_buckets_ms` (one more bucket than bounds); empty when
    /// nothing is live.
    pub live_bytes_by_age: Vec<u64>,
}

/// A loaded object (the executable or a shared library).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Module {
    /// File path.
    pub path: String,
    /// Start of its executable addresses (hex in JSON).
    #[serde(with = "hex")]
    pub start: u64,
    /// End (exclusive) of its executable addresses (hex in JSON).
    #[serde(with = "hex")]
    pub end: u64,
    /// Load bias: runtime address minus file address (hex in JSON).
    #[serde(with = "hex")]
    pub bias: u64,
    /// GNU build id, hex.
    pub build_id: Option<String>,
}

impl Default for Snapshot {
    /// An empty snapshot of the current format version.
    fn default() -> Self {
        Snapshot {
            format: FORMAT.to_owned(),
            version: VERSION,
            process: Process::default(),
            seq: 0,
            taken_at_ms: 0,
            uptime_ms: 0,
            trigger: Trigger::Manual,
            sampling: Sampling::default(),
            totals: Totals::default(),
            age_buckets_ms: AGE_BUCKETS_MS.to_vec(),
            frames: Vec::new(),
            stacks: Vec::new(),
            sites: Vec::new(),
            modules: Vec::new(),
            capture: Capture::default(),
        }
    }
}

impl Snapshot {
    /// The frames of `site`'s stack, innermost first.
    pub fn site_frames<'a>(&'a self, site: &Site) -> impl Iterator<Item = &'a Frame> + 'a {
        self.stacks
            .get(site.stack as usize)
            .into_iter()
            .flatten()
            .filter_map(|&index| self.frames.get(index as usize))
    }
}

/// Addresses as `"0x7f3a12345678"` strings: readable, and safe in JSON
/// readers whose numbers are doubles.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{value:#x}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| de::Error::custom(format!("address {text:?} does not start with 0x")))?;
        u64::from_str_radix(digits, 16)
            .map_err(|_| de::Error::custom(format!("address {text:?} is not hexadecimal")))
    }
}
