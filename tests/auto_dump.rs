//! Automatic dumps, end to end: each test runs a child process (this test
//! binary again, running one of the `child_*` functions) configured by
//! environment or by `AutoDump`, and reads what it left in its directory.
//!
//! - the environment alone turns dumps on; interval dumps come on time, the
//!   first is the baseline, every file says which trigger wrote it;
//! - growth dumps fire on new highs only;
//! - SIGUSR1 writes a dump;
//! - rotation keeps the first and the newest, and never another process's;
//! - the near-limit trigger fires before the limit (limit from a file);
//! - a failed allocation writes a dump;
//! - SIGKILL in the middle of dumping leaves only complete snapshots and
//!   hidden temporary files the reporter skips;
//! - a process exiting while a dump is in progress ends with a last dump;
//! - SIGTERM writes a last dump, then ends the process as it would have;
//!   a program's own SIGTERM handler runs, and its exit writes the dump;
//! - the live counters file lasts as long as the process, its owner's
//!   alone, and a link at its name stays a link;
//! - a watcher's request file sets an interval while it lasts.

// A refusing inner allocator is the point of the out-of-memory test.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use heapsnap::{AutoDump, Snapshot};
use heapsnap_format::file;

/// Jemalloc, except that it refuses (returns null for) absurd requests, as
/// an allocator out of memory does.
struct Refusing;

/// Requests of this size or more are refused.
const REFUSED: usize = 1 << 40;

