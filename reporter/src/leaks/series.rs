//! Series assembly: the run to analyse (a directory may hold several, and
//! a last snapshot may have been taken during teardown), its snapshots in
//! the order they were taken, and for every site (tag and stack) its
//! figures in each, with what the newest snapshot says about it.

use std::collections::HashMap;
use std::rc::Rc;

use heapsnap_format::Snapshot;
use heapsnap_format::snapshot::Site;

use super::holding::{Holding, HoldingCache};
use super::{Error, Note, RunSeen};
use crate::load::Loaded;
use crate::trend::{self, Age, Fit, Point, Verdict};
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
///
/// Names are shared with the snapshot's views (`view::SiteView`), never
/// copied per site: a name of a megabyte on a thousand stacks is one
/// megabyte.
pub(super) struct Latest {
    pub(super) ty: Rc<str>,
    pub(super) type_full: Rc<str>,
    pub(super) location: Location,
    pub(super) tag: Option<String>,
    pub(super) stack: Vec<Rc<str>>,
    /// The frames outside the location, as (function, line): where the
    /// allocation was made from.
    pub(super) callers: Vec<(Rc<str>, Option<u32>)>,
    /// The program's own functions among them, innermost first.
    pub(super) program_callers: Vec<Rc<str>>,
}

/// Where a site's memory was allocated from: its tag, the function and
/// the line that called it (a constructor called once per object
/// allocates each of its parts under one call).
pub(super) type Call<'s> = (Option<&'s str>, &'s str, Option<(&'s str, Option<u32>)>);

impl Latest {
    /// The call that allocated the site's memory.
    pub(super) fn call(&self) -> Call<'_> {
        let caller = self
            .callers
            .first()
            .map(|(function, line)| (&**function, *line));
        (self.tag.as_deref(), &*self.location.function, caller)
    }
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
    /// Some snapshot's scan found one of its blocks pointing at a block of
    /// another site: it holds pointers into the heap, so it can hold
    /// something (a buffer of bytes never does).
    pub(super) points_out: bool,
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

    /// True when it holds more at the end than in the middle of the
    /// series, or its buffers reached a new largest size in the later half.
    pub(super) fn grows_late(&self) -> bool {
        let n = self.points.len();
        let more = n >= 2 && self.points[n - 1].bytes > self.points[(n - 1) / 2].bytes;
        more || self.late_high
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
    /// For each snapshot, the id of each of its sites (the heap graph's
    /// edges are by snapshot site).
    pub(super) site_ids: Vec<Vec<usize>>,
    /// Things to know about the series.
    pub(super) notes: Vec<Note>,
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
    pub(super) notes: Vec<Note>,
}

