//! What really leaked in a run, and how a `heapsnap leaks` report fares
//! against it.

use heapsnap_format::names::short_function;
use heapsnap_report::leaks::{Report, Suspect};
use serde::{Deserialize, Serialize};

use crate::plan::{LeakKind, Plan};

/// The file the scenario writes beside its snapshots' directory.
pub const TRUTH_FILE: &str = "truth.json";
/// The directory of a run's snapshots, in its output directory.
pub const SNAPSHOTS: &str = "snapshots";

/// What a run really did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Truth {
    pub plan: Plan,
    /// The leak, as it happened.
    pub leak: Option<LeakTruth>,
    /// The last snapshot's file when it was taken during teardown.
    pub teardown_snapshot: Option<String>,
    /// When healthy parts that fill up stopped growing: (part, uptime ms).
    #[serde(default)]
    pub settled: Vec<(String, u64)>,
}

/// The leak, as it happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeakTruth {
    pub kind: LeakKind,
    /// Heap bytes of the objects leaked, by the end of the load.
    pub leaked_bytes: u64,
    /// Milliseconds of uptime (the profiler's clock) when the leak started
    /// and when the load stopped.
    pub started_ms: u64,
    pub ended_ms: u64,
}

impl LeakTruth {
    /// Bytes leaked per second while the leak ran.
    pub fn rate(&self) -> f64 {
        let seconds = self.ended_ms.saturating_sub(self.started_ms).max(1) as f64 / 1000.0;
        self.leaked_bytes as f64 / seconds
    }
}

/// The module of the scenario program each part lives in: a suspect
/// belongs to the part its holder's function is in.
pub fn module_of(kind: LeakKind) -> &'static str {
    match kind {
        LeakKind::RegistryArc => "registry",
        LeakKind::MapByValue => "sessions",
        LeakKind::MovedIn => "inbox",
        LeakKind::InstancePerCall => "engine",
        LeakKind::GrowingLog => "eventlog",
    }
}

/// The part of the scenario program a suspect's holder belongs to: the
/// innermost frame of its stack in a part's own module.
pub fn part_of(suspect: &Suspect) -> Option<&'static str> {
    const PARTS: [&str; 13] = [
        "registry", "sessions", "inbox", "engine", "eventlog", "lru", "ttl", "oneoff", "queue",
        "churn", "threads", "history", "bounded",
    ];
    // The standard library's frames are left out: the linker folds
    // identical instantiations, and a `RawVec<lru::Profile>::grow_one` may
    // stand for another part's vector.
    suspect
        .stack
        .iter()
        .filter(|frame| !heapsnap_format::names::is_library(frame))
        .find_map(|frame| {
            PARTS
                .into_iter()
                .find(|part| frame.contains(&format!("::parts::{part}::")))
        })
}

/// How a report fared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub plan: Plan,
    /// The leak's growth over the analysed window, in sampling intervals
    /// (64 KiB for exact runs); 0 without a leak.
    pub growth_intervals: f64,
    pub snapshots: usize,
    pub window_s: f64,
    /// The first suspect is the leak, named by its holder (type and
    /// function).
    pub first_named: bool,
    /// Some suspect is the leak's (named or not).
    pub found: bool,
    /// Suspects that are not the leak's: their sentences.
    pub false_suspects: Vec<String>,
    /// Suspects of healthy parts still filling in the later half of the
    /// window (the machine was slow, or the part fills late): growing
    /// there for real, so counted apart from the false ones.
    #[serde(default)]
    pub still_filling: Vec<String>,
    /// The first suspect's sentence, if any.
    pub first: Option<String>,
}

/// Judges `report` (of the run `truth` describes) on its suspects.
pub fn score(report: &Report, truth: &Truth, first_ms: u64, last_ms: u64) -> Outcome {
    let leak = truth.leak.as_ref();
    // A suspect is the leak's when its holder's stack passes through the
    // leak's part (helpers shared by every part are not enough).
    let belongs_to_leak = |s: &Suspect| leak.is_some_and(|l| part_of(s) == Some(module_of(l.kind)));
    let named = |s: &Suspect| {
        leak.is_some_and(|l| {
            let (ty, function) = l.kind.holder();
            s.ty.contains(ty) && short_function(&s.function).ends_with(function)
        })
    };
    // A part that settled after the middle of the window grew in its later
    // half.
    let middle = (first_ms + last_ms) / 2;
    let filling_late = |s: &Suspect| {
        part_of(s).is_some_and(|part| {
            truth
                .settled
                .iter()
                .any(|(p, ms)| p == part && *ms > middle)
        })
    };
    let describe = |s: &Suspect| {
        format!(
            "[{}] {}",
            part_of(s).unwrap_or("?"),
            heapsnap_report::render::sentence::suspect(s)
        )
    };
    let first = report.suspects.first();
    let unit = if heapsnap_format::snapshot::is_exact(truth.plan.interval) {
        65_536.0
    } else {
        truth.plan.interval as f64
    };
    let growth_intervals = leak.map_or(0.0, |l| {
        let from = first_ms.max(l.started_ms);
        let to = last_ms.min(l.ended_ms);
        l.rate() * to.saturating_sub(from) as f64 / 1000.0 / unit
    });
    Outcome {
        plan: truth.plan.clone(),
        growth_intervals,
        snapshots: report.snapshots,
        window_s: report.window_ms as f64 / 1000.0,
        first_named: first.is_some_and(named),
        found: report.suspects.iter().any(belongs_to_leak),
        false_suspects: report
            .suspects
            .iter()
            .filter(|s| !belongs_to_leak(s) && !filling_late(s))
            .map(describe)
            .collect(),
        still_filling: report
            .suspects
            .iter()
            .filter(|s| !belongs_to_leak(s) && filling_late(s))
            .map(describe)
            .collect(),
        first: first.map(heapsnap_report::render::sentence::suspect),
    }
}
