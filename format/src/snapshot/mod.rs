//! The snapshot format (version 3): a self-contained JSON document that can
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
/// Versions 1 and 2 are read too (see [`Site::live_by_age`]; version 3 adds
/// the heap graph, [`Snapshot::refs`] and [`Snapshot::scan`]).
pub const VERSION: u32 = 3;

/// Lower bounds of the allocation-age buckets of [`Site::live_by_age`],
/// in milliseconds, after the first bucket (ages from 0): sixteen buckets
/// per doubling of the age, from 64 ms to about four years, so that a
/// bucket is about a twentieth of the age it holds (the leak analysis
/// counts the samples two snapshots share by their ages). A last bucket
/// holds everything older.
pub const AGE_BUCKETS_MS: [u64; AGE_BOUNDS] = age_bounds();

/// How many bounds [`AGE_BUCKETS_MS`] has.
const AGE_BOUNDS: usize = 16 * 31;

const fn age_bounds() -> [u64; AGE_BOUNDS] {
    // 2^(k/16) for k mod 16, in billionths.
    const POWERS: [u64; 16] = [
        1_000_000_000,
        1_044_273_782,
        1_090_507_733,
        1_138_788_635,
        1_189_207_115,
        1_241_857_812,
        1_296_839_555,
        1_354_255_547,
        1_414_213_562,
        1_476_826_146,
        1_542_210_825,
        1_610_490_332,
        1_681_792_831,
        1_756_252_160,
        1_834_008_086,
        1_915_206_561,
    ];
    let mut bounds = [0u64; AGE_BOUNDS];
    let mut k = 0;
    while k < AGE_BOUNDS {
        let scaled = (64u128 << (k / 16)) * POWERS[k % 16] as u128;
        bounds[k] = ((scaled + 500_000_000) / 1_000_000_000) as u64;
        k += 1;
    }
    bounds
}

/// The age bucket of an allocation `age_ms` old.
pub fn age_bucket(age_ms: u64) -> u16 {
    AGE_BUCKETS_MS.partition_point(|&bound| bound <= age_ms) as u16
}

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
    /// Bounds of the age buckets of `Site::live_by_age`: bucket 0 holds
    /// ages below the first bound, bucket `k` ages from bound `k - 1` to
    /// bound `k`, the last one everything older.
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
    /// The heap graph: which sites' blocks point at which sites' blocks,
    /// read at snapshot time (empty before version 3, and when the scan was
    /// off; [`Snapshot::scan`] says which).
    #[serde(default)]
    pub refs: Vec<Ref>,
    /// What the scan behind `refs` covered; `None` before version 3.
    #[serde(default)]
    pub scan: Option<Scan>,
}

/// Blocks of one site pointing at blocks of another: a word of a holding
/// block holds an address inside a held block (its start or its interior),
/// directly or through unsampled memory between them. The blocks are the
/// live samples and each site's watched buffers (see [`Site::watched`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Ref {
    /// The holding site (an index into `Snapshot::sites`).
    pub from: u32,
    /// The held site.
    pub to: u32,
    /// Distinct blocks of `from` that point at blocks of `to`.
    pub holders: u64,
    /// Distinct blocks of `to` pointed at (samples and watched buffers).
    pub held: u64,
    /// Of `held`, those pointed at by a word of a holding block itself,
    /// not through unsampled memory.
    pub direct: u64,
    /// The chance, averaged over `held`, that the scan followed the way
    /// each was found: 1 directly; through unsampled memory past the
    /// scan's budget, each holding block's places are followed in a
    /// uniform sample at every step. `held / followed` estimates the
    /// blocks reached. 1 in files before it was recorded.
    #[serde(default = "all_followed")]
    pub followed: f64,
}

fn all_followed() -> f64 {
    1.0
}

impl Default for Ref {
    fn default() -> Ref {
        Ref {
            from: 0,
            to: 0,
            holders: 0,
            held: 0,
            direct: 0,
            followed: all_followed(),
        }
    }
}

