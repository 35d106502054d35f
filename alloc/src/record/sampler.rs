//! Poisson sampling by bytes: how far away the next sample is, and how many
//! allocations one sample stands for.
//!
//! Allocated bytes are treated as a Poisson process with one sample point per
//! `interval` bytes on average. A thread keeps a countdown of bytes until the
//! next point; the countdown is drawn from an exponential distribution with
//! mean `interval`, and because that distribution is memoryless, each
//! allocation of `size` bytes is sampled with probability
//! `p = 1 - exp(-size / interval)`, independently of every other allocation.
//! A sample therefore stands for `1 / p` allocations (its weight), and the
//! sum of `size * weight` over the samples of a site estimates the site's
//! bytes without bias (the Horvitz-Thompson estimator). Its variance is
//! estimated, also without bias, by the sum of `size² * weight * (weight - 1)`
//! over the same samples.
//!
//! An interval of 1 samples every allocation with weight 1 (exact mode); an
//! interval of 0 turns sampling off.

/// Advances a splitmix64 generator and returns the next 64 random bits.
///
/// splitmix64 is small, fast, passes BigCrush, and any seed (zero included)
/// is a good one.
pub(crate) fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The largest countdown ever drawn: far beyond any real allocation stream
/// between two samples, and far from overflowing the `i64` countdown.
const MAX_COUNTDOWN: f64 = (1u64 << 52) as f64;

/// Draws the number of bytes until the next sample: exponentially distributed
/// with mean `interval`, at least 1. With `interval <= 1` every allocation is
/// sampled.
pub(crate) fn draw_countdown(state: &mut u64, interval: u64) -> i64 {
    if interval <= 1 {
        return 1;
    }
    // A uniform number in (0, 1]: 53 random bits, never zero.
    let uniform = ((next_random(state) >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let bytes = -uniform.ln() * interval as f64;
    bytes.clamp(1.0, MAX_COUNTDOWN) as i64
}

/// The probability that an allocation of `size` bytes is sampled.
pub(crate) fn sample_probability(size: usize, interval: u64) -> f64 {
    if interval <= 1 {
        return 1.0;
    }
    // 1 - exp(-x), accurate for the tiny x of small allocations.
    -(-(size as f64) / interval as f64).exp_m1()
}

/// How many allocations of `size` bytes one sample stands for.
pub(crate) fn weight(size: usize, interval: u64) -> f64 {
    let p = sample_probability(size, interval);
    if p > 0.0 { 1.0 / p } else { 1.0 }
}

/// One sample's contribution to the unbiased estimate of the variance of an
/// estimated byte total: `size² * weight * (weight - 1)`.
pub(crate) fn bytes_variance(size: usize, weight: f64) -> f64 {
    let size = size as f64;
    size * size * weight * (weight - 1.0)
}

/// One sample's contribution to the unbiased estimate of the variance of an
/// estimated count: `weight * (weight - 1)`.
pub(crate) fn count_variance(weight: f64) -> f64 {
    weight * (weight - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_mode_samples_everything_with_weight_one() {
        let mut rng = 7;
        for _ in 0..100 {
            assert_eq!(draw_countdown(&mut rng, 1), 1);
        }
        assert_eq!(weight(1, 1), 1.0);
        assert_eq!(weight(1 << 30, 1), 1.0);
        assert_eq!(bytes_variance(4096, 1.0), 0.0);
    }

    #[test]
    fn countdowns_are_exponential_with_the_configured_mean() {
        // The mean of n exponential draws has standard deviation mean/sqrt(n);
        // 200_000 draws put it within 4 sigma = 0.9% of the mean.
        let interval = 512 * 1024;
        let n = 200_000;
        let mut rng = 42;
        let draws: Vec<f64> = (0..n)
            .map(|_| draw_countdown(&mut rng, interval) as f64)
            .collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let sigma = interval as f64 / (n as f64).sqrt();
        assert!(
            (mean - interval as f64).abs() < 4.0 * sigma,
            "mean {mean} vs {interval}"
        );
        // Memorylessness: P(X > t) = exp(-t / interval). At t = interval this
        // is e^-1; the binomial standard deviation is sqrt(p(1-p)/n) = 0.001.
        let above = draws.iter().filter(|&&d| d > interval as f64).count() as f64 / n as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.005, "tail {above}");
        assert!(draws.iter().all(|&d| d >= 1.0));
    }

    #[test]
    fn weights_invert_the_sampling_probability() {
        let interval = 65536;
        // Small allocations: p ~ size / interval, so the weight is ~ interval / size.
        let w = weight(16, interval);
        assert!((w - 4096.5).abs() < 0.01, "{w}");
        // Allocations much larger than the interval are always sampled.
        assert!((weight(64 << 20, interval) - 1.0).abs() < 1e-12);
        // size == interval: p = 1 - 1/e.
        let p = sample_probability(interval as usize, interval);
        assert!((p - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn random_bits_are_not_constant() {
        let mut rng = 0;
        let a = next_random(&mut rng);
        let b = next_random(&mut rng);
        assert_ne!(a, b);
        assert_ne!(a, 0);
    }
}
