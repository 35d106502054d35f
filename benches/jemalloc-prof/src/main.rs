//! Peer: jemalloc with its heap profiler compiled in, enabled at run time
//! with `_RJEM_MALLOC_CONF=prof:true,lg_prof_sample:19` (512 KiB). See
//! `../workloads/src/lib.rs`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use bench_workloads as workloads;

fn main() {
    workloads::main(&[workloads::Config {
        label: "jemalloc-prof-512k",
        setup: || {},
    }]);
}
