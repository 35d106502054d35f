//! The CI gate end to end: the same batch job run twice, once with a
//! regression that retains an extra `Vec<Record>` in `remember_processed`;
//! `heapsnap diff --fail-on-growth 1MiB` fails the regression, naming the
//! function and the type, and passes identical runs. Sampled at 64 KiB,
//! sampling noise never trips it (20 runs) and the regression still does.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn run_workload(out: &Path, interval: &str, seed: u64, regression: bool) {
    let mut command = Command::new(support::example("ci_workload"));
    command
        .arg(out)
        .env("HEAPSNAP_SAMPLE_INTERVAL", interval)
        .env("HEAPSNAP_SEED", seed.to_string());
    if regression {
        command.arg("--regression");
    }
    support::output_ok(&mut command);
}

fn gate(base: &Path, new: &Path) -> Output {
    Command::new(support::heapsnap_bin())
        .arg("diff")
        .args([base, new])
        .args(["--fail-on-growth", "1MiB"])
        .output()
        .unwrap()
}

#[test]
fn exact_snapshots_fail_the_regression_and_pass_identical_runs() {
    let dir = support::scratch("ci-gate-exact");
    let (base, again, new) = (
        dir.join("base.json"),
        dir.join("again.json"),
        dir.join("new.json"),
    );
    run_workload(&base, "1", 1, false);
    run_workload(&again, "1", 2, false);
    run_workload(&new, "1", 3, true);

    let failed = gate(&base, &new);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    let verdict = stdout
        .lines()
        .skip_while(|l| !l.starts_with("FAILED"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(verdict.contains("Vec<Record>"), "{verdict}");
    assert!(
        verdict.contains("ci_workload::remember_processed"),
        "{verdict}"
    );

    let passed = gate(&base, &again);
    assert_eq!(
        passed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&passed.stdout)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sampling_noise_never_trips_the_gate_and_the_regression_does() {
    let dir = support::scratch("ci-gate-sampled");
    let base = dir.join("base.json");
    run_workload(&base, "64KiB", 1000, false);
    for seed in 1..=20 {
        let clean = dir.join(format!("clean-{seed}.json"));
        run_workload(&clean, "64KiB", seed, false);
        let output = gate(&base, &clean);
        assert_eq!(
            output.status.code(),
            Some(0),
            "noise tripped the gate (seed {seed}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let new = dir.join("regression.json");
    run_workload(&new, "64KiB", 21, true);
    let output = gate(&base, &new);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("remember_processed"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
