//! Series assembly: the run to analyse (a directory may hold several, and
//! a last snapshot may have been taken during teardown), its snapshots in
//! the order they were taken, and for every site (tag and stack) its
//! figures in each, with what the newest snapshot says about it.

use std::collections::HashMap;

use heapsnap_format::Snapshot;
use heapsnap_format::snapshot::Site;

use super::Error;
use super::group::{Holding, HoldingCache};
use crate::format;
use crate::load::Loaded;
use crate::trend::{self, Age, Fit, Point};
use crate::view::{self, FunctionIds, Location, SiteKey};

/// The figures of a series of points, one per snapshot.
pub(super) trait Points {
    fn last_bytes(&self) -> f64;
    fn last_allocs(&self) -> f64;
    fn growth(&self) -> f64;
}

impl Points for [Point] {
    fn last_bytes(&self) -> f64 {
        self.last().map_or(0.0, |p| p.bytes)
    }

    fn last_allocs(&self) -> f64 {
        self.last().map_or(0.0, |p| p.allocs)
    }

    fn growth(&self) -> f64 {
        self.last_bytes() - self.first().map_or(0.0, |p| p.bytes)
    }
}

/// Adds `other`'s points to `into`'s, snapshot by snapshot.
pub(super) fn add_points(into: &mut [Point], other: &[Point]) {
    for (a, b) in into.iter_mut().zip(other) {
        a.add(b);
    }
}

/// What the newest snapshot says about a site.
#[derive(Clone)]
pub(super) struct Latest {
    pub(super) ty: String,
    pub(super) type_full: String,
    pub(super) location: Location,
    pub(super) tag: Option<String>,
    pub(super) stack: Vec<String>,
    /// The frames outside the location, as (function, line): where the
    /// allocation was made from.
    pub(super) callers: Vec<(String, Option<u32>)>,
    /// The program's own functions among them, innermost first.
    pub(super) program_callers: Vec<String>,
}

/// A site's series and what it is.
pub(super) struct SiteTrend {
    /// Its index among the sites.
    pub(super) id: usize,
    pub(super) points: Vec<Point>,
    pub(super) latest: Latest,
    pub(super) holding: Holding,
    pub(super) fit: Option<Fit>,
    /// What says that what it holds stays (see [`Retention`]).
    pub(super) retention: Retention,
    /// When its buffers reached new largest sizes within the window, and
    /// how large (seconds of uptime, bytes).
    pub(super) highs: Vec<(f64, u64)>,
    /// Some of them in the later half of the window.
    pub(super) late_high: bool,
    /// Its samples freed since the start, by the first snapshot and by the
    /// last.
    pub(super) samples_freed: (u64, u64),
}

/// What says whether a site keeps what it holds, weakest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Retention {
    /// Its samples die young: several freed within the window, none of any
    /// age past the time between two snapshots. A collection built and
    /// dropped in passing (a list made for one health check).
    DiesYoung,
    /// Nothing either way.
    #[default]
    None,
    /// Its buffers kept reaching new largest sizes over time, and none of
    /// its samples is known to have died young.
    Highs,
    /// Some sample of it outlived the time between two snapshots.
    Samples,
}

impl SiteTrend {
    /// Something says it keeps what it holds.
    pub(super) fn retains(&self) -> bool {
        self.retention > Retention::None
    }

    /// Its samples freed within the window.
    pub(super) fn freed_in_window(&self) -> u64 {
        self.samples_freed.1.saturating_sub(self.samples_freed.0)
    }
}

/// The series of one run's snapshots.
pub(super) struct Assembled<'a> {
    /// The snapshots analysed, in the order they were taken.
    pub(super) snapshots: Vec<&'a Loaded>,
    /// When each was taken, in seconds of the process's uptime.
    pub(super) times: Vec<f64>,
    /// Each one's age bucket bounds.
    pub(super) bounds: Vec<&'a [u64]>,
    /// Every allocation was recorded in each (sampling interval 1).
    pub(super) exact: bool,
    /// Every site seen in any of them.
    pub(super) sites: Vec<SiteTrend>,
    /// Things to know about the series.
    pub(super) notes: Vec<String>,
}

