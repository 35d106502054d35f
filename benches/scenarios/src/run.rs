//! Running plans: build the `scenario` program, run a plan into a fresh
//! directory, analyse what it left with `heapsnap leaks` (the library, as
//! the command does), and judge the report.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapsnap_format::file;
use heapsnap_report::{leaks, load};

use crate::plan::Plan;
use crate::score::{self, Outcome, SNAPSHOTS, TRUTH_FILE, Truth};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace exists")
}

/// Builds the `scenario` program in release mode (with the workspace's
/// build settings: frame pointers, v0 symbols, line tables) and returns its
/// path. The `heapsnap` command is built in the same run (see
/// [`build_cli`]): one release build of the reporter serves both.
pub fn build() -> PathBuf {
    cargo_build(&[
        "--release",
        "-p",
        "heapsnap-scenarios",
        "--bin",
        "scenario",
        "-p",
        "heapsnap-report",
        "--bin",
        "heapsnap",
    ]);
    target_dir().join("release").join("scenario")
}

/// Builds the `heapsnap` command in release mode, as users run it, and
/// returns its path.
pub fn build_cli() -> PathBuf {
    build();
    target_dir().join("release").join("heapsnap")
}

/// Builds every release target the workspace's tests run (the examples and
/// the `heapsnap` command) in one cargo call, and returns the release
/// directory. Every test process asks with these same arguments: the first
/// to ask builds, the others find the build done. (Any other set of
/// packages unifies features differently and compiles the reporter again.)
pub fn build_test_targets() -> PathBuf {
    cargo_build(&[
        "--release",
        "-p",
        "heapsnap-suite",
        "--examples",
        "-p",
        "heapsnap-report",
        "--bin",
        "heapsnap",
    ]);
    target_dir().join("release")
}

fn cargo_build(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--locked"])
        .args(args)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {args:?} failed");
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// Runs `plan` with the program at `binary` into `dir` (emptied first; the
/// snapshots go to `dir/snapshots`). Returns what really happened.
pub fn run(binary: &Path, plan: &Plan, dir: &Path) -> Result<Truth, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let plan_file = dir.join("plan.json");
    let text = serde_json::to_vec_pretty(plan).map_err(|e| e.to_string())?;
    std::fs::write(&plan_file, text).map_err(|e| e.to_string())?;
    let output = Command::new(binary)
        .arg(&plan_file)
        .arg(dir)
        .env_remove("HEAPSNAP_DIR")
        .env("HEAPSNAP_SEED", plan.seed.to_string())
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "scenario failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let truth = std::fs::read(dir.join(TRUTH_FILE)).map_err(|e| e.to_string())?;
    serde_json::from_slice(&truth).map_err(|e| e.to_string())
}

/// The snapshot files of a run's directory.
pub fn snapshots(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir.join(SNAPSHOTS))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("heapsnap-") && file::is_snapshot_name(n))
        })
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

/// Analyses a run's snapshots as `heapsnap leaks DIR/snapshots` does, and
/// judges the report against `truth`.
pub fn analyse(dir: &Path, truth: &Truth) -> Result<(leaks::Report, Outcome), String> {
    let snapshots = dir.join(SNAPSHOTS).display().to_string();
    let mut loaded = load::many(&[snapshots]).map_err(|e| format!("{e:#}"))?;
    // Automatic dumps keep bare addresses: named from the scenario's binary.
    heapsnap_report::symbolize::name_from_this_machine(&mut loaded);
    let report = leaks::leaks(&loaded, &leaks::Options::default()).map_err(|e| e.to_string())?;
    // The window the report analysed: its snapshots, teardown left out.
    let mut times: Vec<u64> = loaded
        .iter()
        .filter(|l| {
            truth
                .teardown_snapshot
                .as_deref()
                .is_none_or(|name| !l.source.ends_with(name))
        })
        .map(|l| l.snapshot.uptime_ms)
        .collect();
    times.sort_unstable();
    let (first, last) = (
        times.first().copied().unwrap_or(0),
        times.last().copied().unwrap_or(0),
    );
    let outcome = score::score(&report, truth, first, last);
    Ok((report, outcome))
}
