//! The reporter's memory is bounded by what it reads: a name stored once
//! in a snapshot is never copied per site. Two gzipped snapshots of a few
//! tens of kilobytes, whose every stack shares one frame of a megabyte
//! (a thousand stacks), once took 3 GB in `leaks` and `report`. Every
//! command now stays under `LIMIT` of resident memory and exits 0 or 2
//! with at most one line on standard error.

#![allow(unsafe_code)]

use std::path::Path;
use std::process::Command;

use heapsnap_format::snapshot::{Frame, Site, Snapshot};

/// The most resident memory a command may take on this input.
const LIMIT: u64 = 256 << 20;

/// A snapshot of `sites` sites, each on its own stack under one shared
/// frame whose name is `name_len` bytes, taken at `uptime_ms`.
fn crafted(sites: u32, name_len: usize, uptime_ms: u64) -> Snapshot {
    let mut snap = Snapshot::default();
    snap.process.pid = 4242;
    snap.process.exe = "/srv/app".into();
    snap.uptime_ms = uptime_ms;
    snap.taken_at_ms = 1_700_000_000_000 + uptime_ms;
    snap.sampling.interval_bytes = 512 << 10;
    let mut long = Frame::default();
    long.ip = 0x1000;
    long.function = Some(format!("app::{}", "x".repeat(name_len)));
    long.file = Some("src/app.rs".into());
    long.line = Some(1);
    snap.frames.push(long);
    for i in 0..sites {
        let mut frame = Frame::default();
        frame.ip = 0x2000 + u64::from(i);
        frame.function = Some(format!("<alloc::raw_vec::RawVec<app::Item{i}>>::grow_one"));
        snap.frames.push(frame);
        snap.stacks.push(vec![i + 1, 0]);
        let mut site = Site::default();
        site.stack = i;
        site.live_bytes = (1 + uptime_ms / 1000) * 65_536;
        site.live_allocs = 1;
        site.live_samples = 1;
        site.allocated_bytes = site.live_bytes;
        site.allocated_allocs = 1;
        snap.sites.push(site);
    }
    snap.totals.live_bytes = snap.sites.iter().map(|s| s.live_bytes).sum();
    snap
}

/// Runs `heapsnap args`, returning its exit code, standard error and peak
/// resident memory in bytes.
// The child is reaped by `wait4` (for its resource usage), not `Child`.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str]) -> (Option<i32>, String, u64) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapsnap"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("heapsnap runs");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `status` and `usage` are writable.
    // It is reaped here, not by `Child`, which is not waited on again.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    // ru_maxrss is in kilobytes on Linux.
    (code, stderr, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_long_name_shared_by_many_stacks_is_not_copied_per_site() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let mut bytes = 0;
    for (n, uptime) in [(1, 1_000), (2, 6_000), (3, 11_000)] {
        let path = dir.join(format!("heapsnap-{n:06}-4242-interval.json.gz"));
        crafted(1000, 1 << 20, uptime).write_to_path(&path).unwrap();
        bytes += std::fs::metadata(&path).unwrap().len();
    }
    assert!(bytes < 200_000, "the input is small: {bytes} bytes");
    let first = dir.join("heapsnap-000001-4242-interval.json.gz");
    let last = dir.join("heapsnap-000003-4242-interval.json.gz");
    let out = |name: &str| scratch.path().join(name).display().to_string();
    let (first, last, dir) = (path(&first), path(&last), path(&dir));
    let (svg, html, pb) = (out("heap.svg"), out("report.html"), out("heap.pb.gz"));
    for args in [
        vec!["top", &last],
        vec!["flamegraph", &last, "-o", &svg],
        vec!["diff", &first, &last],
        vec!["leaks", &dir],
        vec!["leaks", &dir, "--format", "json"],
        vec!["report", &dir, "-o", &html],
        vec!["pprof", &last, "-o", &pb],
    ] {
        let (code, stderr, peak) = run(&args);
        eprintln!("{}: {} MiB", args[0], peak >> 20);
        assert!(
            matches!(code, Some(0 | 2)),
            "{args:?}: exit {code:?}: {stderr}"
        );
        assert!(
            stderr
                .lines()
                .filter(|l| !l.starts_with("heapsnap: warning"))
                .count()
                <= 2,
            "{args:?}: {stderr}"
        );
        assert!(
            peak < LIMIT,
            "{args:?}: {} MiB resident (limit {} MiB)",
            peak >> 20,
            LIMIT >> 20
        );
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
