//! Helpers for the end-to-end tests: build the examples and the `heapsnap`
//! binary in release mode (the way users run them) and give each test a
//! scratch directory.

#![allow(dead_code)]

pub mod busy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use heapsnap_format::file;

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(workspace());
    cargo
}

/// Builds release targets once per test process.
fn build_release(args: &[&str], artifact: PathBuf) -> PathBuf {
    static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&artifact) {
        let status = cargo()
            .args(["build", "--release", "--locked"])
            .args(args)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build {args:?} failed");
        built.push(artifact.clone());
    }
    artifact
}

fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("release")
}

/// The path of example `name`, built in release mode.
pub fn example(name: &str) -> PathBuf {
    build_release(
        &["--example", name],
        release_dir().join("examples").join(name),
    )
}

/// The `heapsnap` command, built in release mode.
pub fn heapsnap_bin() -> PathBuf {
    build_release(
        &["-p", "heapsnap-report", "--bin", "heapsnap"],
        release_dir().join("heapsnap"),
    )
}

/// Runs `command` to its end and returns what it printed; fails the test,
/// showing the command and its standard error, unless it succeeded.
pub fn output_ok(command: &mut Command) -> Output {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The snapshot files (`*.json.gz`, or `*.json`) of a dump directory, in
/// the order they were written.
pub fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(file::is_snapshot_name))
        .collect();
    files.sort();
    files
}

/// A fresh, empty directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = workspace()
        .join("target")
        .join("e2e")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