// SAFETY: every method forwards to jemalloc with the caller's arguments, or
// returns null, which `GlobalAlloc` allows for any failed allocation.
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= REFUSED {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is jemalloc's.
        unsafe { heapsnap::Jemalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above; refused requests never produced a pointer.
        unsafe { heapsnap::Jemalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= REFUSED {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { heapsnap::Jemalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: heapsnap::Profiler<Refusing> = heapsnap::Profiler::new(Refusing);

/// Longest a child may take before the test calls it hung.
const HANG: Duration = Duration::from_secs(60);

/// Runs `child_<name>` in a fresh process with `env`.
fn spawn_child(name: &str, env: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            &format!("child_{name}"),
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads=1"])
        .env_remove("HEAPSNAP_DIR")
        // The last dump at exit, only where a test asks for it.
        .env("HEAPSNAP_DUMP_ON_EXIT", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("the test binary runs")
}

/// Waits for `child`, failing the test if it takes longer than [`HANG`]
/// or fails.
fn finish(child: Child) -> Output {
    let output = finish_any(child);
    assert!(
        output.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits for `child` to end, however it ends, within [`HANG`]; its output.
fn finish_any(mut child: Child) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            panic!("child still running after {HANG:?}: exit hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child has no memory effects.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0);
}

fn run_child(name: &str, env: &[(&str, String)]) -> Output {
    finish(spawn_child(name, env))
}

/// The snapshot files in `dir` (temporary files aside), by file name, read
/// and validated.
fn dumps(dir: &Path) -> Vec<(String, Snapshot)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("heapsnap-") && file::is_snapshot_name(n))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let snapshot = Snapshot::read_from_path(dir.join(&name))
                .unwrap_or_else(|err| panic!("{name} is not a valid snapshot: {err}"));
            (name, snapshot)
        })
        .collect()
}

fn triggers(dumps: &[(String, Snapshot)]) -> Vec<&str> {
    dumps.iter().map(|(_, s)| s.trigger.as_str()).collect()
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

/// Holds `step` more bytes every 50 ms for `duration`, beside churn, and
/// after that until `until` says enough.
fn grow_for(duration: Duration, step: usize, until: impl Fn() -> bool) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut held = Vec::new();
    while start.elapsed() < duration || !until() {
        assert!(start.elapsed() < HANG, "still growing after {HANG:?}");
        held.push(vec![7u8; step]);
        let churn: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        std::hint::black_box(churn);
        std::thread::sleep(Duration::from_millis(50));
    }
    held
}

/// Runs `child_grows` for `ms`, holding `step` more bytes every 50 ms,
/// dumping into `dir` with the dump `settings` (variable, value).
fn spawn_growing(dir: &Path, ms: u64, step: usize, settings: &[(&str, &str)]) -> Child {
    let mut env = vec![
        ("HEAPSNAP_DIR", dir.display().to_string()),
        ("CHILD_MS", ms.to_string()),
        ("CHILD_STEP", step.to_string()),
    ];
    env.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
    spawn_child("grows", &env)
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_grows() {
    let ms: u64 = env_var("CHILD_MS").parse().unwrap();
    let step: usize = env_var("CHILD_STEP").parse().unwrap();
    // If asked, it goes on growing until the dump numbered so was written:
    // how many dumps fit in `ms` depends on the machine's load, and the
    // dumps must see growth.
    let until: Option<u64> = std::env::var("CHILD_UNTIL_NUMBER")
        .ok()
        .map(|n| n.parse().unwrap());
    let dir = std::env::var("HEAPSNAP_DIR").map(PathBuf::from).ok();
    // If asked, what it holds is tagged.
    let _tag = std::env::var("CHILD_TAG")
        .ok()
        .map(|name| heapsnap::tag(&name));
    let heap = grow_for(Duration::from_millis(ms), step, || match (until, &dir) {
        (Some(number), Some(dir)) => highest_number(dir) >= number,
        _ => true,
    });
    // No listener, no connection: with dumps running, the process holds
    // no socket.
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            assert!(
                !target.to_string_lossy().starts_with("socket:"),
                "{target:?}"
            );
        }
    }
    std::hint::black_box(heap);
}

#[test]
fn environment_alone_dumps_on_an_interval() {
    let dir = support::scratch("auto-interval");
    let started = Instant::now();
    finish(spawn_growing(
        &dir,
        2000,
        65536,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "300ms"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
            // Exact, so that the growth checked below is not sampling luck.
            ("HEAPSNAP_SAMPLE_INTERVAL", "1"),
            ("CHILD_UNTIL_NUMBER", "5"),
        ],
    ));
    let elapsed = started.elapsed();
    let dumps = dumps(&dir);
    let triggers = triggers(&dumps);
    assert_eq!(
        triggers[0], "start",
        "the baseline comes first: {triggers:?}"
    );
    assert!(
        triggers[1..].iter().all(|t| *t == "interval"),
        "{triggers:?}"
    );
    // One dump per 300 ms (polled every 100 ms): the child waited for the
    // baseline and four more; no more than the time allows.
    let max = (elapsed.as_millis() / 300) as usize + 1;
    assert!(
        (5..=max).contains(&dumps.len()),
        "{} dumps in {elapsed:?}",
        dumps.len()
    );
    for ((name, snap), (_, next)) in dumps.iter().zip(&dumps[1..]) {
        assert!(name.contains(&format!("-{}-", snap.process.pid)), "{name}");
        assert!(
            name.ends_with(&format!("-{}.json.gz", snap.trigger)),
            "{name}"
        );
        assert!(next.seq > snap.seq && next.uptime_ms >= snap.uptime_ms + 250);
    }
    // The process kept growing; the dumps saw it.
    let first = &dumps[1].1.totals.live_bytes;
    let last = &dumps.last().unwrap().1.totals.live_bytes;
    assert!(last > first, "live heap {first} -> {last}");
    for (name, _) in &dumps {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn growth_dumps_fire_on_new_highs_only() {
    let dir = support::scratch("auto-growth");
    finish(spawn_growing(
        &dir,
        3000,
        1 << 20,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "off"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "25%"),
            ("HEAPSNAP_SAMPLE_INTERVAL", "1"),
            // Growing (60 MiB in 3 s, then on) until two growth dumps: how
            // many more the dump thread fits in depends on the load.
            ("CHILD_UNTIL_NUMBER", "3"),
        ],
    ));
    let dumps = dumps(&dir);
    let triggers = triggers(&dumps);
    assert_eq!(triggers[0], "start");
    assert!(triggers[1..].iter().all(|t| *t == "growth"), "{triggers:?}");
    assert!(dumps.len() >= 3, "{triggers:?}");
    let mut high = dumps[0].1.totals.live_bytes;
    for (name, snap) in &dumps[1..] {
        let live = snap.totals.live_bytes;
        assert!(
            live as f64 > high as f64 * 1.25 && live > high + (1 << 20),
            "{name}: {live} bytes is not 25% (and 1 MiB) over the last high {high}"
        );
        high = live;
    }
}

#[test]
fn sigusr1_writes_a_dump() {
    let dir = support::scratch("auto-signal");
    let child = spawn_growing(
        &dir,
        3000,
        4096,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "off"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
            // On a busy machine the dump thread may not run within the
            // 3 s: the child waits for the signal's dump (number 2).
            ("CHILD_UNTIL_NUMBER", "2"),
        ],
    );
    // The handler is in place once the baseline is written.
    wait_for_files(&dir, 1);
    signal(&child, libc::SIGUSR1);
    finish(child);
    assert_eq!(triggers(&dumps(&dir)), ["start", "signal"]);
}

/// The number of snapshot files (not temporary ones) in `dir`.
fn count_dumps(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| file::is_snapshot_name(&e.file_name().to_string_lossy()))
        })
        .count()
    })
}

