//! The near-limit dump in a real memory cgroup: a program leaking to its
//! limit is killed by the kernel, and the dump taken near the limit must be
//! on disk, whole, before that. With only the near-limit trigger on, then
//! with the default settings; limits of 128, 256 and 512 MiB; sampling at
//! 512 KiB and 64 KiB.
//!
//! Needs to create a memory cgroup (root, v1 or v2). Where it cannot, the
//! test says so and passes, except under `CI=true`, where it is required.
//! `HEAPSNAP_CGROUP_RUNS=20` repeats each case (BENCHMARKS.md, "Memory
//! limits").

#![allow(unsafe_code)]

mod support;

use std::ffi::CString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use heapsnap::snapshot::{Snapshot, Trigger};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Leaks 1 MiB a block (each page written, so resident) at about 40 MiB a
/// second, with a site per block size, until the kernel kills it.
#[test]
#[ignore = "run in a memory cgroup by the test below"]
fn child_grows_to_the_limit() {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut n = 0u8;
    loop {
        n = n.wrapping_add(1).max(1);
        kept.push(vec![n; (1 << 20) + usize::from(n % 4) * 4096]);
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A memory cgroup of this test's own, removed when dropped.
struct Cgroup {
    dir: PathBuf,
    procs: CString,
}

impl Cgroup {
    /// Creates a cgroup limited to `limit` bytes (v1's memory controller,
    /// else v2), or says why it cannot.
    fn new(name: &str, limit: u64) -> Result<Cgroup, String> {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let (dir, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), "memory.limit_in_bytes")
        } else if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
            (Path::new("/sys/fs/cgroup").join(name), "memory.max")
        } else {
            return Err("no memory cgroup file system".into());
        };
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cgroup = Cgroup {
            procs: CString::new(dir.join("cgroup.procs").display().to_string()).unwrap(),
            dir,
        };
        std::fs::write(cgroup.dir.join(limit_file), limit.to_string())
            .map_err(|e| format!("{limit_file}: {e}"))?;
        Ok(cgroup)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs the child in `cgroup` with `env`; returns how it ended.
fn run_child(cgroup: &Cgroup, env: &[(&str, String)]) -> std::process::ExitStatus {
    let procs = cgroup.procs.clone();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_grows_to_the_limit",
            "--ignored",
            "--nocapture",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec the closure calls only
    // async-signal-safe functions (getpid, open, write, close) on memory
    // prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            let mut digits = [0u8; 20];
            let mut pid = libc::getpid() as u32;
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (pid % 10) as u8;
                pid /= 10;
                if pid == 0 {
                    break;
                }
            }
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let wrote = libc::write(fd, digits[at..].as_ptr().cast(), digits.len() - at);
            libc::close(fd);
            if wrote < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("the child starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child was not killed by its limit within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The near-limit dumps in `dir`, read (a half-written one would fail).
fn near_limit_dumps(dir: &Path) -> Vec<Snapshot> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("-near-limit.json"))
        })
        .map(|p| Snapshot::read_from_path(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// One child run to its limit: what to report, or what went wrong.
struct Case {
    limit_mib: u64,
    interval: &'static str,
    defaults: bool,
    run: usize,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{} MiB, {}, {} settings, run {}",
            self.limit_mib,
            self.interval,
            if self.defaults {
                "default"
            } else {
                "near-limit only"
            },
            self.run
        )
    }

    /// Runs the child in a fresh cgroup; `Err(None)` when no cgroup can be
    /// made here.
    fn run(&self, scratch: &Path) -> Result<String, Option<String>> {
        let name = format!(
            "heapsnap-test-{}-{}-{}-{}-{}",
            std::process::id(),
            self.limit_mib,
            self.interval,
            self.defaults,
            self.run
        );
        let cgroup = match Cgroup::new(&name, self.limit_mib << 20) {
            Ok(cgroup) => cgroup,
            Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: cannot create a memory cgroup ({why})");
                return Err(None);
            }
            Err(why) => panic!("cannot create a memory cgroup ({why}); CI runs as root"),
        };
        let dir = scratch.join(&name);
        let mut env = vec![
            ("HEAPSNAP_DIR", dir.display().to_string()),
            ("HEAPSNAP_SAMPLE_INTERVAL", self.interval.to_string()),
        ];
        if !self.defaults {
            env.push(("HEAPSNAP_DUMP_INTERVAL", "off".into()));
            env.push(("HEAPSNAP_DUMP_ON_GROWTH", "off".into()));
        }
        let status = run_child(&cgroup, &env);
        let case = self.name();
        if status.signal() != Some(libc::SIGKILL) {
            return Err(Some(format!(
                "{case}: the child ended with {status}, not killed"
            )));
        }
        let dumps = near_limit_dumps(&dir);
        let dump = dumps
            .first()
            .ok_or_else(|| Some(format!("{case}: no near-limit dump")))?;
        assert_eq!(dump.trigger, Trigger::NearLimit);
        assert_eq!(dump.totals.memory_limit_bytes, Some(self.limit_mib << 20));
        Ok(format!(
            "{case}: near-limit dump at {} MiB resident ({} sites)",
            dump.totals.rss_bytes.unwrap_or(0) >> 20,
            dump.sites.len()
        ))
    }
}

/// Children run side by side: each is mostly asleep between its steps, and
/// a near-limit dump must be on disk in time on a busy machine anyway.
const AT_ONCE: usize = 3;

#[test]
fn the_near_limit_dump_is_on_disk_before_the_kill() {
    let runs: usize = std::env::var("HEAPSNAP_CGROUP_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let scratch = support::scratch("memory-limit");
    let mut cases = Vec::new();
    for limit_mib in [128u64, 256, 512] {
        for interval in ["512KiB", "64KiB"] {
            for defaults in [false, true] {
                for run in 0..runs {
                    cases.push(Case {
                        limit_mib,
                        interval,
                        defaults,
                        run,
                    });
                }
            }
        }
    }
    // The largest limits first, so that the last to finish are short.
    cases.reverse();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = case.run(&scratch);
                    let skipped = matches!(outcome, Err(None));
                    outcomes.lock().unwrap().push(outcome);
                    if skipped {
                        break;
                    }
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    if outcomes.iter().any(|o| matches!(o, Err(None))) {
        return;
    }
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(line) => eprintln!("{line}"),
            Err(why) => failures.extend(why),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
