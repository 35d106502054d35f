//! Reference: the system allocator (glibc malloc), bare. See
//! `workloads/src/lib.rs`.

use bench_workloads as workloads;

fn main() {
    workloads::main(&[workloads::Config {
        label: "system",
        setup: || {},
    }]);
}
