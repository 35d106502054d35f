//! `heapsnap leaks`: over a series of snapshots of one process, which sites
//! grow without bound, what they hold, how fast, and how sure we are.
//!
//! 1. `series`: the snapshots of the newest process are taken (a directory
//!    may hold several runs), in the order they were taken, and every site
//!    (tag and stack) gets a series of live bytes, one point per snapshot,
//!    with its sampling variance; `trend::fit` gives it a slope, a
//!    confidence and a verdict.
//! 2. `group`: bytes are allocated in one place and kept alive by another:
//!    the contexts of closed connections are built in a connection handler
//!    but leak because a registry's `HashSet` still holds them. Grouping
//!    joins the sites that leak together and names the one that holds the
//!    others.
//! 3. `suspect`: each group's summed series is fitted again, with the
//!    covariance of its sampling errors between snapshots (`covariance`); a
//!    group that grows is a suspect, named after its holder. Suspects are
//!    ranked by growth rate times confidence. The newest snapshot's live
//!    bytes by age add the last piece of evidence: a leak holds bytes of
//!    every age.
//!
//! Layer rule: `leaks` calls `trend`, `view` and the format crate; the
//! sentences people read are written by `render`, which reads its report.

use std::collections::{HashMap, HashSet};

use heapsnap_format::snapshot::ScanState;
use serde::Serialize;

use crate::load::Loaded;
use crate::trend::{self, Verdict};
use crate::view::Location;

mod graph;
mod group;
mod holding;
mod series;
mod suspect;

use graph::{Coverage, Graph};
use group::groups;
use series::is_growing;
use series::{Assembled, Points, RunChoice, SiteTrend, add_points};
use suspect::{suspect, trend_row};

pub use crate::trend::Flow;

/// Options of [`leaks`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Growing groups below this confidence are not suspects, only
    /// possible ones (and do not fail `--fail`).
    pub min_confidence: f64,
    /// Rows of the tables of what is not leaking (0: all).
    pub limit: usize,
    /// Analyse this process's run; `None`: the newest run with two
    /// snapshots or more.
    pub pid: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_confidence: 0.99,
            limit: 10,
            pid: None,
        }
    }
}

/// Why the snapshots cannot be analysed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No snapshot was given.
    NoSnapshots,
    /// The newest process has one snapshot only (its file).
    OneSnapshot {
        /// Where the one snapshot came from.
        source: String,
    },
    /// The newest process's snapshots were all taken at the same moment.
    SameMoment,
    /// No snapshot of the process asked for (`--pid`).
    NoSuchPid {
        /// The pid asked for.
        pid: u32,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoSnapshots => f.write_str("no snapshots given"),
            Error::OneSnapshot { source } => write!(
                f,
                "need at least two snapshots of one process; {source} has one"
            ),
            Error::SameMoment => f.write_str("the snapshots were all taken at the same moment"),
            Error::NoSuchPid { pid } => write!(f, "no snapshot of pid {pid}"),
        }
    }
}

impl std::error::Error for Error {}

/// One of the things a suspect holds.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    /// Type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where it is allocated: function.
    pub function: String,
    /// Its tag, if any.
    #[serde(skip)]
    pub tag: Option<String>,
    /// Live bytes in the newest snapshot.
    pub live_bytes: u64,
    /// Live allocations in the newest snapshot.
    pub live_allocs: u64,
    /// The sampling error of that count (a standard deviation).
    pub live_allocs_stddev: f64,
    /// Growth over the series.
    pub growth_bytes: i64,
}

/// Why a suspect's holder is named as holding what grows.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HolderEvidence {
    /// Its blocks point at the members: the heap graph's references.
    Pointers(Pointers),
    /// No reference was seen; its type names a member's type as what it
    /// holds.
    Types {
        /// The snapshots carry a heap graph (so no reference was found,
        /// rather than none looked for).
        graph: bool,
    },
    /// No reference was seen, and its type says nothing of the members:
    /// inferred from where they were allocated alone. Such a suspect is
    /// never reported more than 99% sure.
    Guess {
        /// As for `Types`.
        graph: bool,
        /// The scan saw its blocks point into the heap, and some other
        /// member's never: of the members, it can hold the others.
        points_out: bool,
    },
}

