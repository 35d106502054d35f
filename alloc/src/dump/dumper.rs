//! The background thread of automatic dumps: it polls the triggers every
//! 100 ms and writes a dump when one fires. It runs under the re-entrancy
//! guard for its whole life: nothing it allocates is sampled.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::live::LiveFile;
use super::{EXIT_DUMPED, EXITING, RUNNING, SIGNALLED, Settings, TERMINATING, files};
use crate::record::counters;
use crate::snapshot::{self, Detail, Error, ErrorKind, Trigger, memory};
use crate::sys;

/// How often the background thread looks at the triggers.
const POLL: Duration = Duration::from_millis(100);
/// How often the live counters file is written.
const LIVE_EVERY: Duration = Duration::from_secs(1);
/// Growth dumps need at least this much growth over the last high, so that
/// a small heap does not dump on every few kilobytes.
const MIN_GROWTH_BYTES: u64 = 1 << 20;
/// A near-limit dump re-arms when RSS falls this far (as a fraction of the
/// limit) below the threshold.
const REARM_MARGIN: f64 = 0.05;
/// How often the memory limit is read again.
const LIMIT_REFRESH: Duration = Duration::from_secs(60);
/// Room kept below the limit beyond a dump's measured cost, and the cost
/// assumed before any dump was measured.
const DUMP_MARGIN: u64 = 4 << 20;

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
    /// The most memory a dump took above what the process used before it
    /// (measured on each dump: resident memory before, after the capture,
    /// after the write).
    dump_cost: u64,
    /// The longest a dump took.
    dump_time: Duration,
    /// How fast the memory measured against the limit grew lately, in
    /// bytes a second (smoothed over the last polls), and the last reading.
    growth_rate: f64,
    last_used: Option<(Instant, u64)>,
    /// The limit came from the cgroup (its usage, page cache included, is
    /// what the limit is measured against).
    limit_is_cgroup: bool,
    /// Error messages already printed (each is printed once).
    reported: Vec<String>,
    /// The live counters file, when it could be made, and when it was
    /// last written.
    live: Option<LiveFile>,
    live_written: Instant,
    /// Dumps written.
    dumps: u64,
    /// The interval a watcher asks for, read with the live counters.
    requested: Option<Duration>,
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
            dump_cost: 0,
            dump_time: Duration::ZERO,
            growth_rate: 0.0,
            last_used: None,
            limit_is_cgroup: false,
            reported: Vec::new(),
            live: None,
            live_written: now,
            dumps: 0,
            requested: None,
        };
        dumper.limit = dumper.read_limit();
        dumper
    }

    pub(super) fn run(mut self) {
        files::remove_abandoned_temps(&self.settings.dir);
        self.live = LiveFile::create(&self.settings.dir);
        let _ = self.dump(Trigger::Start);
        while RUNNING.load(Ordering::Acquire) {
            std::thread::park_timeout(POLL);
            if !RUNNING.load(Ordering::Acquire) {
                // Stopped (`AutoDumpHandle::stop`).
                self.remove_live();
                return;
            }
            if EXITING.load(Ordering::Acquire) {
                let _ = self.dump(Trigger::Exit);
                self.remove_live();
                EXIT_DUMPED.store(true, Ordering::Release);
                return;
            }
            let signal = TERMINATING.swap(0, Ordering::AcqRel);
            if signal != 0 {
                let _ = self.dump(Trigger::Terminate);
                if sys::is_action(signal, super::on_termination) {
                    self.remove_live();
                }
                super::end_as_signalled(signal);
                continue;
            }
            if self.live_written.elapsed() >= LIVE_EVERY {
                self.publish_live();
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
        // Where memory will be when a dump started now ends, against the
        // near-limit threshold: `Some(true)` once it is crossed by then.
        let near_limit = self.near_limit_by_then();
        if near_limit.is_some_and(|(now, _)| now) {
            self.near_limit_armed = false;
            return Some(Trigger::NearLimit);
        }
        let other = self.other_due();
        if other.is_some() && near_limit.is_some_and(|(_, by_then)| by_then) {
            // The thread would still be writing this dump when the limit's
            // turn came: it is the near-limit dump (a growth dump taken
            // instead used to leave no room, and no time, for it).
            self.near_limit_armed = false;
            return Some(Trigger::NearLimit);
        }
        other
    }

    /// Whether the near-limit dump is due now and whether it will be by the
    /// time a dump started now is written (`None` when there is no limit or
    /// the trigger is off or spent).
    fn near_limit_by_then(&mut self) -> Option<(bool, bool)> {
        let fraction = self.settings.near_limit?;
        if self.limit_read.elapsed() >= LIMIT_REFRESH {
            self.limit = self.read_limit();
            self.limit_read = Instant::now();
        }
        let (limit, used) = (self.limit?, self.used()?);
        self.note_growth(used);
        let used = used as f64;
        // Early enough that the dump itself fits under the limit.
        let threshold = (limit as f64 * fraction).min(limit as f64 - self.headroom() as f64);
        if used < threshold - limit as f64 * REARM_MARGIN {
            self.near_limit_armed = true;
        }
        if !self.near_limit_armed {
            return None;
        }
        let meanwhile = self.growth_rate * (self.dump_time + POLL).as_secs_f64();
        Some((used >= threshold, used + meanwhile >= threshold))
    }

    /// The triggers other than the memory limit's.
    fn other_due(&self) -> Option<Trigger> {
        if let Some(fraction) = self.settings.growth {
            let live = counters::live_bytes_estimate();
            let over =
                (self.high as f64 * (1.0 + fraction)).max((self.high + MIN_GROWTH_BYTES) as f64);
            if self.high > 0 && live as f64 > over {
                return Some(Trigger::Growth);
            }
        }
        // A watcher's request shortens the interval while it lasts (or
        // sets one where there was none).
        let interval = match (self.settings.interval, self.requested) {
            (Some(own), Some(asked)) => Some(own.min(asked)),
            (own, asked) => own.or(asked),
        };
        match interval {
            Some(interval) if self.last_dump.elapsed() >= interval => Some(Trigger::Interval),
            _ => None,
        }
    }

    /// The memory the limit is measured against: resident memory, or the
    /// cgroup's charge when the limit is the cgroup's (page cache counts).
    fn used(&self) -> Option<u64> {
        let rss = memory::rss_bytes();
        let charged = self
            .limit_is_cgroup
            .then(memory::cgroup_memory_usage)
            .flatten();
        rss.max(charged)
    }

    /// Smooths the growth of the memory measured against the limit.
    fn note_growth(&mut self, used: u64) {
        let now = Instant::now();
        if let Some((then, before)) = self.last_used {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                let rate = (used as f64 - before as f64).max(0.0) / seconds;
                self.growth_rate = 0.7 * self.growth_rate + 0.3 * rate;
            }
        }
        self.last_used = Some((now, used));
    }

    /// The room a dump needs below the limit: the most memory a dump took
    /// so far, and what the program adds while one is noticed and written
    /// (its recent growth over the longest dump and two polls), half again;
    /// and a margin. Measured, so the dump fires earlier for a program
    /// that grows fast or a heap whose dump is large.
    fn headroom(&self) -> u64 {
        let meanwhile = self.growth_rate * (self.dump_time + 2 * POLL).as_secs_f64();
        ((self.dump_cost as f64 + meanwhile) * 1.5) as u64 + DUMP_MARGIN
    }

    /// Captures and writes a dump: the file's path. Past half the memory
    /// limit a dump scans less (`Detail::Quick`); a near-limit dump with
    /// less room left than a dump takes is written reduced rather than not
    /// at all.
    fn dump(&mut self, trigger: Trigger) -> Result<PathBuf, Error> {
        let before = memory::rss_bytes().unwrap_or(0);
        let started = Instant::now();
        let used = self.limit.and(self.used()).unwrap_or(0);
        let detail = match self.limit {
            Some(limit) if trigger == Trigger::NearLimit && used + self.headroom() > limit => {
                Detail::Reduced
            }
            // Nearer the limit than not: any dump keeps quick, so that the
            // thread is free when the near-limit dump is due.
            Some(limit) if used >= limit / 2 => Detail::Quick,
            _ => Detail::Full,
        };
        let snapshot = snapshot::capture_with(trigger, detail);
        let captured = memory::rss_bytes().unwrap_or(0);
        self.last_dump = Instant::now();
        self.high = self.high.max(snapshot.totals.live_bytes).max(1);
        let written = files::write_rotating(&self.settings.dir, self.settings.keep, &snapshot);
        drop(snapshot);
        // What the dump took itself: the rise less what the program added
        // meanwhile at its recent pace (counted apart, in `headroom`).
        let elapsed = started.elapsed();
        let program = (self.growth_rate * elapsed.as_secs_f64()) as u64;
        let cost = captured
            .max(memory::rss_bytes().unwrap_or(0))
            .saturating_sub(before)
            .saturating_sub(program);
        self.dump_cost = self.dump_cost.max(cost);
        self.dump_time = self.dump_time.max(elapsed);
        if written.is_ok() {
            self.dumps += 1;
        }
        self.publish_live();
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

    /// Writes the live counters file, if there is one.
    /// And reads a watcher's request for an interval.
    fn publish_live(&mut self) {
        if let Some(live) = &self.live {
            live.publish(self.limit, self.dumps);
            self.requested = super::live::requested_interval(&self.settings.dir);
        }
        self.live_written = Instant::now();
    }

    /// Removes the live counters file: the process is ending, or its dumps.
    fn remove_live(&mut self) {
        if let Some(live) = self.live.take() {
            live.remove();
        }
    }

    fn read_limit(&mut self) -> Option<u64> {
        self.limit_is_cgroup = false;
        if let Some(bytes) = self.settings.memory_limit {
            return Some(bytes);
        }
        match &self.settings.memory_limit_file {
            Some(file) => memory::limit_in_file(file),
            None => {
                let limit = memory::cgroup_memory_limit();
                self.limit_is_cgroup = limit.is_some();
                limit
            }
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
