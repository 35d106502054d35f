//! The shape of a series of measurements over time (a site's live bytes,
//! snapshot after snapshot): how fast it grows, how sure we are, and a
//! verdict on what kind of growth it is. `docs/LEAKS.md` explains the
//! reasoning for people.
//!
//! - The slope is the Theil-Sen estimate (the median of the slopes between
//!   every pair of points): one odd snapshot does not move it.
//! - Its error comes from the scatter of the points around that line, but
//!   never less than the sampling error the snapshots report, nor less than
//!   1% of the series' level (heaps churn even when nothing leaks). Scatter
//!   that runs in waves (a sawtooth, a curve) says less than independent
//!   scatter: the variance is inflated by the residuals' lag-1
//!   autocorrelation, as for an AR(1) process. Sampling error is not
//!   independent from one snapshot to the next either (a sampled block
//!   stays in every snapshot while it lives): it is also taken as a random
//!   walk whose steps are the new samples' variance, and the larger of the
//!   two errors is used.
//! - Whether the series changed at all compares the median of its first
//!   quarter with the median of its last quarter, against the spread within
//!   each quarter (a sawtooth or a filling and draining queue spreads wide,
//!   so its quarters' levels say little) and never less than the noise from
//!   one point to the next.
//! - Confidence that a series that grew keeps growing is Student's t on the
//!   slope, with `n - 2` degrees of freedom: few snapshots give wide
//!   margins, and so low confidence. Growth must go on: the confidence is
//!   the lower of the whole series' and its later half's, the later half
//!   taken without its largest rise (one jump is not growth that goes on).
//! - Verdicts, for a series that grew: **step** when one jump between two
//!   snapshots makes most of the growth and both sides are flat;
//!   **levelled** when the later half makes less than a quarter of the
//!   growth even at the top of its error bar (a cache warming up; a
//!   steadily growing series makes half of its growth there); **growing**
//!   otherwise. A series that fell is **shrinking**; anything else is
//!   **steady** (noise, a queue that fills and drains, a sawtooth).

use serde::Serialize;

use crate::stats;

/// What kind of change a series shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Grows, and keeps growing: unbounded, a leak suspect.
    Growing,
    /// Grew, then flattened: a cache that warmed up.
    Levelled,
    /// One jump, flat before and after.
    Step,
    /// Falls.
    Shrinking,
    /// No significant change.
    Steady,
}

impl Verdict {
    /// The verdict's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Growing => "growing",
            Verdict::Levelled => "levelled",
            Verdict::Step => "step",
            Verdict::Shrinking => "shrinking",
            Verdict::Steady => "steady",
        }
    }
}

/// The shape of a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// What kind of change.
    pub verdict: Verdict,
    /// Growth rate, units per second (Theil-Sen).
    pub slope: f64,
    /// Standard error of the slope.
    pub slope_stddev: f64,
    /// How sure the series grows without bound, 0 to 1.
    pub confidence: f64,
    /// Last value minus first.
    pub growth: f64,
    /// How much of the variation the line explains, 0 to 1.
    pub r_squared: f64,
    /// Points in the series.
    pub points: usize,
    /// Time from the first point to the last, seconds.
    pub span: f64,
}

/// Fraction of the growth a single jump must make to be a step.
const STEP_SHARE: f64 = 0.8;
/// How flat both sides of a step must be, as a fraction of the jump.
const STEP_FLATNESS: f64 = 0.25;
/// Significance a change needs before it is more than steady: noise alone
/// gets past it once in a hundred series.
const SIGNIFICANT: f64 = 0.99;
/// A series whose later half makes less than this share of its growth
/// (even at the top of its error bar) has levelled off; growth without
/// bound makes about half of it there.
const LEVELLED_SHARE: f64 = 0.25;
/// Fewer points than this leave a later half of at most two points, which
/// cannot show growth going on beyond one rise: the first and last points
/// are compared instead.
pub const MIN_POINTS_FOR_TREND: usize = 5;
/// Heaps churn: changes within 1% of the series' level are never growth.
const CHURN: f64 = 0.01;

/// A slope and its error over `t`, `y`, with a floor on the point noise.
struct Line {
    slope: f64,
    intercept: f64,
    stddev: f64,
    dof: f64,
}