/// What the holder's blocks were seen pointing at.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pointers {
    /// The member pointed at: its type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where that member is allocated.
    pub function: String,
    /// Its sampled blocks the holder's blocks point at (in the snapshot
    /// of the later half that saw the most).
    pub held: u64,
    /// Its sampled blocks live in that snapshot.
    pub of: u64,
    /// Reached through memory that was never sampled (a box, an
    /// `ArcInner`) rather than by a word of the holder itself.
    pub through_unsampled: bool,
    /// The share of the ways to them the scan followed (1 when all; less
    /// when the unsampled memory between was more than its budget, so
    /// `held` is a sample of what the holder reaches).
    pub followed: f64,
    /// How many of the growing sites it reaches.
    pub members_reached: usize,
    /// The share of the holder's own blocks the scan read, when it is a
    /// population seen pointing from several (a task per client, each
    /// holding its own buffers): what they reach stands for what all of
    /// them hold. 1 when the holder is judged on all its blocks.
    pub holder_share: f64,
}

/// How old a suspect's live bytes are, in the newest snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Age {
    /// The age compared with (a quarter of the window), in milliseconds.
    pub older_than_ms: u64,
    /// The fraction of live bytes older than that.
    pub fraction: f64,
    /// The fraction younger than the first age bucket (1 s).
    pub newest_fraction: f64,
}

/// A leak suspect. Its JSON form (written in `render::json`) adds the
/// report's sentence about it, `summary`.
#[derive(Clone, Debug)]
pub struct Suspect {
    /// 1 for the most likely and fastest.
    pub rank: usize,
    /// Always `growing` for suspects.
    pub verdict: Verdict,
    /// The collection (or type) that grows.
    pub ty: String,
    /// The same with full paths.
    pub type_full: String,
    /// Where it is grown: function.
    pub function: String,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Why the function is `?`, when it is.
    pub unknown: Option<crate::Unknown>,
    /// Tag of its allocations, if any.
    pub tag: Option<String>,
    /// Live allocations of the holder itself in the newest snapshot: how
    /// many such collections there are (one per call is a clue).
    pub instances: u64,
    /// The sampling error of `instances` (a standard deviation).
    pub instances_stddev: f64,
    /// When the holder's buffers reached sizes larger than any before, within
    /// the window: (milliseconds since the window's start, bytes), oldest
    /// first. Seen for every buffer from a size up, sampled or not.
    pub buffer_highs: Vec<(u64, u64)>,
    /// Live bytes in the newest snapshot (the collection and what it
    /// holds).
    pub live_bytes: u64,
    /// Share of the newest snapshot's live heap.
    pub share: f64,
    /// Growth from the first snapshot to the newest.
    pub growth_bytes: i64,
    /// Growth rate (Theil-Sen slope).
    pub growth_bytes_per_sec: f64,
    /// Its standard error (sampling error and scatter of the points).
    pub growth_bytes_per_sec_stddev: f64,
    /// Growth rate over the later half of the window: how fast it grows
    /// now (a leak that began late reads little over the whole window).
    pub recent_growth_bytes_per_sec: f64,
    /// Its standard error.
    pub recent_growth_bytes_per_sec_stddev: f64,
    /// Time the later half spans, in milliseconds.
    pub recent_window_ms: u64,
    /// How sure it keeps growing, 0 to 1.
    pub confidence: f64,
    /// How much of the variation a straight line explains, 0 to 1.
    pub r_squared: f64,
    /// Snapshots behind the series.
    pub points: usize,
    /// Time the series spans, in milliseconds.
    pub window_ms: u64,
    /// Age of its live bytes in the newest snapshot, when known.
    pub age: Option<Age>,
    /// Samples born in the later half of the window and still live at its
    /// end (that lived at least a typical time between snapshots).
    pub late_born: Flow,
    /// Samples live at the start of the later half that died by its end.
    pub late_died: Flow,
    /// Samples live at the start of the later half.
    pub population: f64,
    /// Everything allocated at the same place that grows with it.
    pub holds: Vec<Held>,
    /// Why the holder is named as holding them.
    pub holder_evidence: HolderEvidence,
    /// Its live bytes in each snapshot of the window, oldest first.
    pub series: Vec<SeriesPoint>,
    /// At the report's `min_confidence` or above: a suspect, not a possible
    /// one (decides the wording of its sentence; not in the JSON).
    pub keeps_growing: bool,
    /// Stack of the largest part, function names innermost first.
    pub stack: Vec<String>,
}

