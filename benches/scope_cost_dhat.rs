//! The peer of `scope_cost`: dhat-rs's testing mode
//! (`dhat::Profiler::builder().testing()`), one profiler for the whole
//! process, with 1, 2 and 8 threads. Run with
//! `cargo bench --bench scope_cost_dhat`.

#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

use bench_workloads::{Workload, median, ns_per_op, print_cost_header};

fn plain(work: &mut dyn FnMut()) {
    work();
}

fn main() {
    let rounds = 7;
    print_cost_header(rounds, "rounds");
    // Before the profiler starts, dhat's allocator passes through to the
    // system's: the baseline its recording adds to.
    table("none (dhat not started)", rounds);
    let profiler = dhat::Profiler::builder().testing().build();
    table("dhat testing", rounds);
    // Testing mode's profile is not written; leave it be.
    std::mem::forget(profiler);
}

/// One row per workload: the median cost per operation with 1, 2 and 8
/// threads (see `scope_cost` for how it is counted).
fn table(name: &str, rounds: usize) {
    for workload in Workload::ALL {
        let ops = match workload {
            Workload::SmallObjects => 20_000,
            _ => 40,
        };
        let mut results = vec![Vec::new(); 3];
        for _ in 0..rounds {
            for (t, threads) in [1usize, 2, 8].into_iter().enumerate() {
                results[t].push(ns_per_op(workload, ops, threads, plain));
            }
        }
        let medians: Vec<f64> = results.iter_mut().map(|r| median(r)).collect();
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} | {:.2}x |",
            workload.name(),
            medians[0],
            medians[1],
            medians[2],
            medians[1] / medians[0]
        );
    }
}