/// What is known about a series' sampling error.
#[derive(Clone, Copy)]
struct Sampling<'a> {
    /// Each point's sampling variance.
    var: &'a [f64],
    /// The covariance of the errors of every pair of points, when known.
    shared: Option<&'a [Vec<f64>]>,
    /// Index of the first point of the range looked at.
    offset: usize,
}

impl<'a> Sampling<'a> {
    fn range(self, from: usize, to: usize) -> Sampling<'a> {
        Sampling {
            var: &self.var[from..to],
            shared: self.shared,
            offset: self.offset + from,
        }
    }

    /// The variance sampling gives a least-squares slope over `t`.
    fn slope_variance(&self, t: &[f64], mean_t: f64, sxx: f64) -> f64 {
        let Some(shared) = self.shared else {
            return persistent_sampling_variance(t, self.var, mean_t, sxx);
        };
        let weights: Vec<f64> = t.iter().map(|t| (t - mean_t) / sxx).collect();
        let mut total = 0.0;
        for (i, wi) in weights.iter().enumerate() {
            let row = &shared[self.offset + i][self.offset..];
            total += wi * weights.iter().zip(row).map(|(wj, c)| wj * c).sum::<f64>();
        }
        total.max(0.0)
    }
}

/// The slope's variance from sampling alone, when sampling error persists:
/// a sampled allocation stays in every snapshot while it lives, so the
/// error is not drawn afresh at each point. Without knowing which samples
/// two snapshots share, take the smaller snapshot's samples to be in both
/// (exact for a series that only grows, and for one that keeps the same
/// blocks): the covariance of points `i` and `j` is `min(var_i, var_j)`.
/// Turnover that this misses shows as scatter, which the caller weighs too.
fn persistent_sampling_variance(t: &[f64], var: &[f64], mean_t: f64, sxx: f64) -> f64 {
    // sum over i, j of w_i w_j min(v_i, v_j), in order of v: each point
    // pairs with itself and every point of larger variance at its own.
    let mut order: Vec<usize> = (0..t.len()).collect();
    order.sort_by(|&a, &b| var[a].total_cmp(&var[b]));
    let weight = |i: usize| (t[i] - mean_t) / sxx;
    let mut larger: f64 = order.iter().map(|&i| weight(i)).sum();
    let mut total = 0.0;
    for &i in &order {
        let w = weight(i);
        larger -= w;
        total += var[i].max(0.0) * w * (w + 2.0 * larger);
    }
    total.max(0.0)
}

