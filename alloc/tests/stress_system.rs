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
    common::stress::check_every_interval();
}

/// A regression test: a child forked while a parent thread listed the loaded
/// objects inherited the dynamic loader's lock held, and its first snapshot
/// waited forever.
#[test]
fn forks_while_another_thread_snapshots() {
    common::watchdog(Duration::from_secs(600), "forking during snapshots");
    common::stress::fork_during_snapshots(150);
}
