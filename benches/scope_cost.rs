//! What a heap test's exact recording costs per operation, with 1, 2 and 8
//! threads recording at once: `heapsnap::testing::Scope` on each thread
//! (the rest of the process at the default interval), and exact mode
//! (`set_sample_interval(1)`, the whole process). dhat-rs's testing mode is
//! `scope_cost_dhat`. Run with `cargo bench --bench scope_cost`. The
//! first row (sampling off: jemalloc and one countdown per allocation) is
//! the baseline the recording adds to.
//!
//! Cost per operation is the wall time times the cores the threads could
//! use (at most 2 here), over the operations: with threads on cores of
//! their own, it stays at the one-thread figure if nothing is shared.

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

use bench_workloads::{Workload, median, ns_per_op, print_cost_header};

fn in_scope(work: &mut dyn FnMut()) {
    let scope = heapsnap::testing::Scope::start();
    work();
    // The workloads free what they allocate: nothing to report.
    drop(scope);
}

/// A row: its name, the sampling interval, and what runs around each
/// thread's work.
type Mode = (&'static str, u64, fn(&mut dyn FnMut()));

fn plain(work: &mut dyn FnMut()) {
    work();
}

fn main() {
    let rounds = 7;
    print_cost_header(rounds, "alternated rounds");
    for workload in Workload::ALL {
        let ops = match workload {
            Workload::SmallObjects => 200_000,
            _ => 400,
        };
        let modes: [Mode; 3] = [
            ("none (sampling off)", 0, plain),
            ("scope", 512 * 1024, in_scope),
            ("exact mode", 1, plain),
        ];
        let mut results = vec![vec![Vec::new(); 3]; modes.len()];
        for _ in 0..rounds {
            for (m, &(_, interval, around)) in modes.iter().enumerate() {
                heapsnap::set_sample_interval(interval);
                for (t, threads) in [1usize, 2, 8].into_iter().enumerate() {
                    results[m][t].push(ns_per_op(workload, ops, threads, around));
                }
            }
        }
        for (m, &(name, _, _)) in modes.iter().enumerate() {
            let medians: Vec<f64> = results[m].iter_mut().map(|r| median(r)).collect();
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
    heapsnap::set_sample_interval(512 * 1024);
}
