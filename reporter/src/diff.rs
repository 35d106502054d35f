//! `heapsnap diff`: what grew and what shrank between two snapshots, by site
//! and by type, and a gate that fails a CI job when the heap grew too much.
//!
//! Sites are matched by tag and the function names of their stacks, so the
//! two snapshots may come from different builds (a branch and its base).
//!
//! With sampled snapshots, every estimate carries its sampling variance, and
//! a gate trips only when the growth exceeds the limit *with confidence*:
//! when `growth - z * sigma > limit`, sigma the standard deviation of the
//! estimated growth (from both snapshots' variances) and `z` the normal
//! quantile of the confidence (3.72 for the default 99.99%). Exact snapshots
//! (interval 1) have no sampling error: the gate compares the growth itself.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::load::Loaded;
use crate::stats;
use crate::summary::Summary;
use crate::view::{self, FunctionIds, Location, SiteKey, SiteView};

/// A growth limit: bytes, or a percentage of the base snapshot's live heap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// A size.
    Bytes(u64),
    /// A fraction (0.1 for `10%`) of the base's live heap.
    OfBase(f64),
}

impl Limit {
    /// The limit in bytes, given the base's live heap.
    pub fn bytes(self, base_live: u64) -> u64 {
        match self {
            Limit::Bytes(n) => n,
            Limit::OfBase(fraction) => (base_live as f64 * fraction).round() as u64,
        }
    }
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(text: &str) -> Result<Limit, String> {
        let text = text.trim();
        if text.ends_with('%') {
            let fraction = heapsnap_format::units::parse_fraction(text)
                .map_err(|e| format!("{text:?}: {e}"))?;
            if !(fraction >= 0.0 && fraction.is_finite()) {
                return Err(format!("{text:?}: a percentage must not be negative"));
            }
            return Ok(Limit::OfBase(fraction));
        }
        heapsnap_format::units::parse_bytes(text)
            .map(Limit::Bytes)
            .map_err(|e| {
                format!("{text:?}: {e} (expected a size such as 5MiB, or a percentage such as 10%)")
            })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Bytes(n) => f.write_str(&crate::format::bytes(*n)),
            Limit::OfBase(fraction) => write!(f, "{}% of the base heap", fraction * 100.0),
        }
    }
}

/// Options of [`diff`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Fail when the live heap grew by more than this.
    pub fail_on_growth: Option<Limit>,
    /// Fail when any one site grew by more than this.
    pub fail_on_site_growth: Option<Limit>,
    /// How sure a gate must be that growth exceeds its limit, 0.5 to
    /// 0.999999.
    pub confidence: f64,
    /// Rows per table (0: all).
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fail_on_growth: None,
            fail_on_site_growth: None,
            confidence: 0.9999,
            limit: 10,
        }
    }
}

/// The change of one site or type.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// Type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where (for a type, its biggest site's location).
    pub location: Location,
    /// Tag, for sites.
    pub tag: Option<String>,
    /// Live bytes before.
    pub before_bytes: u64,
    /// Live bytes after.
    pub after_bytes: u64,
    /// After minus before.
    pub delta_bytes: i64,
    /// Live allocations before.
    pub before_allocs: u64,
    /// Live allocations after.
    pub after_allocs: u64,
    /// After minus before.
    pub delta_allocs: i64,
    /// Standard deviation of `delta_allocs` due to sampling.
    pub delta_allocs_stddev: f64,
    /// Change as a fraction of before; `None` for something new.
    pub change: Option<f64>,
    /// Standard deviation of `delta_bytes` due to sampling.
    pub delta_stddev: f64,
    /// Stack, function names innermost first (of the newest biggest site).
    pub stack: Vec<String>,
}

/// Which gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateKind {
    /// The growth of the whole live heap (`--fail-on-growth`).
    Growth,
    /// The growth of any one site (`--fail-on-site-growth`).
    SiteGrowth,
}

/// A gate's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Gate {
    /// `growth` (the whole heap) or `site-growth` (any one site).
    #[serde(rename = "name")]
    pub kind: GateKind,
    /// The limit as given.
    pub limit: String,
    /// The limit in bytes.
    pub limit_bytes: u64,
    /// True when the growth exceeded the limit with the required confidence.
    pub tripped: bool,
    /// The estimated growth (for `site-growth`, the largest site's).
    pub growth_bytes: i64,
    /// The growth it exceeded with the required confidence:
    /// `growth - z * sigma`.
    pub growth_lower_bound: i64,
    /// What accounts for the growth: the sites that grew most, or the sites
    /// over the limit.
    pub culprits: Vec<Change>,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The base snapshot.
    pub base: Summary,
    /// The new snapshot.
    pub new: Summary,
    /// Change of the live heap.
    pub growth_bytes: i64,
    /// Its standard deviation due to sampling.
    pub growth_stddev: f64,
    /// Both snapshots exact (no sampling error).
    pub exact: bool,
    /// The confidence gates use.
    pub confidence: f64,
    /// Sites, most growth first (`limit` of them).
    pub sites: Vec<Change>,
    /// Sites that shrank most, most shrinkage first (`limit` of them).
    pub shrunk: Vec<Change>,
    /// Types, most growth first (`limit` of them).
    pub types: Vec<Change>,
    /// Sites that changed, before `limit`.
    pub changed_sites: usize,
    /// The gates asked for.
    pub gates: Vec<Gate>,
}

