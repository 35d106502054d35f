//! The parts of a scenario server: each module is one part, so that a
//! suspect's function says which part it belongs to (`scenario::registry::`
//! is the registry's). Leaks: `registry`, `sessions`, `inbox`, `engine`,
//! `eventlog`; healthy parts: `lru`, `ttl`, `oneoff`, `queue`, `churn`,
//! `threads`, `history`, `bounded`.

pub mod bounded;
pub mod churn;
pub mod engine;
pub mod eventlog;
pub mod history;
pub mod inbox;
pub mod lru;
pub mod model;
pub mod oneoff;
pub mod queue;
pub mod registry;
pub mod sessions;
pub mod threads;
pub mod ttl;

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a part keeps alive until the end of the run (and drops at
/// teardown).
pub type Kept = Box<dyn Any + Send>;

/// The run as the parts see it.
#[derive(Clone)]
pub struct Run {
    started: Instant,
    pub seconds: f64,
    stop: Arc<AtomicBool>,
    /// Heap bytes of the objects leaked so far.
    pub leaked: Arc<AtomicU64>,
    /// When parts that fill up stopped growing: (part, uptime ms).
    pub settled: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Run {
    pub fn new(seconds: f64) -> Run {
        Run {
            started: Instant::now(),
            seconds,
            stop: Arc::new(AtomicBool::new(false)),
            leaked: Arc::new(AtomicU64::new(0)),
            settled: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The run's progress, 0 to 1.
    pub fn fraction(&self) -> f64 {
        (self.elapsed() / self.seconds).min(1.0)
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Notes that `part` stopped growing now (a cache full, a table
    /// loaded): from here on it holds steady.
    pub fn settle(&self, part: &str) {
        let ms = heapsnap::stats().uptime_ms;
        if let Ok(mut settled) = self.settled.lock() {
            settled.push((part.to_owned(), ms));
        }
    }

    /// Counts leaked heap bytes.
    pub fn leak(&self, bytes: u64) {
        self.leaked.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Calls `op(i)` about `per_sec` times a second (`i` counts from 0)
    /// until the run stops.
    pub fn paced(&self, per_sec: f64, mut op: impl FnMut(u64)) {
        let mut done = 0u64;
        while !self.stopped() {
            let due = (self.elapsed() * per_sec) as u64;
            while done < due && !self.stopped() {
                op(done);
                done += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sleeps until `fraction` of the run, or its end; false when the run
    /// stopped first.
    pub fn wait_until(&self, fraction: f64) -> bool {
        while !self.stopped() && self.fraction() < fraction {
            std::thread::sleep(Duration::from_millis(5));
        }
        !self.stopped()
    }
}

/// A string of about `len` bytes derived from `seed`.
pub fn text(seed: u64, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((b'a' + (x % 26) as u8) as char);
    }
    out
}
