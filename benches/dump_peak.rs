//! What an automatic dump adds to the process's memory peak: the peak
//! resident set (VmHWM, reset before each dump through
//! `/proc/self/clear_refs`) above the resident set just before it, for the
//! first dump, the largest over 100 more, and a near-limit dump; and the
//! resident set those 100 left behind. The heap: every JSON document of
//! `BENCH_JSON_DIR` (the AWS API models, as `benches/walltime.py` fetches
//! them) up to 5 MB (`BENCH_JSON_BYTES`), parsed into `serde_json::Value`s
//! and kept, in a binary with line tables (the debug information
//! in-process symbolisation reads). The CPU time of a dump is the
//! process's (idle but for the dump thread) over the dump.
//!
//! ```text
//! python3 benches/walltime.py --corpus-only      # fetches the corpora
//! BENCH_JSON_DIR=target/bench-corpus/json cargo bench --bench dump_peak
//! HEAPSNAP_SYMBOLIZE=on BENCH_JSON_DIR=... cargo bench --bench dump_peak
//! ```

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// A field of `/proc/self/status` in bytes (`VmHWM`, `VmRSS`).
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resets the peak resident set to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("/proc/self/clear_refs");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Asks for a dump with SIGUSR1 (an automatic dump, like an interval's)
/// and waits for its file: the time it took.
fn dump_on_signal(dir: &Path) -> Duration {
    let before = files(dir).len();
    let start = Instant::now();
    // SAFETY: sends a signal to this process, whose handler (the
    // profiler's) only sets a flag.
    unsafe { libc::raise(libc::SIGUSR1) };
    while files(dir).len() == before {
        std::thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

/// The process's CPU time (user and system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

fn mib(bytes: i64) -> String {
    format!("{:+.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let Some(corpus) = std::env::var_os("BENCH_JSON_DIR") else {
        eprintln!("BENCH_JSON_DIR is not set: see the header of benches/dump_peak.rs");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("dumps");
    let limit: usize = std::env::var("BENCH_JSON_BYTES")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(5_000_000);
    let mut kept = Vec::new();
    let mut total = 0;
    for file in files(Path::new(&corpus)) {
        let text = std::fs::read_to_string(&file).unwrap();
        if total + text.len() > limit {
            break;
        }
        total += text.len();
        kept.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
    }
    let dumps = heapsnap::AutoDump::new(&dir)
        .interval(None)
        .on_growth(None)
        .near_limit(None)
        .on_exit(false)
        .start()
        .unwrap();
    let setting = std::env::var("HEAPSNAP_SYMBOLIZE").unwrap_or_else(|_| "auto (default)".into());
    std::thread::sleep(Duration::from_millis(200));

    let before = status("VmRSS") as i64;
    reset_peak();
    let cpu = cpu_seconds();
    let first_time = dump_on_signal(&dir);
    let first_cpu = cpu_seconds() - cpu;
    let first = status("VmHWM") as i64 - before;

    let mut largest = 0;
    let mut slowest = Duration::ZERO;
    let cpu = cpu_seconds();
    for _ in 0..100 {
        let rss = status("VmRSS") as i64;
        reset_peak();
        slowest = slowest.max(dump_on_signal(&dir));
        largest = largest.max(status("VmHWM") as i64 - rss);
    }
    let mean_cpu = (cpu_seconds() - cpu) / 100.0;
    let after_100 = status("VmRSS") as i64 - before;
    dumps.stop();

    // Near the limit: a limit just above what the process uses.
    let rss = status("VmRSS");
    let near = heapsnap::AutoDump::new(&dir)
        .interval(None)
        .on_growth(None)
        .near_limit(Some(0.9))
        .memory_limit(Some(rss + rss / 20))
        .on_exit(false)
        .start()
        .unwrap();
    reset_peak();
    let start = Instant::now();
    let near_limit_file = || {
        files(&dir)
            .iter()
            .any(|f| f.to_string_lossy().contains("near-limit"))
    };
    while !near_limit_file() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let near_limit = status("VmHWM") as i64 - rss as i64;
    let near_time = start.elapsed();
    near.stop();

    println!(
        "serde_json over {:.1} MB, HEAPSNAP_SYMBOLIZE={setting}, sampling every {} bytes",
        total as f64 / 1e6,
        heapsnap::sample_interval()
    );
    println!(
        "scan: HEAPSNAP_SCAN={}",
        std::env::var("HEAPSNAP_SCAN").unwrap_or_else(|_| "64MiB (default)".into())
    );
    println!("| | peak added | time | CPU |");
    println!("|---|---:|---:|---:|");
    println!(
        "| first automatic dump | {} | {:.0?} | {:.0} ms |",
        mib(first),
        first_time,
        first_cpu * 1000.0
    );
    println!(
        "| largest of 100 more | {} | {:.0?} (slowest) | {:.0} ms (mean) |",
        mib(largest),
        slowest,
        mean_cpu * 1000.0
    );
    println!("| resident set after the 100 | {} | | |", mib(after_100));
    println!(
        "| near-limit dump (from start, over its threshold: its start dump, a poll, the dump) | {} | {:.0?} | |",
        mib(near_limit),
        near_time
    );
    drop(kept);
}
