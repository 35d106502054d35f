//! Whether a series of snapshots of a site (or a group of sites) shows
//! memory that keeps growing, how fast, and how sure we can be.
//! `docs/LEAKS.md` explains the reasoning for people.
//!
//! A site's samples are born and die. A snapshot says how many are live and
//! how old they are, so between two snapshots we know how many samples
//! were born and survived (the later snapshot's samples younger than the
//! time between them) and how many of the earlier snapshot's died. A leak
//! keeps adding survivors and loses none; a cache that filled replaces what
//! it evicts; a queue's samples die young; a table loaded once was born in
//! one moment. Three tests rest on that:
//!
//! 1. **Did it grow over the window?** The change of live bytes from the
//!    first snapshot to the last, against the bytes that could have come
//!    and gone by chance: the sum over the samples born and died in between
//!    of their bytes squared (each sample is one draw of a birth-and-death
//!    process; for small allocations this is also the sampling error). When
//!    the snapshot-to-snapshot changes scatter more than that (bursts, a
//!    sawtooth), every variance is inflated by the overdispersion seen.
//! 2. **Does it keep growing?** Over the later half of the window (from the
//!    snapshot closest to its middle): are there more survivors
//!    than a bounded population would replace? If the population alive at
//!    the middle (`A` samples) lost `D` of them by the end while `S`
//!    samples born since are alive at the end, a bounded population
//!    replaces its losses: `S` and `D` have the same mean, `A·q` for some
//!    death rate `q`. A likelihood ratio test of that against growth gives
//!    the confidence; its power comes from the deaths that did not happen
//!    as much as from the births that did, and it is held to the exact
//!    count of a handful of events. Growth within 1% of `A` is churn,
//!    never accumulation.
//! 3. **Did it stop, or was it one load?** Net growth over the second half
//!    of the later half at less than half the rate of the first, beyond
//!    chance, and itself within chance of none, is growth that stopped (a
//!    cache that filled, a store that reached its bound). At least half of
//!    the later half's survivors born in a quarter of it, far more than
//!    uniform arrivals would put there, and none after it, are a load, not
//!    growth that goes on (a table loaded late, a batch). Fewer than half
//!    of the samples born early in the later half (with no snapshot inside
//!    it, of those established at its start) still alive at its end,
//!    beyond chance, are a population that turns over: what came early did
//!    not stay, and what grew is the rate things arrive at.
//!
//! The confidence that the series keeps growing is the lower of the first
//! two. Where arrivals come in bunches (the changes between snapshots
//! scatter beyond chance), every test counts them as fewer, independent
//! ones. Verdicts: **growing**; **step** (it grew by one load); **levelled**
//! (it grew, then stopped: a cache that warmed up); **shrinking**; **steady**.

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
    /// Grew by one load, flat before and after.
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

    /// The verdict in a table people read: a steady row is listed beside a
    /// change (of a percent of the heap or more) that its samples could not
    /// tell from sampling and churn, so it reads "no trend", not "steady".
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Steady => "no trend",
            other => other.as_str(),
        }
    }
}

/// The live samples of one age bucket (summed over a group's sites).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Age {
    pub bucket: u16,
    pub samples: f64,
    pub bytes: f64,
    pub bytes_sq: f64,
}

/// One snapshot's figures of a site or a group of sites.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Point {
    /// Estimated live bytes.
    pub bytes: f64,
    /// Live samples.
    pub samples: f64,
    /// The sum over the live samples of their estimated bytes squared.
    pub bytes_sq: f64,
    /// Estimated live allocations, and the sampling variances of bytes and
    /// allocations.
    pub allocs: f64,
    pub bytes_var: f64,
    pub allocs_var: f64,
    /// The live samples by age bucket, youngest first.
    pub ages: Vec<Age>,
}

impl Point {
    /// Adds another site's figures (of the same snapshot).
    pub(crate) fn add(&mut self, other: &Point) {
        self.bytes += other.bytes;
        self.samples += other.samples;
        self.bytes_sq += other.bytes_sq;
        self.allocs += other.allocs;
        self.bytes_var += other.bytes_var;
        self.allocs_var += other.allocs_var;
        if other.ages.is_empty() {
            return;
        }
        let mut all: Vec<Age> = self.ages.iter().chain(&other.ages).copied().collect();
        all.sort_by_key(|age| age.bucket);
        self.ages.clear();
        for age in all {
            match self.ages.last_mut() {
                Some(last) if last.bucket == age.bucket => {
                    last.samples += age.samples;
                    last.bytes += age.bytes;
                    last.bytes_sq += age.bytes_sq;
                }
                _ => self.ages.push(age),
            }
        }
    }
}

/// Samples (and their bytes, and bytes squared) that came or went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Flow {
    /// Samples.
    pub samples: f64,
    /// Their estimated bytes.
    pub bytes: f64,
    /// The sum of their estimated bytes squared.
    pub bytes_sq: f64,
}

/// A series: snapshots at `times` (seconds), each with its age buckets'
/// lower bounds (`bounds`, milliseconds) and a site's or group's figures.
#[derive(Clone, Copy)]
pub(crate) struct Series<'a> {
    pub times: &'a [f64],
    pub bounds: &'a [&'a [u64]],
    pub points: &'a [Point],
    /// Every allocation recorded (sampling interval 1): the live samples
    /// are the population itself, not a sample of it.
    pub exact: bool,
}

