//! Peer: dhat-rs, which records every allocation with its backtrace. See
//! `workloads/src/lib.rs`.

#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

use bench_workloads as workloads;

fn main() {
    // Heap profiling on, with dhat's defaults; the profile is never written
    // (that happens at drop, outside what is measured).
    std::mem::forget(dhat::Profiler::new_heap());
    workloads::main(&[workloads::Config {
        label: "dhat",
        setup: || {},
    }]);
}
