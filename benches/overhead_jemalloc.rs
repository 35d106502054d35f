//! Baseline: bare jemalloc. See `workloads/src/lib.rs`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use bench_workloads as workloads;

fn main() {
    workloads::main(&[workloads::Config {
        label: "jemalloc",
        setup: || {},
    }]);
}
