//! How long a snapshot stops allocating threads.
//!
//! A snapshot copies the live table one shard at a time; an allocation
//! whose sample belongs to the shard being copied waits for that copy. This
//! bench holds a heap of `N` live samples, runs a thread that allocates and
//! frees without pause, measuring every operation, and takes a snapshot
//! every 200 ms; the same thread runs as long without snapshots for
//! comparison. It prints, per heap: the longest lock hold the snapshots
//! recorded (`capture.max_pause_us`), the longest any thread waited for a
//! profiler lock (`capture.max_wait_us`), all holds of one snapshot together,
//! the time to take one (symbolisation included), and the allocating
//! thread's slowest operation and 99.99th percentile with and without
//! snapshots.
//!
//! ```text
//! cargo bench --bench dump_pause
//! cargo bench --bench dump_pause -- --busy   # a spinning process per core
//! ```
//!
//! `--busy` oversubscribes the machine: one more process per core spins for
//! the whole run, so the snapshot's copying thread is preempted as it would
//! be on a loaded server. A preempted holder makes a long hold; the longest
//! hold bounds how long any allocating thread waited.
//!
//! Exact mode (every allocation sampled) makes the worst case: every
//! operation of the measuring thread takes a shard lock, and the table holds
//! a sample per block. At the default 512 KiB interval, almost no operation
//! takes a lock, and the table is small. A copy scans a shard's whole
//! capacity, which stays at its largest: the sampled heap is measured first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Latencies in buckets of powers of two nanoseconds, and the largest.
struct Latencies {
    buckets: [u64; 40],
    max_ns: u64,
    count: u64,
}

impl Latencies {
    fn new() -> Latencies {
        Latencies {
            buckets: [0; 40],
            max_ns: 0,
            count: 0,
        }
    }

    fn add(&mut self, ns: u64) {
        let bucket = (64 - ns.leading_zeros() as usize).min(39);
        self.buckets[bucket] += 1;
        self.max_ns = self.max_ns.max(ns);
        self.count += 1;
    }

    /// The upper bound of the bucket holding quantile `q`.
    fn quantile_ns(&self, q: f64) -> u64 {
        let target = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return 1u64 << bucket;
            }
        }
        self.max_ns
    }
}

/// Allocates and frees a 48-byte block in a loop until `stop`, timing each
/// pair.
fn measure(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Latencies> {
    std::thread::spawn(move || {
        let mut latencies = Latencies::new();
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            let block = std::hint::black_box(Box::new([0u8; 48]));
            drop(block);
            latencies.add(start.elapsed().as_nanos() as u64);
        }
        latencies
    })
}

/// `count` live blocks from sixteen different call paths.
fn build_heap(count: usize) -> Vec<Box<[u8]>> {
    #[inline(never)]
    fn nested(depth: usize, out: &mut Vec<Box<[u8]>>) {
        if depth == 0 {
            out.push(vec![1u8; 64].into_boxed_slice());
        } else {
            nested(depth - 1, out);
        }
    }
    let mut heap = Vec::with_capacity(count);
    for i in 0..count {
        nested(i % 16, &mut heap);
    }
    heap
}

struct Run {
    latencies: Latencies,
    snapshots: Vec<heapsnap::Snapshot>,
}

/// Runs the measuring thread for `window`, taking a snapshot every 200 ms
/// if `snapshots`.
fn run(window: Duration, snapshots: bool) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = measure(Arc::clone(&stop));
    let start = Instant::now();
    let mut taken = Vec::new();
    while start.elapsed() < window {
        std::thread::sleep(Duration::from_millis(200));
        if snapshots {
            taken.push(heapsnap::snapshot());
        }
    }
    stop.store(true, Ordering::Relaxed);
    Run {
        latencies: thread.join().expect("the measuring thread runs"),
        snapshots: taken,
    }
}

fn micros(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// Processes that keep every core busy until dropped.
struct Spinners(Vec<std::process::Child>);

impl Spinners {
    fn start() -> Spinners {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let exe = std::env::current_exe().expect("the bench's own path");
        Spinners(
            (0..cores)
                .map(|_| {
                    std::process::Command::new(&exe)
                        .arg("--spin")
                        .spawn()
                        .expect("a spinning process starts")
                })
                .collect(),
        )
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    let flag = |name: &str| std::env::args().any(|a| a == name);
    if flag("--spin") {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    let quick = flag("--quick");
    let _spinners = flag("--busy").then(Spinners::start);
    let window = Duration::from_secs(if quick { 1 } else { 3 });
    // Sampled first: the live table keeps the capacity of its largest
    // moment, and a snapshot scans all of it.
    let heaps: &[(u64, usize)] = if quick {
        &[(524_288, 1_000_000), (1, 100_000)]
    } else {
        &[
            (524_288, 4_000_000),
            (1, 100_000),
            (1, 1_000_000),
            (1, 4_000_000),
        ]
    };
    println!(
        "| interval | live blocks | live samples | longest hold (µs) | longest wait (µs) | holds per snapshot (µs) | snapshot (ms) | op p99.99 quiet / during (µs) | slowest op quiet / during (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(interval, blocks) in heaps {
        heapsnap::set_sample_interval(interval);
        let heap = build_heap(blocks);
        // The first snapshot symbolises every address; later ones use the
        // cache, as a server's periodic dumps do.
        let warm = heapsnap::snapshot();
        let quiet = run(window, false);
        let during = run(window, true);
        let longest = during
            .snapshots
            .iter()
            .map(|s| s.capture.max_pause_us)
            .max();
        let waited = during.snapshots.iter().map(|s| s.capture.max_wait_us).max();
        let n = during.snapshots.len().max(1) as u64;
        let total: u64 = during
            .snapshots
            .iter()
            .map(|s| s.capture.total_pause_us)
            .sum();
        let duration: u64 = during.snapshots.iter().map(|s| s.capture.duration_ms).sum();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            if interval == 1 {
                "exact".to_owned()
            } else {
                format!("{} KiB", interval / 1024)
            },
            blocks,
            warm.totals.live_samples,
            longest.unwrap_or(0),
            waited.unwrap_or(0),
            total / n,
            duration / n,
            micros(quiet.latencies.quantile_ns(0.9999)),
            micros(during.latencies.quantile_ns(0.9999)),
            micros(quiet.latencies.max_ns),
            micros(during.latencies.max_ns),
        );
        drop(heap);
    }
}
