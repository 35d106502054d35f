//! The workloads of the allocator benchmarks, shared by every bench binary
//! (each binary installs a different global allocator).
//!
//! They live in a crate of their own so that they allocate through the
//! `__rust_alloc` symbol, as the standard library and every dependency of a
//! real program do: in the crate that defines `#[global_allocator]`, the
//! compiler may inline the allocator into the caller, which no other crate
//! sees.
//!
//! A binary runs either criterion (`cargo bench`) or, given
//! `--ops WORKLOAD N THREADS`, exactly `N` operations per thread and exits:
//! that is what `benches/callgrind.py` counts instructions of, and what
//! `benches/walltime.py` times.
//!
//! Besides the two synthetic workloads, two are real programs' work on
//! real input that no one here wrote: `serde-json` parses and re-emits
//! every `.json` file under `BENCH_JSON_DIR` (the AWS API models botocore
//! ships), `syn` parses every `.rs` file under `BENCH_RUST_DIR` (a large
//! crate's sources); one operation is one pass over the corpus.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Every operation runs this many frames deep, so that a sampled stack is as
/// deep as in a real server (and costs what it costs there).
pub const DEPTH: usize = 24;

/// What a benchmark measures.
#[derive(Clone, Copy, Debug)]
pub enum Workload {
    /// One 32-byte allocation and its free per operation.
    SmallObjects,
    /// Build and drop a `HashMap<String, Vec<u8>>` of 64 entries with
    /// values of 16 to 2,047 bytes per operation.
    Mixed,
    /// Parse every JSON document of `BENCH_JSON_DIR` into a
    /// `serde_json::Value` and write it out again, per operation.
    SerdeJson,
    /// Parse every Rust file of `BENCH_RUST_DIR` with `syn`, per operation.
    Syn,
}

impl Workload {
    /// The synthetic workloads (criterion runs these).
    pub const ALL: [Workload; 2] = [Workload::SmallObjects, Workload::Mixed];
    /// The real programs' workloads (driver mode only).
    pub const REAL: [Workload; 2] = [Workload::SerdeJson, Workload::Syn];

    pub fn name(self) -> &'static str {
        match self {
            Workload::SmallObjects => "small-objects",
            Workload::Mixed => "mixed",
            Workload::SerdeJson => "serde-json",
            Workload::Syn => "syn",
        }
    }

    fn parse(name: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .chain(Workload::REAL)
            .find(|w| w.name() == name)
    }

    /// Runs `ops` operations on this thread.
    pub fn run(self, ops: u64) {
        match self {
            Workload::SmallObjects => at_depth(DEPTH, &mut || small_objects(ops)),
            Workload::Mixed => at_depth(DEPTH, &mut || mixed(ops)),
            Workload::SerdeJson => {
                static FILES: OnceLock<Vec<String>> = OnceLock::new();
                passes(ops, corpus("BENCH_JSON_DIR", ".json", &FILES), |text| {
                    let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
                    black_box(serde_json::to_string(&value).expect("written"));
                });
            }
            Workload::Syn => {
                static FILES: OnceLock<Vec<String>> = OnceLock::new();
                // A file syn cannot parse (a test fixture of invalid Rust) is
                // work too.
                passes(ops, corpus("BENCH_RUST_DIR", ".rs", &FILES), |text| {
                    black_box(syn::parse_file(text).ok());
                });
            }
        }
    }
}

/// Every file under the directory `variable` names whose name ends with
/// `extension`, read once per process, in a stable order.
fn corpus(
    variable: &str,
    extension: &str,
    cell: &'static OnceLock<Vec<String>>,
) -> &'static [String] {
    cell.get_or_init(|| {
        let dir = std::env::var_os(variable)
            .unwrap_or_else(|| panic!("{variable} names the corpus directory"));
        let mut files = Vec::new();
        collect(Path::new(&dir), extension, &mut files);
        files.sort();
        assert!(!files.is_empty(), "no *{extension} file under {dir:?}");
        files
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("a corpus file"))
            .collect()
    })
}