/// What the scan of the sampled heap covered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Scan {
    /// Whether the scan ran, and if not, why.
    pub state: ScanState,
    /// The bytes it was allowed to read (`HEAPSNAP_SCAN`).
    pub budget_bytes: u64,
    /// Blocks it could scan: live samples and watched buffers.
    pub blocks: u64,
    /// Of those, watched buffers.
    pub watched: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The bytes of them read.
    pub bytes_read: u64,
    /// Unsampled blocks between them read (their first bytes), to follow
    /// chains of pointers through memory that was never sampled.
    pub chased: u64,
    /// The bytes of those reads.
    pub chased_bytes: u64,
    /// Of the unsampled places seen, the fraction followed (the rest were
    /// left out uniformly, over the budget).
    pub chased_fraction: f64,
    /// Reads the kernel refused (a block freed and unmapped meanwhile).
    pub failed_reads: u64,
    /// Blocks freed while the scan read: their memory may have been another
    /// block's by then, so no edge from or to them was kept.
    #[serde(default)]
    pub freed_meanwhile: u64,
    /// Time the scan took, in microseconds.
    pub duration_us: u64,
}

/// Whether the heap scan ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScanState {
    /// It ran.
    #[default]
    Done,
    /// Turned off (`HEAPSNAP_SCAN=off`).
    Off,
    /// Not for this snapshot (an out-of-memory dump, or exact recording of
    /// a test scope).
    Skipped,
    /// The kernel refused to read the process's memory (a seccomp profile
    /// without `process_vm_readv` and no `/proc/self/mem`).
    Refused,
    /// Not on this system (Linux only).
    Unsupported,
    /// It ran and stopped at its time limit (an unoptimised build, a busy
    /// machine): every block had its first look, `bytes_read` says how much
    /// more was read.
    OutOfTime,
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
    /// The longest any thread of the process waited for one of the
    /// profiler's locks since the previous snapshot (or the start), in
    /// microseconds: an allocating thread behind a snapshot's copy, or a
    /// snapshot behind a thread recording a sample. Absent from older
    /// writers' files.
    #[serde(default)]
    pub max_wait_us: u64,
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
    /// What the build gave the profiler to name frames with, as this
    /// snapshot's frames show it (absent from older writers' files; see
    /// [`crate::quality`]).
    #[serde(default)]
    pub build: Option<Build>,
}

/// What a snapshot's build gave the profiler: whether its symbols are v0
/// (known when it was built), and what its return addresses were found to
/// have, counted over the distinct addresses looked up for the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Build {
    /// Built with `-C symbol-mangling-version=v0`, which keeps generic
    /// arguments in function names (the standard library's own symbols are
    /// v0 in every build, so this is the build's flag, not what names say).
    pub v0_symbols: bool,
    /// Built with frame pointers the profiler walks. With `stack_walk`
    /// `backtrace` and this true, the fallback was asked for
    /// (`HEAPSNAP_STACK_WALK=backtrace`), not forced by the build. Absent
    /// from older snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_pointers: Option<bool>,
    /// Addresses looked up.
    pub addresses: u32,
    /// Of those, addresses in a named function.
    pub named: u32,
    /// Addresses with a source file and line.
    pub with_lines: u32,
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
    /// Samples (and buffer highs) of new stacks after the site table
    /// reached its cap (`HEAPSNAP_MAX_SITES`): recorded in their tag's site
    /// without a stack, so totals stay whole; 0 normally (absent from older
    /// writers' files).
    #[serde(default)]
    pub samples_merged: u64,
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

/// What debug information says of one function at an address: the parts
/// of a [`Frame`] that symbolisation finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Symbol {
    /// Demangled function name; `None` when unknown.
    pub function: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
}

