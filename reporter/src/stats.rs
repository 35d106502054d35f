//! The bits of statistics the reports need: distribution functions from
//! `statrs`, and the robust estimates (median, Theil-Sen line) it does not
//! have.

use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF, Normal};

fn standard_normal() -> Normal {
    // Mean 0, standard deviation 1: always a valid distribution.
    Normal::standard()
}

/// The standard normal distribution function `P(Z <= x)`.
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return 0.5;
    }
    standard_normal().cdf(x)
}

/// The standard normal quantile: the `z` with `P(Z <= z) = p`, for
/// `0 < p < 1`.
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p.clamp(1e-300, 1.0 - 1e-16))
}

/// `P(X >= x)` for `X` chi-square with `dof` degrees of freedom.
pub fn chi_square_tail(x: f64, dof: f64) -> f64 {
    match ChiSquared::new(dof) {
        Ok(chi) if x.is_finite() => chi.sf(x.max(0.0)),
        _ => 0.0,
    }
}

/// `P(X >= k)` for `X` binomial with `n` trials of probability `p`.
pub fn binomial_tail(n: u64, p: f64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    match Binomial::new(p.clamp(0.0, 1.0), n) {
        Ok(binomial) => binomial.sf(k - 1),
        Err(_) => 0.0,
    }
}

/// The median of `values` (which it reorders); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// A straight line through `(t, y)` points, robust to outliers: the
/// Theil-Sen estimator (the median of the slopes between every pair of
/// points, and the median intercept for it).
pub fn theil_sen(t: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let mut slopes = Vec::with_capacity(t.len() * t.len() / 2);
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let dt = t[j] - t[i];
            if dt.abs() > f64::EPSILON {
                slopes.push((y[j] - y[i]) / dt);
            }
        }
    }
    let slope = median(&mut slopes)?;
    let mut intercepts: Vec<f64> = t.iter().zip(y).map(|(t, y)| y - slope * t).collect();
    let intercept = median(&mut intercepts)?;
    Some((slope, intercept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_functions() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-12);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_quantile(0.9999) - 3.719016).abs() < 1e-5);
        // Binomial(10, 1/4): P(X >= 5) = 0.0781.
        assert!((binomial_tail(10, 0.25, 5) - 0.078_127).abs() < 1e-5);
        assert_eq!(binomial_tail(10, 0.25, 0), 1.0);
        assert_eq!(binomial_tail(10, 0.25, 11), 0.0);
        // Chi-square with 10 degrees of freedom: P(X >= 23.209) = 0.01.
        assert!((chi_square_tail(23.209_25, 10.0) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn robust_lines() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.0, 3.0, 5.0, 7.0, 900.0, 11.0];
        let (slope, intercept) = theil_sen(&t, &y).unwrap();
        assert!(
            (slope - 2.0).abs() < 1e-9 && (intercept - 1.0).abs() < 1e-9,
            "{slope} {intercept}"
        );
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
        assert_eq!(theil_sen(&[1.0], &[1.0]), None);
    }
}
