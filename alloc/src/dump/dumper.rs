//! The background thread of automatic dumps: it polls the triggers every
//! 100 ms and writes a dump when one fires. It runs under the re-entrancy
//! guard for its whole life: nothing it allocates is sampled.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{EXIT_DUMPED, EXITING, RUNNING, SIGNALLED, Settings, TERMINATING, files};
use crate::record::counters;
use crate::snapshot::{self, Error, ErrorKind, Trigger, memory};
use crate::sys;

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

/// The background thread's state.
pub(super) struct Dumper {
    settings: Settings,
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
    pub(super) fn new(settings: Settings) -> Dumper {
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

    pub(super) fn run(mut self) {
        files::remove_abandoned_temps(&self.settings.dir);
        let _ = self.dump(Trigger::Start);
        while RUNNING.load(Ordering::Acquire) {
            std::thread::park_timeout(POLL);
            if !RUNNING.load(Ordering::Acquire) {
                // Stopped (`AutoDumpHandle::stop`).
                return;
            }
            if EXITING.load(Ordering::Acquire) {
                let _ = self.dump(Trigger::Exit);
                EXIT_DUMPED.store(true, Ordering::Release);
                return;
            }
            let signal = TERMINATING.swap(0, Ordering::AcqRel);
            if signal != 0 {
                let _ = self.dump(Trigger::Terminate);
                super::end_as_signalled(signal);
                continue;
            }
            if super::asked() {
                let outcome = self.dump(Trigger::Manual);
                super::answer(outcome);
            } else if let Some(trigger) = self.due() {
                let _ = self.dump(trigger);
            }
        }
    }

    /// What asks for a dump now, if anything.
    fn due(&mut self) -> Option<Trigger> {
        if SIGNALLED.swap(false, Ordering::AcqRel) {
            return Some(Trigger::Signal);
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
                    return Some(Trigger::NearLimit);
                }
                if rss < limit as f64 * (fraction - REARM_MARGIN) {
                    self.near_limit_armed = true;
                }
            }
        }
        if let Some(fraction) = self.settings.growth {
            let live = counters::live_bytes_estimate();
            let over =
                (self.high as f64 * (1.0 + fraction)).max((self.high + MIN_GROWTH_BYTES) as f64);
            if self.high > 0 && live as f64 > over {
                return Some(Trigger::Growth);
            }
        }
        match self.settings.interval {
            Some(interval) if self.last_dump.elapsed() >= interval => Some(Trigger::Interval),
            _ => None,
        }
    }

    /// Captures and writes a dump: the file's path.
    fn dump(&mut self, trigger: Trigger) -> Result<PathBuf, Error> {
        let snapshot = snapshot::capture(trigger);
        self.last_dump = Instant::now();
        self.high = self.high.max(snapshot.totals.live_bytes).max(1);
        let written = files::write_rotating(&self.settings.dir, self.settings.keep, &snapshot);
        match &written {
            Ok(_) if !self.reported.is_empty() => {
                sys::write_stderr(b"heapsnap: automatic dumps are written again\n");
                // The next outage is news again.
                self.reported.clear();
            }
            Ok(_) => {}
            Err(err) => self.report(err),
        }
        written
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

    /// Prints an error once per distinct message until dumps are written
    /// again (a full disk should not flood stderr every 100 ms).
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
