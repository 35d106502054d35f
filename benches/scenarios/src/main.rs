//! The scenario program: runs one plan (see `heapsnap_scenarios::plan`) as
//! a real server-like program with the profiler installed, takes its
//! snapshots as the plan says, and writes what really leaked.
//!
//! ```text
//! scenario PLAN.json DIR      # snapshots in DIR/snapshots, DIR/truth.json
//! ```

mod parts;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Duration;

use heapsnap_scenarios::plan::{Healthy, LeakKind, Plan, Schedule};
use heapsnap_scenarios::score::{LeakTruth, SNAPSHOTS, TRUTH_FILE, Truth};
use parts::{Kept, Run};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, plan, dir] = args.as_slice() else {
        eprintln!("usage: scenario PLAN.json DIR");
        return ExitCode::from(2);
    };
    let plan: Plan = match std::fs::read(plan).map(|text| serde_json::from_slice(&text)) {
        Ok(Ok(plan)) => plan,
        Ok(Err(err)) => {
            eprintln!("{plan}: {err}");
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("{plan}: {err}");
            return ExitCode::from(2);
        }
    };
    match scenario(&plan, Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("scenario: {err}");
            ExitCode::FAILURE
        }
    }
}

fn scenario(plan: &Plan, out: &Path) -> Result<(), heapsnap::Error> {
    heapsnap::set_sample_interval(plan.interval);
    let snapshot_dir = out.join(SNAPSHOTS);
    let dir = snapshot_dir.as_path();
    let run = Run::new(plan.seconds);
    let uptime_at_start = uptime_ms();
    let snapshots = start_snapshots(plan, dir, &run)?;
    let leak = plan.leak.clone().map(|leak| {
        let run = run.clone();
        std::thread::spawn(move || match leak.kind {
            LeakKind::RegistryArc => parts::registry::run(&run, &leak),
            LeakKind::MapByValue => parts::sessions::run(&run, &leak),
            LeakKind::MovedIn => parts::inbox::run(&run, &leak),
            LeakKind::InstancePerCall => parts::engine::run(&run, &leak),
            LeakKind::GrowingLog => parts::eventlog::run(&run, &leak),
        })
    });
    let healthy: Vec<JoinHandle<Kept>> = plan
        .healthy
        .iter()
        .cloned()
        .map(|part| {
            let run = run.clone();
            std::thread::spawn(move || healthy_part(&run, &part))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(plan.seconds));
    run.stop();
    let uptime_at_end = uptime_ms();
    let mut kept: Vec<Kept> = Vec::new();
    kept.extend(leak.map(|handle| handle.join().expect("the leak part runs")));
    for handle in healthy {
        kept.push(handle.join().expect("a healthy part runs"));
    }
    if let Some(handle) = snapshots {
        let _ = handle.join();
    }
    // The last snapshot of the load, everything still held.
    heapsnap::dump_to_dir(dir)?;
    let teardown_snapshot = if plan.teardown {
        drop(kept);
        let path = heapsnap::dump_to_dir(dir)?;
        path.file_name().map(|n| n.to_string_lossy().into_owned())
    } else {
        std::hint::black_box(&kept);
        None
    };
    let truth = Truth {
        plan: plan.clone(),
        leak: plan.leak.as_ref().map(|leak| LeakTruth {
            kind: leak.kind,
            leaked_bytes: run.leaked.load(std::sync::atomic::Ordering::Relaxed),
            started_ms: uptime_at_start + (leak.start_fraction * plan.seconds * 1000.0) as u64,
            ended_ms: uptime_at_end,
        }),
        teardown_snapshot,
        settled: run.settled.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    let text = serde_json::to_vec_pretty(&truth).map_err(std::io::Error::from)?;
    std::fs::write(out.join(TRUTH_FILE), text)?;
    Ok(())
}

fn healthy_part(run: &Run, part: &Healthy) -> Kept {
    match *part {
        Healthy::LruCache {
            bytes,
            fill_fraction,
        } => parts::lru::run(run, bytes, fill_fraction),
        Healthy::TtlCache {
            bytes_per_sec,
            ttl_fraction,
        } => parts::ttl::run(run, bytes_per_sec, ttl_fraction),
        Healthy::OneOffLoad { bytes, at_fraction } => parts::oneoff::run(run, bytes, at_fraction),
        Healthy::BurstQueue {
            peak_bytes,
            period_fraction,
        } => parts::queue::run(run, peak_bytes, period_fraction),
        Healthy::Churn { bytes_per_sec } => parts::churn::run(run, bytes_per_sec),
        Healthy::ThreadChurn {
            threads_per_sec,
            bytes_per_thread,
        } => parts::threads::run(run, threads_per_sec, bytes_per_thread),
        Healthy::History {
            bytes,
            fill_fraction,
        } => parts::history::run(run, bytes, fill_fraction),
        Healthy::BoundedSessions {
            bytes,
            fill_fraction,
        } => parts::bounded::run(run, bytes, fill_fraction),
    }
}

/// The profiler's clock (milliseconds since it started), as snapshots
/// stamp them.
fn uptime_ms() -> u64 {
    heapsnap::stats().uptime_ms
}

/// Starts taking snapshots as the plan says: a thread that dumps at the
/// planned moments, or automatic dumps on growth. The last snapshot is
/// taken by the caller, at the end of the load.
fn start_snapshots(
    plan: &Plan,
    dir: &Path,
    run: &Run,
) -> Result<Option<JoinHandle<()>>, heapsnap::Error> {
    let moments: Vec<f64> = match plan.schedule {
        Schedule::Every { count } => {
            let count = count.max(2);
            (0..count - 1)
                .map(|k| k as f64 * plan.seconds / (count - 1) as f64)
                .collect()
        }
        Schedule::Random { count } => {
            let mut rng = fastrand::Rng::with_seed(plan.seed ^ 0x5eed);
            let mut moments: Vec<f64> = (0..count.max(2) - 1)
                .map(|k| {
                    if k == 0 {
                        0.0
                    } else {
                        rng.f64() * plan.seconds
                    }
                })
                .collect();
            moments.sort_by(f64::total_cmp);
            moments
        }
        Schedule::Growth { margin } => {
            heapsnap::AutoDump::new(dir)
                .interval(None)
                .on_growth(Some(margin))
                .near_limit(None)
                .on_signal(false)
                // The plan says when the run's last snapshot is taken.
                .on_exit(false)
                .start()?;
            return Ok(None);
        }
        Schedule::AtEnd => return Ok(None),
    };
    let (dir, run): (PathBuf, Run) = (dir.to_owned(), run.clone());
    Ok(Some(std::thread::spawn(move || {
        for moment in moments {
            while run.elapsed() < moment && !run.stopped() {
                std::thread::sleep(Duration::from_millis(2));
            }
            if run.stopped() {
                return;
            }
            let _ = heapsnap::dump_to_dir(&dir);
        }
    })))
}