impl Series<'_> {
    fn len(&self) -> usize {
        self.times.len()
    }

    /// The samples of snapshot `j` at least `age_ms` old.
    fn older(&self, j: usize, age_ms: f64) -> Flow {
        older(&self.points[j], self.bounds[j], age_ms)
    }

    /// Over the interval from snapshot `k - 1` to `k`: the samples that
    /// became established (reached the age `persist_ms`), the established
    /// samples of `k - 1` that died, and how many there were. A sample
    /// established at `k - 1` and alive at `k` is at least `persist_ms` plus
    /// the time between them old.
    fn established(&self, k: usize, persist_ms: f64) -> Interval {
        let gap_ms = (self.times[k] - self.times[k - 1]) * 1000.0;
        let population = self.older(k - 1, persist_ms);
        let stayed = self.older(k, persist_ms + gap_ms);
        Interval {
            settled: self.older(k, persist_ms).minus(stayed),
            died: population.minus(stayed),
            population: population.samples,
        }
    }

    /// The established flows of the intervals from snapshot `from` to
    /// snapshot `to`, summed.
    fn established_between(&self, from: usize, to: usize, persist_ms: f64) -> Interval {
        (from + 1..=to)
            .map(|k| self.established(k, persist_ms))
            .fold(Interval::default(), |sum, i| sum.plus(&i))
    }

    /// From snapshot `i` to snapshot `j`: the samples born after `i` that
    /// lived at least `persist_ms` and are alive at `j`, the samples
    /// established at `i` (at least `persist_ms` old) that died by `j`, and
    /// how many of those there were. Counted from the two snapshots alone,
    /// so that samples born before `i` never count as born after it,
    /// whatever `persist_ms` is.
    fn survivors_between(&self, i: usize, j: usize, persist_ms: f64) -> Interval {
        let since_ms = (self.times[j] - self.times[i]) * 1000.0;
        let population = self.older(i, persist_ms);
        let stayed = self.older(j, persist_ms + since_ms);
        Interval {
            settled: self
                .older(j, persist_ms)
                .minus(self.older(j, since_ms.max(persist_ms))),
            died: population.minus(stayed),
            population: population.samples,
        }
    }

    /// The snapshot before the last closest to `time` (the earlier of two
    /// as close), from `first` on.
    fn closest_before_last(&self, first: usize, time: f64) -> Option<usize> {
        (first..self.len() - 1).min_by(|&a, &b| {
            (self.times[a] - time)
                .abs()
                .total_cmp(&(self.times[b] - time).abs())
                .then(a.cmp(&b))
        })
    }

    /// The snapshot after `from` and before the last closest to the middle
    /// of the time between them.
    fn middle_after(&self, from: usize) -> Option<usize> {
        let last = self.len() - 1;
        let middle = self.times[from] + (self.times[last] - self.times[from]) / 2.0;
        self.closest_before_last(from + 1, middle)
    }

    /// True when the established samples (those older than `persist_ms`)
    /// grew over the second half of the time from snapshot `from` to the
    /// last at less than half the rate of the first half, beyond chance at
    /// `SIGNIFICANT`, and by no more than chance over that second half:
    /// growth that stopped (a cache that filled, a store that reached its
    /// bound). A leak keeps growing, even when its traffic falls.
    fn has_stopped(&self, from: usize, persist_ms: f64, dispersion: f64) -> bool {
        let last = self.len() - 1;
        let Some(q) = self.middle_after(from) else {
            return false;
        };
        let part = |i: usize, j: usize| {
            let flows = self.established_between(i, j, persist_ms);
            let seconds = self.times[j] - self.times[i];
            let rate = (flows.settled.samples - flows.died.samples) / seconds;
            let variance =
                (flows.settled.samples + flows.died.samples).max(1.0) / (seconds * seconds);
            (rate, variance)
        };
        let ((r1, v1), (r2, v2)) = (part(from, q), part(q, last));
        if r1 <= 0.0 || r2 >= r1 / 2.0 {
            return false;
        }
        let z = stats::normal_quantile(SIGNIFICANT);
        let scale = dispersion.max(1.0);
        let slowed = (r1 - r2) / (scale * (v1 + v2)).sqrt() >= z;
        // Growth that goes on at half the rate (traffic fell) has not
        // stopped: its last stretch must be consistent with no growth.
        let still_growing = r2 / (scale * v2).sqrt() >= z;
        slowed && !still_growing
    }

    /// True when most of the samples established at snapshot `from`, or
    /// most of those born early in the later half (from `from` to the
    /// middle of the time after it, and established by then), died by the
    /// last snapshot, fewer than half of them left, beyond chance at
    /// `SIGNIFICANT`: the population turns over, and what grew is the rate
    /// things arrive at (more traffic) or a table rehashed larger, not
    /// memory kept. A leak keeps its samples.
    /// Counted on the samples themselves, seen at the middle and again at
    /// the end: a stretch in which few were born (a stall) is not taken
    /// for one in which they died.
    ///
    /// With no snapshot between `from` and the last (snapshots clustered
    /// early by the growth trigger), the samples established at `from`
    /// stand in for those born early, and each one's fate counts: a leak
    /// keeps every sample it held. The scatter between snapshots is no
    /// measure of bunched deaths here: across the one interval that spans
    /// the later half, a rate that changed (a store that filled) scatters
    /// like bunches, and would hide the very deaths this test counts.
    ///
    /// A backlog behind a slow consumer loses its oldest too, yet what it
    /// keeps waits longer and longer: when the survivors aged
    /// ([`Series::ages_grow`]), the population does not turn over.
    fn turns_over(&self, from: usize, persist_ms: f64, dispersion: f64) -> bool {
        self.population_turns_over(from, persist_ms, dispersion)
            && !self.ages_grow(from, persist_ms, dispersion)
    }

    /// The test of [`Series::turns_over`] on the samples' fates alone.
    fn population_turns_over(&self, from: usize, persist_ms: f64, dispersion: f64) -> bool {
        let last = self.len() - 1;
        // The population established at `from`, and what is left of it.
        let since_ms = (self.times[last] - self.times[from]) * 1000.0;
        let seen = self.older(from, persist_ms).samples;
        let alive = self.older(last, persist_ms + since_ms).samples.min(seen);
        let Some(q) = self.middle_after(from) else {
            return mostly_died(seen, alive, 1.0);
        };
        // Most of it gone: what was kept is let go (a store that evicts
        // its oldest, whose memory still grew: its table rehashed into a
        // larger one). A leak keeps its population.
        if mostly_died(seen, alive, dispersion) {
            return true;
        }
        let early_ms = (self.times[q] - self.times[from]) * 1000.0;
        let since_ms = (self.times[last] - self.times[q]) * 1000.0;
        if early_ms <= persist_ms {
            return false;
        }
        let born_early = |j: usize, after_ms: f64| {
            (self.older(j, persist_ms + after_ms).samples
                - self.older(j, early_ms + after_ms).samples)
                .max(0.0)
        };
        let seen = born_early(q, 0.0);
        let alive = born_early(last, since_ms).min(seen);
        mostly_died(seen, alive, dispersion)
    }

    /// True when the established samples of the last snapshot are older
    /// than those of the snapshot in the middle of the time after `from`
    /// were: more of them older than the age of the oldest tenth there,
    /// beyond chance at `SIGNIFICANT`. A store that turns over keeps its
    /// ages (a cache at its bound, entries kept for a set time) or grows
    /// younger (more traffic, each entry kept as long); a backlog whose
    /// oldest wait longer and longer ages, though its oldest leave first.
    /// Measured over the last stretch only: a store still filling before
    /// it ages too. Without a snapshot in between, nothing says so.
    fn ages_grow(&self, from: usize, persist_ms: f64, dispersion: f64) -> bool {
        const OLDEST: f64 = 0.1;
        let last = self.len() - 1;
        let Some(q) = self.middle_after(from) else {
            return false;
        };
        let then = self.older(q, persist_ms).samples;
        let now = self.older(last, persist_ms).samples;
        if then <= 0.0 || now <= 0.0 {
            return false;
        }
        let old = self.age_of_oldest(q, OLDEST * then, persist_ms);
        // The shares older than that age, then and now, compared as two
        // samples (counts scaled down by the overdispersion).
        let scale = dispersion.max(1.0);
        let (n_then, n_now) = (then / scale, now / scale);
        let share_then = self.older(q, old).samples / then;
        let share_now = self.older(last, old).samples / now;
        let pooled = (share_then * n_then + share_now * n_now) / (n_then + n_now);
        let sd = (pooled * (1.0 - pooled) * (1.0 / n_then + 1.0 / n_now)).sqrt();
        sd > 0.0 && (share_now - share_then) / sd >= stats::normal_quantile(SIGNIFICANT)
    }

    /// The age above which snapshot `j` holds `samples` samples (at least
    /// `from_ms`), by bisection: the count of older samples falls with the
    /// age.
    fn age_of_oldest(&self, j: usize, samples: f64, from_ms: f64) -> f64 {
        let (mut young, mut old) = (from_ms, from_ms.max(1.0));
        while self.older(j, old).samples > samples && old < 1e12 {
            (young, old) = (old, old * 2.0);
        }
        for _ in 0..40 {
            let mid = (young + old) / 2.0;
            if self.older(j, mid).samples > samples {
                young = mid;
            } else {
                old = mid;
            }
        }
        old
    }

    /// The survivors counted by `survivors_between(from, last)` by when
    /// they were born: `parts` equal slices of the time they could be born
    /// in, oldest first.
    fn survivors_born(&self, from: usize, persist_ms: f64, parts: usize) -> Vec<f64> {
        let last = self.len() - 1;
        let since_ms = (self.times[last] - self.times[from]) * 1000.0;
        let span = (since_ms - persist_ms).max(0.0);
        let older = |k: usize| {
            self.older(last, persist_ms + span * k as f64 / parts as f64)
                .samples
        };
        (0..parts)
            .rev()
            .map(|k| (older(k) - older(k + 1)).max(0.0))
            .collect()
    }

    /// How much more the established flows of single intervals scatter than
    /// births and deaths at random would make them: bursts, whose samples
    /// come and go together. 1 unless the scatter is beyond chance (1% by
    /// Pearson's chi-square).
    fn overdispersion(&self, persist_ms: f64, floor: f64) -> f64 {
        let n = self.len();
        if n < 4 {
            return 1.0;
        }
        let span = self.times[n - 1] - self.times[0];
        let intervals: Vec<Interval> = (1..n).map(|k| self.established(k, persist_ms)).collect();
        let mut rates: Vec<f64> = intervals
            .iter()
            .zip(self.times.windows(2))
            .map(|(i, t)| i.net_bytes() / (t[1] - t[0]).max(1e-9))
            .collect();
        let rate = stats::median(&mut rates).unwrap_or(0.0);
        // An interval in which nothing settled or died still had its share
        // of the window's flow to expect: a count's variance is its mean.
        let total = intervals.iter().fold(Interval::default(), |a, b| a.plus(b));
        let chi_square: f64 = intervals
            .iter()
            .zip(self.times.windows(2))
            .map(|(i, t)| {
                let dt = t[1] - t[0];
                let variance = i.variance().max(total.variance() * dt / span) + floor;
                (i.net_bytes() - rate * dt).powi(2) / variance
            })
            .sum();
        let dof = (n - 2) as f64;
        if stats::chi_square_tail(chi_square, dof) < 0.01 {
            (chi_square / dof).max(1.0)
        } else {
            1.0
        }
    }
}

