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

use serde::Serialize;

use crate::load::Loaded;
use crate::trend::{self, Verdict};
use crate::view::Location;

mod covariance;
mod group;
mod series;
mod suspect;

use group::{Group, groups};
use series::{Assembled, Series, SiteTrend};
use suspect::{Context, is_growing, suspect, trend_row};

/// Options of [`leaks`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Growing groups below this confidence are not suspects, only
    /// possible ones (and do not fail `--fail`).
    pub min_confidence: f64,
    /// Rows of the tables of what is not leaking (0: all).
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_confidence: 0.99,
            limit: 10,
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
    /// Growth over the series.
    pub growth_bytes: i64,
}

/// How old a suspect's live bytes are, in the newest snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Age {
    /// The age compared with, in milliseconds.
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
    /// Tag of its allocations, if any.
    pub tag: Option<String>,
    /// Live allocations of the holder itself in the newest snapshot: how
    /// many such collections there are (one per call is a clue).
    pub instances: u64,
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
    /// Everything allocated at the same place that grows with it.
    pub holds: Vec<Held>,
    /// At the report's `min_confidence` or above: a suspect, not a possible
    /// one (decides the wording of its sentence; not in the JSON).
    pub keeps_growing: bool,
    /// Stack of the largest part, function names innermost first.
    pub stack: Vec<String>,
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
    pub notes: Vec<String>,
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
}

/// Analyses a series of snapshots.
pub fn leaks(loaded: &[Loaded], options: &Options) -> Result<Report, Error> {
    let series = series::assemble(loaded)?;
    let (first, newest) = (series.first(), series.newest());
    let context = Context {
        times: &series.times,
        heap_last: newest.totals.live_bytes.max(1) as f64,
        window_ms: newest.uptime_ms.saturating_sub(first.uptime_ms),
        age_bounds: &newest.age_buckets_ms,
    };
    let (suspects, possible) = find_suspects(&series, &context, options.min_confidence);
    let mut not_leaking = not_leaking(&series.sites, &suspects, &possible, context.heap_last);
    let mut types = by_type(&series);
    if options.limit > 0 {
        not_leaking.truncate(options.limit);
        types.truncate(options.limit);
    }
    Ok(Report {
        pid: newest.process.pid,
        exe: newest.process.exe.clone(),
        snapshots: series.snapshots.len(),
        window_ms: context.window_ms,
        taken_at_ms: newest.taken_at_ms,
        interval_bytes: newest.sampling.interval_bytes,
        live_bytes_first: first.totals.live_bytes,
        live_bytes_last: newest.totals.live_bytes,
        notes: series.notes.clone(),
        suspects,
        possible,
        not_leaking,
        types,
        min_confidence: options.min_confidence,
    })
}

/// The groups that grow, as suspects (at `min_confidence` or above) and
/// possible ones, each ranked by growth rate times confidence.
fn find_suspects(
    series: &Assembled<'_>,
    context: &Context<'_>,
    min_confidence: f64,
) -> (Vec<Suspect>, Vec<Suspect>) {
    let all: Vec<&SiteTrend> = series.sites.iter().collect();
    let growing: Vec<Group<'_>> = groups(&all)
        .into_iter()
        .filter(|group| group.members.iter().any(|m| is_growing(m)))
        .collect();
    let shared = covariance::shared_sampling_error(&growing, series);
    let mut found: Vec<Suspect> = growing
        .iter()
        .zip(&shared)
        .filter_map(|(group, shared)| suspect(group, shared, context))
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
    (suspects, possible)
}

/// Sites that changed without being part of a suspect, most growth first.
fn not_leaking(
    sites: &[SiteTrend],
    suspects: &[Suspect],
    possible: &[Suspect],
    heap_last: f64,
) -> Vec<Trend> {
    let place = |s: &SiteTrend| (s.latest.tag.clone(), s.latest.location.function.clone());
    let in_suspects: HashSet<(Option<String>, String)> = suspects
        .iter()
        .chain(possible)
        .flat_map(|s| s.holds.iter().map(|h| (h.tag.clone(), h.function.clone())))
        .collect();
    let mut rows: Vec<Trend> = sites
        .iter()
        .filter(|s| !in_suspects.contains(&place(s)))
        .filter_map(|s| Some(trend_row(s.fit.as_ref()?, &s.latest, &s.series)))
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
    let mut by_type: HashMap<String, (Series, &SiteTrend)> = HashMap::new();
    for site in &series.sites {
        let (summed, largest) = by_type
            .entry(site.latest.type_full.clone())
            .or_insert_with(|| (Series::zeros(n), site));
        summed.add(&site.series);
        if site.series.last() > largest.series.last() {
            *largest = site;
        }
    }
    let mut types: Vec<Trend> = by_type
        .values()
        .filter_map(|(summed, largest)| {
            let fit = trend::fit(&series.times, &summed.bytes, &summed.var)?;
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
    use heapsnap_format::names;

    pub(super) const MIB: f64 = 1024.0 * 1024.0;

    /// A site of type `type_full` allocated at `function:line`, called from
    /// `callers` (innermost first), whose live bytes follow `bytes`.
    pub(super) fn site(
        id: usize,
        type_full: &str,
        function: &str,
        line: u32,
        callers: &[(&str, u32)],
        bytes: &[f64],
    ) -> SiteTrend {
        let n = bytes.len();
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let series = Series {
            bytes: bytes.to_vec(),
            var: vec![0.0; n],
            allocs: bytes.iter().map(|b| b / 1024.0).collect(),
            ages: Vec::new(),
        };
        let latest = Latest {
            ty: names::shorten(type_full),
            type_full: type_full.to_owned(),
            location: Location {
                function: function.to_owned(),
                file: Some("src/app.rs".to_owned()),
                line: Some(line),
            },
            tag: None,
            stack: vec![function.to_owned()],
            callers: callers
                .iter()
                .map(|(f, l)| ((*f).to_owned(), Some(*l)))
                .collect(),
        };
        SiteTrend {
            id,
            fit: trend::fit(&t, &series.bytes, &series.var),
            series,
            holding: group::HoldingCache::default().holding(&latest),
            latest,
        }
    }

    pub(super) fn linear(n: usize, per_point: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 * per_point).collect()
    }

    pub(super) fn flat(n: usize, level: f64) -> Vec<f64> {
        vec![level; n]
    }
}