/// A suspect's live bytes in one snapshot.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SeriesPoint {
    /// Milliseconds since the window's first snapshot.
    pub at_ms: u64,
    /// Estimated live bytes.
    pub bytes: f64,
    /// Their sampling error (a standard deviation; 0 when exact).
    pub stddev: f64,
}

/// A site, or a type, that is not a suspect, with its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Trend {
    /// What the series says.
    pub verdict: Verdict,
    /// Type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where (for a type, its largest site).
    pub location: Location,
    /// Live bytes in the newest snapshot.
    pub live_bytes: u64,
    /// Growth from the first snapshot to the newest.
    pub growth_bytes: i64,
    /// Growth rate.
    pub growth_bytes_per_sec: f64,
    /// How sure it keeps growing.
    pub confidence: f64,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Process id.
    pub pid: u32,
    /// Executable.
    pub exe: String,
    /// Snapshots analysed.
    pub snapshots: usize,
    /// Time from the first to the newest, in milliseconds.
    pub window_ms: u64,
    /// When the newest was taken.
    pub taken_at_ms: u64,
    /// Sampling interval of the newest.
    pub interval_bytes: u64,
    /// Live heap in the first.
    pub live_bytes_first: u64,
    /// Live heap in the newest.
    pub live_bytes_last: u64,
    /// Things to know about this analysis.
    pub notes: Vec<Note>,
    /// Suspects: groups that keep growing, at `min_confidence` or above;
    /// best first (empty when there are none).
    pub suspects: Vec<Suspect>,
    /// Groups that grew, but that may have stopped growing: below
    /// `min_confidence` (the sampling error or the last snapshots leave
    /// room for a cache that filled). Best first.
    pub possible: Vec<Suspect>,
    /// Sites that changed but are not suspects, most growth first.
    pub not_leaking: Vec<Trend>,
    /// Every type's verdict, most growth first.
    pub types: Vec<Trend>,
    /// The confidence a suspect needs.
    pub min_confidence: f64,
    /// The other runs of the program the snapshots were of (a process
    /// restarted), each with two snapshots or more, newest first: each
    /// analysed on its own.
    pub earlier_runs: Vec<Report>,
}

impl Report {
    /// True when this run or an earlier one has suspects.
    pub fn has_suspects(&self) -> bool {
        !self.suspects.is_empty() || self.earlier_runs.iter().any(Report::has_suspects)
    }
}

/// Analyses a series of snapshots: of the newest run of a process (or the
/// one `options.pid` picks), with every earlier run that has enough
/// snapshots in `earlier_runs`.
pub fn leaks(loaded: &[Loaded], options: &Options) -> Result<Report, Error> {
    let choice = options.pid.map_or(RunChoice::Newest, RunChoice::Pid);
    let mut reports = Vec::new();
    for run in series::pick_runs(loaded, choice)? {
        reports.push(analyse(series::assemble(run)?, options));
    }
    let mut reports = reports.into_iter();
    let mut newest = reports.next().ok_or(Error::NoSnapshots)?;
    newest.earlier_runs = reports.collect();
    Ok(newest)
}