/// Established samples' comings and goings over an interval.
#[derive(Clone, Copy, Debug, Default)]
struct Interval {
    /// Samples that became established.
    settled: Flow,
    /// Established samples that died.
    died: Flow,
    /// Established samples at its start.
    population: f64,
}

impl Interval {
    fn plus(self, other: &Interval) -> Interval {
        Interval {
            settled: self.settled.plus(other.settled),
            died: self.died.plus(other.died),
            population: self.population + other.population,
        }
    }

    fn net_bytes(&self) -> f64 {
        self.settled.bytes - self.died.bytes
    }

    /// The variance of the net bytes if samples came and went at random.
    fn variance(&self) -> f64 {
        self.settled.bytes_sq + self.died.bytes_sq
    }
}

impl Flow {
    fn plus(self, other: Flow) -> Flow {
        Flow {
            samples: self.samples + other.samples,
            bytes: self.bytes + other.bytes,
            bytes_sq: self.bytes_sq + other.bytes_sq,
        }
    }

    /// `self` less `other`, never below zero.
    fn minus(self, other: Flow) -> Flow {
        Flow {
            samples: (self.samples - other.samples).max(0.0),
            bytes: (self.bytes - other.bytes).max(0.0),
            bytes_sq: (self.bytes_sq - other.bytes_sq).max(0.0),
        }
    }
}

/// The samples of `point` at least `age_ms` old, its age buckets' lower
/// bounds being `bounds` (a bucket that straddles the age counts in
/// proportion to the part older).
pub(crate) fn older(point: &Point, bounds: &[u64], age_ms: f64) -> Flow {
    let mut older = Flow::default();
    for age in &point.ages {
        let k = age.bucket as usize;
        let low = if k == 0 {
            0.0
        } else {
            bounds.get(k - 1).map_or(f64::INFINITY, |&b| b as f64)
        };
        let high = bounds.get(k).map_or(f64::INFINITY, |&b| b as f64);
        let share = if age_ms <= low {
            1.0
        } else if age_ms >= high {
            0.0
        } else if high.is_finite() {
            (high - age_ms) / (high - low)
        } else {
            // The last bucket is open: ages beyond it are years.
            0.5
        };
        older.samples += age.samples * share;
        older.bytes += age.bytes * share;
        older.bytes_sq += age.bytes_sq * share;
    }
    older
}

