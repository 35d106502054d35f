//! `heapsnap stat`, end to end: the leaky server and its fixed twin run
//! side by side with dumps on, and `stat` follows both from their dump
//! directories, one JSON line per process a second:
//!
//! - the leak's live estimate climbs and, once warm, the twin's does not;
//! - each line agrees with the snapshots the same processes wrote in the
//!   same seconds: the nearest snapshot's live heap, give or take the
//!   change at the line's own rate over the time between them and four
//!   standard errors of the snapshot's sampling;
//! - the live counters files are gone once the processes have exited.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use heapsnap_format::Snapshot;
use serde_json::Value;

/// Seconds each process runs; `stat` starts once the twin's caches have
/// had `WARM` to fill (its parts warm up in the first five seconds), and
/// prints `LINES` lines a second apart.
const SECONDS: &str = "16";
const WARM: Duration = Duration::from_secs(6);
const LINES: &str = "8";

fn start(fixed: bool, dir: &Path) -> Child {
    let mut command = Command::new(support::example("leaky_server"));
    command
        .args(["--seconds", SECONDS, "--interval-ms", "1000", "--no-report"])
        .args(["--dir", &dir.display().to_string()])
        .env("HEAPSNAP_SAMPLE_INTERVAL", "65536")
        .env_remove("HEAPSNAP_DIR")
        .stdout(Stdio::null());
    if fixed {
        command.arg("--fixed");
    }
    command.spawn().expect("the example starts")
}

fn live_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "live"))
                .collect()
        })
        .unwrap_or_default()
}

/// The standard error of a snapshot's live heap: the square root of its
/// sites' sampling variances.
fn stddev(snapshot: &Snapshot) -> f64 {
    snapshot
        .sites
        .iter()
        .map(|s| s.live_bytes_var)
        .sum::<f64>()
        .sqrt()
}

#[test]
fn stat_follows_a_leak_and_its_twin_and_agrees_with_their_snapshots() {
    let heapsnap = support::heapsnap_bin();
    let (leak_dir, fixed_dir) = (
        support::scratch("stat-leak"),
        support::scratch("stat-fixed"),
    );
    let mut leak = start(false, &leak_dir);
    let mut fixed = start(true, &fixed_dir);
    let pids = (u64::from(leak.id()), u64::from(fixed.id()));
    // Both have their counters once their dump threads ran.
    let deadline = Instant::now() + Duration::from_secs(60);
    while live_files(&leak_dir).is_empty() || live_files(&fixed_dir).is_empty() {
        assert!(Instant::now() < deadline, "no live counters file appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(WARM);
    let output = Command::new(&heapsnap)
        .args(["stat", "--format", "json"])
        .args([&leak_dir, &fixed_dir])
        .args(["1s", LINES])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stat: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(leak.wait().unwrap().success());
    assert!(fixed.wait().unwrap().success());

    let mut rows: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let row: Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(row["schema_version"], 1);
        rows.entry(row["pid"].as_u64().unwrap())
            .or_default()
            .push(row);
    }
    let lines: usize = LINES.parse().unwrap();
    for pid in [pids.0, pids.1] {
        assert_eq!(rows.get(&pid).map_or(0, Vec::len), lines, "lines of {pid}");
    }
    let live = |row: &Value| row["live_bytes"].as_f64().unwrap();
    let rise = |pid: u64| live(rows[&pid].last().unwrap()) - live(&rows[&pid][0]);
    let (leak_rise, fixed_rise) = (rise(pids.0), rise(pids.1));
    assert!(
        leak_rise > 8.0 * 1024.0 * 1024.0 && leak_rise > 3.0 * fixed_rise,
        "the leak rose {leak_rise} bytes over the lines, its twin {fixed_rise}"
    );

    for (pid, dir) in [(pids.0, &leak_dir), (pids.1, &fixed_dir)] {
        let snapshots: Vec<Snapshot> = support::snapshot_files(dir)
            .iter()
            .map(|p| Snapshot::read_from_path(p).unwrap())
            .collect();
        let rows = &rows[&pid];
        let uptime = |row: &Value| row["uptime_ms"].as_f64().unwrap();
        let (first, last) = (uptime(&rows[0]), uptime(rows.last().unwrap()));
        let mut compared = 0;
        for snapshot in &snapshots {
            let at = snapshot.uptime_ms as f64;
            if at < first || at > last {
                continue;
            }
            let row = rows
                .iter()
                .min_by(|a, b| (uptime(a) - at).abs().total_cmp(&(uptime(b) - at).abs()))
                .unwrap();
            let seconds = (uptime(row) - at).abs() / 1000.0;
            let rate = row["live_bytes_per_sec"].as_f64().unwrap().abs();
            let allowed = rate * seconds + 4.0 * stddev(snapshot);
            let gap = (live(row) - snapshot.totals.live_bytes as f64).abs();
            assert!(
                gap <= allowed,
                "process {pid}: line at {} ms says {} bytes live, snapshot {} at {at} ms {} (allowed {allowed:.0})",
                uptime(row),
                live(row),
                snapshot.seq,
                snapshot.totals.live_bytes
            );
            compared += 1;
        }
        assert!(
            compared >= 3,
            "process {pid}: {compared} snapshots compared"
        );
        assert!(
            live_files(dir).is_empty(),
            "process {pid} left {:?}",
            live_files(dir)
        );
    }
}
