//! Automatic dumps: snapshots written into a directory while the program
//! runs, whenever something says a look is due: time passed, the heap
//! reached a new high, the process is about to hit its memory limit (the
//! kernel will kill it, and this is the last chance), someone sent SIGUSR1,
//! or an allocation failed.
//!
//! A background thread polls every 100 ms and writes the dumps; the signal
//! handler only sets a flag. The thread is detached: it never keeps the
//! process alive, and a process that exits mid-dump leaves at most a hidden
//! temporary file. Everything the thread allocates is the profiler's own
//! (it runs under the re-entrancy guard for its whole life).
//!
//! Rotation keeps this process's first dump (the baseline a leak analysis
//! compares with) and its newest `keep` ones; files of other processes
//! (an earlier run that crashed) are never deleted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::snapshot::{self, Error, ErrorKind, Snapshot};
use crate::{dump, memory, recorder, sys, thread};

/// How often the background thread looks at the triggers.
const POLL: Duration = Duration::from_millis(100);
/// Growth dumps need at least this much growth over the last high, so that
/// a small heap does not dump on every few kilobytes.
const MIN_GROWTH_BYTES: u64 = 1 << 20;
/// A near-limit dump re-arms when RSS falls this far (as a fraction of the
/// limit) below the threshold.
const REARM_MARGIN: f64 = 0.05;
/// How often the memory limit is read again.
const LIMIT_REFRESH: Duration = Duration::from_secs(60);

/// Automatic dumps into a directory.
///
/// ```no_run
/// use std::time::Duration;
/// heapsnap::AutoDump::new("/var/tmp/heap")
///     .interval(Some(Duration::from_secs(300)))
///     .near_limit(Some(0.9))
///     .start()?;
/// # Ok::<(), heapsnap::Error>(())
/// ```
///
/// Or with no code at all: `HEAPSNAP_DIR=/var/tmp/heap` (see the crate's
/// settings) starts the same thing on the first sampled allocation.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "nothing happens until `start` is called"]
pub struct AutoDump {
    dir: PathBuf,
    interval: Option<Duration>,
    growth: Option<f64>,
    near_limit: Option<f64>,
    signal: bool,
    on_oom: bool,
    keep: usize,
    memory_limit: Option<u64>,
    memory_limit_file: Option<PathBuf>,
}

impl AutoDump {
    /// Dumps into `dir` every 60 s, on 20% growth over the last high, at 90%
    /// of the memory limit, on SIGUSR1 and on allocation failure, keeping
    /// the newest 100 and the first.
    pub fn new(dir: impl Into<PathBuf>) -> AutoDump {
        AutoDump {
            dir: dir.into(),
            interval: Some(Duration::from_secs(60)),
            growth: Some(0.2),
            near_limit: Some(0.9),
            signal: true,
            on_oom: true,
            keep: 100,
            memory_limit: None,
            memory_limit_file: None,
        }
    }

