//! `heapsnap leaks`: over a series of snapshots of one process, which sites
//! grow without bound, what they hold, how fast, and how sure we are.
//!
//! 1. The snapshots of the newest process are taken (a directory may hold
//!    several runs), in the order they were taken.
//! 2. Every site (tag and stack) gets a series of live bytes, one point per
//!    snapshot, with its sampling variance; `trend::fit` gives it a slope,
//!    a confidence and a verdict.
//! 3. Bytes are allocated in one place and kept alive by another: the
//!    contexts of closed connections are built in a connection handler but
//!    leak because a registry's `HashSet` still holds them. `group` joins
//!    the sites that leak together and names the one that holds the others.
//!    Each group's summed series is fitted again; a group that grows is a
//!    suspect, named after its holder.
//! 4. Suspects are ranked by growth rate times confidence. The newest
//!    snapshot's live bytes by age add the last piece of evidence: a leak
//!    holds bytes of every age.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::format;
use crate::load::Loaded;
use crate::names;
use crate::trend::{self, Fit, Verdict};
use crate::view::{self, FunctionIds, Location, SiteKey};

mod group;

use group::{Group, Holding, HoldingCache, groups, holder, is_collection};

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
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// A leak suspect.
#[derive(Clone, Debug, Serialize)]
pub struct Suspect {
    /// 1 for the most likely and fastest.
    pub rank: usize,
    /// Always `growing` for suspects.
    pub verdict: Verdict,
    /// The collection (or type) that grows.
    #[serde(rename = "type")]
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
    /// The report in one sentence.
    pub summary: String,
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

/// The series of one site (or one group of sites).
#[derive(Clone, Default)]
struct Series {
    bytes: Vec<f64>,
    var: Vec<f64>,
    allocs: Vec<f64>,
    /// Live bytes by age in the newest snapshot.
    ages: Vec<f64>,
}

impl Series {
    fn zeros(n: usize) -> Series {
        Series {
            bytes: vec![0.0; n],
            var: vec![0.0; n],
            allocs: vec![0.0; n],
            ages: Vec::new(),
        }
    }

    fn add(&mut self, other: &Series) {
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a += b;
        }
        for (a, b) in self.var.iter_mut().zip(&other.var) {
            *a += b;
        }
        for (a, b) in self.allocs.iter_mut().zip(&other.allocs) {
            *a += b;
        }
        if self.ages.len() < other.ages.len() {
            self.ages.resize(other.ages.len(), 0.0);
        }
        for (a, b) in self.ages.iter_mut().zip(&other.ages) {
            *a += b;
        }
    }

    fn last(&self) -> f64 {
        self.bytes.last().copied().unwrap_or(0.0)
    }

    fn growth(&self) -> f64 {
        self.last() - self.bytes.first().copied().unwrap_or(0.0)
    }
}

/// What the newest snapshot says about a site.
#[derive(Clone)]
struct Latest {
    ty: String,
    type_full: String,
    location: Location,
    tag: Option<String>,
    stack: Vec<String>,
    /// The program's frames outside the location, as (function, line):
    /// where the allocation was made from.
    callers: Vec<(String, Option<u32>)>,
}

/// A site's series and what it is.
struct SiteTrend {
    /// Its index among the sites.
    id: usize,
    series: Series,
    latest: Latest,
    holding: Holding,
    fit: Option<Fit>,
}

