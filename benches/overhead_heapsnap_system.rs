//! `Profiler<System>` at 512 KiB. See `workloads/src/lib.rs`.

#[global_allocator]
static GLOBAL: heapsnap::Profiler<std::alloc::System> = heapsnap::Profiler::new(std::alloc::System);

use bench_workloads as workloads;

fn main() {
    workloads::main(&[workloads::Config {
        label: "heapsnap-system-512k",
        setup: || heapsnap::set_sample_interval(512 * 1024),
    }]);
}