    /// Dump this often (`None`: never on a timer).
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval;
        self
    }

    /// Dump when the estimated live heap exceeds the highest value dumped so
    /// far by this fraction (0.2 for 20%; `None`: never).
    pub fn on_growth(mut self, fraction: Option<f64>) -> Self {
        self.growth = fraction;
        self
    }

    /// Dump when the resident set reaches this fraction of the memory limit
    /// (0.9 for 90%; `None`: never).
    pub fn near_limit(mut self, fraction: Option<f64>) -> Self {
        self.near_limit = fraction;
        self
    }

    /// Dump on SIGUSR1 (when the program has no handler of its own).
    pub fn on_signal(mut self, enabled: bool) -> Self {
        self.signal = enabled;
        self
    }

    /// Dump, from the failing thread, when the inner allocator returns null
    /// (best effort: failed reallocations are seen, and failed allocations
    /// that were being sampled; an allocation of `s` bytes is sampled with
    /// probability `1 - exp(-s / interval)`, so most of those much larger
    /// than the interval are seen, small ones rarely).
    pub fn on_out_of_memory(mut self, enabled: bool) -> Self {
        self.on_oom = enabled;
        self
    }

    /// Keep this many of the newest dumps (plus the first).
    pub fn keep(mut self, newest: usize) -> Self {
        self.keep = newest.max(1);
        self
    }

    /// The memory limit, instead of the cgroup's.
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Read the memory limit from this file (a number of bytes, or `max`,
    /// as in cgroup v2's `memory.max`) instead of the cgroup's.
    pub fn memory_limit_file(mut self, file: Option<PathBuf>) -> Self {
        self.memory_limit_file = file;
        self
    }

    /// Starts the background thread. Fails if the directory cannot be
    /// created, or if automatic dumps are already running.
    pub fn start(self) -> Result<(), Error> {
        thread::with(|state| {
            let _busy = state.enter();
            self.start_guarded()
        })
    }

    fn start_guarded(self) -> Result<(), Error> {
        if RUNNING.swap(true, Ordering::AcqRel) {
            let busy = std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "automatic dumps are already running",
            );
            return Err(Error::from(busy).at(&self.dir));
        }
        if let Err(err) = dump::create_private_dir(&self.dir) {
            RUNNING.store(false, Ordering::Release);
            return Err(Error::from(err).at(&self.dir));
        }
        recorder::start();
        if self.signal {
            sys::on_sigusr1(on_signal);
        }
        let settings = self.clone();
        let spawned = std::thread::Builder::new()
            .name("heapsnap-dump".into())
            .spawn(move || {
                thread::with(|state| {
                    // Everything this thread allocates is the profiler's own.
                    let _busy = state.enter();
                    Dumper::new(settings).run();
                })
            });
        match spawned {
            Ok(handle) => {
                let _ = DUMPER.set(handle.thread().clone());
                let _ = OOM_DUMPS.set(self);
                Ok(())
            }
            Err(err) => {
                RUNNING.store(false, Ordering::Release);
                Err(Error::from(err).at(&self.dir))
            }
        }
    }
}

/// True while automatic dumps run (false again in a forked child, which
/// does not inherit the thread).
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Set by the SIGUSR1 handler.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// The background thread, to wake it.
static DUMPER: OnceLock<std::thread::Thread> = OnceLock::new();
/// Settings for the out-of-memory dump, written by the failing thread.
static OOM_DUMPS: OnceLock<AutoDump> = OnceLock::new();
/// Only one out-of-memory dump per process.
static OOM_DUMPED: AtomicBool = AtomicBool::new(false);
/// Files this process wrote, oldest first; shared by the background thread
/// and the out-of-memory dump.
static WRITTEN: Mutex<VecDeque<PathBuf>> = Mutex::new(VecDeque::new());