/// Builds every site's series over a run's snapshots, fitted, with what
/// its type says it may hold.
pub(super) fn assemble(run: Run<'_>) -> Result<Assembled<'_>, Error> {
    let Run {
        mut snapshots,
        mut notes,
    } = run;
    if let Some(note) = leave_out_without_ages(&mut snapshots) {
        notes.push(note);
    }
    if let Some(note) = leave_out_teardown(&mut snapshots) {
        notes.push(note);
    }
    if let Some(note) = leave_out_idle(&mut snapshots) {
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
    let exact = snapshots.iter().all(|l| l.snapshot.sampling.is_exact());
    if snapshots.len() == 2 {
        notes.push(Note::TwoSnapshots);
    }
    let mut assembled = Assembled {
        snapshots,
        times,
        bounds,
        exact,
        sites: Vec::new(),
        site_ids: Vec::new(),
        notes,
    };
    let (sites, ids) = site_series(&assembled.snapshots);
    assembled.sites = sites;
    assembled.site_ids = ids;
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
        let holding = holdings.holding(&site.latest.type_full, &site.latest.location.function);
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

/// Every site's series over `snapshots`, and for each snapshot the id of
/// each of its sites.
fn site_series(snapshots: &[&Loaded]) -> (Vec<SiteTrend>, Vec<Vec<usize>>) {
    let n = snapshots.len();
    let mut ids = FunctionIds::default();
    let mut index: HashMap<SiteKey, usize> = HashMap::new();
    let mut sites: Vec<SiteTrend> = Vec::new();
    let mut site_ids = Vec::with_capacity(n);
    for (i, loaded) in snapshots.iter().enumerate() {
        let views = view::sites(&loaded.snapshot);
        let ids = ids.for_snapshot(&loaded.snapshot);
        let mut of_snapshot = Vec::with_capacity(views.len());
        for view in &views {
            let next = sites.len();
            let at = *index.entry(view.key(ids)).or_insert(next);
            of_snapshot.push(at);
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
                    points_out: false,
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
        for r in &loaded.snapshot.refs {
            let from = of_snapshot.get(r.from as usize).copied();
            let to = of_snapshot.get(r.to as usize).copied();
            if let (Some(from), Some(to)) = (from, to)
                && from != to
            {
                sites[from].points_out = true;
            }
        }
        site_ids.push(of_snapshot);
    }
    (sites, site_ids)
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
fn runs_note(runs: &[(RunKey, Vec<&Loaded>)], chosen: &[usize]) -> Note {
    let seen = |i: usize| {
        let (key, snapshots) = &runs[i];
        RunSeen {
            pid: key.0,
            started_at_ms: snapshots[0].snapshot.process.started_at_ms,
            snapshots: snapshots.len(),
        }
    };
    Note::Runs {
        processes: runs.len(),
        analysed: chosen.iter().map(|&i| seen(i)).collect(),
        left_out: (0..runs.len())
            .filter(|i| !chosen.contains(i))
            .map(seen)
            .collect(),
    }
}

/// Whether a snapshot says how old its live samples are: every one written
/// with samples does, unless written reduced (near the memory limit) or
/// when memory ran out.
fn has_ages(snapshot: &Snapshot) -> bool {
    let sampled = snapshot.sites.iter().any(|s| s.live_samples > 0);
    !sampled || snapshot.sites.iter().any(|s| !s.live_by_age.is_empty())
}

/// The trends rest on ages (which samples were born and which died
/// between snapshots): a snapshot without them reads as every sample dead
/// and born again. Such snapshots are left out of the series, and said so,
/// when two with ages remain.
fn leave_out_without_ages(snapshots: &mut Vec<&Loaded>) -> Option<Note> {
    let (with, without): (Vec<&Loaded>, Vec<&Loaded>) =
        snapshots.iter().partition(|l| has_ages(&l.snapshot));
    let first = without.first()?;
    if with.len() < 2 {
        return None;
    }
    let note = Note::WithoutAges {
        left_out: without.len(),
        first: first.source.clone(),
        trigger: first.snapshot.trigger.to_string(),
    };
    *snapshots = with;
    Some(note)
}

/// A program that ends gracefully lets go of its state over seconds:
/// snapshots taken then (interval dumps during the drain, the last dump at
/// exit) show a leak's memory released too. The run is judged on the
/// period it served: teardown begins at the heap's turn, the snapshot from
/// which the heap only falls, whose old memory (established there: older
/// than the time to the next snapshot) mostly died by the last one, a fall
/// with no like over as long a stretch before it (a queue that drains now
/// and then loses as much each time, a cache turns its entries over as
/// fast), and where the heap fell by at least half of what died (a program
/// that lets go of its state does not replace it, where a cache that turns
/// its old entries over does). The snapshots after the turn are left out,
/// and said so; the earliest such turn in the later half of the run wins.
pub(super) fn leave_out_teardown(snapshots: &mut Vec<&Loaded>) -> Option<Note> {
    let n = snapshots.len();
    if n < 4 {
        return None;
    }
    let heaps: Vec<Point> = snapshots.iter().map(|l| whole_heap(&l.snapshot)).collect();
    let live = |k: usize| snapshots[k].snapshot.totals.live_bytes as f64;
    let ms = |k: usize| snapshots[k].snapshot.uptime_ms as f64;
    // Of the memory established at `a`, how much was alive at `b`: (old,
    // stayed); `None` when it was a sliver of the heap, which says nothing.
    let survival = |a: usize, b: usize| -> Option<(f64, f64)> {
        let gap_ms = ms(a + 1) - ms(a);
        let old = trend::older(&heaps[a], &snapshots[a].snapshot.age_buckets_ms, gap_ms).bytes;
        if old <= 0.1 * live(a) {
            return None;
        }
        let since = ms(b) - ms(a) + gap_ms;
        let stayed = trend::older(&heaps[b], &snapshots[b].snapshot.age_buckets_ms, since).bytes;
        Some((old, stayed))
    };
    let last = n - 1;
    let turn = ((n / 2).max(2)..last).find(|&p| {
        if (p + 1..n).any(|k| live(k) > live(p) * 1.02) {
            return false;
        }
        let Some((old, stayed)) = survival(p, last) else {
            return false;
        };
        let survived = stayed / old;
        let steps = last - p;
        let lowest_before = (steps..=p)
            .filter_map(|q| survival(q - steps, q).map(|(o, s)| s / o))
            .fold(1.0, f64::min);
        survived < 0.5
            && survived < lowest_before / 2.0
            && live(p) - live(last) >= (old - stayed) / 2.0
    })?;
    let (old, stayed) = survival(turn, last)?;
    let left_out = snapshots.split_off(turn + 1);
    let first = left_out.first()?;
    let kept = &snapshots[turn];
    Some(Note::Teardown {
        left_out: left_out.len(),
        first: first.source.clone(),
        trigger: first.snapshot.trigger.to_string(),
        survived: stayed / old,
        live_at_turn: kept.snapshot.totals.live_bytes,
        live_at_last: left_out[left_out.len() - 1].snapshot.totals.live_bytes,
    })
}

/// What a program allocates once it stopped serving, at most, against its
/// rate while it served: a timer's or a health check's allocations, not a
/// load's.
const IDLE_SHARE: f64 = 0.05;

/// A program whose load is gone (the load generator stopped, the server
/// stopped accepting) and that drains what it queued frees without
/// allocating: a queue behind a slow consumer empties at the consumer's
/// pace, the oldest entries first, so most of the old memory survives and
/// it is no teardown by `leave_out_teardown`'s measure, yet the fall is
/// not the program's behaviour under load. The run is judged on the
/// period it served: the snapshots after the first one (in the later
/// half) from which the program allocated at most `IDLE_SHARE` of its
/// serving rate while the heap only fell are left out, and said so.
pub(super) fn leave_out_idle(snapshots: &mut Vec<&Loaded>) -> Option<Note> {
    let n = snapshots.len();
    if n < 4 {
        return None;
    }
    let allocated = |k: usize| snapshots[k].snapshot.totals.allocated_bytes as f64;
    let live = |k: usize| snapshots[k].snapshot.totals.live_bytes as f64;
    let ms = |k: usize| snapshots[k].snapshot.uptime_ms as f64;
    let rate =
        |a: usize, b: usize| (allocated(b) - allocated(a)).max(0.0) / (ms(b) - ms(a)).max(1.0);
    let last = n - 1;
    let turn = ((n / 2).max(2)..last).find(|&p| {
        let serving = rate(0, p);
        serving > 0.0
            && rate(p, last) <= IDLE_SHARE * serving
            && live(last) < live(p)
            && (p + 1..n).all(|k| live(k) <= live(p) * 1.02)
    })?;
    let (serving, idle) = (rate(0, turn), rate(turn, last));
    let left_out = snapshots.split_off(turn + 1);
    let first = left_out.first()?;
    Some(Note::Idle {
        left_out: left_out.len(),
        first: first.source.clone(),
        trigger: first.snapshot.trigger.to_string(),
        serving_rate: serving * 1000.0,
        idle_rate: idle * 1000.0,
        live_at_turn: snapshots[turn].snapshot.totals.live_bytes,
        live_at_last: left_out[left_out.len() - 1].snapshot.totals.live_bytes,
    })
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
        ty: Rc::clone(&view.ty_short),
        type_full: Rc::clone(&view.ty_full),
        location: view.location_info(),
        tag: view.site.tag.clone(),
        stack: view.stack_names(),
        callers: view.callers().map(|(name, line, _)| (name, line)).collect(),
        program_callers: view
            .callers()
            .filter(|&(_, _, outside)| !outside)
            .map(|(name, _, _)| name)
            .collect(),
    }
}

/// True when a site's series keeps growing.
pub(super) fn is_growing(site: &SiteTrend) -> bool {
    site.fit
        .as_ref()
        .is_some_and(|f| f.verdict == Verdict::Growing)
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
    /// A drain over several snapshots: the heap turns, then falls a third
    /// at a time; every snapshot after the turn is left out.
    #[test]
    fn a_drain_over_several_snapshots_is_left_out_from_the_turn() {
        // A leak: 10 samples a second, kept.
        let serving: Vec<Loaded> = (1..=8)
            .map(|s: u64| {
                let ages: Vec<(u64, u64)> = (0..s).map(|k| (k * 1000 + 500, 10)).collect();
                at(s * 1000, &ages)
            })
            .collect();
        let draining: Vec<Loaded> = (1..=3)
            .map(|d: u64| {
                let ages: Vec<(u64, u64)> = (0..8)
                    .map(|k| (k * 1000 + 500 + d * 1000, 10 - 3 * d))
                    .collect();
                at(8000 + d * 1000, &ages)
            })
            .collect();
        let mut series: Vec<&Loaded> = serving.iter().chain(&draining).collect();
        let note = leave_out_teardown(&mut series).expect("teardown");
        assert_eq!(series.len(), 8, "{note:?}");
        let Note::Teardown {
            left_out, first, ..
        } = &note
        else {
            panic!("{note:?}");
        };
        assert_eq!((*left_out, first.as_str()), (3, "at-9000.json"));
        // The same leak, killed while serving: nothing to leave out.
        let mut series: Vec<&Loaded> = serving.iter().collect();
        assert_eq!(leave_out_teardown(&mut series), None);
    }

    /// A reduced dump (near the memory limit) has the leak's samples but
    /// no ages: kept, it read as every sample dead and born again, and the
    /// leak as no trend.
    #[test]
    fn a_snapshot_without_ages_is_left_out_of_the_trends() {
        // A leak: 20 samples every half second, kept; a snapshot every
        // half second for 16 s, the third last written reduced.
        let leak = |ms: u64| {
            let ages: Vec<(u64, u64)> = (0..ms / 500).map(|k| (k * 500 + 250, 20)).collect();
            at(ms, &ages)
        };
        let mut snapshots: Vec<Loaded> = (1..=32).map(|k| leak(k * 500)).collect();
        snapshots[29].snapshot.sites[0].live_by_age.clear();
        let run = Run {
            snapshots: snapshots.iter().collect(),
            notes: Vec::new(),
        };
        let assembled = assemble(run).unwrap();
        assert!(
            is_growing(&assembled.sites[0]),
            "{:?}",
            assembled.sites[0].fit
        );
        assert!(
            matches!(
                &assembled.notes[..],
                [Note::WithoutAges { left_out: 1, first, .. }] if first == "at-15000.json"
            ),
            "{:?}",
            assembled.notes
        );
        assert_eq!(assembled.snapshots.len(), 31);
    }

    /// A backlog behind a slow consumer: 10 entries a second come in for
    /// 8 s and the consumer takes the oldest 4 a second; then the load
    /// stops, nothing is allocated, and the consumer drains on. Most of
    /// the old memory survives the drain (no teardown), but the program
    /// stopped serving: the drain is left out. Still allocating, or with
    /// a heap that does not fall, nothing is.
    #[test]
    fn a_drain_after_the_load_stopped_is_left_out() {
        let at_second = |t: u64, allocating: bool| {
            let consumed = 4 * t;
            let born = 10 * t.min(8);
            let ages: Vec<(u64, u64)> = (consumed..born)
                .map(|k| (t * 1000 - (k / 10) * 1000 - 500, 1))
                .collect();
            let mut loaded = at(t * 1000, &ages);
            let seconds_of_load = if allocating { t } else { t.min(8) };
            loaded.snapshot.totals.allocated_bytes = seconds_of_load * 10 * 65_536;
            loaded
        };
        let run: Vec<Loaded> = (1..=11).map(|t| at_second(t, false)).collect();
        let mut series: Vec<&Loaded> = run.iter().collect();
        assert_eq!(leave_out_teardown(&mut series), None, "no teardown");
        let note = leave_out_idle(&mut series).expect("idle");
        assert_eq!(series.len(), 8, "{note:?}");
        assert!(
            matches!(&note, Note::Idle { left_out: 3, first, idle_rate, .. }
                if first == "at-9000.json" && *idle_rate == 0.0),
            "{note:?}"
        );
        // Still allocating as it drains: serving.
        let busy: Vec<Loaded> = (1..=11).map(|t| at_second(t, true)).collect();
        let mut series: Vec<&Loaded> = busy.iter().collect();
        assert_eq!(leave_out_idle(&mut series), None);
        // Idle with its heap kept: nothing fell, nothing to leave out.
        let mut kept: Vec<Loaded> = (1..=8).map(|t| at_second(t, false)).collect();
        for t in 9..=11 {
            let mut later = at_second(8, false);
            later.snapshot.uptime_ms = t * 1000;
            kept.push(later);
        }
        let mut series: Vec<&Loaded> = kept.iter().collect();
        assert_eq!(leave_out_idle(&mut series), None);
    }

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
        assert!(
            matches!(note, Note::Teardown { left_out: 1, .. }),
            "{note:?}"
        );
        assert_eq!(series.len(), 3);

        let mut series: Vec<&Loaded> = before.iter().chain([&turned_over]).collect();
        assert_eq!(leave_out_teardown(&mut series), None);
        assert_eq!(series.len(), 4);
    }
}
