//! `heapsnap report`: one run of a program in one data set, for the HTML
//! report (`render::html`): its snapshots with every site's figures in
//! each, the sites' types, locations and stacks, and the leak analysis.
//!
//! The data set is bounded whatever the input: at most [`MAX_SNAPSHOTS`]
//! snapshots (the first, the newest, and evenly spread ones between) and
//! [`MAX_SITES`] sites (those that held the most live bytes in any of
//! them); the rest of each snapshot is one "other sites" row, so that
//! totals stay whole. Their figures take about 4 MB at most (60 × 2,001
//! rows of five numbers); the sites' names and stacks come on top (about
//! 1 MB for 2,000 sites of real servers). The leak analysis reads every
//! snapshot of the run.

use std::collections::HashMap;

use serde::Serialize;

use crate::leaks;
use crate::load::Loaded;
use crate::view::{self, FunctionIds, Location, SiteKey};

mod tables;

pub use tables::{Diff, DiffRow, MAX_VIEWS, Place, TABLE_ROWS, Tables, TopRow, Tops};

/// Snapshots in a report at most.
pub const MAX_SNAPSHOTS: usize = 60;
/// Sites in a report at most.
pub const MAX_SITES: usize = 2_000;

/// Options of [`report`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// The run of this process; `None`: the newest run with two snapshots
    /// or more (as `heapsnap leaks` picks it).
    pub pid: Option<u32>,
    /// A title instead of the generated one.
    pub title: Option<String>,
    /// The leak analysis's options (its `pid` is this one's).
    pub leaks: leaks::Options,
}

/// The data set.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The report's title.
    pub title: String,
    /// Executable.
    pub exe: String,
    /// Process id.
    pub pid: u32,
    /// Function names; sites' `path`s refer to them by index.
    pub frames: Vec<String>,
    /// Every site of the report; snapshots refer to them by index. The last
    /// one stands for the sites left out, when some were.
    pub sites: Vec<SiteInfo>,
    /// The snapshots, in the order they were taken.
    pub snapshots: Vec<SnapshotFigures>,
    /// The leak analysis, when there are two snapshots or more.
    pub leaks: Option<leaks::Report>,
    /// Why there is no leak analysis.
    pub leaks_unavailable: Option<String>,
    /// Snapshots of the run not in the report ([`MAX_SNAPSHOTS`]).
    pub snapshots_left_out: usize,
    /// Sites merged into the "other sites" row ([`MAX_SITES`]).
    pub sites_left_out: usize,
    /// What the newest snapshot's build lacked, and the fix.
    pub build_warning: Option<String>,
    /// The top and diff tables of some of the snapshots, as the commands
    /// compute them.
    pub tables: Tables,
}

/// What a site is: the same in every snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct SiteInfo {
    /// Its type, short.
    #[serde(rename = "type")]
    pub ty: std::rc::Rc<str>,
    /// Its type with full paths.
    pub type_full: std::rc::Rc<str>,
    /// Where it is allocated.
    pub location: Location,
    /// Its tag, if any.
    pub tag: Option<String>,
    /// Its frames as indices of `frames`, outermost first, from the
    /// program's outermost frame (the runtime's scaffolding left out).
    pub path: Vec<u32>,
}

/// One snapshot's figures.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotFigures {
    /// Where it came from.
    pub source: String,
    /// Its sequence number in its process.
    pub seq: u64,
    /// What asked for it.
    pub trigger: heapsnap_format::snapshot::Trigger,
    /// Milliseconds since the report's first snapshot.
    pub at_ms: u64,
    /// When it was taken, milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// Sampling interval, bytes.
    pub interval_bytes: u64,
    /// Estimated live bytes of the heap.
    pub live_bytes: u64,
    /// Estimated live allocations of the heap.
    pub live_allocs: u64,
    /// Estimated bytes allocated since the start.
    pub allocated_bytes: u64,
    /// Each site with figures in it.
    pub sites: SiteColumns,
}

/// The figures of a snapshot's sites, a column each (the k-th entries of
/// every column are one site's): the flamegraph's and the charts' input.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SiteColumns {
    /// The site: an index into the report's sites.
    pub site: Vec<u32>,
    /// Live bytes.
    pub live_bytes: Vec<u64>,
    /// Live allocations.
    pub live_allocs: Vec<u64>,
    /// Bytes allocated since the start.
    pub allocated_bytes: Vec<u64>,
}

