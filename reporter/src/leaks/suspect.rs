//! Suspects: a group whose summed series keeps growing, named after its
//! holder, with what it holds; and the rows of what changed without being
//! one.

use std::collections::HashMap;

use super::group::{Group, holder};
use super::series::{Latest, Series, SiteTrend};
use super::{Age, Held, Suspect, Trend};
use crate::trend::{self, Fit, Verdict};

/// What every suspect of a report shares.
pub(super) struct Context<'a> {
    pub(super) times: &'a [f64],
    /// The newest snapshot's live heap (at least 1).
    pub(super) heap_last: f64,
    pub(super) window_ms: u64,
    /// The newest snapshot's age bucket bounds.
    pub(super) age_bounds: &'a [u64],
}

/// The suspect a group makes, if its summed series grows (`shared`: the
/// covariance of its sampling errors between snapshots).
pub(super) fn suspect(
    group: &Group<'_>,
    shared: &[Vec<f64>],
    context: &Context<'_>,
) -> Option<Suspect> {
    let mut series = Series::zeros(context.times.len());
    for member in &group.members {
        series.add(&member.series);
    }
    let fit = trend::fit_shared(context.times, &series.bytes, shared)?;
    if fit.verdict != Verdict::Growing {
        return None;
    }
    let holder = holder(group)?;
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
        instances: holder.series.last_allocs().max(0.0).round() as u64,
        live_bytes,
        share: live_bytes as f64 / context.heap_last,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        growth_bytes_per_sec_stddev: fit.slope_stddev,
        confidence: fit.confidence,
        r_squared: fit.r_squared,
        points: fit.points,
        window_ms: context.window_ms,
        age: age(&series.ages, context.age_bounds, context.window_ms),
        holds: holds(&group.members),
        keeps_growing: false,
        stack: latest.stack.clone(),
    })
}

/// What a group's members hold, merged by type, function and tag, largest
/// first.
fn holds(members: &[&SiteTrend]) -> Vec<Held> {
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
        held.live_allocs += member.series.last_allocs().max(0.0).round() as u64;
        held.growth_bytes += member.series.growth().round() as i64;
    }
    holds.sort_by(|a, b| {
        b.live_bytes
            .cmp(&a.live_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
    });
    holds
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

/// The row of a site or type that changed.
pub(super) fn trend_row(fit: &Fit, latest: &Latest, series: &Series) -> Trend {
    Trend {
        verdict: fit.verdict,
        ty: latest.ty.clone(),
        location: latest.location.clone(),
        live_bytes: series.last().max(0.0).round() as u64,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        confidence: fit.confidence,
    }
}

pub(super) fn is_growing(site: &SiteTrend) -> bool {
    site.fit
        .as_ref()
        .is_some_and(|f| f.verdict == Verdict::Growing)
}