/// The shape of a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// What kind of change.
    pub verdict: Verdict,
    /// Growth rate, bytes per second (Theil-Sen).
    pub slope: f64,
    /// Its standard error.
    pub slope_stddev: f64,
    /// Growth rate over the later half (Theil-Sen over its snapshots): how
    /// fast it grows now. A leak that began late grows at this rate while
    /// the window's slope, flat for most pairs, reads nearly none.
    pub recent_slope: f64,
    /// Its standard error.
    pub recent_slope_stddev: f64,
    /// Time from the later half's first snapshot to the last, seconds.
    pub recent_span: f64,
    /// How sure the series keeps growing, 0 to 1.
    pub confidence: f64,
    /// Last value minus first.
    pub growth: f64,
    /// How much of the variation a straight line explains, 0 to 1.
    pub r_squared: f64,
    /// Points in the series.
    pub points: usize,
    /// Time from the first point to the last, seconds.
    pub span: f64,
    /// The later half: samples born in it that outlived a typical time
    /// between snapshots and are alive at the end.
    pub late_born: Flow,
    /// Samples established at its start that died by the end.
    pub late_died: Flow,
    /// Samples established at its start: the population deaths are
    /// counted among.
    pub population: f64,
}

/// Significance a change needs before it is more than steady.
const SIGNIFICANT: f64 = 0.99;
/// The highest confidence ever given.
const MOST_CONFIDENT: f64 = 0.999_999;
/// Heaps churn: changes within 1% of the series' level are never growth.
const CHURN: f64 = 0.01;
/// Survivors of the later half all born in one of its quarters, more than
/// uniform arrivals would put there at this level, are one load.
const ONE_LOAD: f64 = 0.001;

/// Fits a series. `None` for fewer than two points, or no time between
/// them.
pub(crate) fn fit(series: Series<'_>) -> Option<Fit> {
    let n = series.len();
    if n < 2 || series.points.len() != n || series.bounds.len() != n {
        return None;
    }
    let span = series.times[n - 1] - series.times[0];
    if span <= 0.0 {
        return None;
    }
    let bytes: Vec<f64> = series.points.iter().map(|p| p.bytes).collect();
    let level = bytes.iter().map(|b| b.abs()).sum::<f64>() / n as f64;
    let churn = (CHURN * level).powi(2).max(1.0);
    let persist_ms = persistence_ms(series.times);
    let dispersion = series.overdispersion(persist_ms, churn);

    // 1. Growth over the window: how many samples settled against how many
    // died. Counted in samples, so that a table that doubles (one sample
    // born, one dying) or one large block weighs as one event, not as the
    // bytes it holds.
    let window = series.established_between(0, n - 1, persist_ms);
    let samples_level = series.points.iter().map(|p| p.samples).sum::<f64>() / n as f64;
    let count_churn = (CHURN * samples_level).powi(2);
    let net = window.settled.samples - window.died.samples;
    let count_sd = (dispersion * (window.settled.samples + window.died.samples) + count_churn)
        .sqrt()
        .max(1.0);
    let grew = if window.net_bytes() > 0.0 || net < 0.0 {
        stats::normal_cdf(net / count_sd)
    } else {
        0.5
    };
    let window_sd = (dispersion * window.variance() + churn).sqrt();

    // 2. Growth in the later half, from the snapshot closest to the middle
    // of the window: survivors born in it against deaths among the
    // population at its start. Growth within 1% of that population is
    // churn, never accumulation.
    let middle = series.times[0] + span / 2.0;
    let from = series.closest_before_last(0, middle).unwrap_or(0);
    let late = series.survivors_between(from, n - 1, persist_ms);
    let keeps_growing = if late.net_bytes() > 0.0 {
        accumulation_confidence(
            Turnover {
                born: (late.settled.samples - CHURN * late.population).max(0.0),
                died: late.died.samples,
                population: late.population,
            },
            series.exact,
            dispersion,
        )
    } else {
        0.0
    };

    // 3. When the survivors of the later half were born, in eighths of the
    // time they could be born in.
    let births = series.survivors_born(from, persist_ms, 8);
    let (slope, intercept) = stats::theil_sen(series.times, &bytes)?;
    let recent_span = series.times[n - 1] - series.times[from];
    let (recent_slope, recent_slope_stddev) =
        match stats::theil_sen(&series.times[from..], &bytes[from..]) {
            Some((recent, _)) if recent_span > 0.0 => (
                recent,
                (dispersion * late.variance() + churn).sqrt() / recent_span,
            ),
            _ => (slope, window_sd / span),
        };
    let verdict = if grew >= SIGNIFICANT {
        if is_one_load(&births, dispersion) {
            Verdict::Step
        } else if keeps_growing >= 0.5
            && !series.turns_over(from, persist_ms, dispersion)
            && !series.has_stopped(from, persist_ms, dispersion)
        {
            Verdict::Growing
        } else {
            Verdict::Levelled
        }
    } else if 1.0 - grew >= SIGNIFICANT {
        Verdict::Shrinking
    } else {
        Verdict::Steady
    };
    // Never certain: a model is behind every number.
    let confidence = match verdict {
        Verdict::Growing | Verdict::Steady => grew.min(keeps_growing),
        Verdict::Levelled | Verdict::Step | Verdict::Shrinking => grew.min(keeps_growing).min(0.5),
    }
    .min(MOST_CONFIDENT);
    Some(Fit {
        verdict,
        slope,
        slope_stddev: window_sd / span,
        recent_slope,
        recent_slope_stddev,
        recent_span: recent_span.max(0.0),
        confidence,
        growth: bytes[n - 1] - bytes[0],
        r_squared: r_squared(series.times, &bytes, slope, intercept),
        points: n,
        span,
        late_born: late.settled,
        late_died: late.died,
        population: late.population,
    })
}

/// How long a sample must have lived to count in the later half: the
/// median time between snapshots, within a twentieth and a quarter of the
/// window. Shorter lives come and go between snapshots, and their numbers
/// stay level whatever the site does.
pub(crate) fn persistence_ms(times: &[f64]) -> f64 {
    let n = times.len();
    let span = times[n - 1] - times[0];
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let median = stats::median(&mut gaps).unwrap_or(span);
    median.clamp(span / 20.0, span / 4.0) * 1000.0
}

/// Survivors born in a stretch of time, deaths among the population alive
/// at its start, and that population, in samples.
#[derive(Clone, Copy, Debug)]
struct Turnover {
    born: f64,
    died: f64,
    population: f64,
}