impl Report {
    /// True when a gate tripped.
    pub fn failed(&self) -> bool {
        self.gates.iter().any(|g| g.tripped)
    }
}

/// Accumulates one key's figures from both snapshots.
#[derive(Default)]
struct Pair<'a> {
    before: Side<'a>,
    after: Side<'a>,
}

#[derive(Default)]
struct Side<'a> {
    bytes: u64,
    allocs: u64,
    var: f64,
    allocs_var: f64,
    biggest: Option<&'a SiteView<'a>>,
}

impl<'a> Side<'a> {
    fn add(&mut self, view: &'a SiteView<'a>) {
        self.bytes += view.site.live_bytes;
        self.allocs += view.site.live_allocs;
        self.var += view.site.live_bytes_var;
        self.allocs_var += view.site.live_allocs_var;
        if self
            .biggest
            .is_none_or(|b| view.site.live_bytes > b.site.live_bytes)
        {
            self.biggest = Some(view);
        }
    }
}

impl Pair<'_> {
    fn delta(&self) -> i64 {
        self.after.bytes as i64 - self.before.bytes as i64
    }

    fn stddev(&self) -> f64 {
        (self.before.var + self.after.var).sqrt()
    }

    /// The change as reported; built only for what is shown.
    fn change(&self) -> Option<Change> {
        let view = self.after.biggest.or(self.before.biggest)?;
        let delta_bytes = self.delta();
        Some(Change {
            ty: view.ty.short.clone(),
            location: view.location_info(),
            tag: view.site.tag.clone(),
            before_bytes: self.before.bytes,
            after_bytes: self.after.bytes,
            delta_bytes,
            before_allocs: self.before.allocs,
            after_allocs: self.after.allocs,
            delta_allocs: self.after.allocs as i64 - self.before.allocs as i64,
            delta_allocs_stddev: (self.before.allocs_var + self.after.allocs_var).sqrt(),
            change: (self.before.bytes > 0).then(|| delta_bytes as f64 / self.before.bytes as f64),
            delta_stddev: self.stddev(),
            stack: view.stack_names().iter().map(|f| f.to_string()).collect(),
        })
    }
}

fn pairs<'a, K: std::hash::Hash + Eq>(
    before: impl Iterator<Item = (K, &'a SiteView<'a>)>,
    after: impl Iterator<Item = (K, &'a SiteView<'a>)>,
) -> Vec<Pair<'a>> {
    let mut by_key: HashMap<K, Pair<'a>> = HashMap::new();
    for (key, view) in before {
        by_key.entry(key).or_default().before.add(view);
    }
    for (key, view) in after {
        by_key.entry(key).or_default().after.add(view);
    }
    by_key.into_values().collect()
}

/// Most growth first; ties by size, then type, then place, so output is
/// stable.
fn by_growth(pairs: &mut [Pair<'_>]) {
    fn name<'p>(p: &'p Pair<'_>) -> Option<(&'p str, &'p [u32])> {
        p.after
            .biggest
            .or(p.before.biggest)
            .map(|v| (v.ty.full.as_str(), v.stack))
    }
    pairs.sort_by(|a, b| {
        b.delta()
            .cmp(&a.delta())
            .then(b.after.bytes.cmp(&a.after.bytes))
            .then_with(|| name(a).cmp(&name(b)))
    });
}

