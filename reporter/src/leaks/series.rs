//! Series assembly: the snapshots of one process, in the order they were
//! taken, and for every site (tag and stack) its live bytes in each, with
//! what the newest snapshot says about it.

use std::collections::HashMap;

use super::Error;
use super::group::{Holding, HoldingCache};
use crate::format;
use crate::load::Loaded;
use crate::trend::{self, Fit};
use crate::view::{self, FunctionIds, Location, SiteKey};

/// The series of one site (or one group of sites).
#[derive(Clone, Default)]
pub(super) struct Series {
    pub(super) bytes: Vec<f64>,
    pub(super) var: Vec<f64>,
    pub(super) allocs: Vec<f64>,
    /// Live bytes by age in the newest snapshot.
    pub(super) ages: Vec<f64>,
}

impl Series {
    pub(super) fn zeros(n: usize) -> Series {
        Series {
            bytes: vec![0.0; n],
            var: vec![0.0; n],
            allocs: vec![0.0; n],
            ages: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, other: &Series) {
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a += b;
        }
        for (a, b) in self.var.iter_mut().zip(&other.var) {
            *a += b;
        }
        for (a, b) in self.allocs.iter_mut().zip(&other.allocs) {
            *a += b;
        }
        add_ages(&mut self.ages, other.ages.iter().copied());
    }

    pub(super) fn last(&self) -> f64 {
        self.bytes.last().copied().unwrap_or(0.0)
    }

    /// Live allocations in the newest snapshot.
    pub(super) fn last_allocs(&self) -> f64 {
        self.allocs.last().copied().unwrap_or(0.0)
    }

    pub(super) fn growth(&self) -> f64 {
        self.last() - self.bytes.first().copied().unwrap_or(0.0)
    }
}

/// Adds bytes by age bucket into `into`, growing it as needed.
pub(super) fn add_ages(into: &mut Vec<f64>, ages: impl ExactSizeIterator<Item = f64>) {
    if into.len() < ages.len() {
        into.resize(ages.len(), 0.0);
    }
    for (a, b) in into.iter_mut().zip(ages) {
        *a += b;
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
    /// The program's frames outside the location, as (function, line):
    /// where the allocation was made from.
    pub(super) callers: Vec<(String, Option<u32>)>,
}

/// A site's series and what it is.
pub(super) struct SiteTrend {
    /// Its index among the sites.
    pub(super) id: usize,
    pub(super) series: Series,
    pub(super) latest: Latest,
    pub(super) holding: Holding,
    pub(super) fit: Option<Fit>,
}

/// The series of one process's snapshots.
pub(super) struct Assembled<'a> {
    /// The snapshots, in the order they were taken.
    pub(super) snapshots: Vec<&'a Loaded>,
    /// When each was taken, in seconds of the process's uptime.
    pub(super) times: Vec<f64>,
    /// Every site seen in any of them.
    pub(super) sites: Vec<SiteTrend>,
    /// `site_of[i][k]`: the site of snapshot `i`'s `k`th site entry, an
    /// index into `sites`.
    pub(super) site_of: Vec<Vec<usize>>,
    /// Things to know about the series.
    pub(super) notes: Vec<String>,
}

impl Assembled<'_> {
    pub(super) fn first(&self) -> &heapsnap_format::Snapshot {
        &self.snapshots[0].snapshot
    }

    pub(super) fn newest(&self) -> &heapsnap_format::Snapshot {
        &self.snapshots[self.snapshots.len() - 1].snapshot
    }
}

/// Picks the newest process's snapshots and builds every site's series,
/// fitted, with what its type says it may hold.
pub(super) fn assemble(loaded: &[Loaded]) -> Result<Assembled<'_>, Error> {
    let (snapshots, mut notes) = newest_process(loaded)?;
    let n = snapshots.len();
    let times: Vec<f64> = snapshots
        .iter()
        .map(|l| l.snapshot.uptime_ms as f64 / 1000.0)
        .collect();
    if n < trend::MIN_POINTS_FOR_TREND {
        notes.push(format!(
            "{n} snapshots: growth is measured from the first to the last; whether it would level off takes at least {} to tell",
            trend::MIN_POINTS_FOR_TREND
        ));
    }
    let (mut sites, site_of) = site_series(&snapshots);
    let mut holdings = HoldingCache::default();
    for site in &mut sites {
        site.holding = holdings.holding(&site.latest);
        site.fit = trend::fit(&times, &site.series.bytes, &site.series.var);
    }
    Ok(Assembled {
        snapshots,
        times,
        sites,
        site_of,
        notes,
    })
}

/// Every site's series over `snapshots`, and which site each entry of each
/// snapshot is.
fn site_series(snapshots: &[&Loaded]) -> (Vec<SiteTrend>, Vec<Vec<usize>>) {
    let n = snapshots.len();
    let mut ids = FunctionIds::default();
    let mut index: HashMap<SiteKey, usize> = HashMap::new();
    let mut sites: Vec<SiteTrend> = Vec::new();
    let mut site_of: Vec<Vec<usize>> = Vec::with_capacity(n);
    for (i, loaded) in snapshots.iter().enumerate() {
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
                let ages = view.site.live_bytes_by_age.iter().map(|b| *b as f64);
                add_ages(&mut entry.series.ages, ages);
            }
        }
        site_of.push(of_entry);
    }
    (sites, site_of)
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
        return Err(Error::NoSnapshots);
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
        return Err(Error::OneSnapshot {
            source: newest[0].source.clone(),
        });
    }
    if newest[newest.len() - 1].snapshot.uptime_ms <= newest[0].snapshot.uptime_ms {
        return Err(Error::SameMoment);
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
