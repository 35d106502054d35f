//! In a build without frame pointers the profiler unwinds with DWARF
//! instead, and the stacks are just as right.
//!
//! Builds `tests/fixtures/fallback_probe.rs` with `-C force-frame-pointers=no`
//! in a target directory of its own and runs it.

use std::path::Path;
use std::process::Command;

#[test]
fn stacks_are_unwound_when_the_build_has_no_frame_pointers() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target_dir = workspace.join("target").join("no-frame-pointers");
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
        .env(
            "RUSTFLAGS",
            "-C force-frame-pointers=no -C symbol-mangling-version=v0",
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the probe failed");
    let output = Command::new(target_dir.join("debug/examples/fallback_probe"))
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("OK stack_walk=backtrace "), "{stdout}");
}