/// The snapshots of the run [`leaks`] analyses first, in the order they
/// were taken, while it served: the newest run with two snapshots or more
/// (or `pid`'s run), without the snapshots of its teardown (see
/// [`serving_snapshots`]); when no run has two, the newest snapshot alone.
pub fn run_snapshots(loaded: &[Loaded], pid: Option<u32>) -> Result<Vec<&Loaded>, Error> {
    serving_snapshots(loaded, pid).map(|(snapshots, _)| snapshots)
}

/// [`run_snapshots`], and the note saying which snapshots were left out as
/// teardown, if any: a program that ends gracefully lets go of its state
/// over seconds, and what it held while it served is what every command
/// shows of a run.
pub fn serving_snapshots(
    loaded: &[Loaded],
    pid: Option<u32>,
) -> Result<(Vec<&Loaded>, Option<Note>), Error> {
    let choice = pid.map_or(RunChoice::Newest, RunChoice::Pid);
    match series::pick_runs(loaded, choice) {
        Ok(runs) => {
            let mut snapshots = runs
                .into_iter()
                .next()
                .map(|run| run.snapshots)
                .unwrap_or_default();
            let note = series::leave_out_teardown(&mut snapshots);
            Ok((snapshots, note))
        }
        Err(Error::OneSnapshot { .. }) => Ok((
            loaded
                .iter()
                .filter(|l| pid.is_none_or(|pid| l.snapshot.process.pid == pid))
                .max_by_key(|l| (l.snapshot.taken_at_ms, l.snapshot.seq))
                .into_iter()
                .collect(),
            None,
        )),
        Err(err) => Err(err),
    }
}

/// Analyses one run's series.
fn analyse(series: Assembled<'_>, options: &Options) -> Report {
    let (first, newest) = (series.first(), series.newest());
    let heap_last = newest.heap_bytes() as f64;
    let graph = Graph::new(&series.snapshots, &series.site_ids);
    let (suspects, possible, in_suspects) = find_suspects(&series, &graph, options.min_confidence);
    let mut not_leaking = not_leaking(&series.sites, &in_suspects, heap_last);
    let mut types = by_type(&series);
    if options.limit > 0 {
        not_leaking.truncate(options.limit);
        types.truncate(options.limit);
    }
    Report {
        pid: newest.process.pid,
        exe: newest.process.exe.clone(),
        snapshots: series.snapshots.len(),
        window_ms: newest.uptime_ms.saturating_sub(first.uptime_ms),
        taken_at_ms: newest.taken_at_ms,
        interval_bytes: newest.sampling.interval_bytes,
        live_bytes_first: first.totals.live_bytes,
        live_bytes_last: newest.totals.live_bytes,
        notes: notes(
            &series,
            &graph.coverage,
            !suspects.is_empty() || !possible.is_empty(),
        ),
        suspects,
        possible,
        not_leaking,
        types,
        min_confidence: options.min_confidence,
        earlier_runs: Vec::new(),
    }
}