/// The highest number among the snapshot files in `dir`
/// (`heapsnap-NNNNNN-...`), 0 when there are none.
fn highest_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("heapsnap-")?.get(..6)?.parse().ok()
        })
        .max()
        .unwrap_or(0)
    })
}

/// Waits until `dir` holds `count` snapshot files.
fn wait_for_files(dir: &Path, count: usize) {
    let start = Instant::now();
    while count_dumps(dir) < count {
        assert!(start.elapsed() < HANG, "no dump in {dir:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Files are gzip-compressed JSON unless `HEAPSNAP_COMPRESS=off`; either
/// way they read as snapshots.
#[test]
fn dumps_are_gzipped_unless_compression_is_off() {
    for (compress, suffix, first_byte) in [("gzip", ".json.gz", 0x1f), ("off", ".json", b'{')] {
        let dir = support::scratch(&format!("auto-compress-{compress}"));
        finish(spawn_growing(
            &dir,
            200,
            4096,
            &[
                ("HEAPSNAP_DUMP_INTERVAL", "100ms"),
                ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
                ("HEAPSNAP_COMPRESS", compress),
                // Every allocation sampled: the held blocks are in the sites.
                ("HEAPSNAP_SAMPLE_INTERVAL", "1"),
                ("CHILD_UNTIL_NUMBER", "2"),
            ],
        ));
        let dumps = dumps(&dir);
        assert!(dumps.len() >= 2, "{compress}: {} dumps", dumps.len());
        for (name, _) in &dumps {
            assert!(name.ends_with(suffix), "{compress}: {name}");
            let bytes = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(bytes[0], first_byte, "{compress}: {name}");
        }
        // The first dump may come before any sample; the last sees growth.
        let (name, last) = dumps.last().unwrap();
        assert!(!last.sites.is_empty(), "{compress}: {name} has no sites");
    }
}

#[test]
fn rotation_keeps_the_first_and_the_newest_and_other_processes_files() {
    let dir = support::scratch("auto-rotation");
    // A crashed earlier run's file: never ours to delete.
    let other = dir.join("heapsnap-000007-1-interval.json");
    std::fs::write(&other, "an earlier run").unwrap();
    finish(spawn_growing(
        &dir,
        1500,
        4096,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "100ms"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
            ("HEAPSNAP_KEEP", "3"),
            // Ours are numbered from 8: ten dumps at least.
            ("CHILD_UNTIL_NUMBER", "17"),
        ],
    ));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "an earlier run");
    std::fs::remove_file(&other).unwrap();
    let dumps = dumps(&dir);
    let seqs: Vec<u64> = dumps.iter().map(|(_, s)| s.seq).collect();
    assert_eq!(dumps.len(), 4, "first + 3 newest: {seqs:?}");
    assert_eq!(dumps[0].1.trigger, "start");
    // Numbering continued after the other run's file.
    assert!(dumps[0].0.starts_with("heapsnap-000008-"), "{}", dumps[0].0);
    // The newest three are consecutive, and many were deleted before them.
    assert_eq!(seqs[2] + 1, seqs[3]);
    assert_eq!(seqs[1] + 1, seqs[2]);
    assert!(seqs[1] >= seqs[0] + 5, "{seqs:?}");
}

/// A full disk does not stop dumps for good: the oldest of this process's
/// dumps (never the first) make room for the newest. Needs a small file
/// system: a 1 MiB tmpfs, which takes root (or CAP_SYS_ADMIN); without
/// it the test says so and checks nothing.
#[test]
fn a_full_disk_gives_up_old_dumps_for_new_ones() {
    let dir = support::scratch("auto-full");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dir);
    // Far more dumps than fit: each is tens of KiB uncompressed, the disk
    // 1 MiB, and rotation alone (keep 1000) would never free any.
    let output = finish(spawn_growing(
        &dir,
        500,
        4096,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "20ms"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
            ("HEAPSNAP_KEEP", "1000"),
            ("HEAPSNAP_COMPRESS", "off"),
            ("CHILD_UNTIL_NUMBER", "100"),
        ],
    ));
    let dumps = dumps(&dir);
    assert_eq!(dumps[0].1.trigger, "start", "the first dump stays");
    assert!(highest_number(&dir) >= 100);
    let used: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        dumps.len() < 100,
        "the disk filled: {} dumps, {used} bytes; stderr: {}",
        dumps.len(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_approaches_the_limit() {
    let dir = PathBuf::from(env_var("CHILD_DIR"));
    let limit_file = dir.join("memory.max");
    let rss = rss_bytes();
    let limit = rss + (256 << 20);
    std::fs::write(&limit_file, format!("{limit}\n")).unwrap();
    AutoDump::new(dir.join("dumps"))
        .interval(None)
        .on_growth(None)
        .on_exit(false)
        .near_limit(Some(0.9))
        .memory_limit_file(Some(limit_file))
        .start()
        .unwrap();
    // Touch memory in 4 MiB steps up to 97% of the limit, then hold. The
    // dumper's work is waited for (10 s at most each): the start dump's
    // before the climb (its symbols take memory of their own), the
    // near-limit dump's past 90%. On a busy machine the dumper may come
    // late, and the point is what it sees when it comes, not how soon.
    let mut held = Vec::new();
    let dumps = dir.join("dumps");
    let dumped = |trigger: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let suffix = format!("-{trigger}.json.gz");
        let found = || {
            std::fs::read_dir(&dumps)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        };
        while !found() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    dumped("start");
    while (rss_bytes() as f64) < limit as f64 * 0.97 {
        held.push(vec![1u8; 4 << 20]);
        std::thread::sleep(Duration::from_millis(20));
        if rss_bytes() as f64 >= limit as f64 * 0.9 {
            dumped("near-limit");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    println!("LIMIT {limit}");
    std::hint::black_box(held);
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no memory effects.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[test]
fn near_limit_dump_fires_before_the_limit() {
    let dir = support::scratch("auto-near-limit");
    let output = run_child(
        "approaches_the_limit",
        &[("CHILD_DIR", dir.display().to_string())],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let limit: u64 = stdout
        .lines()
        .find_map(|l| {
            l.split_once("LIMIT ")
                .map(|(_, n)| n.trim().parse().unwrap())
        })
        .expect("the child prints its limit");
    let dumps = dumps(&dir.join("dumps"));
    assert_eq!(
        triggers(&dumps),
        ["start", "near-limit"],
        "one near-limit dump, not one per poll"
    );
    // At 90% of the limit, or earlier when the program grows so fast
    // (here 4 MiB every 20 ms) that a dump started at 90% would not be
    // written before the limit.
    let rss = dumps[1].1.totals.rss_bytes.expect("RSS is known on Linux");
    assert!(
        rss as f64 >= limit as f64 * 0.5 && (rss as f64) < limit as f64 * 0.92,
        "near-limit dump at RSS {rss}, limit {limit}"
    );
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_fails_an_allocation() {
    // Exact, so that the block held below is in the dump for certain (at
    // 512 KiB a 1 MiB block is sampled 86% of the time).
    heapsnap::set_sample_interval(1);
    AutoDump::new(env_var("CHILD_DIR"))
        .interval(None)
        .on_exit(false)
        .start()
        .unwrap();
    let held = vec![3u8; 1 << 20];
    let layout = Layout::from_size_align(REFUSED, 8).unwrap();
    // SAFETY: a non-zero size; the result is checked before any use.
    // (`black_box`: an allocation whose result escapes nowhere may be
    // assumed to succeed and removed by the optimiser.)
    let block = std::hint::black_box(unsafe { std::alloc::alloc(layout) });
    assert!(block.is_null());
    println!("REFUSED");
    std::hint::black_box(held);
}

#[test]
fn failed_allocation_writes_a_dump() {
    let dir = support::scratch("auto-oom");
    let output = run_child(
        "fails_an_allocation",
        &[("CHILD_DIR", dir.display().to_string())],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("REFUSED"));
    let dumps = dumps(&dir);
    let oom: Vec<_> = dumps.iter().filter(|(_, s)| s.trigger == "oom").collect();
    assert_eq!(oom.len(), 1, "{:?}", triggers(&dumps));
    // The dump was written before the failed call returned, with the heap
    // as it was.
    assert!(oom[0].1.totals.live_bytes >= 1 << 20);
}

/// Holds many live allocations from many stacks, so a dump takes a while.
fn build_heap(blocks: usize) -> Vec<Box<[u8]>> {
    fn nested(depth: usize, out: &mut Vec<Box<[u8]>>) {
        if depth == 0 {
            out.push(vec![0u8; 24 + out.len() % 200].into_boxed_slice());
        } else {
            nested(depth - 1, out);
        }
    }
    let mut out = Vec::with_capacity(blocks);
    for i in 0..blocks {
        nested(i % 48, &mut out);
    }
    out
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_fills_memory_and_handles_it() {
    // Room for every block's pointer, reserved before memory is short.
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(4096);
    loop {
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(8 << 20).is_err() {
            break;
        }
        // Touched a little: a sample (at 512 KiB, most 8 MiB blocks are)
        // is a real allocation, not only address space.
        block.push(1);
        held.push(block);
    }
    // A snapshot taken by the program while memory is short (dropped
    // before the program allocates again: it takes memory too).
    let sites = std::env::var("CHILD_SNAPSHOT")
        .is_ok_and(|v| !v.is_empty())
        .then(|| heapsnap::snapshot().sites.len());
    // The program handles the failure: it lets some go and carries on
    // with blocks like those it let go (jemalloc keeps the address space of
    // freed large blocks for blocks of their kind: a block of another size
    // could fail without the profiler too).
    held.truncate(held.len() / 2);
    let again: Vec<u8> = vec![2; 8 << 20];
    if let Some(sites) = sites {
        println!("SNAPSHOT {sites} sites");
    }
    println!(
        "HANDLED {} MiB",
        (held.len() + 1) * 8 + again.len() / (8 << 20) - 1
    );
}

/// A program that runs out of address space (`ulimit -v`) and handles the
/// failed allocation is not aborted by the profiler: the out-of-memory
/// dump, and a snapshot the program takes then, get what they need from
/// the reserve. Before the reserve, 7 of 9 such runs exited 134 ("memory
/// allocation of 256 bytes failed").
///
/// Under the limit the dump thread looks up no symbols at all: reading a
/// binary's debug information while the program fills memory to the limit
/// aborted the program (4 of 4 runs on a busy machine with a 64 MB test
/// binary), beyond what the reserve holds.
#[test]
fn running_out_of_memory_is_not_made_fatal_by_the_dump() {
    for round in 0..6 {
        let dir = support::scratch(&format!("auto-oom-handled-{round}"));
        // Odd rounds also take a snapshot from the program, short of memory.
        let snapshot = if round % 2 == 1 { "1" } else { "" };
        let exe = std::env::current_exe().unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 600000 && exec \"$0\" --exact child_fills_memory_and_handles_it --ignored --nocapture --test-threads=1")
            .arg(&exe)
            .env("HEAPSNAP_DIR", &dir)
            .env("HEAPSNAP_DUMP_INTERVAL", "off")
            .env("CHILD_SNAPSHOT", snapshot)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("HANDLED"),
            "round {round}: {:?}\n{stdout}\n{stderr}",
            output.status
        );
        assert_eq!(stdout.contains("SNAPSHOT"), !snapshot.is_empty());
        let dumps = dumps(&dir);
        let oom: Vec<_> = dumps.iter().filter(|(_, s)| s.trigger == "oom").collect();
        assert_eq!(oom.len(), 1, "round {round}: {:?}", triggers(&dumps));
        assert!(oom[0].1.totals.live_bytes >= 100 << 20, "the full heap");
    }
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_dumps_in_a_loop() {
    heapsnap::set_sample_interval(1);
    let heap = build_heap(200_000);
    let dir = env_var("CHILD_DIR");
    loop {
        heapsnap::dump_to_dir(&dir).unwrap();
        std::hint::black_box(&heap);
    }
}

#[test]
fn sigkill_mid_dump_leaves_only_complete_snapshots() {
    let dir = support::scratch("auto-sigkill");
    let mut interrupted = 0;
    let mut rounds = 0;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    // Kill until at least three kills landed while a temporary file was
    // being written (seen by the file left behind): odd rounds at a random
    // moment, even ones as soon as a new temporary file appears (how long
    // writing lasts against the rest of a dump depends on the machine).
    while interrupted < 3 {
        rounds += 1;
        assert!(
            rounds <= 100,
            "only {interrupted} of 100 kills landed mid-write"
        );
        let existing = count_dumps(&dir);
        let mut child = spawn_child(
            "dumps_in_a_loop",
            &[("CHILD_DIR", dir.display().to_string())],
        );
        wait_for_files(&dir, existing + 1);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let targeted = rounds % 2 == 0;
        let leftovers = temporary_files(&dir).len();
        let deadline = Instant::now()
            + if targeted {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(rng % 300)
            };
        while Instant::now() < deadline && !(targeted && temporary_files(&dir).len() > leftovers) {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        interrupted = temporary_files(&dir).len();
    }
    // Every file is a complete snapshot, or a hidden temporary file.
    let complete = dumps(&dir);
    assert!(complete.len() >= rounds);
    for name in temporary_files(&dir) {
        assert!(name.starts_with('.') && name.ends_with(heapsnap::snapshot::TEMP_SUFFIX));
    }
    let all: usize = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(all, complete.len() + interrupted, "no other kind of file");
    // The reporter reads the directory, skipping the temporary files.
    let loaded = heapsnap_report::load::many(&[dir.display().to_string()]).unwrap();
    assert_eq!(loaded.len(), complete.len());
    eprintln!(
        "{rounds} kills, {interrupted} mid-write, {} complete snapshots",
        complete.len()
    );
    // The next process that dumps there removes what the killed ones left
    // (it may leave one of its own, if it exits between publishing a dump
    // and removing its temporary name).
    let left = temporary_files(&dir);
    let next = (highest_number(&dir) + 1).to_string();
    finish(spawn_growing(
        &dir,
        100,
        4096,
        &[("CHILD_UNTIL_NUMBER", next.as_str())],
    ));
    let still: Vec<String> = temporary_files(&dir)
        .into_iter()
        .filter(|name| left.contains(name))
        .collect();
    assert_eq!(still, Vec::<String>::new());
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(heapsnap::snapshot::TEMP_SUFFIX))
        .collect()
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_exits_while_dumping() {
    heapsnap::set_sample_interval(1);
    let heap = build_heap(400_000);
    let dir = env_var("CHILD_DIR");
    AutoDump::new(&dir)
        .interval(Some(Duration::from_millis(1)))
        .start()
        .unwrap();
    // Once the first interval dump is written the thread dumps back to back
    // (how long one takes depends on the machine's load, so wait for it
    // rather than for a fixed time); return from main in the middle of the
    // next. The heap stays: a dump racing its drop would see it half freed.
    wait_for_files(Path::new(&dir), 2);
    std::thread::sleep(Duration::from_millis(20));
    std::mem::forget(heap);
}

#[test]
fn exit_while_dumping_ends_with_a_last_dump() {
    let dir = support::scratch("auto-exit");
    // `finish` fails the test if the child does not exit.
    run_child(
        "exits_while_dumping",
        &[("CHILD_DIR", dir.display().to_string())],
    );
    let dumps = dumps(&dir);
    assert!(dumps.len() >= 3, "{:?}", triggers(&dumps));
    assert_eq!(triggers(&dumps).last(), Some(&"exit"));
    for (name, snap) in &dumps[1..] {
        // The pause allocating threads could see: one shard's copy.
        assert!(
            snap.capture.max_pause_us <= snap.capture.total_pause_us,
            "{name}"
        );
        assert!(snap.totals.live_allocs >= 400_000, "{name}");
    }
}

#[test]
fn sigterm_writes_a_last_dump_then_ends_the_process_as_it_would_have() {
    use std::os::unix::process::ExitStatusExt;
    let dir = support::scratch("auto-sigterm");
    let child = spawn_growing(
        &dir,
        20_000,
        4096,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "off"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
            ("HEAPSNAP_DUMP_ON_EXIT", "on"),
        ],
    );
    wait_for_files(&dir, 1);
    signal(&child, libc::SIGTERM);
    let output = finish_any(child);
    // Ended by SIGTERM, as without the profiler: not a normal exit.
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGTERM),
        "{:?}",
        output.status
    );
    assert_eq!(triggers(&dumps(&dir)), ["start", "terminate"]);
    assert_eq!(live_files(&dir), Vec::<PathBuf>::new(), "left by SIGTERM");
}

/// The live counters files in `dir`.
fn live_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "live"))
        .collect();
    files.sort();
    files
}

/// The live counters file: beside the dumps while the process runs, its
/// owner's alone, with the process's figures and its tag's (read as
/// `heapsnap stat` reads them); gone once the process exits, with no last
/// dump asked for.
#[test]
fn the_live_counters_file_lasts_as_long_as_the_process() {
    use std::os::unix::fs::PermissionsExt;
    let dir = support::scratch("auto-live");
    let child = spawn_growing(
        &dir,
        2_000,
        64 << 10,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "300ms"),
            ("HEAPSNAP_SAMPLE_INTERVAL", "65536"),
            ("CHILD_TAG", "grown"),
        ],
    );
    let path = dir.join(heapsnap_format::live::file_name(child.id()));
    let start = Instant::now();
    let reading = loop {
        assert!(start.elapsed() < HANG, "no live counters with two dumps");
        let reading = path
            .exists()
            .then(|| heapsnap_report::live::Live::open(&path).ok()?.read().ok())
            .flatten();
        if let Some(reading) = reading.filter(|r| r.counters.dumps >= 2) {
            break reading;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let counters = reading.counters;
    assert!(!reading.stale);
    assert_eq!(counters.pid, u64::from(child.id()));
    assert_eq!(counters.interval_bytes, 65536);
    assert!(
        counters.samples > 0 && counters.live_bytes > 0,
        "{counters:?}"
    );
    assert!(
        counters.allocated_bytes >= counters.live_bytes,
        "{counters:?}"
    );
    assert!(counters.rss_bytes > counters.live_bytes / 2, "{counters:?}");
    // Its tag's figures: what it holds under the tag, within its total.
    let [tag] = &reading.tags[..] else {
        panic!("one tag expected: {:?}", reading.tags);
    };
    assert_eq!(tag.name, "grown");
    // (A sample reaches its tag's figures a moment before the total's:
    // one sample of slack.)
    let one_sample = 256 << 10;
    assert!(tag.live_bytes > 0, "{tag:?}");
    assert!(
        tag.live_bytes <= counters.live_bytes + one_sample,
        "{tag:?} {counters:?}"
    );
    assert!(tag.allocated_bytes >= tag.live_bytes, "{tag:?}");
    finish(child);
    assert_eq!(live_files(&dir), Vec::<PathBuf>::new());
}

/// A watcher's request (`heapsnap watch --interval`) makes a process whose
/// own interval is off dump on the interval asked; once the request is
/// withdrawn, it stops.
#[test]
fn a_request_file_asks_for_an_interval_while_it_lasts() {
    let dir = support::scratch("auto-request");
    let child = spawn_growing(
        &dir,
        30_000,
        4096,
        &[
            ("HEAPSNAP_DUMP_INTERVAL", "off"),
            ("HEAPSNAP_DUMP_ON_GROWTH", "off"),
        ],
    );
    wait_for_files(&dir, 1);
    let request = dir.join(heapsnap_format::live::request_name(child.id()));
    std::fs::write(&request, "1s").unwrap();
    // Three interval dumps, however long a busy machine takes.
    wait_for_files(&dir, 4);
    std::fs::remove_file(&request).unwrap();
    // The thread reads the request a second at a time: one dump may have
    // begun; after that, none.
    std::thread::sleep(Duration::from_secs(4));
    let settled = count_dumps(&dir);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        count_dumps(&dir),
        settled,
        "dumps went on without a request"
    );
    let dumps = dumps(&dir);
    assert_eq!(
        triggers(&dumps)[..4],
        ["start", "interval", "interval", "interval"]
    );
    signal(&child, libc::SIGKILL);
    let _ = finish_any(child);
}