extern "C" fn on_signal(_signal: std::ffi::c_int) {
    // Async-signal-safe: one atomic store. The thread notices within POLL.
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Called in a forked child: the background thread did not follow it.
pub(crate) fn forget_in_child() {
    RUNNING.store(false, Ordering::Relaxed);
}

/// Starts automatic dumps from the environment (`HEAPSNAP_DIR` and
/// friends), once per process; called on the profiler's first sampled
/// allocation.
pub(crate) fn start_from_env() {
    if let Some(settings) = crate::config::auto_dump()
        && let Err(err) = settings.start()
    {
        sys::write_stderr(format!("heapsnap: automatic dumps not started: {err}\n").as_bytes());
    }
}

/// The inner allocator returned null: the program will most likely abort,
/// so dump now, from this thread (best effort, once).
#[cold]
#[inline(never)]
pub(crate) fn out_of_memory() {
    if !RUNNING.load(Ordering::Acquire) || OOM_DUMPED.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(settings) = OOM_DUMPS.get() else {
        return;
    };
    if !settings.on_oom {
        return;
    }
    thread::with(|state| {
        // The allocating thread may already be inside the profiler (a
        // failed allocation of its own): then do nothing.
        if let Some(_busy) = state.enter() {
            let _ = write(&settings.dir, settings.keep, &snapshot::capture("oom"));
        }
    });
}

/// Writes a dump and rotates this process's files.
fn write(dir: &Path, keep: usize, snapshot: &Snapshot) -> Result<PathBuf, Error> {
    let path = dump::write_next(dir, snapshot)?;
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    written.push_back(path.clone());
    // Keep the first (the baseline) and the newest `keep`.
    while written.len() > keep + 1 {
        if let Some(old) = written.remove(1) {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(path)
}

/// The background thread's state.
struct Dumper {
    settings: AutoDump,
    last_dump: Instant,
    /// The highest estimated live heap among the dumps so far.
    high: u64,
    /// The memory limit, and when it was read.
    limit: Option<u64>,
    limit_read: Instant,
    /// False after a near-limit dump until RSS falls back.
    near_limit_armed: bool,
    /// Error messages already printed (each is printed once).
    reported: Vec<String>,
}

impl Dumper {
    fn new(settings: AutoDump) -> Dumper {
        let now = Instant::now();
        let mut dumper = Dumper {
            settings,
            last_dump: now,
            high: 0,
            limit: None,
            limit_read: now,
            near_limit_armed: true,
            reported: Vec::new(),
        };
        dumper.limit = dumper.read_limit();
        dumper
    }

    fn run(mut self) {
        self.dump("start");
        while RUNNING.load(Ordering::Acquire) {
            std::thread::park_timeout(POLL);
            if let Some(trigger) = self.due() {
                self.dump(trigger);
            }
        }
    }

    /// What asks for a dump now, if anything.
    fn due(&mut self) -> Option<&'static str> {
        if SIGNALLED.swap(false, Ordering::AcqRel) {
            return Some("signal");
        }
        if let Some(fraction) = self.settings.near_limit {
            if self.limit_read.elapsed() >= LIMIT_REFRESH {
                self.limit = self.read_limit();
                self.limit_read = Instant::now();
            }
            if let (Some(limit), Some(rss)) = (self.limit, memory::rss_bytes()) {
                let rss = rss as f64;
                let threshold = limit as f64 * fraction;
                if self.near_limit_armed && rss >= threshold {
                    self.near_limit_armed = false;
                    return Some("near-limit");
                }
                if rss < limit as f64 * (fraction - REARM_MARGIN) {
                    self.near_limit_armed = true;
                }
            }
        }
        if let Some(fraction) = self.settings.growth {
            let live = recorder::live_bytes_estimate();
            let over =
                (self.high as f64 * (1.0 + fraction)).max((self.high + MIN_GROWTH_BYTES) as f64);
            if self.high > 0 && live as f64 > over {
                return Some("growth");
            }
        }
        match self.settings.interval {
            Some(interval) if self.last_dump.elapsed() >= interval => Some("interval"),
            _ => None,
        }
    }

    fn dump(&mut self, trigger: &str) {
        let snapshot = snapshot::capture(trigger);
        self.last_dump = Instant::now();
        self.high = self.high.max(snapshot.totals.live_bytes).max(1);
        if let Err(err) = write(&self.settings.dir, self.settings.keep, &snapshot) {
            self.report(&err);
        }
    }

    fn read_limit(&self) -> Option<u64> {
        if let Some(bytes) = self.settings.memory_limit {
            return Some(bytes);
        }
        match &self.settings.memory_limit_file {
            Some(file) => memory::limit_in_file(file),
            None => memory::cgroup_memory_limit(),
        }
    }

    /// Prints an error once per distinct message (a full disk should not
    /// flood stderr every 100 ms).
    fn report(&mut self, err: &Error) {
        let message = err.to_string();
        if !self.reported.contains(&message) {
            sys::write_stderr(format!("heapsnap: automatic dump failed: {message}\n").as_bytes());
            self.reported.push(message);
        }
        if matches!(err.kind(), ErrorKind::Io(_)) && self.reported.len() > 16 {
            self.reported.clear();
        }
    }
}