/// Something to know about an analysis; `render` says it in words.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// The snapshots were of several processes (or runs of one): which
    /// runs were analysed, newest first, and which were left out.
    Runs {
        /// How many processes the snapshots came from.
        processes: usize,
        /// The runs analysed, newest first.
        analysed: Vec<RunSeen>,
        /// The runs left out.
        left_out: Vec<RunSeen>,
    },
    /// The last snapshots were taken while the program let go of its state
    /// (a graceful shutdown), and were left out.
    Teardown {
        /// How many were left out.
        left_out: usize,
        /// The first of them: its file.
        first: String,
        /// What triggered it.
        trigger: String,
        /// The share of the memory established at the heap's turn alive
        /// at the last snapshot.
        survived: f64,
        /// The live heap at the turn.
        live_at_turn: u64,
        /// The live heap at the last snapshot.
        live_at_last: u64,
    },
    /// The last snapshots were taken after the program stopped serving: it
    /// allocated next to nothing while its heap fell (a queue draining at
    /// its consumer's pace once the load was gone), and they were left out.
    Idle {
        /// How many were left out.
        left_out: usize,
        /// The first of them: its file.
        first: String,
        /// What triggered it.
        trigger: String,
        /// Bytes allocated a second while it served.
        serving_rate: f64,
        /// Bytes allocated a second after.
        idle_rate: f64,
        /// The live heap at the last snapshot kept.
        live_at_turn: u64,
        /// The live heap at the last snapshot.
        live_at_last: u64,
    },
    /// Snapshots written without ages (a reduced near-limit dump, an
    /// out-of-memory dump) were left out: the trends rest on ages.
    WithoutAges {
        /// How many were left out.
        left_out: usize,
        /// The first of them: its file.
        first: String,
        /// What triggered it.
        trigger: String,
    },
    /// Two snapshots only: the later half cannot be judged alone.
    TwoSnapshots,
    /// Suspects were named without a heap graph: the snapshots judged
    /// carried no scan (`None`: written before format version 3), or
    /// their scan did not run, for the reason given.
    NoHeapGraph {
        /// The newest such snapshot's scan state.
        scan: Option<ScanState>,
    },
    /// Suspects were named from scans of which some stopped at their time
    /// limit: pointers past where they stopped were not seen.
    ScanOutOfTime {
        /// Scans that stopped at the limit.
        stopped: usize,
        /// Scans of the snapshots judged.
        scanned: usize,
    },
    /// Samples of new stacks merged past the profiler's site table's cap.
    SitesMerged {
        /// How many samples.
        samples: u64,
    },
}

/// One run of a process, as a note names it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSeen {
    /// Its pid.
    pub pid: u32,
    /// When it started (Unix time, milliseconds).
    pub started_at_ms: u64,
    /// Its snapshots given.
    pub snapshots: usize,
}

/// The series' notes; one when the newest snapshot merged samples of new
/// stacks (its site table was full): their growth is in one site per tag,
/// without a stack; and, when there are suspects, one when they were
/// named without a heap graph or from scans stopped at their time limit.
fn notes(series: &Assembled<'_>, coverage: &Coverage, any_suspect: bool) -> Vec<Note> {
    let mut notes = series.notes.clone();
    if any_suspect {
        notes.extend(scan_note(coverage));
    }
    let merged = series.newest().totals.samples_merged;
    if merged > 0 {
        notes.push(Note::SitesMerged { samples: merged });
    }
    notes
}

/// What the report says of the scans its suspects were judged on: no
/// graph and why, or scans stopped at their time limit; nothing when every
/// scan ran whole.
fn scan_note(coverage: &Coverage) -> Option<Note> {
    match coverage.not_scanned {
        Some(scan) if coverage.scanned == 0 => Some(Note::NoHeapGraph { scan }),
        _ if coverage.out_of_time > 0 => Some(Note::ScanOutOfTime {
            stopped: coverage.out_of_time,
            scanned: coverage.scanned,
        }),
        _ => None,
    }
}

