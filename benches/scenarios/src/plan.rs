//! What a scenario run does, and how plans are drawn at random.

use serde::{Deserialize, Serialize};

/// One run of a scenario server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Seeds the run's own choices (keys, sizes, timings) and the sampler.
    pub seed: u64,
    /// How long the load runs.
    pub seconds: f64,
    /// Mean bytes between samples; 1 records every allocation.
    pub interval: u64,
    /// When snapshots are taken.
    pub schedule: Schedule,
    /// Take one more snapshot after dropping every part's state (as a
    /// program's last dump at exit would see it).
    pub teardown: bool,
    /// The leak, if the server has one.
    pub leak: Option<Leak>,
    /// The healthy parts.
    pub healthy: Vec<Healthy>,
}

/// When snapshots are taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// `count` snapshots evenly over the run (the first at the start).
    Every { count: u32 },
    /// At `count` random moments.
    Random { count: u32 },
    /// Automatic dumps on growth only (`HEAPSNAP_DUMP_ON_GROWTH`), which
    /// cluster while the heap rises, and one at the end.
    Growth { margin: f64 },
    /// The one at the end only (a process restarted that had time for
    /// one).
    AtEnd,
}

/// The leak: objects made at `bytes_per_sec`, of which `leak_fraction` are
/// never let go, from `start_fraction` of the run on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    pub kind: LeakKind,
    /// Bytes of the objects made per second (leaked or not).
    pub bytes_per_sec: f64,
    /// Heap bytes of one object, roughly.
    pub object_bytes: usize,
    /// The share of them that leak.
    pub leak_fraction: f64,
    /// When the leak starts, as a fraction of the run.
    pub start_fraction: f64,
    /// A transient collection of the leak's element type is built now and
    /// then (a heartbeat listing every connection).
    pub transient_twin: bool,
}

/// The leaks the scenarios know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    /// Connections in a `HashMap<String, HashSet<Arc<Connection>>>` whose
    /// unbind misses (the first incident).
    RegistryArc,
    /// Sessions stored by value in a `HashMap<u64, Session>` and never
    /// removed.
    MapByValue,
    /// Messages parsed by `serde_json` in one function and moved into a
    /// `HashMap<u64, Message>` by another, on `tokio` tasks.
    MovedIn,
    /// An expression engine compiled per call and kept by a watcher's
    /// `Vec<Arc<Engine>>` (the second incident).
    InstancePerCall,
    /// A `Vec<Event>` that records every event and never forgets.
    GrowingLog,
}

impl LeakKind {
    pub const ALL: [LeakKind; 5] = [
        LeakKind::RegistryArc,
        LeakKind::MapByValue,
        LeakKind::MovedIn,
        LeakKind::InstancePerCall,
        LeakKind::GrowingLog,
    ];

    /// The holder a report must name: its type, as the reporter writes
    /// it, and the function that grows it.
    pub fn holder(self) -> (&'static str, &'static str) {
        match self {
            LeakKind::RegistryArc => (
                "HashMap<String, HashSet<Arc<Connection>>>",
                "Registry::bind",
            ),
            LeakKind::MapByValue => ("HashMap<u64, Session>", "SessionStore::insert"),
            LeakKind::MovedIn => ("HashMap<u64, Message>", "Inbox::store"),
            LeakKind::InstancePerCall => ("Vec<Arc<Engine>>", "Watcher::watch"),
            LeakKind::GrowingLog => ("Vec<Event>", "EventLog::record"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LeakKind::RegistryArc => "registry of Arcs",
            LeakKind::MapByValue => "map of structs by value",
            LeakKind::MovedIn => "values moved in",
            LeakKind::InstancePerCall => "instance per call",
            LeakKind::GrowingLog => "growing log",
        }
    }
}

/// A healthy part of the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Healthy {
    /// A `moka` cache of `bytes` in all, full after `fill_fraction` of the
    /// run, then replacing entries.
    LruCache { bytes: u64, fill_fraction: f64 },
    /// A `moka` cache whose entries expire after `ttl_fraction` of the run.
    TtlCache {
        bytes_per_sec: f64,
        ttl_fraction: f64,
    },
    /// A table of many small objects loaded once, at `at_fraction` of the
    /// run, and kept.
    OneOffLoad { bytes: u64, at_fraction: f64 },
    /// A queue that fills in bursts and is drained every `period_fraction`
    /// of the run.
    BurstQueue {
        peak_bytes: u64,
        period_fraction: f64,
    },
    /// Per-request garbage: parsed JSON and buffers, freed at once.
    Churn { bytes_per_sec: f64 },
    /// A thread per connection, each with its buffers.
    ThreadChurn {
        threads_per_sec: f64,
        bytes_per_thread: u64,
    },
    /// The newest messages, at most `bytes` of them, full after
    /// `fill_fraction` of the run.
    History { bytes: u64, fill_fraction: f64 },
    /// A bounded store of sessions by value (the map-by-value leak's
    /// healthy twin: the same element type), evicting its oldest.
    BoundedSessions { bytes: u64, fill_fraction: f64 },
}

