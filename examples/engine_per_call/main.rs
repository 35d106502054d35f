//! The second incident, reproduced: a report service builds a new
//! expression engine on every call; each engine compiles and caches every
//! formula again, and a hot-reload watcher holds every engine forever.
//! Beside it, an export service shares one engine, as it should.
//!
//! ```text
//! cargo run --release --example engine_per_call             # ~20 s, then the report
//! cargo run --release --example engine_per_call -- --fixed  # the control: one engine
//! ```
//!
//! Automatic dumps write a snapshot every second into
//! `target/heapsnap-demo/engine-per-call/`; at the end the example prints
//! `heapsnap leaks` over them and writes a flamegraph of the last one.

#[path = "../support/demo.rs"]
mod demo;
mod engine;
mod service;
mod watcher;

use std::sync::Arc;
use std::time::{Duration, Instant};

use service::{ExportService, ReportService};
use watcher::Watcher;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Exports per report call.
const EXPORTS_PER_REPORT: u32 = 4;

fn main() {
    let options = demo::Options::parse("engine-per-call", 100);
    demo::start_dumps(&options);

    let watcher = Arc::new(Watcher::default());
    Arc::clone(&watcher).poll_every(Duration::from_millis(500));
    let reports = Arc::new(ReportService::new(
        Arc::clone(&watcher),
        service::formulas(20, 24),
        options.fixed,
    ));
    let exports = Arc::new(ExportService::new(&watcher, service::formulas(20, 24)));

    println!(
        "report service{}: {} reports/s and {} exports/s for {:?}, a snapshot every {:?} into {}",
        if options.fixed { " (fixed)" } else { "" },
        options.rate,
        options.rate * EXPORTS_PER_REPORT,
        options.duration,
        options.interval,
        options.dir.display()
    );
    let report_calls = {
        let reports = Arc::clone(&reports);
        steady(options.rate, options.duration, move |i| {
            reports.render(&rows(i))
        })
    };
    let export_calls = steady(
        options.rate * EXPORTS_PER_REPORT,
        options.duration,
        move |i| exports.export(&rows(i)),
    );
    let (reports_done, exports_done) = (report_calls.join(), export_calls.join());
    println!(
        "{} reports and {} exports served; the watcher holds {} engines\n",
        reports_done.unwrap_or(0),
        exports_done.unwrap_or(0),
        watcher.len()
    );
    demo::finish(&options);
}

/// Calls `call` `rate` times a second for `duration` on a thread of its
/// own; returns the number of calls.
fn steady(
    rate: u32,
    duration: Duration,
    call: impl Fn(u64) -> Vec<f64> + Send + 'static,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < duration {
            std::hint::black_box(call(done));
            done += 1;
            let due = Duration::from_secs_f64(done as f64 / f64::from(rate));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        done
    })
}

/// The rows of the `i`th request.
fn rows(i: u64) -> Vec<Vec<f64>> {
    (0..8)
        .map(|r| (0..8).map(|c| ((i + r * 8 + c) % 97) as f64).collect())
        .collect()
}