/// The groups that grow, as suspects (at `min_confidence` or above) and
/// possible ones, each ranked by growth rate times confidence; and the
/// sites they hold.
fn find_suspects(
    series: &Assembled<'_>,
    graph: &Graph,
    min_confidence: f64,
) -> (Vec<Suspect>, Vec<Suspect>, HashSet<usize>) {
    let all: Vec<&SiteTrend> = series.sites.iter().collect();
    // The heap graph's groups first; the rules of `group` for the sites it
    // did not reach.
    let (mut found_groups, taken) = graph::groups(&all, graph);
    let rest: Vec<&SiteTrend> = all.iter().copied().filter(|s| !taken[s.id]).collect();
    found_groups.extend(groups(&rest));
    let mut held = HashSet::new();
    let mut found: Vec<Suspect> = found_groups
        .iter()
        .filter(|group| group.members.iter().any(|m| is_growing(m)))
        .filter_map(|group| {
            let suspect = suspect(group, series, graph.scanned())?;
            held.extend(group.members.iter().map(|m| m.id));
            // Its holder is no site "not leaking" either.
            held.extend(group.unseen_holders.iter().map(|m| m.id));
            Some(suspect)
        })
        .collect();
    found.sort_by(|a, b| {
        let score = |s: &Suspect| s.growth_bytes_per_sec * s.confidence;
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a.function.cmp(&b.function))
    });
    let (mut suspects, mut possible): (Vec<Suspect>, Vec<Suspect>) = found
        .into_iter()
        .partition(|s| s.confidence >= min_confidence);
    for (list, keeps_growing) in [(&mut suspects, true), (&mut possible, false)] {
        for (i, suspect) in list.iter_mut().enumerate() {
            suspect.rank = i + 1;
            suspect.keeps_growing = keeps_growing;
        }
    }
    (suspects, possible, held)
}

/// Sites that changed without being part of a suspect (`in_suspects`: the
/// sites suspects hold), most growth first.
fn not_leaking(sites: &[SiteTrend], in_suspects: &HashSet<usize>, heap_last: f64) -> Vec<Trend> {
    let mut rows: Vec<Trend> = sites
        .iter()
        .filter(|s| !in_suspects.contains(&s.id))
        .filter_map(|s| Some(trend_row(s.fit.as_ref()?, &s.latest, &s.points)))
        .filter(|t| {
            t.verdict != Verdict::Steady || t.growth_bytes.unsigned_abs() as f64 > 0.01 * heap_last
        })
        .collect();
    sort_by_growth(&mut rows);
    rows
}

/// Every type's series and verdict, shown at its largest site now; most
/// growth first.
fn by_type(series: &Assembled<'_>) -> Vec<Trend> {
    let n = series.times.len();
    let mut by_type: HashMap<std::rc::Rc<str>, (Vec<crate::trend::Point>, &SiteTrend)> =
        HashMap::new();
    for site in &series.sites {
        let (summed, largest) = by_type
            .entry(std::rc::Rc::clone(&site.latest.type_full))
            .or_insert_with(|| (vec![crate::trend::Point::default(); n], site));
        add_points(summed, &site.points);
        if site.points.last_bytes() > largest.points.last_bytes() {
            *largest = site;
        }
    }
    let mut types: Vec<Trend> = by_type
        .values()
        .filter_map(|(summed, largest)| {
            let fit = trend::fit(series.series(summed))?;
            Some(trend_row(&fit, &largest.latest, summed))
        })
        .collect();
    sort_by_growth(&mut types);
    types
}

fn sort_by_growth(rows: &mut [Trend]) {
    rows.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
            .then_with(|| a.location.label().cmp(&b.location.label()))
    });
}

#[cfg(test)]
mod tests {
    use super::series::Latest;
    use super::*;
    use crate::trend::{Age, Point};
    use heapsnap_format::names;

    pub(super) const MIB: f64 = 1024.0 * 1024.0;