impl SiteColumns {
    fn push(&mut self, site: u32, f: &Figures) {
        self.site.push(site);
        self.live_bytes.push(f.live_bytes);
        self.live_allocs.push(f.live_allocs);
        self.allocated_bytes.push(f.allocated_bytes);
    }
}

/// Builds the data set of the run `options` picks among `loaded`.
pub fn report(loaded: &[Loaded], options: &Options) -> Result<Report, leaks::Error> {
    let run = leaks::run_snapshots(loaded, options.pid)?;
    let (leaks, leaks_unavailable) = if run.len() >= 2 {
        let mut leak_options = options.leaks.clone();
        leak_options.pid = options.pid;
        match leaks::leaks(loaded, &leak_options) {
            Ok(mut report) => {
                // The earlier runs stay in `heapsnap leaks`: one run per
                // report.
                report.earlier_runs.clear();
                (Some(report), None)
            }
            Err(err) => (None, Some(err.to_string())),
        }
    } else {
        let why = "one snapshot of this run: the leak analysis needs two or more";
        (None, Some(why.to_owned()))
    };
    let chosen = spread(run.len(), MAX_SNAPSHOTS);
    let snapshots_left_out = run.len() - chosen.len();
    let run: Vec<&Loaded> = chosen.into_iter().map(|i| run[i]).collect();
    let newest = run.last().ok_or(leaks::Error::NoSnapshots)?;
    let process = &newest.snapshot.process;
    let program = process.exe.rsplit('/').next().unwrap_or(&process.exe);
    let mut builder = Builder::default();
    let per_snapshot: Vec<Vec<(u32, Figures)>> = run.iter().map(|l| builder.add(l)).collect();
    let (kept, sites_left_out) = builder.keep(MAX_SITES);
    let first_ms = run[0].snapshot.uptime_ms;
    let snapshots = run
        .iter()
        .zip(per_snapshot)
        .map(|(l, sites)| {
            let s = &l.snapshot;
            SnapshotFigures {
                source: l.source.clone(),
                seq: s.seq,
                trigger: s.trigger.clone(),
                at_ms: s.uptime_ms.saturating_sub(first_ms),
                taken_at_ms: s.taken_at_ms,
                interval_bytes: s.sampling.interval_bytes,
                live_bytes: s.totals.live_bytes,
                live_allocs: s.totals.live_allocs,
                allocated_bytes: s.totals.allocated_bytes,
                sites: merged(&sites, &kept),
            }
        })
        .collect();
    let mut sites: Vec<SiteInfo> = Vec::with_capacity(kept.order.len() + 1);
    sites.extend(
        kept.order
            .iter()
            .map(|&i| builder.infos[i as usize].clone()),
    );
    if sites_left_out > 0 {
        sites.push(SiteInfo {
            ty: format!("({sites_left_out} other sites)").into(),
            type_full: "".into(),
            location: Location::default(),
            tag: None,
            path: Vec::new(),
        });
    }
    let mut frames: Vec<String> = builder
        .functions
        .names()
        .iter()
        .map(|name| view::shown(name).into_owned())
        .collect();
    let tables = tables::tables(&run, spread(run.len(), MAX_VIEWS), &mut frames);
    Ok(Report {
        title: options
            .title
            .clone()
            .unwrap_or_else(|| format!("heapsnap: {program} (pid {})", process.pid)),
        exe: process.exe.clone(),
        pid: process.pid,
        frames,
        sites,
        snapshots,
        leaks,
        leaks_unavailable,
        snapshots_left_out,
        sites_left_out,
        build_warning: heapsnap_format::quality::warning(&newest.snapshot),
        tables,
    })
}

/// `count` (two or more) indices out of `0..n`, evenly spread, the first
/// and last among them.
fn spread(n: usize, count: usize) -> Vec<usize> {
    if n <= count {
        return (0..n).collect();
    }
    let mut chosen: Vec<usize> = (0..count)
        .map(|i| (i as f64 * (n - 1) as f64 / (count - 1) as f64).round() as usize)
        .collect();
    chosen.dedup();
    chosen
}