/// Analyses a series of snapshots.
pub fn leaks(loaded: &[Loaded], options: &Options) -> Result<Report, Error> {
    let (series_of, notes) = newest_process(loaded)?;
    let n = series_of.len();
    let times: Vec<f64> = series_of
        .iter()
        .map(|l| l.snapshot.uptime_ms as f64 / 1000.0)
        .collect();
    let first = &series_of[0].snapshot;
    let newest = &series_of[n - 1].snapshot;
    let mut notes = notes;
    if n < trend::MIN_POINTS_FOR_TREND {
        notes.push(format!(
            "{n} snapshots: growth is measured from the first to the last; whether it would level off takes at least {} to tell",
            trend::MIN_POINTS_FOR_TREND
        ));
    }

    // Every site's series. `site_of[i][k]` is the site of snapshot `i`'s
    // `k`th entry, an index into `sites`.
    let mut ids = FunctionIds::default();
    let mut index: HashMap<SiteKey, usize> = HashMap::new();
    let mut sites: Vec<SiteTrend> = Vec::new();
    let mut site_of: Vec<Vec<usize>> = Vec::with_capacity(n);
    for (i, loaded) in series_of.iter().enumerate() {
        let views = view::sites(&loaded.snapshot);
        let ids = ids.for_snapshot(&loaded.snapshot);
        let mut of_entry = Vec::with_capacity(views.len());
        for view in &views {
            let next = sites.len();
            let at = *index.entry(view.key(ids)).or_insert(next);
            if at == next {
                sites.push(SiteTrend {
                    id: next,
                    series: Series::zeros(n),
                    latest: latest(view),
                    holding: Holding::default(),
                    fit: None,
                });
            }
            of_entry.push(at);
            let entry = &mut sites[at];
            entry.series.bytes[i] += view.site.live_bytes as f64;
            entry.series.var[i] += view.site.live_bytes_var;
            entry.series.allocs[i] += view.site.live_allocs as f64;
            if i == n - 1 {
                entry.latest = latest(view);
                let ages = &view.site.live_bytes_by_age;
                if entry.series.ages.len() < ages.len() {
                    entry.series.ages.resize(ages.len(), 0.0);
                }
                for (a, b) in entry.series.ages.iter_mut().zip(ages) {
                    *a += *b as f64;
                }
            }
        }
        site_of.push(of_entry);
    }
    drop(index);
    let mut holdings = HoldingCache::default();
    for site in &mut sites {
        site.holding = holdings.holding(&site.latest);
        site.fit = trend::fit(&times, &site.series.bytes, &site.series.var);
    }
    drop(holdings);

    // Group sites that leak together, and keep the groups that grow.
    let heap_last = newest.totals.live_bytes.max(1) as f64;
    let window_ms = newest.uptime_ms.saturating_sub(first.uptime_ms);
    let place = |s: &SiteTrend| (s.latest.tag.clone(), s.latest.location.function.clone());
    let all: Vec<&SiteTrend> = sites.iter().collect();
    let growing_groups: Vec<Group<'_>> = groups(&all)
        .into_iter()
        .filter(|group| group.members.iter().any(|m| is_growing(m)))
        .collect();
    let shared = shared_sampling_error(&growing_groups, &sites, &site_of, &series_of, &times);
    let mut suspects: Vec<Suspect> = growing_groups
        .iter()
        .zip(&shared)
        .filter_map(|(group, shared)| {
            suspect(
                group,
                shared,
                &times,
                heap_last,
                window_ms,
                &newest.age_buckets_ms,
            )
        })
        .collect();
    suspects.sort_by(|a, b| {
        let score = |s: &Suspect| s.growth_bytes_per_sec * s.confidence;
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a.function.cmp(&b.function))
    });
    let (mut suspects, mut possible): (Vec<Suspect>, Vec<Suspect>) = suspects
        .into_iter()
        .partition(|s| s.confidence >= options.min_confidence);
    for (list, keeps_growing) in [(&mut suspects, true), (&mut possible, false)] {
        for (i, suspect) in list.iter_mut().enumerate() {
            suspect.rank = i + 1;
            suspect.summary = summary(suspect, keeps_growing);
        }
    }

    // What changed without being a suspect, and every type.
    let in_suspects: HashSet<(Option<String>, String)> = suspects
        .iter()
        .chain(&possible)
        .flat_map(|s| s.holds.iter().map(|h| (h.tag.clone(), h.function.clone())))
        .collect();
    let mut not_leaking: Vec<Trend> = sites
        .iter()
        .filter(|s| !in_suspects.contains(&place(s)))
        .filter_map(|s| trend_row(s.fit.as_ref()?, &s.latest, &s.series))
        .filter(|t| {
            t.verdict != Verdict::Steady || t.growth_bytes.unsigned_abs() as f64 > 0.01 * heap_last
        })
        .collect();
    not_leaking.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
            .then_with(|| a.location.label().cmp(&b.location.label()))
    });
    // Each type's series, and its largest site now.
    let mut by_type: HashMap<String, (Series, &SiteTrend)> = HashMap::new();
    for site in &sites {
        let (series, largest) = by_type
            .entry(site.latest.type_full.clone())
            .or_insert_with(|| (Series::zeros(n), site));
        series.add(&site.series);
        if site.series.last() > largest.series.last() {
            *largest = site;
        }
    }
    let mut types: Vec<Trend> = by_type
        .values()
        .filter_map(|(series, largest)| {
            let latest = &largest.latest;
            let fit = trend::fit(&times, &series.bytes, &series.var)?;
            trend_row(&fit, latest, series)
        })
        .collect();
    types.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
            .then_with(|| a.location.label().cmp(&b.location.label()))
    });
    if options.limit > 0 {
        not_leaking.truncate(options.limit);
        types.truncate(options.limit);
    }

    Ok(Report {
        pid: newest.process.pid,
        exe: newest.process.exe.clone(),
        snapshots: n,
        window_ms,
        taken_at_ms: newest.taken_at_ms,
        interval_bytes: newest.sampling.interval_bytes,
        live_bytes_first: first.totals.live_bytes,
        live_bytes_last: newest.totals.live_bytes,
        notes,
        suspects,
        possible,
        not_leaking,
        types,
        min_confidence: options.min_confidence,
    })
}