    /// No scan judged gives the reason; some stopped at the time limit
    /// says how many; whole scans, or a later half partly scanned, say
    /// nothing.
    #[test]
    fn the_scans_note_says_why_there_is_no_graph_or_how_many_stopped() {
        let coverage = |scanned, out_of_time, not_scanned| Coverage {
            scanned,
            out_of_time,
            not_scanned,
        };
        assert_eq!(
            scan_note(&coverage(0, 0, Some(Some(ScanState::Refused)))),
            Some(Note::NoHeapGraph {
                scan: Some(ScanState::Refused)
            })
        );
        assert_eq!(
            scan_note(&coverage(0, 0, Some(None))),
            Some(Note::NoHeapGraph { scan: None })
        );
        assert_eq!(
            scan_note(&coverage(3, 2, None)),
            Some(Note::ScanOutOfTime {
                stopped: 2,
                scanned: 3
            })
        );
        assert_eq!(
            scan_note(&coverage(2, 1, Some(Some(ScanState::Off)))),
            Some(Note::ScanOutOfTime {
                stopped: 1,
                scanned: 2
            })
        );
        assert_eq!(scan_note(&coverage(3, 0, None)), None);
        assert_eq!(scan_note(&coverage(1, 0, Some(Some(ScanState::Off)))), None);
    }

    /// Snapshots a second apart, with the format's age buckets.
    pub(super) const SECONDS: [f64; 12] =
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];

    /// A site of type `type_full` allocated at `function:line`, called from
    /// `callers` (innermost first), whose live bytes follow `bytes`, one
    /// sample per MiB, born when the bytes rose.
    pub(super) fn site(
        id: usize,
        type_full: &str,
        function: &str,
        line: u32,
        callers: &[(&str, u32)],
        bytes: &[f64],
    ) -> SiteTrend {
        let points = points(bytes);
        let latest = Latest {
            ty: names::shorten(type_full).into(),
            type_full: type_full.into(),
            location: Location {
                function: function.into(),
                file: Some("src/app.rs".to_owned()),
                line: Some(line),
                unknown: None,
            },
            tag: None,
            stack: vec![function.into()],
            callers: callers
                .iter()
                .map(|(f, l)| ((*f).into(), Some(*l)))
                .collect(),
            program_callers: callers.iter().map(|(f, _)| (*f).into()).collect(),
        };
        let bounds: Vec<&[u64]> = vec![&heapsnap_format::snapshot::AGE_BUCKETS_MS[..]; bytes.len()];
        let fit = crate::trend::fit(crate::trend::Series {
            times: &SECONDS[..bytes.len()],
            bounds: &bounds,
            points: &points,
            exact: false,
        });
        SiteTrend {
            id,
            fit,
            points,
            holding: holding::HoldingCache::default()
                .holding(&latest.type_full, &latest.location.function),
            latest,
            retention: series::Retention::Samples,
            highs: Vec::new(),
            late_high: false,
            samples_freed: (0, 0),
            points_out: false,
        }
    }

    /// Points a second apart whose bytes follow `bytes`: samples of 64 KiB,
    /// born in the second their bytes appeared, the oldest dying first when
    /// bytes fall.
    fn points(bytes: &[f64]) -> Vec<Point> {
        let sample = 65_536.0;
        let mut births: Vec<usize> = Vec::new();
        bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let want = (b / sample).round() as usize;
                while births.len() < want {
                    births.push(i);
                }
                births.truncate(want);
                let mut ages: Vec<Age> = Vec::new();
                for &born in births.iter().rev() {
                    let bucket = heapsnap_format::snapshot::age_bucket(((i - born) * 1000) as u64);
                    match ages.last_mut() {
                        Some(age) if age.bucket == bucket => {
                            age.samples += 1.0;
                            age.bytes += sample;
                            age.bytes_sq += sample * sample;
                        }
                        _ => ages.push(Age {
                            bucket,
                            samples: 1.0,
                            bytes: sample,
                            bytes_sq: sample * sample,
                        }),
                    }
                }
                let samples = births.len() as f64;
                Point {
                    bytes: samples * sample,
                    samples,
                    bytes_sq: samples * sample * sample,
                    allocs: samples,
                    ages,
                    ..Point::default()
                }
            })
            .collect()
    }

    pub(super) fn linear(n: usize, per_point: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 * per_point).collect()
    }

    pub(super) fn flat(n: usize, level: f64) -> Vec<f64> {
        vec![level; n]
    }
}
