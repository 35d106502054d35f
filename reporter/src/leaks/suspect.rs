//! Suspects: a group whose summed series keeps growing, named after its
//! holder, with what it holds; and the rows of what changed without being
//! one.

use std::collections::HashMap;

use super::group::{Group, holder};
use super::series::{Assembled, Latest, Points, SiteTrend, add_points};
use super::{Age, Held, HolderEvidence, SeriesPoint, Suspect, Trend};

/// The most a suspect whose holder is a guess (no reference seen, no type
/// that names what it holds) is said to be sure of.
const GUESS_CONFIDENCE: f64 = 0.99;
use crate::trend::{self, Fit, Point, Verdict};

/// The suspect a group makes, if its summed series grows.
pub(super) fn suspect(
    group: &Group<'_>,
    assembled: &Assembled<'_>,
    graph: bool,
) -> Option<Suspect> {
    let mut points = vec![Point::default(); assembled.times.len()];
    for member in &group.members {
        add_points(&mut points, &member.points);
    }
    let fit = trend::fit(assembled.series(&points))?;
    if fit.verdict != Verdict::Growing {
        return None;
    }
    let holder = holder(group)?;
    let latest = &holder.latest;
    let evidence = group
        .evidence
        .clone()
        .unwrap_or_else(|| inferred_evidence(holder, &group.members, graph));
    let confidence = match evidence {
        HolderEvidence::Guess { .. } => fit.confidence.min(GUESS_CONFIDENCE),
        _ => fit.confidence,
    };
    let newest = assembled.newest();
    let window_ms = newest.uptime_ms.saturating_sub(assembled.first().uptime_ms);
    let live_bytes = points.last_bytes().max(0.0).round() as u64;
    Some(Suspect {
        rank: 0,
        verdict: fit.verdict,
        ty: latest.ty.to_string(),
        type_full: latest.type_full.to_string(),
        function: latest.location.function.to_string(),
        file: latest.location.file.clone(),
        line: latest.location.line,
        unknown: latest.location.unknown,
        tag: latest.tag.clone(),
        instances: holder.points.last_allocs().max(0.0).round() as u64,
        instances_stddev: holder.points.last().map_or(0.0, |p| p.allocs_var.sqrt()),
        buffer_highs: holder
            .highs
            .iter()
            .map(|&(t, bytes)| (((t - assembled.times[0]) * 1000.0).round() as u64, bytes))
            .collect(),
        live_bytes,
        share: live_bytes as f64 / newest.heap_bytes() as f64,
        growth_bytes: points.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        growth_bytes_per_sec_stddev: fit.slope_stddev,
        recent_growth_bytes_per_sec: fit.recent_slope,
        recent_growth_bytes_per_sec_stddev: fit.recent_slope_stddev,
        recent_window_ms: (fit.recent_span * 1000.0).round() as u64,
        confidence,
        r_squared: fit.r_squared,
        points: fit.points,
        window_ms,
        age: points
            .last()
            .and_then(|last| age(last, &newest.age_buckets_ms, window_ms)),
        late_born: fit.late_born,
        late_died: fit.late_died,
        population: fit.population,
        holds: holds(&group.members),
        holder_evidence: evidence,
        series: assembled
            .times
            .iter()
            .zip(&points)
            .map(|(t, p)| SeriesPoint {
                at_ms: ((t - assembled.times[0]) * 1000.0).round() as u64,
                bytes: p.bytes,
                stddev: p.bytes_var.max(0.0).sqrt(),
            })
            .collect(),
        keeps_growing: false,
        stack: latest.stack.iter().map(|f| f.to_string()).collect(),
    })
}

/// Why the rules named `holder`, for a group the heap graph did not show:
/// its type holds a member's type, or nothing says so.
fn inferred_evidence(holder: &SiteTrend, members: &[&SiteTrend], graph: bool) -> HolderEvidence {
    let holds_a_member = members
        .iter()
        .any(|m| m.id != holder.id && holder.holding.elements.iter().any(|e| **e == *m.latest.ty));
    if holds_a_member {
        HolderEvidence::Types { graph }
    } else {
        let points_out =
            holder.points_out && members.iter().any(|m| m.id != holder.id && !m.points_out);
        HolderEvidence::Guess { graph, points_out }
    }
}

/// What a group's members hold, merged by type, function and tag, largest
/// first.
fn holds(members: &[&SiteTrend]) -> Vec<Held> {
    let mut holds: Vec<Held> = Vec::new();
    let mut held_at: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    for member in members {
        let l = &member.latest;
        let key = (&*l.ty, &*l.location.function, l.tag.as_deref());
        let at = *held_at.entry(key).or_insert(holds.len());
        if at == holds.len() {
            holds.push(Held {
                ty: l.ty.to_string(),
                function: l.location.function.to_string(),
                tag: l.tag.clone(),
                live_bytes: 0,
                live_allocs: 0,
                live_allocs_stddev: 0.0,
                growth_bytes: 0,
            });
        }
        let held = &mut holds[at];
        let last = member.points.last();
        held.live_bytes += member.points.last_bytes().max(0.0).round() as u64;
        held.live_allocs += member.points.last_allocs().max(0.0).round() as u64;
        held.live_allocs_stddev =
            (held.live_allocs_stddev.powi(2) + last.map_or(0.0, |p| p.allocs_var)).sqrt();
        held.growth_bytes += member.points.growth().round() as i64;
    }
    holds.sort_by(|a, b| {
        b.live_bytes
            .cmp(&a.live_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
    });
    holds
}

/// The share of live bytes older than a quarter of the window: about three
/// quarters for a leak that grew evenly over the window.
fn age(last: &Point, bounds: &[u64], window_ms: u64) -> Option<Age> {
    if last.bytes <= 0.0 || last.ages.is_empty() {
        return None;
    }
    let quarter = window_ms / 4;
    let older = trend::older(last, bounds, quarter as f64).bytes;
    let newest = last.bytes - trend::older(last, bounds, 1000.0).bytes;
    Some(Age {
        older_than_ms: quarter,
        fraction: (older / last.bytes).clamp(0.0, 1.0),
        newest_fraction: (newest / last.bytes).clamp(0.0, 1.0),
    })
}

/// The row of a site or type that changed.
pub(super) fn trend_row(fit: &Fit, latest: &Latest, points: &[Point]) -> Trend {
    Trend {
        verdict: fit.verdict,
        ty: latest.ty.to_string(),
        location: latest.location.clone(),
        live_bytes: points.last_bytes().max(0.0).round() as u64,
        growth_bytes: points.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        confidence: fit.confidence,
    }
}
