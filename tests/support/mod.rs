//! Helpers for the end-to-end tests: build the examples and the `heapsnap`
//! binary in release mode (the way users run them) and give each test a
//! scratch directory.

#![allow(dead_code)]

pub mod busy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use heapsnap_format::file;

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds every release target the tests run (the examples and the
/// `heapsnap` command), once per test process, in the one cargo call every
/// test process of the workspace makes (`run::build_test_targets`).
fn build_release() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(heapsnap_scenarios::run::build_test_targets)
        .clone()
}

/// The path of example `name`, built in release mode.
pub fn example(name: &str) -> PathBuf {
    build_release().join("examples").join(name)
}

/// The `heapsnap` command, built in release mode.
pub fn heapsnap_bin() -> PathBuf {
    build_release().join("heapsnap")
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
