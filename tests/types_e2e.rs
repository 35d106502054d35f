//! End to end: a real program grows one of each standard collection, the
//! profiler writes snapshots, and `heapsnap top --by type` names them as a
//! Rust programmer would.

mod support;

use std::process::Command;

use serde_json::Value;

fn top_by_type(snapshot: &str) -> Vec<(String, u64)> {
    let output = support::output_ok(Command::new(support::heapsnap_bin()).args([
        "top", snapshot, "--by", "type", "--format", "json", "--limit", "0",
    ]));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["type"].as_str().unwrap().to_owned(),
                row["live_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn growing_collections_are_named_by_type() {
    let dir = support::scratch("types-e2e");
    support::output_ok(
        Command::new(support::example("collections"))
            .args(["--rounds", "3"])
            .arg(&dir)
            .env("HEAPSNAP_SAMPLE_INTERVAL", "1"),
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let first = top_by_type(files[0].to_str().unwrap());
    let last = top_by_type(files[2].to_str().unwrap());
    let bytes = |rows: &[(String, u64)], ty: &str| {
        rows.iter()
            .find(|(name, _)| name == ty)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("{ty} missing from {rows:#?}"))
    };
    // (type, the least bytes 30,000 elements of it take)
    let expected = [
        ("HashSet<Arc<Session>>", 30_000 * 8),
        ("Arc<Session>", 30_000 * 48),
        ("Vec<Job>", 30_000 * 40),
        ("BTreeMap<u64, Job>", 30_000 * 48),
        ("BTreeSet<u64>", 30_000 * 8),
        ("VecDeque<Job>", 30_000 * 40),
        ("BinaryHeap<Job>", 30_000 * 40),
        ("HashMap<u64, Session>", 30_000 * 40),
        ("Vec<String>", 30_000 * 24),
        ("String", 30_000 * 13),
        ("Vec<Box<Session>>", 30_000 * 8),
        ("Box<Session>", 30_000 * 32),
        ("Vec<Rc<Session>>", 30_000 * 8),
        ("Rc<Session>", 30_000 * 48),
    ];
    for (ty, least) in expected {
        let grown = bytes(&last, ty);
        assert!(
            grown >= least,
            "{ty}: {grown} bytes, expected at least {least}"
        );
        assert!(grown > bytes(&first, ty), "{ty} did not grow");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