fn collect(dir: &Path, extension: &str, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a corpus directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, extension, files);
        } else if path.to_string_lossy().ends_with(extension) {
            files.push(path);
        }
    }
}

/// Runs `work` on every file of a corpus, `ops` times over.
#[inline(never)]
fn passes(ops: u64, files: &[String], work: fn(&str)) {
    for _ in 0..ops {
        files.iter().for_each(|text| work(text));
    }
}

#[inline(never)]
fn at_depth(depth: usize, work: &mut dyn FnMut()) {
    if depth == 0 {
        work();
    } else {
        at_depth(depth - 1, work);
        black_box(depth);
    }
}

#[inline(never)]
fn small_objects(ops: u64) {
    for i in 0..ops {
        let block = Box::new([i as u8; 32]);
        black_box(&block);
    }
}

#[inline(never)]
fn mixed(ops: u64) {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..ops {
        let mut map: HashMap<String, Vec<u8>> = HashMap::new();
        for i in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 16 + (seed % 2032) as usize;
            map.insert(format!("key-{i}-{}", seed % 1000), vec![i as u8; len]);
        }
        black_box(&map);
    }
}

/// Runs `ops` operations on each of `threads` threads.
pub fn run(workload: Workload, ops: u64, threads: usize) {
    if threads == 1 {
        workload.run(ops);
        return;
    }
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || workload.run(ops));
        }
    });
}

/// Runs `ops` operations on each of `threads` threads, each thread's share
/// inside `around` (which may set up what the thread records, e.g. a heap
/// scope); returns the wall time from the first start to the last end.
pub fn timed(
    workload: Workload,
    ops: u64,
    threads: usize,
    around: fn(&mut dyn FnMut()),
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || around(&mut || workload.run(ops)));
        }
    });
    start.elapsed()
}

/// The cost of one operation when `threads` threads each run `ops` of them
/// inside `around` (see [`timed`]), in nanoseconds: the wall time times
/// the cores the threads could use, over the operations. With threads on
/// cores of their own it stays at the one-thread figure when they share
/// nothing.
pub fn ns_per_op(
    workload: Workload,
    ops: u64,
    threads: usize,
    around: fn(&mut dyn FnMut()),
) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wall = timed(workload, ops, threads, around);
    wall.as_nanos() as f64 * threads.min(cores) as f64 / (ops * threads as u64) as f64
}

/// Prints the head of a cost table (see [`ns_per_op`]): the cores, how
/// the `rounds` ran, and the columns.
pub fn print_cost_header(rounds: usize, how: &str) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cores: {cores}; median of {rounds} {how}; ns per operation");
    println!("| recording | workload | 1 thread | 2 threads | 8 threads | 2 / 1 |");
    println!("|---|---|---:|---:|---:|---:|");
}

/// The median of `values` (which it sorts).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One allocator configuration of a bench binary.
pub struct Config {
    /// Column name in the results, e.g. `heapsnap-512k`.
    pub label: &'static str,
    /// Prepares the configuration (sets the sampling interval, ...).
    pub setup: fn(),
}

/// The bench binary's `main`.
pub fn main(configs: &[Config]) {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--ops") {
        // Driver mode, for callgrind: the configuration comes from the
        // environment (HEAPSNAP_SAMPLE_INTERVAL, _RJEM_MALLOC_CONF).
        let workload = Workload::parse(&args[at + 1]).expect("workload");
        let ops: u64 = args[at + 2].parse().expect("ops");
        let threads: usize = args[at + 3].parse().expect("threads");
        run(workload, ops, threads);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for config in configs {
        (config.setup)();
        for workload in Workload::ALL {
            for threads in [1, 2] {
                let mut group =
                    criterion.benchmark_group(format!("{}/{threads}-thread", workload.name()));
                group.bench_function(config.label, |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        run(workload, iters, threads);
                        start.elapsed()
                    })
                });
                group.finish();
            }
        }
    }
    criterion.final_summary();
}