/// How sure we are that a `Turnover` shows more survivors than a bounded
/// population replacing its losses would leave: the signed root of the
/// likelihood ratio of "survivors and deaths share one rate" against free
/// survivors, scaled down by the overdispersion.
///
/// The model: the population alive at the start (`N`, of which `A`
/// samples were seen) loses each member with probability `q` (deaths are
/// binomial among the `A`), and a bounded population replaces them: the
/// survivors are Poisson with mean `N·q`. When sampled, `A` is itself a
/// Poisson draw of mean `N`, so a population seen small by chance is not
/// taken for growth when it is renewed; when `exact`, `N = A`.
///
/// The ratio's chi-square approximation overstates a handful of events
/// (four survivors and no death read as 99.1%, where renewal leaves that
/// once in sixteen), so where deaths are rare enough to count like
/// arrivals (at most half the population died) the confidence is never
/// above the exact count's (`renewal_tail`). Where most died, the deaths
/// are nearly certain and the exact count would understate the evidence.
fn accumulation_confidence(turnover: Turnover, exact: bool, dispersion: f64) -> f64 {
    let root = (2.0
        * (free_likelihood(turnover, exact) - bounded_likelihood(turnover, exact)).max(0.0)
        / dispersion.max(1.0))
    .sqrt();
    let ratio = if turnover.born <= turnover.died {
        stats::normal_cdf(-root)
    } else {
        stats::normal_cdf(root)
    };
    if turnover.died <= turnover.population / 2.0 {
        ratio.min(1.0 - renewal_tail(turnover, dispersion))
    } else {
        ratio
    }
}

/// The chance, counted exactly, of at least as many survivors among the
/// later half's events (survivors and deaths) as were seen, if a bounded
/// population renewed itself: then each event is as likely a survivor
/// (a replacement) as a death. The conditional test of two Poisson
/// counts with one mean, its mid-p value (half the chance of exactly as
/// many), which keeps its size near the nominal one for small counts.
fn renewal_tail(t: Turnover, dispersion: f64) -> f64 {
    let events = t.born + t.died;
    let at_least = arrivals_tail(events, 0.5, t.born, dispersion);
    let beyond = arrivals_tail(events, 0.5, t.born + dispersion.max(1.0), dispersion);
    (at_least + beyond) / 2.0
}

/// Poisson log-likelihood of `k` at `mean`, less the terms that cancel.
fn poisson_log(k: f64, mean: f64) -> f64 {
    let mean = mean.max(1e-300);
    if k > 0.0 { k * mean.ln() - mean } else { -mean }
}

/// Binomial log-likelihood of `k` deaths among `n` at probability `q`, less
/// the terms that cancel.
fn binomial_log(k: f64, n: f64, q: f64) -> f64 {
    let q = q.clamp(1e-12, 1.0 - 1e-12);
    let died = if k > 0.0 { k * q.ln() } else { 0.0 };
    let alive = if n > k { (n - k) * (1.0 - q).ln() } else { 0.0 };
    died + alive
}

/// The log-likelihood with each count at its own rate.
fn free_likelihood(t: Turnover, exact: bool) -> f64 {
    let a = t.population.max(t.died);
    let seen = if exact { 0.0 } else { poisson_log(a, a) };
    let q = if a > 0.0 { t.died / a } else { 0.0 };
    seen + binomial_log(t.died, a, q) + poisson_log(t.born, t.born)
}

/// The log-likelihood at its best when survivors replace deaths (both at
/// rate `q` of the population).
fn bounded_likelihood(t: Turnover, exact: bool) -> f64 {
    let (a, born, died) = (t.population.max(t.died), t.born, t.died);
    if exact {
        if a <= 0.0 {
            // Nothing was alive to replace: each survivor is evidence, as
            // much as a Poisson count of that size against none expected
            // by half its mean.
            return poisson_log(born, born) - born;
        }
        // q solves a·q² − (born + 2a)·q + (born + died) = 0.
        let b = born + 2.0 * a;
        let q =
            ((b - (b * b - 4.0 * a * (born + died)).max(0.0).sqrt()) / (2.0 * a)).clamp(1e-12, 1.0);
        return poisson_log(born, a * q) + binomial_log(died, a, q);
    }
    // With N = (a + born) / (1 + q) at its best for each q, q solves
    // (died + born) / q − (a − died) / (1 − q) − (a + born) / (1 + q) = 0,
    // whose left side falls from +∞ to −∞ over (0, 1): bisection.
    let slope = |q: f64| (died + born) / q - (a - died) / (1.0 - q) - (a + born) / (1.0 + q);
    let (mut low, mut high) = (1e-12, 1.0 - 1e-12);
    for _ in 0..80 {
        let mid = (low + high) / 2.0;
        if slope(mid) > 0.0 {
            low = mid;
        } else {
            high = mid;
        }
    }
    let q = (low + high) / 2.0;
    let n = (a + born) / (1.0 + q);
    poisson_log(a, n) + binomial_log(died, a, q) + poisson_log(born, n * q)
}

/// True when a quarter of the time (two adjacent eighths, `births`) holds
/// at least half of the survivors, more than uniform arrivals would put
/// there but once in a thousand, and none came after it beyond churn (an
/// eighth after it is left for ages that straddle its end): a table
/// loaded, a batch, not growth that goes on. Growth that came in a burst
/// and went on after it is judged as growth.
fn is_one_load(births: &[f64], dispersion: f64) -> bool {
    let total: f64 = births.iter().sum();
    let Some((peak, most)) = births
        .windows(2)
        .map(|pair| pair[0] + pair[1])
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return false;
    };
    let after: f64 = births.iter().skip(peak + 3).sum();
    most >= total / 2.0
        && after <= CHURN * total
        && (births.len() - 1) as f64 * arrivals_tail(total, 0.25, most, dispersion) < ONE_LOAD
}

/// True when fewer than half of `seen` samples are `alive` later, beyond
/// chance at `SIGNIFICANT`.
fn mostly_died(seen: f64, alive: f64, dispersion: f64) -> bool {
    alive < seen / 2.0 && arrivals_tail(seen, 0.5, seen - alive, dispersion) < 1.0 - SIGNIFICANT
}

/// The chance that `share` of `total` arrivals at random puts at least
/// `observed` in place: binomial, its counts scaled down by the
/// overdispersion (arrivals that come in bunches are fewer independent
/// ones).
fn arrivals_tail(total: f64, share: f64, observed: f64, dispersion: f64) -> f64 {
    let scale = dispersion.max(1.0);
    let (n, k) = ((total / scale).round(), (observed / scale).round());
    if n < 1.0 {
        return 1.0;
    }
    stats::binomial_tail(n as u64, share, k as u64)
}