fn line(t: &[f64], y: &[f64], sampling: Sampling<'_>, churn_floor: f64) -> Option<Line> {
    let (slope, intercept) = stats::theil_sen(t, y)?;
    let n = t.len() as f64;
    let mean_t = t.iter().sum::<f64>() / n;
    let sxx: f64 = t.iter().map(|t| (t - mean_t).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let residuals: Vec<f64> = t
        .iter()
        .zip(y)
        .map(|(t, y)| y - intercept - slope * t)
        .collect();
    let squares: f64 = residuals.iter().map(|r| r * r).sum();
    let scatter = if t.len() > 2 {
        squares / (n - 2.0)
    } else {
        0.0
    };
    // Waves in the residuals: fewer independent points than there are.
    let rho = if t.len() >= 4 && squares > 0.0 {
        let lagged: f64 = residuals.windows(2).map(|w| w[0] * w[1]).sum();
        (lagged / squares).clamp(0.0, 0.95)
    } else {
        0.0
    };
    // The error from the scatter itself, or from the sampling model (which
    // already allows for persistence): the larger. Waves in the residuals
    // widen the first; the degrees of freedom stay those of the points (a
    // lag-1 correlation estimated from a few residuals is too rough to take
    // them away as well).
    let scattered = scatter * (1.0 + rho) / (1.0 - rho) / sxx;
    let modelled = (churn_floor / sxx).max(sampling.slope_variance(t, mean_t, sxx));
    let (slope_variance, dof) = (scattered.max(modelled), n - 2.0);
    Some(Line {
        slope,
        intercept,
        stddev: slope_variance.sqrt(),
        dof: dof.max(1.0),
    })
}

fn probability_positive(line: &Line) -> f64 {
    if line.stddev > 0.0 {
        stats::student_t_cdf(line.slope / line.stddev, line.dof)
    } else if line.slope > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The noise from one point to the next: the spread (median absolute
/// deviation) of successive differences, which a steady trend or a smooth
/// curve leaves small, scaled to one point's standard deviation.
fn point_noise(y: &[f64]) -> f64 {
    let mut differences: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let Some(centre) = stats::median(&mut differences) else {
        return 0.0;
    };
    let mut deviations: Vec<f64> = differences.iter().map(|d| (d - centre).abs()).collect();
    // 1.4826 * MAD estimates a normal standard deviation; a difference of two
    // points has twice a point's variance.
    stats::median(&mut deviations).map_or(0.0, |mad| 1.4826 * mad / std::f64::consts::SQRT_2)
}

/// A run of points' level (median) and spread (1.4826 * median absolute
/// deviation: a standard deviation that outliers do not move).
fn robust_level(points: &[f64]) -> (f64, f64) {
    let mut sorted = points.to_vec();
    let centre = stats::median(&mut sorted).unwrap_or(0.0);
    let mut deviations: Vec<f64> = points.iter().map(|p| (p - centre).abs()).collect();
    (
        centre,
        1.4826 * stats::median(&mut deviations).unwrap_or(0.0),
    )
}

/// Fits a series of points at times `t` (seconds, increasing) with values
/// `y` whose sampling variances are `var`; the errors of different points
/// are taken to be shared as they would be by a growing series (see the
/// module docs). `None` for fewer than two points, or no time between them.
pub fn fit(t: &[f64], y: &[f64], var: &[f64]) -> Option<Fit> {
    let sampling = Sampling {
        var,
        shared: None,
        offset: 0,
    };
    fit_with(t, y, sampling)
}

/// [`fit`], with the covariance of the sampling errors of every pair of
/// points known (`shared[i][i]` is point `i`'s variance): for a series of
/// estimates from samples that live across several snapshots.
pub fn fit_shared(t: &[f64], y: &[f64], shared: &[Vec<f64>]) -> Option<Fit> {
    if shared.len() != t.len() || shared.iter().any(|row| row.len() != t.len()) {
        return None;
    }
    let var: Vec<f64> = (0..t.len()).map(|i| shared[i][i]).collect();
    let sampling = Sampling {
        var: &var,
        shared: Some(shared),
        offset: 0,
    };
    fit_with(t, y, sampling)
}

fn fit_with(t: &[f64], y: &[f64], sampling: Sampling<'_>) -> Option<Fit> {
    let n = t.len();
    if n < 2 || y.len() != n || sampling.var.len() != n {
        return None;
    }
    let span = t[n - 1] - t[0];
    if span <= 0.0 {
        return None;
    }
    if n < MIN_POINTS_FOR_TREND {
        return Some(first_to_last(span, y, sampling));
    }
    let level = y.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
    let mean_var = sampling.var.iter().sum::<f64>() / n as f64;
    let churn = (CHURN * level).powi(2).max(1.0);
    let all = line(t, y, sampling, churn)?;
    let change = Change::of(y, mean_var.max(churn));
    let halves = Halves::of(t, y, sampling, churn);
    let keeps_growing = match &halves.late_without_jump {
        Some(late) => probability_positive(&all).min(probability_positive(late)),
        None => probability_positive(&all),
    };
    let verdict = verdict(t, y, &change, &halves);
    Some(Fit {
        verdict,
        slope: all.slope,
        slope_stddev: all.stddev,
        // The same estimate whatever the verdict, so that it falls smoothly
        // as evidence thins; shapes that contradict unbounded growth cap it.
        confidence: match verdict {
            Verdict::Growing | Verdict::Steady => keeps_growing.min(change.up),
            Verdict::Levelled | Verdict::Step | Verdict::Shrinking => {
                keeps_growing.min(change.up).min(0.5)
            }
        },
        growth: y[n - 1] - y[0],
        r_squared: r_squared(t, y, &all),
        points: n,
        span,
    })
}

/// How much of the variation of `y` the line explains, 0 to 1.
fn r_squared(t: &[f64], y: &[f64], line: &Line) -> f64 {
    let mean_y = y.iter().sum::<f64>() / y.len() as f64;
    let total: f64 = y.iter().map(|v| (v - mean_y).powi(2)).sum();
    let residual: f64 = t
        .iter()
        .zip(y)
        .map(|(t, y)| (y - line.intercept - line.slope * t).powi(2))
        .sum();
    if total > 0.0 {
        (1.0 - residual / total).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Did the series change? The last quarter's level against the first's,
/// with the error of each level from the spread within its quarter.
struct Change {
    /// Last quarter's level minus the first's.
    change: f64,
    /// How sure it went up, 0 to 1.
    up: f64,
    grew: bool,
    fell: bool,
}

impl Change {
    /// `floor`: the least variance a point has (sampling, churn).
    fn of(y: &[f64], floor: f64) -> Change {
        let n = y.len();
        let quarter = (n / 4).max(1);
        let (first, first_spread) = robust_level(&y[..quarter]);
        let (last, last_spread) = robust_level(&y[n - quarter..]);
        let change = last - first;
        let noise = point_noise(y).max(floor.sqrt());
        let spread = (first_spread.powi(2) + last_spread.powi(2))
            .sqrt()
            .max(noise * std::f64::consts::SQRT_2);
        let change_error = spread / (quarter as f64).sqrt();
        let dof = (2.0 * quarter as f64 - 2.0).max(1.0);
        let up = stats::student_t_cdf(change / change_error, dof);
        Change {
            change,
            up,
            grew: up >= SIGNIFICANT && change > 2.0 * noise,
            fell: 1.0 - up >= SIGNIFICANT && -change > 2.0 * noise,
        }
    }
}

/// The halves of the series by time: the later one is where "it keeps
/// growing" rests.
struct Halves {
    /// Index of the first point of the later half.
    late: usize,
    early_line: Option<Line>,
    late_line: Option<Line>,
    /// The later half without its largest rise: continued growth must not
    /// rest on one jump (a buffer doubling its capacity once).
    late_without_jump: Option<Line>,
}

impl Halves {
    fn of(t: &[f64], y: &[f64], sampling: Sampling<'_>, churn: f64) -> Halves {
        let n = t.len();
        let middle = t[0] + (t[n - 1] - t[0]) / 2.0;
        let late = t.iter().position(|&x| x >= middle).unwrap_or(n);
        let early_end = t.iter().rposition(|&x| x <= middle).map_or(0, |i| i + 1);
        let late_points = n - late >= 3;
        let late_line = late_points
            .then(|| line(&t[late..], &y[late..], sampling.range(late, n), churn))
            .flatten();
        let early_line = (early_end >= 3)
            .then(|| {
                line(
                    &t[..early_end],
                    &y[..early_end],
                    sampling.range(0, early_end),
                    churn,
                )
            })
            .flatten();
        let late_without_jump = late_points
            .then(|| {
                let steady = without_largest_rise(&y[late..]);
                line(&t[late..], &steady, sampling.range(late, n), churn)
            })
            .flatten();
        Halves {
            late,
            early_line,
            late_line,
            late_without_jump,
        }
    }
}

/// The verdict on a series at times `t`, from its change and its halves.
fn verdict(t: &[f64], y: &[f64], change: &Change, halves: &Halves) -> Verdict {
    // Growth the later half may still be making, at the top of its error
    // bar, against the growth seen: an unbounded series makes about half of
    // its growth there, one that filled up almost none.
    let last = t[t.len() - 1];
    let late_growth = halves
        .late_line
        .as_ref()
        .map(|line| (line.slope + line.stddev) * (last - t[halves.late]));
    if change.grew && is_step(y) {
        Verdict::Step
    } else if change.grew
        && halves.early_line.is_some()
        && late_growth.is_some_and(|g| g < LEVELLED_SHARE * change.change)
    {
        Verdict::Levelled
    } else if change.grew {
        Verdict::Growing
    } else if change.fell {
        Verdict::Shrinking
    } else {
        Verdict::Steady
    }
}

/// `y` with its largest rise from one point to the next taken out: every
/// point after it lowered by it.
fn without_largest_rise(y: &[f64]) -> Vec<f64> {
    let rise = y
        .windows(2)
        .map(|w| w[1] - w[0])
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = y.to_vec();
    if let Some((at, rise)) = rise.filter(|(_, rise)| *rise > 0.0) {
        for v in &mut out[at + 1..] {
            *v -= rise;
        }
    }
    out
}

/// Too few points for a later half to show growth going on: the change
/// from the first point to the last, judged against the sampling error of
/// the difference alone. A significant rise is `growing` with the
/// confidence that it rose; the caller says growth was only measured
/// between two points.
fn first_to_last(span: f64, y: &[f64], sampling: Sampling<'_>) -> Fit {
    let last_at = y.len() - 1;
    let (first, last) = (y[0], y[last_at]);
    let change = last - first;
    let var = sampling.var;
    let shared = match sampling.shared {
        Some(shared) => shared[sampling.offset][sampling.offset + last_at],
        // As for a series that grows: the earlier samples are still there.
        None => var[0].min(var[last_at]),
    };
    let churn = CHURN * first.abs().max(last.abs());
    let stddev = (var[0] + var[last_at] - 2.0 * shared)
        .max(churn * churn)
        .max(1.0)
        .sqrt();
    let up = stats::normal_cdf(change / stddev);
    let verdict = if up >= SIGNIFICANT {
        Verdict::Growing
    } else if 1.0 - up >= SIGNIFICANT {
        Verdict::Shrinking
    } else {
        Verdict::Steady
    };
    Fit {
        verdict,
        slope: change / span,
        slope_stddev: stddev / span,
        confidence: up,
        growth: change,
        r_squared: 1.0,
        points: y.len(),
        span,
    }
}

/// One jump makes most of the growth, and the series is flat on both sides
/// of it.
fn is_step(y: &[f64]) -> bool {
    let n = y.len();
    if n < 3 {
        return false;
    }
    let growth = y[n - 1] - y[0];
    let Some((at, jump)) = y
        .windows(2)
        .map(|w| w[1] - w[0])
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return false;
    };
    let range = |part: &[f64]| {
        let max = part.iter().copied().fold(f64::MIN, f64::max);
        let min = part.iter().copied().fold(f64::MAX, f64::min);
        max - min
    };
    jump >= STEP_SHARE * growth
        && range(&y[..=at]) <= STEP_FLATNESS * jump
        && range(&y[at + 1..]) <= STEP_FLATNESS * jump
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points a second apart, values from `f`, with sampling
    /// variance `var` and pseudo-random noise of standard deviation `noise`.
    fn series(
        n: usize,
        noise: f64,
        var: f64,
        f: impl Fn(f64) -> f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        seeded(1, n, noise, var, f)
    }

    fn seeded(
        seed: u64,
        n: usize,
        noise: f64,
        var: f64,
        f: impl Fn(f64) -> f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut draws = Draws::new(seed);
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y = t
            .iter()
            .map(|&t| f(t) + noise * (draws.uniform() - 0.5) * 12f64.sqrt())
            .collect();
        (t, y, vec![var; n])
    }

    /// Reproducible pseudo-random draws (xorshift).
    struct Draws(u64);

    impl Draws {
        fn new(seed: u64) -> Draws {
            Draws(0x2545_F491_4F6C_DD1Du64 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }

        /// Uniform in [0, 1).
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Poisson with mean `mean` (Knuth's product of uniforms).
        fn poisson(&mut self, mean: f64) -> f64 {
            let (mut count, mut product, limit) = (0.0, self.uniform(), (-mean).exp());
            while product > limit {
                count += 1.0;
                product *= self.uniform();
            }
            count
        }
    }

    fn verdict(s: &(Vec<f64>, Vec<f64>, Vec<f64>)) -> Fit {
        fit(&s.0, &s.1, &s.2).unwrap()
    }

    const MIB: f64 = 1048576.0;

    #[test]
    fn linear_growth_is_growing_with_high_confidence() {
        let f = verdict(&series(30, 0.5 * MIB, 0.0, |t| 10.0 * MIB + 2.0 * MIB * t));
        assert_eq!(f.verdict, Verdict::Growing);
        assert!(f.confidence > 0.999, "{f:?}");
        assert!((f.slope / MIB - 2.0).abs() < 0.1, "{f:?}");
        assert!(f.slope_stddev / MIB < 0.1);
    }

    #[test]
    fn growth_that_levels_off_is_levelled() {
        // A cache warming up: fast at first, then full.
        let f = verdict(&series(30, 0.1 * MIB, 0.0, |t| {
            50.0 * MIB * (1.0 - (-t / 3.0).exp())
        }));
        assert_eq!(f.verdict, Verdict::Levelled, "{f:?}");
        assert!(f.confidence <= 0.5);
    }

    #[test]
    fn a_single_jump_is_a_step() {
        let f = verdict(&series(20, 0.05 * MIB, 0.0, |t| {
            if t < 8.0 { 5.0 * MIB } else { 40.0 * MIB }
        }));
        assert_eq!(f.verdict, Verdict::Step, "{f:?}");
    }

    #[test]
    fn a_sawtooth_is_not_growth() {
        // Grows, is cleared, grows again: a batch buffer.
        let f = verdict(&series(40, 0.0, 0.0, |t| (t % 10.0) * 3.0 * MIB));
        assert_eq!(f.verdict, Verdict::Steady, "{f:?}");
    }

    #[test]
    fn noise_around_a_constant_is_steady() {
        for seed_noise in [0.1, 1.0, 5.0] {
            let f = verdict(&series(25, seed_noise * MIB, 0.0, |_| 100.0 * MIB));
            assert_eq!(f.verdict, Verdict::Steady, "{f:?}");
            assert!(f.confidence < 0.9);
        }
    }

    #[test]
    fn sampling_error_keeps_noise_from_looking_like_growth() {
        // A small drift, well inside what sampling at the snapshots' rate
        // could produce: not growth.
        let sampling = (3.0 * MIB).powi(2);
        let f = verdict(&series(10, 0.0, sampling, |t| 50.0 * MIB + 0.3 * MIB * t));
        assert_ne!(f.verdict, Verdict::Growing, "{f:?}");
    }

    /// A leak seen through sampling: blocks of `size` bytes born at `rate`
    /// bytes a second and never freed, sampled once every `interval` bytes
    /// on average. Each sample stays in every later snapshot: the error of
    /// the series builds up instead of being drawn afresh.
    fn sampled_leak(
        seed: u64,
        points: usize,
        rate: f64,
        interval: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut draws = Draws::new(seed);
        // Small blocks: each sample stands for `interval` bytes, with that
        // much squared as its variance.
        let (mut t, mut y, mut var) = (vec![0.0], vec![0.0], vec![0.0]);
        let mut samples = 0.0;
        for k in 1..points {
            let step = 0.5;
            // Samples among `rate * step` new bytes.
            samples += draws.poisson(rate * step / interval);
            t.push(k as f64 * step);
            y.push(samples * interval);
            var.push(samples * interval * interval);
        }
        (t, y, var)
    }

    /// A cache seen through sampling: it fills to `level` bytes over the
    /// first `fill` seconds, then replaces its entries, each living about
    /// `residence` seconds; small entries, one sample per `interval` bytes.
    fn sampled_cache(
        seed: u64,
        points: usize,
        level: f64,
        fill: f64,
        residence: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let interval = 0.5 * MIB;
        let mut draws = Draws::new(seed);
        let step = 0.5;
        let (mut t, mut y, mut var) = (Vec::new(), Vec::new(), Vec::new());
        let mut samples: f64 = 0.0;
        for k in 0..points {
            let now = k as f64 * step;
            // Bytes born in this step: filling, then replacing what dies.
            let born = if now < fill {
                level / fill * step
            } else {
                level / residence * step
            };
            let count = draws.poisson(born / interval);
            if now >= fill {
                // Each sample dies with the entry it stands for.
                let survive = (-step / residence).exp();
                samples = (0..samples as usize)
                    .filter(|_| draws.uniform() < survive)
                    .count() as f64;
            }
            samples += count;
            t.push(now);
            y.push(samples * interval);
            var.push(samples * interval * interval);
        }
        (t, y, var)
    }

    #[test]
    fn a_sampled_cache_that_filled_is_not_growing() {
        // 5 MiB (ten samples) filled in 2 s, entries living 5 s, seen for
        // 8 s and for 20 s: at most a few draws in a hundred look like
        // growth that goes on.
        for seconds in [8.0, 20.0] {
            let points = (seconds / 0.5) as usize + 1;
            let growing = (0..100)
                .filter(|&seed| {
                    let (t, y, var) = sampled_cache(seed, points, 5.0 * MIB, 2.0, 5.0);
                    let f = fit(&t, &y, &var).unwrap();
                    f.verdict == Verdict::Growing && f.confidence >= 0.99
                })
                .count();
            assert!(
                growing <= 3,
                "{growing} of 100 draws over {seconds} s are confident growth"
            );
        }
    }

    #[test]
    fn slope_error_covers_the_truth_under_persistent_sampling_error() {
        // 300 leaks of 1 MiB/s sampled every 512 KiB over 20 s: the true
        // slope should fall outside slope +- 2 standard errors about 5% of
        // the time. Treating sampling error as fresh at every snapshot makes
        // the error bar several times too narrow (outside most of the time).
        let rate = 1.0 * MIB;
        let draws = 300;
        let outside = (0..draws)
            .filter(|&seed| {
                let (t, y, var) = sampled_leak(seed, 41, rate, 0.5 * MIB);
                let f = fit(&t, &y, &var).unwrap();
                (f.slope - rate).abs() > 2.0 * f.slope_stddev
            })
            .count();
        let share = outside as f64 / draws as f64;
        assert!(
            share < 0.10,
            "{outside} of {draws} outside 2 standard errors"
        );
    }

    #[test]
    fn shrinking() {
        let f = verdict(&series(15, 0.2 * MIB, 0.0, |t| 80.0 * MIB - 3.0 * MIB * t));
        assert_eq!(f.verdict, Verdict::Shrinking, "{f:?}");
    }

    #[test]
    fn confidence_drops_as_snapshots_thin_out() {
        // The same leak seen through 40, 16, 8 and 4 snapshots, each with 60
        // noise draws: on average, fewer snapshots, less confidence.
        let grow = |t: f64| 10.0 * MIB + 1.0 * MIB * t;
        let mean_confidence = |n: usize| {
            let draws = 60;
            (0..draws)
                .map(|seed| verdict(&seeded(seed, n, 1.0 * MIB, 0.0, grow)).confidence)
                .sum::<f64>()
                / draws as f64
        };
        let confidences: Vec<f64> = [40, 16, 8, 5].into_iter().map(mean_confidence).collect();
        assert!(
            confidences.windows(2).all(|w| w[0] > w[1]),
            "{confidences:?}"
        );
        assert!(confidences[0] > 0.999, "{confidences:?}");
        assert!(fit(&[0.0], &[1.0], &[0.0]).is_none());
        assert!(fit(&[1.0, 1.0], &[1.0, 2.0], &[0.0, 0.0]).is_none());
    }

    #[test]
    fn two_snapshots_give_a_change_judged_against_sampling_error() {
        // 1 MiB of sampling error in the newer snapshot's new samples.
        let var = [0.0, MIB * MIB];
        let big = fit(&[0.0, 10.0], &[10.0 * MIB, 20.0 * MIB], &var).unwrap();
        assert_eq!((big.verdict, big.points), (Verdict::Growing, 2));
        assert!(
            big.confidence > 0.999 && (big.slope - MIB).abs() < 1.0,
            "{big:?}"
        );
        // One standard error of growth: not enough.
        let small = fit(&[0.0, 10.0], &[10.0 * MIB, 11.0 * MIB], &var).unwrap();
        assert_eq!(small.verdict, Verdict::Steady, "{small:?}");
        assert!((small.confidence - 0.841).abs() < 0.01, "{small:?}");
        let fell = fit(&[0.0, 10.0], &[20.0 * MIB, 10.0 * MIB], &var).unwrap();
        assert_eq!(fell.verdict, Verdict::Shrinking);
    }

    /// Each shape over 100 noise draws: the right verdict nearly always
    /// (noise alone may pass the 0.99 significance bar once in a hundred).
    #[test]
    fn verdicts_hold_across_noise_draws() {
        type Shape = Box<dyn Fn(f64) -> f64>;
        let shapes: [(&str, Verdict, f64, Shape); 6] = [
            (
                "linear leak",
                Verdict::Growing,
                0.99,
                Box::new(|t| 20.0 * MIB + 0.8 * MIB * t),
            ),
            (
                "warming cache",
                Verdict::Levelled,
                0.90,
                Box::new(|t| 40.0 * MIB * (1.0 - (-t / 4.0).exp())),
            ),
            (
                "start-up step",
                Verdict::Step,
                0.95,
                Box::new(|t| if t < 10.0 { 2.0 * MIB } else { 30.0 * MIB }),
            ),
            ("constant", Verdict::Steady, 0.97, Box::new(|_| 60.0 * MIB)),
            (
                "sawtooth",
                Verdict::Steady,
                0.97,
                Box::new(|t| (t % 8.0) * 2.0 * MIB),
            ),
            (
                "queue that fills and drains",
                Verdict::Steady,
                0.97,
                Box::new(|t| 20.0 * MIB * (t / 5.0).sin().abs()),
            ),
        ];
        for (name, expected, rate, shape) in &shapes {
            let hits = (0..100)
                .filter(|&seed| {
                    verdict(&seeded(seed, 30, 0.5 * MIB, 0.0, shape)).verdict == *expected
                })
                .count();
            assert!(
                hits as f64 >= rate * 100.0,
                "{name}: {hits}/100 {expected:?}"
            );
        }
    }
}
