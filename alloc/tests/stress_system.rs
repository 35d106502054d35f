//! The random workload of `common::stress` over `Profiler<std::alloc::System>`, in exact
//! mode and sampled at 4 KiB and 512 KiB: no corrupted byte, no deadlock
//! (threads, snapshots and a fork racing each other), and no live sample
//! left behind once every block is freed.

mod common;

use std::time::Duration;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<std::alloc::System> = heapsnap::Profiler::new(std::alloc::System);

#[test]
fn random_workload_in_exact_and_sampled_modes() {
    common::watchdog(Duration::from_secs(600), "the stress workload");
    for interval in [1, 4096, 512 * 1024] {
        heapsnap::set_sample_interval(interval);
        let freed = common::stress::run(4, 4, 12_000);
        assert!(freed > 10_000, "only {freed} frees");
        let snap = heapsnap::snapshot();
        let sites = common::sites_through(&snap, "stress_worker");
        assert!(
            !sites.is_empty(),
            "nothing was sampled at interval {interval}"
        );
        let live: u64 = sites.iter().map(|s| s.live_samples).sum();
        assert_eq!(live, 0, "live samples left at interval {interval}");
        if interval == 1 {
            // Exact: everything allocated was freed, to the byte.
            let allocated: u64 = sites.iter().map(|s| s.allocated_bytes).sum();
            let freed_bytes: u64 = sites.iter().map(|s| s.freed_bytes).sum();
            assert_eq!(allocated, freed_bytes);
            assert!(sites.iter().all(|s| s.allocated_allocs == s.freed_allocs));
        }
        assert_eq!(snap.totals.samples_dropped, 0);
    }
}

/// A regression test: a child forked while a parent thread listed the loaded
/// objects inherited the dynamic loader's lock held, and its first snapshot
/// waited forever.
#[test]
fn forks_while_another_thread_snapshots() {
    common::watchdog(Duration::from_secs(600), "forking during snapshots");
    common::stress::fork_during_snapshots(150);
}