fn r_squared(t: &[f64], y: &[f64], slope: f64, intercept: f64) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let total: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let residual: f64 = t
        .iter()
        .zip(y)
        .map(|(t, y)| (y - intercept - slope * t).powi(2))
        .sum();
    if total > 0.0 {
        (1.0 - residual / total).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapsnap_format::snapshot::{AGE_BUCKETS_MS, age_bucket};

    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * KIB;

    /// An allocation: when it was made, when it was freed, how big.
    #[derive(Clone, Copy)]
    struct Object {
        born: f64,
        dies: f64,
        size: f64,
    }

    /// Reproducible draws (xorshift).
    struct Draws(u64);

    impl Draws {
        fn new(seed: u64) -> Draws {
            Draws(0x2545_F491_4F6C_DD1D ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }

        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        fn exponential(&mut self, mean: f64) -> f64 {
            -mean * (1.0 - self.uniform()).ln()
        }
    }

    /// What the profiler would report at `times` about `objects`, sampled
    /// Poisson-style every `interval` bytes: each object is sampled with
    /// probability `1 - exp(-size / interval)` and stands for the inverse.
    fn observe(objects: &[Object], interval: f64, times: &[f64], draws: &mut Draws) -> Vec<Point> {
        let sampled: Vec<(Object, f64)> = objects
            .iter()
            .filter_map(|o| {
                let p = 1.0 - (-o.size / interval).exp();
                (draws.uniform() < p).then(|| (*o, o.size / p))
            })
            .collect();
        times
            .iter()
            .map(|&t| {
                let mut point = Point::default();
                let mut ages: Vec<(u16, f64)> = sampled
                    .iter()
                    .filter(|(o, _)| o.born <= t && t < o.dies)
                    .map(|(o, bytes)| (age_bucket(((t - o.born) * 1000.0) as u64), *bytes))
                    .collect();
                ages.sort_by_key(|a| a.0);
                for (bucket, bytes) in ages {
                    point.bytes += bytes;
                    point.samples += 1.0;
                    point.bytes_sq += bytes * bytes;
                    match point.ages.last_mut() {
                        Some(age) if age.bucket == bucket => {
                            age.samples += 1.0;
                            age.bytes += bytes;
                            age.bytes_sq += bytes * bytes;
                        }
                        _ => point.ages.push(Age {
                            bucket,
                            samples: 1.0,
                            bytes,
                            bytes_sq: bytes * bytes,
                        }),
                    }
                }
                point
            })
            .collect()
    }

    fn fit_of(objects: &[Object], interval: f64, times: &[f64], draws: &mut Draws) -> Fit {
        let points = observe(objects, interval, times, draws);
        let bounds = vec![&AGE_BUCKETS_MS[..]; times.len()];
        fit(Series {
            times,
            bounds: &bounds,
            points: &points,
            exact: interval <= 1.0,
        })
        .expect("a fit")
    }

    /// Objects of `size` bytes made at `rate` bytes a second from `from`
    /// to `to`, each living `life(draws)` seconds.
    fn stream(
        draws: &mut Draws,
        (from, to): (f64, f64),
        rate: f64,
        size: f64,
        mut life: impl FnMut(&mut Draws) -> f64,
    ) -> Vec<Object> {
        let mut objects = Vec::new();
        let mut t = from + draws.exponential(size / rate);
        while t < to {
            let dies = t + life(draws);
            objects.push(Object {
                born: t,
                dies,
                size,
            });
            t += draws.exponential(size / rate);
        }
        objects
    }

    fn evenly(count: usize, seconds: f64) -> Vec<f64> {
        (0..count)
            .map(|k| k as f64 * seconds / (count - 1) as f64)
            .collect()
    }

    /// How many of 200 draws of `make` are confident growth (a suspect).
    fn suspects_in_200(
        interval: f64,
        times: &[f64],
        make: impl Fn(&mut Draws) -> Vec<Object>,
    ) -> usize {
        (0..200)
            .filter(|&seed| {
                let mut draws = Draws::new(seed);
                let objects = make(&mut draws);
                let fit = fit_of(&objects, interval, times, &mut draws);
                fit.verdict == Verdict::Growing && fit.confidence >= 0.99
            })
            .count()
    }

    const FOREVER: f64 = 1e9;

    /// A leak over 12 snapshots, in small blocks, beside short-lived
    /// garbage of the same site, at both usual intervals: of 30 sampling
    /// intervals found in nearly every draw; of 20, in most (the later
    /// half then holds about nine survivors, and six with no death are
    /// needed for 99%: the detection limit).
    #[test]
    fn a_leak_of_twenty_to_thirty_intervals_is_found() {
        for interval in [512.0 * KIB, 64.0 * KIB] {
            for (intervals, least) in [(30.0, 190), (20.0, 170)] {
                let seconds = 10.0;
                let times = evenly(12, seconds);
                let found = suspects_in_200(interval, &times, |draws| {
                    let leak_rate = intervals * interval / seconds;
                    let mut objects = stream(draws, (0.0, seconds), leak_rate, 600.0, |_| FOREVER);
                    objects.extend(stream(draws, (0.0, seconds), 8.0 * leak_rate, 600.0, |d| {
                        d.exponential(0.05)
                    }));
                    objects
                });
                assert!(
                    found >= least,
                    "{intervals} intervals of {interval}: {found} of 200 found"
                );
            }
        }
    }

    /// A leak whose traffic falls to a quarter for the last quarter of the
    /// window is still growing: it slowed, it did not stop. (When halving
    /// the rate was enough to stop, 18 of 200 were called levelled.)
    #[test]
    fn a_leak_that_slows_has_not_stopped() {
        let interval = 64.0 * KIB;
        let seconds = 10.0;
        let times = evenly(12, seconds);
        let found = suspects_in_200(interval, &times, |draws| {
            let rate = 120.0 * interval / seconds;
            let mut objects = stream(draws, (0.0, 7.5), rate, 600.0, |_| FOREVER);
            objects.extend(stream(draws, (7.5, seconds), rate / 4.0, 600.0, |_| {
                FOREVER
            }));
            objects
        });
        assert!(found >= 190, "{found} of 200 found");
    }

    /// A leak that began at three quarters of the window grows now at its
    /// own rate, which the later half's slope reads; the window's slope,
    /// flat for most pairs of snapshots, reads far less.
    #[test]
    fn a_leak_that_began_late_is_given_its_rate_now() {
        let interval = 64.0 * KIB;
        let seconds = 10.0;
        let times = evenly(12, seconds);
        let rate = 60.0 * interval / 2.5;
        let mut near = 0;
        let mut found = 0;
        for seed in 0..200 {
            let mut draws = Draws::new(seed);
            let mut objects = stream(&mut draws, (7.5, seconds), rate, 600.0, |_| FOREVER);
            objects.extend(stream(&mut draws, (0.0, seconds), rate, 600.0, |d| {
                d.exponential(0.05)
            }));
            let fit = fit_of(&objects, interval, &times, &mut draws);
            if fit.verdict != Verdict::Growing {
                continue;
            }
            found += 1;
            // The later half began near 5 s: the leak's bytes over its time.
            let expected = rate * (seconds - 7.5) / fit.recent_span;
            if (fit.recent_slope - expected).abs()
                <= 3.0 * fit.recent_slope_stddev.max(expected / 4.0)
            {
                near += 1;
            }
        }
        assert!(found >= 150, "{found} of 200 found");
        assert!(near >= found * 9 / 10, "{near} of {found} near the rate");
    }

    /// Healthy shapes, 200 draws each at 512 KiB and 64 KiB: at most one
    /// or two confident suspects among them.
    #[test]
    fn healthy_shapes_are_not_growth() {
        type Make = Box<dyn Fn(&mut Draws, f64) -> Vec<Object>>;
        let seconds = 10.0;
        let shapes: Vec<(&str, Make)> = vec![
            (
                "cache that warms up for 3 s, then replaces entries",
                Box::new(move |d, interval| {
                    let capacity = 60.0 * interval;
                    let size = 700.0;
                    let count = (capacity / size) as usize;
                    // Filling: `count` entries over 3 s; then each insert
                    // evicts the oldest.
                    let mut objects: Vec<Object> = (0..count)
                        .map(|i| Object {
                            born: 3.0 * i as f64 / count as f64,
                            dies: FOREVER,
                            size,
                        })
                        .collect();
                    let mut t = 3.0;
                    let mut oldest = 0;
                    while t < seconds {
                        t += d.exponential(3.0 / count as f64 * 2.0);
                        objects[oldest].dies = t;
                        oldest += 1;
                        objects.push(Object {
                            born: t,
                            dies: FOREVER,
                            size,
                        });
                    }
                    objects
                }),
            ),
            (
                "store that fills for 4 s, then evicts its oldest",
                Box::new(move |d, interval| {
                    // Arrivals at a steady rate; each lives 4 s, evicted
                    // by the arrivals once the store is full.
                    stream(d, (0.0, seconds), 30.0 * interval / 4.0, 800.0, |_| 4.0)
                }),
            ),
            (
                "table of small entries loaded once at 70% of the window",
                Box::new(move |_, interval| {
                    (0..(80.0 * interval / 96.0) as usize)
                        .map(|i| Object {
                            born: 7.0 + i as f64 * 1e-7,
                            dies: FOREVER,
                            size: 96.0,
                        })
                        .collect()
                }),
            ),
            (
                "queue of jobs living a second",
                Box::new(move |d, interval| {
                    stream(d, (0.0, seconds), 20.0 * interval, 512.0, |d| {
                        d.exponential(1.0)
                    })
                }),
            ),
            (
                "queue filled in bursts and drained every 2.5 s",
                Box::new(move |d, interval| {
                    let mut objects = Vec::new();
                    let mut start = 0.0;
                    while start < seconds {
                        let end = start + 2.5;
                        if d.uniform() < 0.6 {
                            objects.extend(
                                stream(d, (start, end), 12.0 * interval, 512.0, |_| 0.0)
                                    .into_iter()
                                    .map(|o| Object { dies: end, ..o }),
                            );
                        }
                        start = end;
                    }
                    objects
                }),
            ),
            (
                "steady working set replaced at random",
                Box::new(move |d, interval| {
                    stream(d, (-30.0, seconds), 10.0 * interval, 300.0, |d| {
                        d.exponential(8.0)
                    })
                }),
            ),
        ];
        for interval in [512.0 * KIB, 64.0 * KIB] {
            for times in [evenly(12, seconds), evenly(30, seconds)] {
                for (name, make) in &shapes {
                    let suspects = suspects_in_200(interval, &times, |d| make(d, interval));
                    assert!(
                        suspects <= 2,
                        "{name} at {interval}, {} snapshots: {suspects} suspects in 200",
                        times.len()
                    );
                }
            }
        }
    }

    /// Snapshots clustered at the start by the growth trigger, then one at
    /// the end: a store that fills for half the window and then evicts its
    /// oldest grew between the last two with nothing seen in between; that
    /// what it held early is gone says it turns over (without that test,
    /// 14 of 200 were suspects at 64 KiB). A leak seen the same way keeps
    /// what it held and is still found. A store of 20 intervals holds too
    /// few samples at its start to tell (3 or so; about 75 of 200 are
    /// suspects): the detection limit.
    #[test]
    fn a_store_seen_only_early_and_at_the_end_turns_over() {
        let times = [0.0, 0.38, 0.59, 0.7, 8.7];
        for interval in [1.0, 64.0 * KIB, 512.0 * KIB] {
            let size = if interval > 1.0 { 170.0 } else { 64.0 };
            let bytes = (60.0 * interval).max(4.0 * MIB);
            let store = suspects_in_200(interval, &times, |d| {
                stream(d, (-1.0, 8.7), bytes / 4.35, size, |_| 4.35)
            });
            assert!(store <= 2, "store at {interval}: {store} suspects in 200");
            let leak = suspects_in_200(interval, &times, |d| {
                stream(d, (-1.0, 8.7), bytes / 8.7, size, |_| FOREVER)
            });
            assert!(leak >= 180, "leak at {interval}: {leak} of 200 found");
        }
    }

    /// A backlog behind a consumer that takes the oldest at half the pace
    /// they arrive: every object established in the later half leaves,
    /// yet the queue keeps growing and its oldest wait longer and longer.
    /// It is no store turning over; the same arrivals kept a set time
    /// are.
    #[test]
    fn a_backlog_whose_oldest_leave_first_keeps_growing() {
        let seconds = 9.9;
        let times = evenly(21, seconds);
        for interval in [512.0 * KIB, 64.0 * KIB] {
            let rate = 160.0 * interval / 4.0;
            let size = 600.0;
            let backlog = suspects_in_200(interval, &times, |d| {
                let mut objects = stream(d, (0.0, seconds), rate, size, |_| FOREVER);
                let mut free_at = 0.0_f64;
                for object in &mut objects {
                    free_at = free_at.max(object.born) + size / (rate / 2.0);
                    object.dies = free_at;
                }
                objects
            });
            assert!(
                backlog >= 190,
                "backlog at {interval}: {backlog} of 200 found"
            );
            let kept_a_while = suspects_in_200(interval, &times, |d| {
                stream(d, (0.0, seconds), rate, size, |_| 2.5)
            });
            assert!(
                kept_a_while <= 2,
                "kept 2.5 s at {interval}: {kept_a_while} suspects in 200"
            );
        }
    }

    /// A store that evicts its oldest (entries live 4 s), full from 4 s,
    /// whose table rehashes into one twice as large at 6.4 s: its memory
    /// grows in the later half while the population of the middle dies.
    /// Not a leak; the same table beside entries kept forever is one. (The
    /// evaluation's false suspect, seed 1000038; here, before the
    /// population's deaths counted, 3 of 200 at 64 KiB.)
    #[test]
    fn a_store_whose_table_grows_as_it_turns_over_is_no_leak() {
        let seconds = 9.9;
        let times = evenly(21, seconds);
        for interval in [512.0 * KIB, 64.0 * KIB] {
            let rate = 160.0 * interval / 4.0;
            let with_table = |draws: &mut Draws, life: f64| {
                let mut objects = stream(draws, (0.0, seconds), rate, 600.0, |_| life);
                let table = 0.3 * 160.0 * interval;
                objects.push(Object {
                    born: 3.9,
                    dies: 6.4,
                    size: table,
                });
                objects.push(Object {
                    born: 6.4,
                    dies: FOREVER,
                    size: 2.0 * table,
                });
                objects
            };
            let store = suspects_in_200(interval, &times, |d| with_table(d, 4.0));
            assert!(store <= 2, "store at {interval}: {store} suspects in 200");
            let leak = suspects_in_200(interval, &times, |d| with_table(d, FOREVER));
            assert!(leak >= 190, "leak at {interval}: {leak} of 200 found");
        }
    }

    /// A leak whose traffic comes in a burst (25 times its rate for 0.6 s,
    /// as on a machine whose other load starves the clients and then lets
    /// them run) is still growing after the burst: growth, not one load
    /// (when a burst was enough for a step, 5 and 2 of 200 were found).
    #[test]
    fn a_leak_with_a_burst_is_not_one_load() {
        for interval in [512.0 * KIB, 64.0 * KIB] {
            let seconds = 10.0;
            let times = evenly(12, seconds);
            let rate = 40.0 * interval / seconds;
            let found = suspects_in_200(interval, &times, |draws| {
                let mut objects = stream(draws, (0.0, seconds), rate, 600.0, |_| FOREVER);
                objects.extend(stream(draws, (6.0, 6.6), 25.0 * rate, 600.0, |_| FOREVER));
                objects
            });
            assert!(found >= 190, "at {interval}: {found} of 200 found");
        }
    }

    /// A cache that filled early but keeps what it took: it grew, then
    /// stopped; a table loaded once: a step.
    #[test]
    fn verdicts_name_the_shape() {
        let interval = 64.0 * KIB;
        let times = evenly(12, 10.0);
        let mut draws = Draws::new(7);
        let filled = stream(&mut draws, (0.0, 3.0), 20.0 * interval / 3.0, 500.0, |_| {
            FOREVER
        });
        assert_eq!(
            fit_of(&filled, interval, &times, &mut draws).verdict,
            Verdict::Levelled
        );
        let load: Vec<Object> = (0..20_000)
            .map(|i| Object {
                born: 6.0 + i as f64 * 1e-6,
                dies: FOREVER,
                size: 100.0,
            })
            .collect();
        assert_eq!(
            fit_of(&load, interval, &times, &mut draws).verdict,
            Verdict::Step
        );
        let gone = stream(&mut draws, (-5.0, 0.0), 20.0 * MIB / 5.0, 500.0, |d| {
            1.0 + d.uniform() * 8.0
        });
        assert_eq!(
            fit_of(&gone, interval, &times, &mut draws).verdict,
            Verdict::Shrinking
        );
    }

    #[test]
    fn likelihood_ratio_weighs_deaths_that_did_not_happen() {
        let confidence = |born, died, population, exact, dispersion| {
            accumulation_confidence(
                Turnover {
                    born,
                    died,
                    population,
                },
                exact,
                dispersion,
            )
        };
        // Seven survivors and no deaths among ten: renewal would make each
        // event a survivor or a death alike, and all seven survivors once
        // in 128 (mid-p 1 in 256): 99.6%, exact or sampled. The likelihood
        // ratio alone would say 99.9%.
        let sure = confidence(7.0, 0.0, 10.0, true, 1.0);
        assert!((sure - 0.996_09).abs() < 1e-4, "{sure}");
        let sampled = confidence(7.0, 0.0, 10.0, false, 1.0);
        assert!((sampled - 0.996_09).abs() < 1e-4, "{sampled}");
        // A handful is not enough, however many did not die: four
        // survivors (a cache still warming) stay under 99%, where the
        // ratio's approximation gave 99.1%.
        assert!(confidence(4.0, 0.0, 100.0, false, 1.0) < 0.99);
        assert!(confidence(5.0, 0.0, 10.0, true, 1.0) < 0.99);
        // The same with as many deaths: a population replacing itself.
        assert!(confidence(5.0, 5.0, 10.0, false, 1.0) < 0.6);
        // A sampled population renewed whole (43 seen, 41.5 died, 65 new)
        // may have been seen small by chance: under 99%. Counted exactly,
        // it grew.
        assert!(confidence(65.0, 41.5, 43.0, false, 1.0) < 0.99);
        assert!(confidence(65.0, 41.5, 43.0, true, 1.0) > 0.999);
        // Overdispersion weakens the evidence.
        assert!(confidence(7.0, 0.0, 10.0, false, 4.0) < sampled);
        // Nothing was alive to replace: survivors alone are the evidence.
        assert!(confidence(3.0, 0.0, 0.0, true, 1.0) < 0.99);
        assert!(confidence(8.0, 0.0, 0.0, true, 1.0) > 0.99);
        assert!(confidence(8.0, 0.0, 0.0, false, 1.0) > 0.99);
    }
}
