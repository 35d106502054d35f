//! Builds without the README's settings. Without frame pointers the
//! profiler unwinds with DWARF instead, and the stacks are just as right;
//! and every snapshot records what its build lacked, for the reporter's
//! warning (`heapsnap_format::quality`).
//!
//! Builds `tests/fixtures/fallback_probe.rs` with degraded flags, each in a
//! target directory of its own, and runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapsnap_format::Snapshot;
use heapsnap_format::quality::{Shortfall, shortfalls};
use heapsnap_format::snapshot::Build;

/// Builds the probe with `rustflags` into `target/<dir>`; its path.
fn build_probe(dir: &str, rustflags: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target_dir = workspace.join("target").join(dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--locked",
            "-p",
            "heapsnap",
            "--no-default-features",
            "--example",
            "fallback_probe",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the probe failed");
    target_dir.join("debug/examples/fallback_probe")
}

/// The snapshot the probe at `probe` writes, and the build it records.
fn probe_snapshot(probe: &Path) -> (Snapshot, Build) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.json");
    let output = Command::new(probe)
        .env("HEAPSNAP_PROBE_SNAPSHOT", &path)
        .output()
        .expect("the probe runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let snapshot = Snapshot::read_from_path(&path).unwrap();
    let build = snapshot
        .sampling
        .build
        .clone()
        .expect("the build is recorded");
    (snapshot, build)
}

#[test]
fn stacks_are_unwound_when_the_build_has_no_frame_pointers() {
    let probe = build_probe(
        "no-frame-pointers",
        "-C force-frame-pointers=no -C symbol-mangling-version=v0",
    );
    let output = Command::new(&probe).output().expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("OK stack_walk=backtrace "), "{stdout}");

    // The snapshot says what is missing: frame pointers only.
    let (snapshot, build) = probe_snapshot(&probe);
    assert!(build.v0_symbols, "{build:?}");
    assert_eq!(
        shortfalls(&snapshot),
        [Shortfall::FramePointers],
        "{build:?}"
    );
}

#[test]
fn a_snapshot_says_what_a_plain_build_lacks() {
    // What a build without the README's settings gets: no frame pointers,
    // legacy symbol names (the default), no debug information.
    let probe = build_probe("plain-build", "-C force-frame-pointers=no -C debuginfo=0");
    let (snapshot, build) = probe_snapshot(&probe);
    assert!(!build.v0_symbols, "{build:?}");
    assert_eq!(
        shortfalls(&snapshot),
        [
            Shortfall::FramePointers,
            Shortfall::V0Symbols,
            Shortfall::LineTables
        ],
        "{build:?}"
    );
}