impl Healthy {
    pub fn name(&self) -> &'static str {
        match self {
            Healthy::LruCache { .. } => "lru cache",
            Healthy::TtlCache { .. } => "ttl cache",
            Healthy::OneOffLoad { .. } => "one-off load",
            Healthy::BurstQueue { .. } => "burst queue",
            Healthy::Churn { .. } => "churn",
            Healthy::ThreadChurn { .. } => "thread churn",
            Healthy::History { .. } => "history",
            Healthy::BoundedSessions { .. } => "bounded sessions",
        }
    }
}

/// The sampling intervals plans are drawn with.
pub const INTERVALS: [u64; 3] = [512 * 1024, 64 * 1024, 1];

impl Plan {
    /// A plan drawn at random from `seed`: interval, length, schedule,
    /// whether there is a leak (and its kind, size and rate, for a growth
    /// of 3 to 200 sampling intervals over the run), and two to four
    /// healthy parts whose sizes are a few to a few hundred intervals.
    pub fn random(seed: u64) -> Plan {
        let mut rng = fastrand::Rng::with_seed(seed);
        let interval = INTERVALS[rng.usize(..INTERVALS.len())];
        // Sizes are in units of the interval; exact mode is sized as 64 KiB
        // so that its allocation rates stay those of the sampled runs.
        let unit = if heapsnap_format::snapshot::is_exact(interval) {
            65_536.0
        } else {
            interval as f64
        };
        let seconds = 5.0 + rng.f64() * 7.0;
        let schedule = match rng.usize(..4) {
            0 | 1 => Schedule::Every {
                count: rng.u32(5..=30),
            },
            2 => Schedule::Random {
                count: rng.u32(5..=30),
            },
            _ => Schedule::Growth {
                margin: 0.1 + rng.f64() * 0.3,
            },
        };
        let leak = rng.bool().then(|| {
            let intervals = log_uniform(&mut rng, 3.0, 200.0);
            let leak_fraction = 0.2 + rng.f64() * 0.8;
            Leak {
                kind: LeakKind::ALL[rng.usize(..LeakKind::ALL.len())],
                bytes_per_sec: intervals * unit / seconds / leak_fraction,
                object_bytes: 200 + rng.usize(..4000),
                leak_fraction,
                start_fraction: if rng.u32(..4) == 0 {
                    rng.f64() * 0.3
                } else {
                    0.0
                },
                transient_twin: rng.bool(),
            }
        });
        let parts = 2 + rng.usize(..3);
        let healthy = (0..parts)
            .map(|_| random_healthy(&mut rng, unit, seconds))
            .collect();
        Plan {
            seed,
            seconds,
            interval,
            schedule,
            teardown: rng.u32(..4) == 0,
            leak,
            healthy,
        }
    }
}

fn random_healthy(rng: &mut fastrand::Rng, unit: f64, seconds: f64) -> Healthy {
    let size = |rng: &mut fastrand::Rng| (log_uniform(rng, 5.0, 400.0) * unit) as u64;
    match rng.usize(..8) {
        0 => Healthy::LruCache {
            bytes: size(rng),
            fill_fraction: 0.05 + rng.f64() * 0.45,
        },
        1 => Healthy::TtlCache {
            bytes_per_sec: size(rng) as f64 / seconds,
            ttl_fraction: 0.05 + rng.f64() * 0.25,
        },
        2 => Healthy::OneOffLoad {
            bytes: size(rng),
            at_fraction: rng.f64() * 0.9,
        },
        3 => Healthy::BurstQueue {
            peak_bytes: size(rng),
            period_fraction: 0.1 + rng.f64() * 0.3,
        },
        4 => Healthy::Churn {
            bytes_per_sec: size(rng) as f64 * 4.0 / seconds,
        },
        5 => Healthy::ThreadChurn {
            threads_per_sec: 20.0 + rng.f64() * 200.0,
            bytes_per_thread: (unit * (0.05 + rng.f64() * 2.0)) as u64,
        },
        6 => Healthy::History {
            bytes: size(rng),
            fill_fraction: 0.05 + rng.f64() * 0.45,
        },
        _ => Healthy::BoundedSessions {
            bytes: size(rng),
            fill_fraction: 0.05 + rng.f64() * 0.45,
        },
    }
}

fn log_uniform(rng: &mut fastrand::Rng, low: f64, high: f64) -> f64 {
    (low.ln() + rng.f64() * (high.ln() - low.ln())).exp()
}