/// A link (or anything but a regular file) at the live file's name stays
/// what it was, and what it points at too: the process runs without live
/// counters.
#[test]
fn a_link_at_the_live_counters_name_is_left_alone() {
    let dir = support::scratch("auto-live-link");
    run_child("meets_a_link", &[("CHILD_DIR", dir.display().to_string())]);
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_meets_a_link() {
    use std::os::unix::fs::symlink;
    let dir = PathBuf::from(env_var("CHILD_DIR"));
    let target = dir.join("precious");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.join(heapsnap_format::live::file_name(std::process::id()));
    symlink(&target, &link).unwrap();
    let dumps = AutoDump::new(&dir).start().unwrap();
    dumps.dump_now().unwrap();
    dumps.stop();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

/// Set by the child's own SIGTERM handler.
static TERMINATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The handler the child's replaced (the profiler's), which it calls in
/// turn, as signal-hook (tokio's `signal`) does.
static PREVIOUS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn own_sigterm_handler(signal: libc::c_int) {
    TERMINATED.store(true, std::sync::atomic::Ordering::Relaxed);
    let previous = PREVIOUS.load(std::sync::atomic::Ordering::Relaxed);
    if previous != libc::SIG_DFL && previous != libc::SIG_IGN {
        // SAFETY: `previous` is the address of the handler sigaction
        // reported, an `extern "C" fn(c_int)` (installed without
        // SA_SIGINFO).
        let chained: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
        chained(signal);
    }
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_handles_sigterm_itself() {
    let dir = env_var("CHILD_DIR");
    AutoDump::new(&dir).interval(None).start().unwrap();
    // Installed after the profiler's, as tokio's or ctrlc's handler is;
    // it calls the one it replaced.
    // SAFETY: the handler stores to atomics and calls the previous
    // handler; `previous` is a valid, writable sigaction.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = own_sigterm_handler as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGTERM, &action, &mut previous);
        PREVIOUS.store(previous.sa_sigaction, std::sync::atomic::Ordering::Relaxed);
    }
    std::fs::write(Path::new(&dir).join("ready"), "").unwrap();
    let start = Instant::now();
    let mut held = Vec::new();
    while !TERMINATED.load(std::sync::atomic::Ordering::Relaxed) {
        assert!(start.elapsed() < HANG, "no SIGTERM came");
        held.push(vec![1u8; 4096]);
        std::thread::sleep(Duration::from_millis(10));
    }
    // The profiler's handler, called in turn, asked for a last dump: it
    // comes, and the process is not ended for it.
    let dir = Path::new(&dir);
    while !dumps(dir)
        .iter()
        .any(|(_, s)| s.trigger.as_str() == "terminate")
    {
        assert!(start.elapsed() < HANG, "no terminate dump");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A graceful shutdown, then a normal exit.
    println!("own handler ran");
    std::mem::forget(held);
}

#[test]
fn a_programs_own_sigterm_handler_runs_and_its_exit_writes_the_last_dump() {
    let dir = support::scratch("auto-own-handler");
    let child = spawn_child(
        "handles_sigterm_itself",
        &[("CHILD_DIR", dir.display().to_string())],
    );
    // The child says when its handler is in place.
    let start = Instant::now();
    while !dir.join("ready").exists() {
        assert!(start.elapsed() < HANG, "the child never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, libc::SIGTERM);
    let output = finish(child);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("own handler ran"), "{stdout}");
    assert_eq!(triggers(&dumps(&dir)), ["start", "terminate", "exit"]);
}

#[test]
#[ignore = "run by the tests above in a child process"]
fn child_dumps_on_demand_then_stops() {
    // Exact: the block held below is in the dumps for certain.
    heapsnap::set_sample_interval(1);
    let dir = PathBuf::from(env_var("CHILD_DIR"));
    let dumps_running = AutoDump::new(dir.join("first"))
        .interval(None)
        .on_growth(None)
        .start()
        .unwrap();
    let held = vec![7u8; 1 << 20];
    let first = dumps_running.dump_now().unwrap();
    let second = dumps_running.dump_now().unwrap();
    assert_ne!(first, second);
    assert!(first.is_file() && second.is_file());
    dumps_running.stop();
    // Stopped: nothing more is written, on demand or at exit, and SIGTERM
    // has its default action again.
    // SAFETY: a query only: a null new action.
    let action = unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGTERM, std::ptr::null(), &mut current);
        current.sa_sigaction
    };
    assert_eq!(action, libc::SIG_DFL);
    // Started again, elsewhere.
    let again = AutoDump::new(dir.join("second"))
        .interval(None)
        .on_growth(None)
        .on_exit(false)
        .start()
        .unwrap();
    let third = again.dump_now().unwrap();
    assert!(third.starts_with(dir.join("second")), "{third:?}");
    std::hint::black_box(held);
    println!("DUMPED");
}

#[test]
fn a_handle_dumps_on_demand_and_stops_the_dumps() {
    let dir = support::scratch("auto-handle");
    let output = run_child(
        "dumps_on_demand_then_stops",
        &[
            ("CHILD_DIR", dir.display().to_string()),
            // The first start would dump at exit had it not been stopped.
            ("HEAPSNAP_DUMP_ON_EXIT", "on".into()),
        ],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("DUMPED"));
    let first = dumps(&dir.join("first"));
    assert_eq!(triggers(&first), ["start", "manual", "manual"]);
    assert!(first[1].1.totals.live_bytes >= 1 << 20);
    assert_eq!(triggers(&dumps(&dir.join("second"))), ["start", "manual"]);
}
