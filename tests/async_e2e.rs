//! End to end: a tokio service leaks tasks that never finish and fills a
//! cache from a tagged future (`examples/async_tasks.rs`); `heapsnap top`
//! names the tasks by the async function they run, and the cache's memory
//! by its tag, whichever worker thread polled the future.

mod support;

use std::process::Command;

use serde_json::Value;

fn rows(snapshot_dir: &str, by: &str) -> Vec<Value> {
    let output = support::output_ok(Command::new(support::heapsnap_bin()).args([
        "top",
        snapshot_dir,
        "--by",
        by,
        "--format",
        "json",
        "--limit",
        "0",
    ]));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["rows"].as_array().unwrap().clone()
}

#[test]
fn leaked_tasks_and_tagged_futures_are_named() {
    let dir = support::scratch("async-e2e");
    support::output_ok(
        Command::new(support::example("async_tasks"))
            .arg(&dir)
            .env("HEAPSNAP_SAMPLE_INTERVAL", "1"),
    );
    let dir = dir.to_str().unwrap();
    let types = rows(dir, "type");
    let tasks: u64 = types
        .iter()
        .filter(|row| {
            row["type"]
                .as_str()
                .unwrap()
                .contains("watch_session::{closure#0}")
        })
        .map(|row| row["live_allocs"].as_u64().unwrap())
        .sum();
    assert!(
        tasks >= 4_000,
        "the tasks' type does not name watch_session: {types:#?}"
    );
    let tags = rows(dir, "tag");
    let cache = tags
        .iter()
        .find(|row| row["tag"] == "cache-refresh")
        .unwrap_or_else(|| panic!("no cache-refresh tag: {tags:#?}"));
    assert!(cache["live_bytes"].as_u64().unwrap() > 10_000, "{cache}");
}
