//! Builds without the README's settings, each way a real build degrades:
//! no frame pointers, legacy symbol names, no debug information, a
//! `RUSTFLAGS` variable that replaces the configured flags, all of these at
//! once. Without frame pointers the profiler unwinds with DWARF instead,
//! and the stacks are just as right; every snapshot records what its build
//! lacked, and the warning every reporter command prints
//! (`heapsnap_format::quality::warning`) names the fix. (A stripped build
//! is `tests/symbolize_e2e.rs`'s; the fallback walk on a real leak,
//! `tests/stack_walk_e2e.rs`'s.)
//!
//! Builds `tests/fixtures/fallback_probe.rs` with degraded flags, each in a
//! target directory of its own, and runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapsnap_format::Snapshot;
use heapsnap_format::quality::{Shortfall, shortfalls, warning};
use heapsnap_format::snapshot::Build;

/// Builds the probe with `rustflags` into `target/<dir>`; its path.
fn build_probe(dir: &str, rustflags: &str) -> PathBuf {
    build_probe_for(dir, rustflags, None)
}

/// [`build_probe`] for another target (`--target`).
fn build_probe_for(dir: &str, rustflags: &str, target: Option<&str>) -> PathBuf {
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
        .args(target.map(|t| ["--target", t]).into_iter().flatten())
        // A user's debug build: the workspace optimises the profiler in
        // its own tests' debug builds, a user's does not.
        .args(["--config", "profile.dev.package.heapsnap.opt-level=0"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the probe failed");
    target_dir
        .join(target.unwrap_or(""))
        .join("debug/examples/fallback_probe")
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

/// What a degraded build lacks, and what the warning must tell to fix.
fn check_degraded(dir: &str, rustflags: &str, missing: &[Shortfall], fixes: &[&str]) -> PathBuf {
    let probe = build_probe(dir, rustflags);
    let (snapshot, build) = probe_snapshot(&probe);
    assert_eq!(shortfalls(&snapshot), missing, "{dir}: {build:?}");
    let said = warning(&snapshot).expect("a degraded build is warned of");
    for fix in fixes {
        assert!(
            said.contains(fix),
            "{dir}: the warning lacks {fix:?}: {said}"
        );
    }
    probe
}

#[test]
fn stacks_are_unwound_when_the_build_has_no_frame_pointers() {
    let probe = check_degraded(
        "no-frame-pointers",
        "-C force-frame-pointers=no -C symbol-mangling-version=v0",
        &[Shortfall::FramePointers],
        &[r#"rustflags = ["-C", "force-frame-pointers=yes"]"#],
    );
    let output = Command::new(&probe).output().expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("OK stack_walk=backtrace "), "{stdout}");
}

#[test]
fn legacy_symbol_names_and_a_build_without_debug_information_are_warned_of() {
    // Frame pointers on, the rest missing: each shortfall is told apart
    // (with the other tests, every one is seen with different company).
    check_degraded(
        "legacy-symbols-no-debug-info",
        "-C force-frame-pointers=yes -C debuginfo=0",
        &[Shortfall::V0Symbols, Shortfall::LineTables],
        &[
            "symbol-mangling-version=v0",
            "`Vec<?>`",
            r#"debug = "limited""#,
        ],
    );
}

#[test]
fn a_rustflags_variable_that_replaces_the_configured_flags_is_warned_of() {
    // The workspace's `.cargo/config.toml` sets both flags, as the README
    // says to; a `RUSTFLAGS` variable (CI's `-D warnings`) replaces them.
    check_degraded(
        "rustflags-override",
        "-D warnings",
        &[Shortfall::FramePointers, Shortfall::V0Symbols],
        &[
            r#""-C", "force-frame-pointers=yes", "-C", "symbol-mangling-version=v0""#,
            "RUSTFLAGS variable",
        ],
    );
}

#[test]
fn a_snapshot_says_what_a_plain_build_lacks() {
    // What a build without the README's settings gets: no frame pointers,
    // legacy symbol names (the default), no debug information.
    check_degraded(
        "plain-build",
        "-C force-frame-pointers=no -C debuginfo=0",
        &[
            Shortfall::FramePointers,
            Shortfall::V0Symbols,
            Shortfall::LineTables,
        ],
        &[
            "force-frame-pointers=yes",
            "symbol-mangling-version=v0",
            r#"debug = "limited""#,
        ],
    );
}

const MUSL: &str = "x86_64-unknown-linux-musl";

/// True when rustup has the musl target; with `CI` set it must (`.ci/run`
/// adds it).
fn musl_installed() -> bool {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(MUSL));
    if !listed {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: the {MUSL} target is required"
        );
        eprintln!("skipped: no {MUSL} target (rustup target add {MUSL})");
    }
    listed
}

#[test]
fn a_static_musl_build_names_its_program_and_build_id() {
    // musl's loader calls the program `/proc/self/exe`, a path that means
    // the reader's own program anywhere else; the snapshot must name the
    // executable and carry its build id, for offline symbolisation.
    if !musl_installed() {
        return;
    }
    let probe = build_probe_for(
        "musl",
        "-C force-frame-pointers=yes -C symbol-mangling-version=v0",
        Some(MUSL),
    );
    let (snapshot, _) = probe_snapshot(&probe);
    let program = snapshot
        .modules
        .iter()
        .find(|m| m.path == snapshot.process.exe)
        .unwrap_or_else(|| panic!("no module is the program: {:?}", snapshot.modules));
    assert!(program.build_id.is_some(), "{program:?}");
    assert_eq!(snapshot.process.build_id, program.build_id);
    assert!(snapshot.modules.iter().all(|m| m.path != "/proc/self/exe"));
    assert_eq!(shortfalls(&snapshot), []);
}
