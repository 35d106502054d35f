//! Sampled estimates are unbiased, and their spread is the one the sampling
//! model predicts.
//!
//! The bound: an allocation of `s` bytes is sampled with probability
//! `p = 1 - exp(-s / R)` and weighted `1 / p`, independently of the others,
//! so a site of `n` such allocations is estimated with standard deviation
//! `sigma = s * sqrt(n * (1 - p) / p)` around the true `n * s`. Each run's
//! estimate must lie within 4 sigma of the truth (a normal variable leaves
//! that band with probability 6e-5), the mean of K runs within
//! 4 sigma / sqrt(K), and the spread across runs must match sigma (the ratio
//! of observed to predicted variance lies in [0.25, 2.5] with probability
//! above 99.9% for K = 20, a chi-square with 19 degrees of freedom). The
//! snapshot's own variance estimate, averaged over the runs, must match the
//! predicted variance within 20%.
//!
//! Each run is a child process (this test binary, re-executed) with its own
//! `HEAPSNAP_SEED`, so the runs are independent and reproducible.

mod common;

use std::process::Command;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<std::alloc::System> = heapsnap::Profiler::new(std::alloc::System);

const RUNS: u64 = 20;
const SITE_BYTES: usize = 32 << 20;
/// (allocation size, function name) of the three sites.
const SITES: [(usize, &str); 3] = [(16, "site_16b"), (1024, "site_1k"), (1 << 20, "site_1m")];

#[inline(never)]
#[allow(
    clippy::vec_box,
    reason = "each box is one of the allocations under test"
)]
fn site_16b(n: usize) -> Vec<Box<[u8; 16]>> {
    (0..n).map(|i| Box::new([i as u8; 16])).collect()
}

#[inline(never)]
#[allow(
    clippy::vec_box,
    reason = "each box is one of the allocations under test"
)]
fn site_1k(n: usize) -> Vec<Box<[u8; 1024]>> {
    (0..n).map(|i| Box::new([i as u8; 1024])).collect()
}

#[inline(never)]
fn site_1m(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; 1 << 20]).collect()
}

/// The child: allocate 32 MiB at each of three sites, snapshot, print each
/// site's estimate.
#[test]
#[ignore = "run as a child process by sampled_estimates_are_unbiased"]
fn child_measures_three_sites() {
    let small = site_16b(SITE_BYTES / 16);
    let medium = site_1k(SITE_BYTES / 1024);
    let large = site_1m(SITE_BYTES >> 20);
    let snap = heapsnap::snapshot();
    for (size, name) in SITES {
        // The elements (made by `Box::new` or `vec!`), not the Vec that
        // holds them.
        let (bytes, var) = common::sites_at(&snap, name)
            .iter()
            .filter(|s| {
                snap.site_frames(s)
                    .filter_map(|f| f.function.as_deref())
                    .any(|f| {
                        f.starts_with("<alloc::boxed::Box<[u8; ")
                            || f.starts_with("alloc::vec::from_elem")
                    })
            })
            .fold((0u64, 0f64), |(b, v), s| {
                (b + s.live_bytes, v + s.live_bytes_var)
            });
        println!("SITE {size} {bytes} {var}");
    }
    assert_eq!(
        small.len() + medium.len() + large.len(),
        SITE_BYTES / 16 + SITE_BYTES / 1024 + 32
    );
}

struct Estimate {
    bytes: f64,
    reported_var: f64,
}

fn run_child(interval: u64, seed: u64) -> Vec<Estimate> {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_measures_three_sites",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HEAPSNAP_SAMPLE_INTERVAL", interval.to_string())
        .env("HEAPSNAP_SEED", seed.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let estimates: Vec<Estimate> = stdout
        .lines()
        // libtest may print its "test ... " prefix on the first line.
        .filter_map(|l| l.split_once("SITE ").map(|(_, rest)| rest))
        .map(|l| {
            let fields: Vec<f64> = l.split(' ').map(|f| f.parse().unwrap()).collect();
            Estimate {
                bytes: fields[1],
                reported_var: fields[2],
            }
        })
        .collect();
    assert_eq!(estimates.len(), 3, "{stdout}");
    estimates
}

/// The predicted variance of a site of `n` allocations of `size` bytes.
fn predicted_variance(size: usize, n: usize, interval: u64) -> f64 {
    let p = -(-(size as f64) / interval as f64).exp_m1();
    n as f64 * (size as f64).powi(2) * (1.0 - p) / p
}

#[test]
fn sampled_estimates_are_unbiased() {
    for interval in [64 * 1024, 512 * 1024] {
        // Two children at a time: the machine has two cores.
        let mut runs = Vec::new();
        for pair in (1..=RUNS).collect::<Vec<_>>().chunks(2) {
            let handles: Vec<_> = pair
                .iter()
                .map(|&seed| std::thread::spawn(move || run_child(interval, seed)))
                .collect();
            runs.extend(handles.into_iter().map(|h| h.join().unwrap()));
        }
        for (i, &(size, name)) in SITES.iter().enumerate() {
            let n = SITE_BYTES / size;
            let truth = SITE_BYTES as f64;
            let variance = predicted_variance(size, n, interval);
            let sigma = variance.sqrt();
            let estimates: Vec<f64> = runs.iter().map(|r| r[i].bytes).collect();
            for (seed, estimate) in estimates.iter().enumerate() {
                assert!(
                    (estimate - truth).abs() <= 4.0 * sigma + 1.0,
                    "{name} at {interval}: seed {} estimated {estimate}, truth {truth}, sigma {sigma}",
                    seed + 1
                );
            }
            let k = estimates.len() as f64;
            let mean = estimates.iter().sum::<f64>() / k;
            assert!(
                (mean - truth).abs() <= 4.0 * sigma / k.sqrt() + 1.0,
                "{name} at {interval}: mean {mean}, truth {truth}, sigma {sigma}"
            );
            let reported = runs.iter().map(|r| r[i].reported_var).sum::<f64>() / k;
            println!(
                "{name:>8} at {:>3} KiB: mean {:.4} of truth, predicted sigma {:.2}%, reported sigma {:.2}%",
                interval / 1024,
                mean / truth,
                100.0 * sigma / truth,
                100.0 * reported.sqrt() / truth
            );
            // Where sampling is nearly certain the variance is ~0 and its
            // ratio meaningless.
            if sigma > truth * 1e-3 {
                let observed =
                    estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (k - 1.0);
                let ratio = observed / variance;
                assert!(
                    (0.25..=2.5).contains(&ratio),
                    "{name} at {interval}: observed variance {observed}, predicted {variance}"
                );
                assert!(
                    (reported / variance - 1.0).abs() < 0.2,
                    "{name} at {interval}: reported variance {reported}, predicted {variance}"
                );
            }
        }
    }
}
