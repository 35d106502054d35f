//! The covariance of a group's sampling errors between snapshots: a sampled
//! allocation carries its error into every snapshot it is live in, so two
//! snapshots share the error of the allocations live in both.

use super::group::Group;
use super::series::{Assembled, add_ages};

/// For each group, the covariance of the sampling errors of its summed
/// series at every pair of snapshots: those of the later snapshot older
/// than the time between them, read from its live bytes by age (uniform
/// within an age bucket), with their share of its variance.
pub(super) fn shared_sampling_error(
    groups: &[Group<'_>],
    series: &Assembled<'_>,
) -> Vec<Vec<Vec<f64>>> {
    let n = series.times.len();
    // Which group each site belongs to.
    let mut group_of: Vec<Option<usize>> = vec![None; series.sites.len()];
    for (g, group) in groups.iter().enumerate() {
        for member in &group.members {
            group_of[member.id] = Some(g);
        }
    }
    // Each group's live bytes by age, and variance, in each snapshot.
    let mut ages: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; groups.len()];
    let mut var: Vec<Vec<f64>> = vec![vec![0.0; n]; groups.len()];
    for (i, loaded) in series.snapshots.iter().enumerate() {
        for (entry, &site) in loaded.snapshot.sites.iter().zip(&series.site_of[i]) {
            let Some(g) = group_of[site] else { continue };
            var[g][i] += entry.live_bytes_var;
            add_ages(
                &mut ages[g][i],
                entry.live_bytes_by_age.iter().map(|b| *b as f64),
            );
        }
    }
    (0..groups.len())
        .map(|g| covariance(&ages[g], &var[g], series))
        .collect()
}

/// One group's covariance matrix, from its bytes by age and variance in
/// each snapshot.
fn covariance(ages: &[Vec<f64>], var: &[f64], series: &Assembled<'_>) -> Vec<Vec<f64>> {
    let times = &series.times;
    let n = times.len();
    let mut shared = vec![vec![0.0; n]; n];
    for j in 0..n {
        let bounds = &series.snapshots[j].snapshot.age_buckets_ms;
        shared[j][j] = var[j];
        for i in 0..j {
            let age_ms = ((times[j] - times[i]) * 1000.0).max(0.0);
            let older = share_older_than(&ages[j], bounds, age_ms);
            let c = (var[j] * older).min(var[i]);
            shared[i][j] = c;
            shared[j][i] = c;
        }
    }
    shared
}

/// The share of `ages` (bytes by age bucket, bounds in milliseconds, a last
/// bucket for everything older) older than `age_ms`.
pub(super) fn share_older_than(ages: &[f64], bounds: &[u64], age_ms: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

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