/// A site's figures in one snapshot, before sites are numbered.
#[derive(Clone, Copy, Default)]
struct Figures {
    live_bytes: u64,
    live_allocs: u64,
    allocated_bytes: u64,
}

/// Numbers frames and sites across snapshots.
#[derive(Default)]
struct Builder {
    functions: FunctionIds,
    site_ids: HashMap<SiteKey, u32>,
    infos: Vec<SiteInfo>,
    /// The most live bytes and bytes allocated each site had in a snapshot.
    peaks: Vec<(u64, u64)>,
}

/// The sites kept, in the report's order, and each site's index there
/// (`None`: merged into the other sites).
struct Kept {
    order: Vec<u32>,
    index: Vec<Option<u32>>,
}

impl Builder {
    /// A snapshot's sites as (site id, figures), merged by site.
    fn add(&mut self, loaded: &Loaded) -> Vec<(u32, Figures)> {
        let snapshot = &loaded.snapshot;
        let ids = self.functions.for_snapshot(snapshot);
        let outside: Vec<bool> = view::outside_program(snapshot);
        let mut figures: HashMap<u32, Figures> = HashMap::new();
        for site in view::sites(snapshot) {
            let key = site.key(ids);
            let next = self.infos.len() as u32;
            let id = *self.site_ids.entry(key).or_insert(next);
            if id == next {
                let mut location = site.location_info();
                if let std::borrow::Cow::Owned(cut) = view::shown(&location.function) {
                    location.function = cut.into();
                }
                self.infos.push(SiteInfo {
                    ty: view::shown(&site.ty_short).into(),
                    type_full: view::shown(&site.ty_full).into(),
                    location,
                    tag: site.site.tag.clone(),
                    path: site
                        .drawn_frames(&outside, false)
                        .into_iter()
                        .map(|i| ids.of_frame(i))
                        .collect(),
                });
                self.peaks.push((0, 0));
            }
            let f = figures.entry(id).or_default();
            f.live_bytes += site.site.live_bytes;
            f.live_allocs += site.site.live_allocs;
            f.allocated_bytes += site.site.allocated_bytes;
        }
        let mut figures: Vec<(u32, Figures)> = figures.into_iter().collect();
        figures.sort_by_key(|&(id, _)| id);
        for &(id, f) in &figures {
            let peak = &mut self.peaks[id as usize];
            *peak = (peak.0.max(f.live_bytes), peak.1.max(f.allocated_bytes));
        }
        figures
    }

    /// The `max` sites that held the most live bytes (then allocated the
    /// most) in any snapshot, in order of first appearance; and how many
    /// were left out.
    fn keep(&self, max: usize) -> (Kept, usize) {
        let mut ranked: Vec<u32> = (0..self.infos.len() as u32).collect();
        ranked.sort_by_key(|&id| std::cmp::Reverse(self.peaks[id as usize]));
        let left_out = ranked.len().saturating_sub(max);
        ranked.truncate(max);
        ranked.sort_unstable();
        let mut index = vec![None; self.infos.len()];
        for (at, &id) in ranked.iter().enumerate() {
            index[id as usize] = Some(at as u32);
        }
        (
            Kept {
                order: ranked,
                index,
            },
            left_out,
        )
    }
}

/// A snapshot's figures by the report's site indices, the sites left out
/// summed into the last index.
fn merged(sites: &[(u32, Figures)], kept: &Kept) -> SiteColumns {
    let mut out = SiteColumns::default();
    let mut other = Figures::default();
    let mut others = false;
    for &(id, f) in sites {
        match kept.index[id as usize] {
            Some(at) => out.push(at, &f),
            None => {
                others = true;
                other.live_bytes += f.live_bytes;
                other.live_allocs += f.live_allocs;
                other.allocated_bytes += f.allocated_bytes;
            }
        }
    }
    if others {
        out.push(kept.order.len() as u32, &other);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_keeps_the_ends_and_the_count() {
        assert_eq!(spread(5, 60), vec![0, 1, 2, 3, 4]);
        assert_eq!(spread(0, 60), Vec::<usize>::new());
        let chosen = spread(1_000, 60);
        assert_eq!(chosen.len(), 60);
        assert_eq!((chosen[0], chosen[59]), (0, 999));
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
    }
}