/// Compares two snapshots.
pub fn diff(base: &Loaded, new: &Loaded, options: &Options) -> Report {
    let before = view::sites(&base.snapshot);
    let after = view::sites(&new.snapshot);
    let (sites, types) = site_and_type_pairs(base, new, &before, &after);
    let exact = base.snapshot.sampling.is_exact() && new.snapshot.sampling.is_exact();
    let growth_bytes =
        new.snapshot.totals.live_bytes as i64 - base.snapshot.totals.live_bytes as i64;
    let growth_stddev = (sampling_variance(base) + sampling_variance(new)).sqrt();
    let confidence = options.confidence.clamp(0.5, 0.999_999);
    let gates = gates(
        options,
        &sites,
        base.snapshot.totals.live_bytes,
        (growth_bytes, growth_stddev),
        stats::normal_quantile(confidence),
    );
    let shown = |pairs: &mut dyn Iterator<Item = &Pair<'_>>| -> Vec<Change> {
        let limit = if options.limit == 0 {
            usize::MAX
        } else {
            options.limit
        };
        pairs.take(limit).filter_map(Pair::change).collect()
    };
    Report {
        base: Summary::of(base),
        new: Summary::of(new),
        growth_bytes,
        growth_stddev,
        exact,
        confidence,
        changed_sites: sites.iter().filter(|p| p.delta() != 0).count(),
        sites: shown(&mut sites.iter().filter(|p| p.delta() > 0)),
        shrunk: shown(&mut sites.iter().rev().filter(|p| p.delta() < 0)),
        types: shown(&mut types.iter().filter(|p| p.delta() != 0)),
        gates,
    }
}

/// Every site and every type of either snapshot with its figures in both,
/// most growth first. Sites are matched by tag and function names.
fn site_and_type_pairs<'a>(
    base: &Loaded,
    new: &Loaded,
    before: &'a [SiteView<'a>],
    after: &'a [SiteView<'a>],
) -> (Vec<Pair<'a>>, Vec<Pair<'a>>) {
    let mut ids = FunctionIds::default();
    let before_keys: Vec<SiteKey> = {
        let ids = ids.for_snapshot(&base.snapshot);
        before.iter().map(|v| v.key(ids)).collect()
    };
    let after_keys: Vec<SiteKey> = {
        let ids = ids.for_snapshot(&new.snapshot);
        after.iter().map(|v| v.key(ids)).collect()
    };
    let mut sites = pairs(
        before_keys.into_iter().zip(before),
        after_keys.into_iter().zip(after),
    );
    let mut types = pairs(
        before.iter().map(|v| (v.ty.full.clone(), v)),
        after.iter().map(|v| (v.ty.full.clone(), v)),
    );
    by_growth(&mut sites);
    by_growth(&mut types);
    (sites, types)
}

/// The sampling variance of a snapshot's live heap.
fn sampling_variance(loaded: &Loaded) -> f64 {
    loaded
        .snapshot
        .sites
        .iter()
        .map(|s| s.live_bytes_var)
        .sum::<f64>()
}

/// The gates asked for: each trips when the growth exceeds its limit by
/// more than `z` standard deviations of sampling error. `growth`: the live
/// heap's growth and its standard deviation.
fn gates(
    options: &Options,
    sites: &[Pair<'_>],
    base_live: u64,
    growth: (i64, f64),
    z: f64,
) -> Vec<Gate> {
    let (growth_bytes, growth_stddev) = growth;
    let mut gates = Vec::new();
    if let Some(limit) = options.fail_on_growth {
        let limit_bytes = limit.bytes(base_live);
        let lower = growth_bytes as f64 - z * growth_stddev;
        gates.push(Gate {
            kind: GateKind::Growth,
            limit: limit.to_string(),
            limit_bytes,
            tripped: lower > limit_bytes as f64,
            growth_bytes,
            growth_lower_bound: lower.floor() as i64,
            culprits: culprits(sites, growth_bytes),
        });
    }
    if let Some(limit) = options.fail_on_site_growth {
        let limit_bytes = limit.bytes(base_live);
        let lower = |p: &Pair<'_>| p.delta() as f64 - z * p.stddev();
        let over: Vec<Change> = sites
            .iter()
            .filter(|p| lower(p) > limit_bytes as f64)
            .filter_map(Pair::change)
            .collect();
        let largest = sites.first();
        gates.push(Gate {
            kind: GateKind::SiteGrowth,
            limit: limit.to_string(),
            limit_bytes,
            tripped: !over.is_empty(),
            growth_bytes: largest.map_or(0, Pair::delta),
            growth_lower_bound: largest.map_or(0, |p| lower(p).floor() as i64),
            culprits: over,
        });
    }
    gates
}

/// The sites that grew most, until they account for 90% of the growth
/// (at most 5).
fn culprits(sites: &[Pair<'_>], growth: i64) -> Vec<Change> {
    let mut total = 0i64;
    let mut out = Vec::new();
    for site in sites.iter().filter(|p| p.delta() > 0).take(5) {
        out.extend(site.change());
        total += site.delta();
        if growth > 0 && total * 10 >= growth * 9 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("5MiB".parse(), Ok(Limit::Bytes(5 << 20)));
        assert_eq!("10%".parse(), Ok(Limit::OfBase(0.1)));
        assert_eq!(Limit::OfBase(0.1).bytes(1000), 100);
        assert!("five".parse::<Limit>().is_err());
        assert!("-5%".parse::<Limit>().is_err());
    }
}