/// The snapshots of the newest process, in the order they were taken, and
/// a note when others were left out.
fn newest_process(loaded: &[Loaded]) -> Result<(Vec<&Loaded>, Vec<String>), Error> {
    let mut processes: HashMap<(u32, u64), Vec<&Loaded>> = HashMap::new();
    for l in loaded {
        let p = &l.snapshot.process;
        processes
            .entry((p.pid, p.started_at_ms))
            .or_default()
            .push(l);
    }
    let count = processes.len();
    let Some((_, mut newest)) = processes
        .into_iter()
        .max_by_key(|(key, snaps)| (snaps.iter().map(|s| s.snapshot.taken_at_ms).max(), key.1))
    else {
        return Err(Error("no snapshots given".into()));
    };
    newest.sort_by_key(|l| (l.snapshot.uptime_ms, l.snapshot.seq));
    newest.dedup_by_key(|l| l.snapshot.seq);
    let mut notes = Vec::new();
    if count > 1 {
        let p = &newest[0].snapshot.process;
        notes.push(format!(
            "snapshots of {count} processes given; analysed the newest: pid {} started {} ({} snapshots)",
            p.pid,
            format::timestamp(p.started_at_ms),
            newest.len()
        ));
    }
    if newest.len() < 2 {
        return Err(Error(format!(
            "need at least two snapshots of one process; {} has one",
            newest[0].source
        )));
    }
    if newest[newest.len() - 1].snapshot.uptime_ms <= newest[0].snapshot.uptime_ms {
        return Err(Error(
            "the snapshots were all taken at the same moment".into(),
        ));
    }
    Ok((newest, notes))
}

fn latest(view: &view::SiteView<'_>) -> Latest {
    Latest {
        ty: view.ty.short.clone(),
        type_full: view.ty.full.clone(),
        location: view.location_info(),
        tag: view.site.tag.clone(),
        stack: view.stack_names(),
        callers: view
            .frames()
            .skip(view.library_depth + 1)
            .map(|f| (view::function_name(f), f.line))
            .collect(),
    }
}

fn trend_row(fit: &Fit, latest: &Latest, series: &Series) -> Option<Trend> {
    Some(Trend {
        verdict: fit.verdict,
        ty: latest.ty.clone(),
        location: latest.location.clone(),
        live_bytes: series.last().max(0.0).round() as u64,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        confidence: fit.confidence,
    })
}

fn is_growing(site: &SiteTrend) -> bool {
    site.fit
        .as_ref()
        .is_some_and(|f| f.verdict == Verdict::Growing)
}

