//! `Profiler<Jemalloc>` with sampling off, at 512 KiB, at 64 KiB and exact.
//! See `workloads/src/lib.rs`.

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

use bench_workloads as workloads;

use bench_workloads::Config;

fn main() {
    workloads::main(&[
        Config {
            label: "heapsnap-off",
            setup: || heapsnap::set_sample_interval(0),
        },
        Config {
            label: "heapsnap-512k",
            setup: || heapsnap::set_sample_interval(512 * 1024),
        },
        Config {
            label: "heapsnap-64k",
            setup: || heapsnap::set_sample_interval(64 * 1024),
        },
        Config {
            label: "heapsnap-exact",
            setup: || heapsnap::set_sample_interval(1),
        },
    ]);
}