impl Frame {
    /// The frames at return address `ip` from what debug information says
    /// of it (`symbols`: the inlined functions innermost first, the
    /// function that owns the code last); one anonymous frame when nothing
    /// is known.
    pub fn at(ip: u64, symbols: &[Symbol]) -> Vec<Frame> {
        if symbols.is_empty() {
            return vec![Frame {
                ip,
                ..Frame::default()
            }];
        }
        symbols
            .iter()
            .enumerate()
            .map(|(i, symbol)| Frame {
                ip,
                function: symbol.function.clone(),
                file: symbol.file.clone(),
                line: symbol.line,
                inlined: i + 1 < symbols.len(),
            })
            .collect()
    }
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
    /// Estimated variance of `live_allocs` due to sampling; 0 in exact mode.
    #[serde(default)]
    pub live_allocs_var: f64,
    /// The sum over the live samples of their estimated bytes squared: how
    /// much the live bytes move when samples are born or die (0 in files
    /// of version 1).
    #[serde(default)]
    pub live_bytes_sq: f64,
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
    /// Samples taken here since the start (each sampled allocation once).
    #[serde(default)]
    pub samples_taken: u64,
    /// Of those, how many were freed since.
    #[serde(default)]
    pub samples_freed: u64,
    /// The live samples by age, in the buckets of `Snapshot::age_buckets_ms`
    /// that hold any, youngest first. A site that leaks holds samples of
    /// every age; a cache's were born early, a queue's are young. Read from
    /// a file of version 1, sample counts and squares are apportioned from
    /// its live bytes by age.
    #[serde(default)]
    pub live_by_age: Vec<AgeBucket>,
    /// When its buffers reached sizes larger than any before from this
    /// stack, and how large: (milliseconds of uptime, bytes), oldest first
    /// (the first few and the latest few of them). Noted for every buffer
    /// from a size up (`interval / 64`, at least 4 KiB), sampled or not, and
    /// left out of every estimate: a collection that keeps growing shows
    /// here even when it is smaller than the sampling interval.
    #[serde(default)]
    pub highs: Vec<(u64, u64)>,
    /// Watched buffers of this site still live: the newest largest buffers
    /// of its stack, which the heap scan reads (and counts in
    /// [`Ref::held`]) though they stand for nothing in the estimates.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub watched: u64,
    /// Version 1's live bytes by age, read and converted into `live_by_age`.
    #[serde(default, rename = "live_bytes_by_age", skip_serializing)]
    pub(crate) legacy_bytes_by_age: Vec<u64>,
}

/// The live samples of one age bucket of a site.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct AgeBucket {
    /// The bucket (see `Snapshot::age_buckets_ms`).
    pub bucket: u16,
    /// Live samples that old.
    pub samples: u64,
    /// The estimated live bytes they stand for.
    pub bytes: u64,
    /// The sum over them of their estimated bytes squared.
    pub bytes_sq: f64,
}

impl AgeBucket {
    /// A bucket's figures.
    pub fn new(bucket: u16, samples: u64, bytes: u64, bytes_sq: f64) -> AgeBucket {
        AgeBucket {
            bucket,
            samples,
            bytes,
            bytes_sq,
        }
    }
}

/// `[bucket, samples, bytes, bytes_sq]` in JSON: compact, as there can be
/// many.
impl Serialize for AgeBucket {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.bucket, self.samples, self.bytes, self.bytes_sq).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AgeBucket {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (bucket, samples, bytes, bytes_sq) = <(u16, u64, u64, f64)>::deserialize(deserializer)?;
        Ok(AgeBucket::new(bucket, samples, bytes, bytes_sq))
    }
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
            refs: Vec::new(),
            scan: None,
        }
    }
}

impl Sampling {
    /// Every allocation was recorded: the figures are counts, not
    /// estimates.
    pub fn is_exact(&self) -> bool {
        is_exact(self.interval_bytes)
    }
}

/// Whether a sampling interval means every allocation was recorded (1;
/// 0 is sampling off, larger a mean interval).
pub fn is_exact(interval_bytes: u64) -> bool {
    interval_bytes == 1
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

    /// The live heap to take shares of: the process's count, or the sum of
    /// the sites' estimates when that is larger (estimates can exceed the
    /// count by chance, and a file may say 0), so no share exceeds 100%.
    /// At least 1.
    pub fn heap_bytes(&self) -> u64 {
        let sites = self
            .sites
            .iter()
            .fold(0u64, |sum, site| sum.saturating_add(site.live_bytes));
        self.totals.live_bytes.max(sites).max(1)
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
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
