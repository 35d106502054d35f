//! The site table is bounded: past `HEAPSNAP_MAX_SITES`, samples of new
//! stacks go to one site without a stack, counted in the snapshot, and the
//! process runs on with its totals whole. The test runs itself again as a
//! child with the cap in its environment (read when the profiler starts).

use std::hint::black_box;
use std::process::Command;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<std::alloc::System> = heapsnap::Profiler::new(std::alloc::System);

const CAP: usize = 64;
/// Each leaf at each depth is a stack of its own.
const DEPTHS: usize = 60;

#[inline(never)]
fn nest(depth: usize, leaf: u8, held: &mut Vec<Vec<u8>>) {
    if depth == 0 {
        match leaf {
            0 => leaf_a(held),
            1 => leaf_b(held),
            _ => leaf_c(held),
        }
    } else {
        nest(depth - 1, leaf, held);
    }
    black_box(depth);
}

#[inline(never)]
fn leaf_a(held: &mut Vec<Vec<u8>>) {
    held.push(black_box(vec![1u8; 1000]));
}

#[inline(never)]
fn leaf_b(held: &mut Vec<Vec<u8>>) {
    held.push(black_box(vec![2u8; 1000]));
}

#[inline(never)]
fn leaf_c(held: &mut Vec<Vec<u8>>) {
    held.push(black_box(vec![3u8; 1000]));
}

#[test]
#[ignore = "run by the test below in a child process"]
fn child_makes_more_stacks_than_the_cap() {
    let mut held = Vec::with_capacity(3 * DEPTHS);
    for leaf in 0..3 {
        for depth in 0..DEPTHS {
            nest(depth, leaf, &mut held);
        }
    }
    let snapshot = heapsnap::snapshot();
    let merged = snapshot.totals.samples_merged;
    assert!(merged >= (3 * DEPTHS - CAP) as u64, "{merged} merged");
    // The cap, and the one site without a stack beyond it.
    assert!(
        snapshot.sites.len() <= CAP + 1,
        "{} sites",
        snapshot.sites.len()
    );
    let stackless = snapshot
        .sites
        .iter()
        .find(|site| snapshot.stacks[site.stack as usize].is_empty())
        .expect("the merged samples' site");
    assert!(stackless.live_bytes >= 1000 * (3 * DEPTHS - CAP) as u64);
    // Every block is still counted: the totals are whole.
    let blocks: u64 = snapshot.sites.iter().map(|site| site.live_allocs).sum();
    assert!(blocks >= 3 * DEPTHS as u64, "{blocks} live blocks");
    black_box(held);
    println!("OK merged={merged}");
}

#[test]
fn past_the_site_cap_samples_are_merged_and_counted() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_makes_more_stacks_than_the_cap",
            "--ignored",
            "--nocapture",
        ])
        .env("HEAPSNAP_MAX_SITES", CAP.to_string())
        .env("HEAPSNAP_SAMPLE_INTERVAL", "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("OK merged="),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
