//! `AutoDump`: the public face of automatic dumps (the machinery is in
//! `dump/`).

use std::path::PathBuf;
use std::time::Duration;

use crate::snapshot::Error;
use crate::{dump, start};

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
    settings: dump::Settings,
}

impl AutoDump {
    /// Dumps into `dir` every 60 s, on 20% growth over the last high, at 90%
    /// of the memory limit, on SIGUSR1, on allocation failure and at exit,
    /// keeping the newest 100 and the first.
    pub fn new(dir: impl Into<PathBuf>) -> AutoDump {
        AutoDump {
            settings: dump::Settings::new(dir.into()),
        }
    }

    /// Dump this often (`None`: never on a timer).
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.settings.interval = interval;
        self
    }

    /// Dump when the estimated live heap exceeds the highest value dumped so
    /// far by this fraction (0.2 for 20%; `None`: never).
    pub fn on_growth(mut self, fraction: Option<f64>) -> Self {
        self.settings.growth = fraction;
        self
    }

    /// Dump when the resident set reaches this fraction of the memory limit
    /// (0.9 for 90%; `None`: never).
    pub fn near_limit(mut self, fraction: Option<f64>) -> Self {
        self.settings.near_limit = fraction;
        self
    }

    /// Dump on SIGUSR1 (when the program has no handler of its own).
    pub fn on_signal(mut self, enabled: bool) -> Self {
        self.settings.signal = enabled;
        self
    }

    /// Dump, from the failing thread, when the inner allocator returns null
    /// (best effort: failed reallocations are seen, and failed allocations
    /// that were being sampled; an allocation of `s` bytes is sampled with
    /// probability `1 - exp(-s / interval)`, so most of those much larger
    /// than the interval are seen, small ones rarely).
    pub fn on_out_of_memory(mut self, enabled: bool) -> Self {
        self.settings.on_oom = enabled;
        self
    }

    /// Write a last dump when the process exits: normally (`main` returns,
    /// or `exit`; the exit waits for the dump, at most 10 s), or on SIGTERM
    /// or SIGINT when the program left them to end it (the dump is
    /// written, then the process ends as the signal would have ended it).
    /// A program's own handler for those signals is never replaced: it
    /// shuts down its own way, and its exit writes the last dump.
    pub fn on_exit(mut self, enabled: bool) -> Self {
        self.settings.on_exit = enabled;
        self
    }

    /// Keep this many of the newest dumps (plus the first).
    pub fn keep(mut self, newest: usize) -> Self {
        self.settings.keep = newest.max(1);
        self
    }

    /// The memory limit, instead of the cgroup's.
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.settings.memory_limit = bytes;
        self
    }

    /// Read the memory limit from this file (a number of bytes, or `max`,
    /// as in cgroup v2's `memory.max`) instead of the cgroup's.
    pub fn memory_limit_file(mut self, file: Option<PathBuf>) -> Self {
        self.settings.memory_limit_file = file;
        self
    }

    /// Starts the background thread. Fails if the directory cannot be
    /// created, or if automatic dumps are already running.
    ///
    /// The handle writes a dump on demand and stops the dumps; dropping it
    /// leaves them running for the life of the process.
    pub fn start(self) -> Result<AutoDumpHandle, Error> {
        start::ensure();
        let thread = dump::start(self.settings)?;
        Ok(AutoDumpHandle { thread })
    }
}

/// Running automatic dumps (see [`AutoDump::start`]).
///
/// ```no_run
/// let dumps = heapsnap::AutoDump::new("/var/tmp/heap").start()?;
/// // ... at a moment worth keeping:
/// let path = dumps.dump_now()?;
/// // ... and when the dumps should end (before a planned shutdown that
/// // must not leave a last dump, or between phases of a test):
/// dumps.stop();
/// # Ok::<(), heapsnap::Error>(())
/// ```
#[derive(Debug)]
pub struct AutoDumpHandle {
    thread: std::thread::JoinHandle<()>,
}

impl AutoDumpHandle {
    /// Writes a dump into the directory now (trigger `manual`), rotated
    /// like the others, and waits until it is on disk: its path. Fails if
    /// it could not be written (the directory removed, a full disk) or the
    /// dumps were stopped.
    pub fn dump_now(&self) -> Result<PathBuf, Error> {
        dump::dump_now()
    }

    /// Stops the dumps: the dump being written is finished, no other is
    /// (not at exit either), and the signal handlers the dumps installed
    /// are removed. `AutoDump::start` may be called again.
    pub fn stop(self) {
        dump::stop(self.thread);
    }
}