/// The suspect a group makes, if its summed series grows.
fn suspect(
    group: &Group<'_>,
    shared: &[Vec<f64>],
    times: &[f64],
    heap_last: f64,
    window_ms: u64,
    age_bounds: &[u64],
) -> Option<Suspect> {
    let members = &group.members;
    let n = times.len();
    let mut series = Series::zeros(n);
    for member in members {
        series.add(&member.series);
    }
    let fit = trend::fit_shared(times, &series.bytes, shared)?;
    if fit.verdict != Verdict::Growing {
        return None;
    }
    let holder = holder(group)?;
    // What it holds, merged by type and function, largest first.
    let mut holds: Vec<Held> = Vec::new();
    let mut held_at: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    for member in members {
        let l = &member.latest;
        let key = (
            l.ty.as_str(),
            l.location.function.as_str(),
            l.tag.as_deref(),
        );
        let at = *held_at.entry(key).or_insert(holds.len());
        if at == holds.len() {
            holds.push(Held {
                ty: l.ty.clone(),
                function: l.location.function.clone(),
                tag: l.tag.clone(),
                live_bytes: 0,
                live_allocs: 0,
                growth_bytes: 0,
            });
        }
        let held = &mut holds[at];
        held.live_bytes += member.series.last().max(0.0).round() as u64;
        held.live_allocs += member
            .series
            .allocs
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(0.0)
            .round() as u64;
        held.growth_bytes += member.series.growth().round() as i64;
    }
    holds.sort_by(|a, b| {
        b.live_bytes
            .cmp(&a.live_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
    });
    let latest = &holder.latest;
    let live_bytes = series.last().max(0.0).round() as u64;
    Some(Suspect {
        rank: 0,
        verdict: fit.verdict,
        ty: latest.ty.clone(),
        type_full: latest.type_full.clone(),
        function: latest.location.function.clone(),
        file: latest.location.file.clone(),
        line: latest.location.line,
        tag: latest.tag.clone(),
        instances: holder
            .series
            .allocs
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(0.0)
            .round() as u64,
        live_bytes,
        share: live_bytes as f64 / heap_last,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        growth_bytes_per_sec_stddev: fit.slope_stddev,
        confidence: fit.confidence,
        r_squared: fit.r_squared,
        points: fit.points,
        window_ms,
        age: age(&series.ages, age_bounds, window_ms),
        holds,
        summary: String::new(),
        stack: latest.stack.clone(),
    })
}

/// For each group, the covariance of the sampling errors of its summed
/// series at every pair of snapshots. A sampled allocation carries its
/// error into every snapshot it is live in, so two snapshots share the
/// error of the allocations live in both: those of the later snapshot
/// older than the time between them, read from its live bytes by age
/// (uniform within an age bucket), with their share of its variance.
fn shared_sampling_error(
    groups: &[Group<'_>],
    sites: &[SiteTrend],
    site_of: &[Vec<usize>],
    snapshots: &[&Loaded],
    times: &[f64],
) -> Vec<Vec<Vec<f64>>> {
    let n = times.len();
    // Which group each site belongs to.
    let mut group_of: Vec<Option<usize>> = vec![None; sites.len()];
    for (g, group) in groups.iter().enumerate() {
        for member in &group.members {
            group_of[member.id] = Some(g);
        }
    }
    // Each group's live bytes by age, and variance, in each snapshot.
    let mut ages: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; groups.len()];
    let mut var: Vec<Vec<f64>> = vec![vec![0.0; n]; groups.len()];
    for (i, loaded) in snapshots.iter().enumerate() {
        for (entry, &site) in loaded.snapshot.sites.iter().zip(&site_of[i]) {
            let Some(g) = group_of[site] else { continue };
            var[g][i] += entry.live_bytes_var;
            let into = &mut ages[g][i];
            if into.len() < entry.live_bytes_by_age.len() {
                into.resize(entry.live_bytes_by_age.len(), 0.0);
            }
            for (a, b) in into.iter_mut().zip(&entry.live_bytes_by_age) {
                *a += *b as f64;
            }
        }
    }
    (0..groups.len())
        .map(|g| {
            let mut shared = vec![vec![0.0; n]; n];
            for j in 0..n {
                let bounds = &snapshots[j].snapshot.age_buckets_ms;
                shared[j][j] = var[g][j];
                for i in 0..j {
                    let age_ms = ((times[j] - times[i]) * 1000.0).max(0.0);
                    let older = share_older_than(&ages[g][j], bounds, age_ms);
                    let c = (var[g][j] * older).min(var[g][i]);
                    shared[i][j] = c;
                    shared[j][i] = c;
                }
            }
            shared
        })
        .collect()
}

/// The share of `ages` (bytes by age bucket, bounds in milliseconds, a last
/// bucket for everything older) older than `age_ms`.
fn share_older_than(ages: &[f64], bounds: &[u64], age_ms: f64) -> f64 {
    let total: f64 = ages.iter().sum();
    if total <= 0.0 || ages.len() != bounds.len() + 1 {
        return 0.0;
    }
    let mut older = 0.0;
    for (k, bytes) in ages.iter().enumerate() {
        let low = if k == 0 { 0.0 } else { bounds[k - 1] as f64 };
        let high = bounds.get(k).map_or(f64::INFINITY, |&b| b as f64);
        if age_ms <= low {
            older += bytes;
        } else if age_ms < high {
            older += bytes * (high - age_ms) / (high - low);
        }
    }
    older / total
}

/// The share of live bytes older than a quarter of the window (rounded
/// down to an age bucket bound): about three quarters for a leak that grew
/// evenly over the window.
fn age(ages: &[f64], bounds: &[u64], window_ms: u64) -> Option<Age> {
    let total: f64 = ages.iter().sum();
    if total <= 0.0 || ages.len() != bounds.len() + 1 {
        return None;
    }
    let cut = bounds.iter().rposition(|&b| b <= window_ms / 4)?;
    let older: f64 = ages[cut + 1..].iter().sum();
    Some(Age {
        older_than_ms: bounds[cut],
        fraction: older / total,
        newest_fraction: ages[0] / total,
    })
}

/// The suspect in one sentence. `keeps_growing`: the confidence reached
/// the threshold (else the sentence says growth may have stopped).
fn summary(s: &Suspect, keeps_growing: bool) -> String {
    let (error, _) = format::rate(s.growth_bytes_per_sec_stddev, s.window_ms);
    let place = match (&s.file, s.line) {
        (Some(file), Some(line)) => format!(" ({file}:{line})"),
        _ => String::new(),
    };
    let function = names::short_function(&s.function);
    let size = format!(
        "{} ({} of heap)",
        format::bytes(s.live_bytes),
        format::percent(s.share)
    );
    let mut text = if is_collection(&s.type_full) {
        let instances = match s.instances {
            0 | 1 => String::new(),
            n => format!(", {} of them,", format::count(n)),
        };
        format!(
            "{} grown in {function}{place}{instances} holds {size}",
            s.ty
        )
    } else {
        format!("{} allocated in {function}{place}: {size} live", s.ty)
    };
    let rate = format!(
        "{} ± {}",
        format::byte_rate(s.growth_bytes_per_sec.max(0.0), s.window_ms),
        format::bytes(error.round() as u64)
    );
    let window = format::duration_ms(s.window_ms);
    if s.points < trend::MIN_POINTS_FOR_TREND {
        text += &format!(
            "; grew {} from the first snapshot to the last, {window} apart ({rate}), a two-point growth: whether it keeps growing cannot be told",
            format::signed_bytes(s.growth_bytes)
        );
    } else if keeps_growing {
        text += &format!(", growing {rate} for the whole {window}");
    } else {
        text += &format!("; grew {rate} over {window}, but may have stopped");
    }
    if let Some(age) = &s.age {
        text += &format!(
            "; {} of its live bytes are older than {}",
            format::percent(age.fraction),
            format::duration_ms(age.older_than_ms)
        );
    }
    let claim = if s.points < trend::MIN_POINTS_FOR_TREND {
        "it grew"
    } else {
        "it keeps growing"
    };
    text += &format!(" ({} sure {claim})", format::confidence(s.confidence));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
            holding: HoldingCache::default().holding(&latest),
            latest,
        }
    }

    pub(super) fn linear(n: usize, per_point: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 * per_point).collect()
    }

    pub(super) fn flat(n: usize, level: f64) -> Vec<f64> {
        vec![level; n]
    }

    #[test]
    fn shared_error_comes_from_bytes_old_enough_to_be_in_both_snapshots() {
        let bounds = [1_000, 2_000, 5_000];
        // 1 MiB younger than 1 s, 1 MiB 1-2 s old, 2 MiB 2-5 s old.
        let ages = [MIB, MIB, 2.0 * MIB, 0.0];
        assert_eq!(share_older_than(&ages, &bounds, 0.0), 1.0);
        assert_eq!(share_older_than(&ages, &bounds, 1_000.0), 0.75);
        assert!((share_older_than(&ages, &bounds, 1_500.0) - 0.625).abs() < 1e-12);
        assert_eq!(share_older_than(&ages, &bounds, 5_000.0), 0.0);
        assert_eq!(share_older_than(&[0.0; 4], &bounds, 10.0), 0.0);
    }
}