impl Assembled<'_> {
    pub(super) fn first(&self) -> &Snapshot {
        &self.snapshots[0].snapshot
    }

    pub(super) fn newest(&self) -> &Snapshot {
        &self.snapshots[self.snapshots.len() - 1].snapshot
    }

    /// A series of `points` over these snapshots, for fitting.
    pub(super) fn series<'s>(&'s self, points: &'s [Point]) -> trend::Series<'s> {
        trend::Series {
            times: &self.times,
            bounds: &self.bounds,
            points,
            exact: self.exact,
        }
    }
}

/// Which run to analyse: the process with this pid, or else the newest run
/// with two snapshots or more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum RunChoice {
    #[default]
    Newest,
    Pid(u32),
}

/// The snapshots of one run of a process (one pid and start), in the
/// order they were taken, with what to know about them.
pub(super) struct Run<'a> {
    pub(super) snapshots: Vec<&'a Loaded>,
    pub(super) notes: Vec<String>,
}

/// Builds every site's series over a run's snapshots, fitted, with what
/// its type says it may hold.
pub(super) fn assemble(run: Run<'_>) -> Result<Assembled<'_>, Error> {
    let Run {
        mut snapshots,
        mut notes,
    } = run;
    if let Some(note) = leave_out_teardown(&mut snapshots) {
        notes.push(note);
    }
    if snapshots[snapshots.len() - 1].snapshot.uptime_ms <= snapshots[0].snapshot.uptime_ms {
        return Err(Error::SameMoment);
    }
    let times: Vec<f64> = snapshots
        .iter()
        .map(|l| l.snapshot.uptime_ms as f64 / 1000.0)
        .collect();
    let bounds: Vec<&[u64]> = snapshots
        .iter()
        .map(|l| l.snapshot.age_buckets_ms.as_slice())
        .collect();
    let exact = snapshots
        .iter()
        .all(|l| l.snapshot.sampling.interval_bytes <= 1);
    if snapshots.len() == 2 {
        notes.push(
            "2 snapshots: growth is judged over the whole window, and whether it stopped only from when the survivors were born; take more to judge the later half alone"
                .into(),
        );
    }
    let mut assembled = Assembled {
        snapshots,
        times,
        bounds,
        exact,
        sites: Vec::new(),
        notes,
    };
    assembled.sites = site_series(&assembled.snapshots);
    let (first, last) = (
        assembled.times[0],
        assembled.times[assembled.times.len() - 1],
    );
    let mut holdings = HoldingCache::default();
    for i in 0..assembled.sites.len() {
        let site = &mut assembled.sites[i];
        site.highs
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        site.highs.dedup();
        site.highs.retain(|&(t, _)| t >= first && t <= last);
        let site = &assembled.sites[i];
        let holding = holdings.holding(&site.latest);
        let fit = trend::fit(assembled.series(&site.points));
        let outlive = samples_outlive_a_gap(&assembled, &site.points);
        let dies_young = !outlive && site.freed_in_window() >= DIED_YOUNG;
        let retention = if outlive {
            Retention::Samples
        } else if dies_young {
            Retention::DiesYoung
        } else if highs_keep_doubling(&site.highs) {
            Retention::Highs
        } else {
            Retention::None
        };
        let site = &mut assembled.sites[i];
        site.holding = holding;
        site.fit = fit;
        site.retention = retention;
        site.late_high = site.highs.iter().any(|&(t, _)| t > (first + last) / 2.0);
    }
    Ok(assembled)
}

/// Samples freed within the window, none of any age past the time between
/// two snapshots, that make a site one whose allocations die young: more
/// than the one or two buffers a growing collection frees as it moves to
/// larger ones.
const DIED_YOUNG: u64 = 3;

/// True when a site's buffers kept reaching new largest sizes until they
/// were at least four times the first: a collection that kept what it had
/// and grew again, doubling after doubling. A buffer made per request
/// reaches its usual size at once, then breaks its record now and then by
/// a little.
fn highs_keep_doubling(highs: &[(f64, u64)]) -> bool {
    match (highs.first(), highs.last()) {
        (Some(first), Some(last)) => last.0 > first.0 && last.1 >= first.1.saturating_mul(4),
        _ => false,
    }
}

/// True when some snapshot holds a sample of `points` older than the time
/// since the snapshot before it.
fn samples_outlive_a_gap(assembled: &Assembled<'_>, points: &[Point]) -> bool {
    (1..points.len()).any(|k| {
        let gap_ms = (assembled.times[k] - assembled.times[k - 1]) * 1000.0;
        let bounds = assembled.bounds[k];
        points[k].ages.iter().any(|age| {
            // The bucket's upper bound: its samples may be that old.
            let high = bounds
                .get(age.bucket as usize)
                .map_or(f64::INFINITY, |&b| b as f64);
            high > gap_ms && age.samples > 0.0
        })
    })
}

/// Every site's series over `snapshots`.
fn site_series(snapshots: &[&Loaded]) -> Vec<SiteTrend> {
    let n = snapshots.len();
    let mut ids = FunctionIds::default();
    let mut index: HashMap<SiteKey, usize> = HashMap::new();
    let mut sites: Vec<SiteTrend> = Vec::new();
    for (i, loaded) in snapshots.iter().enumerate() {
        let views = view::sites(&loaded.snapshot);
        let ids = ids.for_snapshot(&loaded.snapshot);
        for view in &views {
            let next = sites.len();
            let at = *index.entry(view.key(ids)).or_insert(next);
            if at == next {
                sites.push(SiteTrend {
                    id: next,
                    points: vec![Point::default(); n],
                    latest: latest(view),
                    holding: Holding::default(),
                    fit: None,
                    retention: Retention::None,
                    highs: Vec::new(),
                    late_high: false,
                    samples_freed: (0, 0),
                });
            }
            let entry = &mut sites[at];
            if i == 0 {
                entry.samples_freed.0 += view.site.samples_freed;
            }
            if i == n - 1 {
                entry.samples_freed.1 += view.site.samples_freed;
            }
            entry.points[i].add(&point(view.site));
            entry.highs.extend(
                view.site
                    .highs
                    .iter()
                    .map(|&(ms, bytes)| (ms as f64 / 1000.0, bytes)),
            );
            if i == n - 1 {
                entry.latest = latest(view);
            }
        }
    }
    sites
}

/// A site's figures in one snapshot.
fn point(site: &Site) -> Point {
    Point {
        bytes: site.live_bytes as f64,
        samples: site.live_samples as f64,
        bytes_sq: site.live_bytes_sq,
        allocs: site.live_allocs as f64,
        bytes_var: site.live_bytes_var,
        allocs_var: site.live_allocs_var,
        ages: site
            .live_by_age
            .iter()
            .map(|age| Age {
                bucket: age.bucket,
                samples: age.samples as f64,
                bytes: age.bytes as f64,
                bytes_sq: age.bytes_sq,
            })
            .collect(),
    }
}

/// A process's snapshots: its pid and start tell it from other runs.
type RunKey = (u32, u64);

/// The runs to analyse, newest first (by the last snapshot taken, then the
/// start): the one with `pid`, or every run with two snapshots or more. A
/// restarted process whose new run has one snapshot yet leaves the run
/// that died, and says so.
pub(super) fn pick_runs(loaded: &[Loaded], choice: RunChoice) -> Result<Vec<Run<'_>>, Error> {
    if loaded.is_empty() {
        return Err(Error::NoSnapshots);
    }
    let mut by_key: HashMap<RunKey, Vec<&Loaded>> = HashMap::new();
    for l in loaded {
        let p = &l.snapshot.process;
        by_key.entry((p.pid, p.started_at_ms)).or_default().push(l);
    }
    let mut runs: Vec<(RunKey, Vec<&Loaded>)> = by_key.into_iter().collect();
    for (_, snapshots) in &mut runs {
        snapshots.sort_by_key(|l| (l.snapshot.uptime_ms, l.snapshot.seq));
        snapshots.dedup_by_key(|l| l.snapshot.seq);
    }
    runs.sort_by_key(|(key, snapshots)| {
        let newest = snapshots.iter().map(|s| s.snapshot.taken_at_ms).max();
        std::cmp::Reverse((newest, key.1))
    });
    let chosen: Vec<usize> = match choice {
        RunChoice::Pid(pid) => vec![
            runs.iter()
                .position(|((p, _), _)| *p == pid)
                .ok_or(Error::NoSuchPid { pid })?,
        ],
        RunChoice::Newest => (0..runs.len()).filter(|&i| runs[i].1.len() >= 2).collect(),
    };
    let Some(&first) = chosen.first().filter(|&&i| runs[i].1.len() >= 2) else {
        let newest = chosen.first().copied().unwrap_or(0);
        return Err(Error::OneSnapshot {
            source: runs[newest].1[0].source.clone(),
        });
    };
    let note = (runs.len() > 1).then(|| runs_note(&runs, &chosen));
    Ok(chosen
        .iter()
        .map(|&i| Run {
            snapshots: runs[i].1.clone(),
            notes: if i == first {
                note.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
        .collect())
}

/// Which processes the snapshots are of, which runs are analysed and which
/// are left out.
fn runs_note(runs: &[(RunKey, Vec<&Loaded>)], chosen: &[usize]) -> String {
    let describe = |i: usize| {
        let (key, snapshots) = &runs[i];
        format!(
            "pid {} started {} ({} snapshot{})",
            key.0,
            format::timestamp(snapshots[0].snapshot.process.started_at_ms),
            snapshots.len(),
            if snapshots.len() == 1 { "" } else { "s" }
        )
    };
    let list = |runs: Vec<usize>| {
        runs.into_iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let analysed = list(chosen.to_vec());
    let left_out = list((0..runs.len()).filter(|i| !chosen.contains(i)).collect());
    let mut note = format!("snapshots of {} processes given", runs.len());
    if chosen.len() > 1 {
        note +=
            &format!("; each run with two snapshots or more is analysed, newest first: {analysed}");
    } else {
        note += &format!("; analysed: {analysed}");
    }
    if !left_out.is_empty() {
        note += &format!("; left out: {left_out}");
    }
    note + " (--pid picks one)"
}

/// A last snapshot taken while the program let go of its state (its last
/// dump at exit, or one taken after `main` dropped its data) shows a leak's
/// memory released too. It is told by the old memory of the snapshot
/// before it (older than the time between the two: it had already lived
/// that long): less than half of it survived to the last, a fall with no
/// like in the series (a queue that drains now and then loses as much
/// each time), and the live heap fell by at least half of what died: a
/// program that lets go of its state does not replace it, where a cache
/// that turns its old entries over does. Memory that dies young (a queue,
/// a cache whose entries expire) is never old enough to count. The last
/// snapshot is left out, and said so.
fn leave_out_teardown(snapshots: &mut Vec<&Loaded>) -> Option<String> {
    let n = snapshots.len();
    if n < 3 {
        return None;
    }
    let heaps: Vec<Point> = snapshots.iter().map(|l| whole_heap(&l.snapshot)).collect();
    // Each snapshot's memory older than the time to the next, and how much
    // of it survived to the next.
    let old_and_stayed: Vec<(f64, f64)> = (1..n)
        .map(|k| {
            let (before, after) = (&snapshots[k - 1].snapshot, &snapshots[k].snapshot);
            let gap_ms = after.uptime_ms.saturating_sub(before.uptime_ms) as f64;
            let old = trend::older(&heaps[k - 1], &before.age_buckets_ms, gap_ms).bytes;
            let stayed = trend::older(&heaps[k], &after.age_buckets_ms, 2.0 * gap_ms).bytes;
            (old, stayed)
        })
        .collect();
    let survived: Vec<f64> = old_and_stayed
        .iter()
        .zip(snapshots.iter())
        .map(|(&(old, stayed), before)| {
            // Old memory that is a sliver of the heap says nothing.
            if old > 0.1 * before.snapshot.totals.live_bytes as f64 {
                stayed / old
            } else {
                1.0
            }
        })
        .collect();
    let (last, earlier) = survived.split_last()?;
    let lowest_before = earlier.iter().copied().fold(1.0, f64::min);
    if *last >= 0.5 || *last >= lowest_before / 2.0 {
        return None;
    }
    let before = snapshots[n - 2].snapshot.totals.live_bytes;
    let fell = before as f64 - snapshots[n - 1].snapshot.totals.live_bytes as f64;
    let (old, stayed) = old_and_stayed[n - 2];
    if fell < (old - stayed) / 2.0 {
        return None;
    }
    let left_out = snapshots.pop()?;
    Some(format!(
        "the last snapshot ({}, {}) looks taken during teardown: {} of the old memory before it survived to it (the live heap fell from {} to {}); judged without it",
        left_out.source,
        left_out.snapshot.trigger,
        format::percent(*last),
        format::bytes(before),
        format::bytes(left_out.snapshot.totals.live_bytes)
    ))
}

/// The live samples of a whole snapshot by age, as one point.
fn whole_heap(snapshot: &Snapshot) -> Point {
    let mut ages = vec![trend::Age::default(); snapshot.age_buckets_ms.len() + 1];
    for site in &snapshot.sites {
        for age in &site.live_by_age {
            if let Some(sum) = ages.get_mut(age.bucket as usize) {
                sum.samples += age.samples as f64;
                sum.bytes += age.bytes as f64;
                sum.bytes_sq += age.bytes_sq;
            }
        }
    }
    for (bucket, age) in ages.iter_mut().enumerate() {
        age.bucket = bucket as u16;
    }
    ages.retain(|age| age.samples > 0.0);
    Point {
        bytes: ages.iter().map(|a| a.bytes).sum(),
        samples: ages.iter().map(|a| a.samples).sum(),
        bytes_sq: ages.iter().map(|a| a.bytes_sq).sum(),
        ages,
        ..Point::default()
    }
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
        program_callers: view
            .frames()
            .skip(view.library_depth + 1)
            .filter(|f| !view::is_outside_program(f))
            .map(view::function_name)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap_format::snapshot::{AgeBucket, age_bucket};

    /// A snapshot at `uptime_ms` whose one site holds samples of 64 KiB at
    /// the ages given (milliseconds, how many).
    fn at(uptime_ms: u64, ages: &[(u64, u64)]) -> Loaded {
        let base = include_str!("../../tests/data/snapshots/quickstart.json");
        let mut snapshot: Snapshot = serde_json::from_str(base).unwrap();
        let sample = 65_536;
        let mut site = snapshot.sites[0].clone();
        site.live_by_age = ages
            .iter()
            .map(|&(age, count)| {
                let bytes = count * sample;
                AgeBucket::new(age_bucket(age), count, bytes, (bytes * sample) as f64)
            })
            .collect();
        site.live_by_age.sort_by_key(|a| a.bucket);
        site.live_bytes = ages.iter().map(|(_, count)| count * sample).sum();
        snapshot.uptime_ms = uptime_ms;
        snapshot.totals.live_bytes = site.live_bytes;
        snapshot.sites = vec![site];
        Loaded {
            source: format!("at-{uptime_ms}.json"),
            snapshot,
        }
    }

    /// Old memory kept until a last snapshot in which all of it is gone:
    /// teardown when the heap fell with it; a store turning its old entries
    /// over when the heap grew all the same.
    #[test]
    fn teardown_is_old_memory_gone_and_the_heap_fallen() {
        let before = [
            at(0, &[(5000, 10)]),
            at(2000, &[(7000, 10), (1000, 10)]),
            at(4000, &[(9000, 10), (3000, 10), (1000, 10)]),
        ];
        let torn_down = at(8000, &[(500, 5)]);
        let turned_over = at(8000, &[(3500, 15), (1500, 15), (500, 10)]);

        let mut series: Vec<&Loaded> = before.iter().chain([&torn_down]).collect();
        let note = leave_out_teardown(&mut series).expect("teardown");
        assert!(note.contains("teardown"), "{note}");
        assert_eq!(series.len(), 3);

        let mut series: Vec<&Loaded> = before.iter().chain([&turned_over]).collect();
        assert_eq!(leave_out_teardown(&mut series), None);
        assert_eq!(series.len(), 4);
    }
}
