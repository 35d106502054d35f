//! Golden files: the reporter's outputs for snapshots made by real runs of
//! the profiler (`tests/data/snapshots/`, see `make-fixtures.sh`), compared
//! with the expected outputs beside them. `HEAPSNAP_BLESS=1` rewrites the
//! expected outputs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Runs `heapsnap ARGS` in `tests/data` and returns its standard output,
/// checking the exit status.
fn run(args: &[&str], status: i32) -> Vec<u8> {
    let output = Command::cargo_bin("heapsnap")
        .unwrap()
        .current_dir(data(""))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(status),
        "heapsnap {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Compares `actual` with the golden file `name`, line by line.
fn compare(name: &str, actual: &[u8]) {
    let path = data(name);
    if std::env::var_os("HEAPSNAP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HEAPSNAP_BLESS=1 to create it",
            path.display()
        )
    });
    let actual = String::from_utf8_lossy(actual);
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        let show = |text: &str| {
            text.lines()
                .skip(first)
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{name} differs from line {}:\n--- expected\n{}\n+++ actual\n{}\n(HEAPSNAP_BLESS=1 accepts the new output)",
            first + 1,
            show(&expected),
            show(&actual)
        );
    }
}

#[test]
fn top_text() {
    compare(
        "top/quickstart.txt",
        &run(&["top", "snapshots/quickstart.json"], 0),
    );
}

#[test]
fn top_json() {
    compare(
        "top/quickstart.json",
        &run(
            &[
                "top",
                "snapshots/quickstart.json",
                "--format",
                "json",
                "--limit",
                "5",
            ],
            0,
        ),
    );
}

#[test]
fn top_by_type_tag_and_function() {
    compare(
        "top/collections-by-type.txt",
        &run(&["top", "snapshots/collections.json", "--by", "type"], 0),
    );
    compare(
        "top/collections-by-function.txt",
        &run(
            &[
                "top",
                "snapshots/collections.json",
                "--by",
                "function",
                "--limit",
                "12",
            ],
            0,
        ),
    );
    compare(
        "top/ci-by-tag.txt",
        &run(&["top", "snapshots/ci-base.json", "--by", "tag"], 0),
    );
}

#[test]
fn diff_text_json_markdown() {
    let base = "snapshots/ci-base.json";
    let new = "snapshots/ci-regression.json";
    // The gate, in each format (text is the default).
    let gated = |format: &[&str]| {
        let args = [&["diff", base, new, "--fail-on-growth", "1MiB"], format].concat();
        run(&args, 1)
    };
    compare("diff/ci.txt", &gated(&[]));
    compare("diff/ci.json", &gated(&["--format", "json"]));
    compare("diff/ci.md", &gated(&["--format", "markdown"]));
    compare(
        "diff/ci-64k.txt",
        &run(
            &[
                "diff",
                "snapshots/ci-base-64k.json",
                "snapshots/ci-regression-64k.json",
                "--fail-on-site-growth",
                "1MiB",
            ],
            1,
        ),
    );
}

#[test]
fn flamegraphs() {
    compare(
        "flamegraph/quickstart.svg",
        &run(&["flamegraph", "snapshots/quickstart.json", "-o", "-"], 0),
    );
    compare(
        "flamegraph/collections-by-type.svg",
        &run(
            &[
                "flamegraph",
                "snapshots/collections.json",
                "-o",
                "-",
                "--by",
                "type",
            ],
            0,
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("diff.svg");
    run(
        &[
            "diff",
            "snapshots/ci-base.json",
            "snapshots/ci-regression.json",
            "--flamegraph",
            svg.to_str().unwrap(),
        ],
        0,
    );
    compare("flamegraph/ci-diff.svg", &std::fs::read(&svg).unwrap());
}

#[test]
fn leaks_text_json_markdown() {
    // A leak: `--fail` exits 1.
    compare(
        "leaks/engine.txt",
        &run(&["leaks", "snapshots/engine", "--fail"], 1),
    );
    compare(
        "leaks/engine.json",
        &run(&["leaks", "snapshots/engine", "--format", "json"], 0),
    );
    compare(
        "leaks/engine.md",
        &run(&["leaks", "snapshots/engine", "--format", "markdown"], 0),
    );
    // The control: nothing to fail on.
    compare(
        "leaks/gateway-fixed.txt",
        &run(&["leaks", "snapshots/gateway-fixed", "--fail"], 0),
    );
    compare(
        "leaks/gateway-fixed.md",
        &run(
            &["leaks", "snapshots/gateway-fixed", "--format", "markdown"],
            0,
        ),
    );
}

#[test]
fn leaks_over_two_snapshots_says_so() {
    let files = std::fs::read_dir(data("snapshots/engine"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect::<Vec<_>>();
    let mut files: Vec<&str> = files.iter().map(String::as_str).collect();
    files.sort();
    let (first, last) = (files[0], files[files.len() - 1]);
    let text = run(&["leaks", first, last], 0);
    compare("leaks/engine-two.txt", &text);
    assert!(
        String::from_utf8_lossy(&text)
            .contains("note: 2 snapshots: growth is judged over the whole window")
    );
}

/// Snapshots written by format version 1 (coarse age buckets, no sample
/// counts by age) are still read, and their leak still found.
#[test]
fn leaks_over_version_1_snapshots() {
    let text = run(&["leaks", "snapshots/engine-v1", "--fail"], 1);
    compare("leaks/engine-v1.txt", &text);
    assert!(
        String::from_utf8_lossy(&text)
            .contains("1. HashMap<String, Arc<Program>> grown in CodeLoader::load"),
        "{}",
        String::from_utf8_lossy(&text)
    );
}
