//! The growth watch: a collection that keeps growing leaves its new
//! largest sizes in the snapshot (`Site::highs`), whether or not its
//! buffers were sampled, and a buffer made again and again at one size
//! leaves one.

mod common;

use std::collections::HashMap;
use std::hint::black_box;

use common::sites_at;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<std::alloc::System> = heapsnap::Profiler::new(std::alloc::System);

/// A registry that grows by one entry at a time to `n` entries.
#[inline(never)]
fn grow_registry(n: usize) -> Vec<u64> {
    let mut registry = Vec::new();
    for i in 0..n {
        registry.push(i as u64);
    }
    registry
}

/// An index that grows by one entry at a time to `n` entries: its tables
/// are allocated anew as it grows (the registry's buffer is reallocated).
#[inline(never)]
fn grow_index(n: u64) -> HashMap<u64, u64> {
    let mut index = HashMap::new();
    for i in 0..n {
        index.insert(i, i);
    }
    index
}

/// A response buffer of 64 KiB, made and dropped `n` times.
#[inline(never)]
fn respond(n: usize) -> u64 {
    let mut sum = 0;
    for i in 0..n {
        // Never zero: every buffer comes from the same call (`vec![0; n]`
        // asks for zeroed memory, another).
        let buffer = vec![(i % 255 + 1) as u8; 64 << 10];
        sum += u64::from(black_box(&buffer)[i % buffer.len()]);
    }
    sum
}

#[test]
fn growing_buffers_leave_their_highs_sampled_or_not() {
    heapsnap::set_sample_interval(64 << 10);
    // 16 MiB at the end: buffers from 4 KiB up; the large ones are sampled
    // almost surely, the small ones rarely.
    let registry = grow_registry(2 << 20);
    let index = grow_index(1 << 20);
    black_box(respond(200));
    let snap = heapsnap::snapshot();

    let highs: Vec<(u64, u64)> = sites_at(&snap, "grow_registry")
        .iter()
        .flat_map(|site| site.highs.iter().copied())
        .collect();
    let mut sizes: Vec<u64> = highs.iter().map(|&(_, bytes)| bytes).collect();
    sizes.sort_unstable();
    // Every doubling from the threshold (4 KiB at this interval) up to the
    // final 16 MiB buffer, sampled or not.
    assert!(
        sizes.first().is_some_and(|&s| s <= 8 << 10),
        "the small buffers' highs: {sizes:?}"
    );
    assert_eq!(
        sizes.last().copied(),
        Some((registry.capacity() * 8) as u64),
        "the final buffer's high: {sizes:?}"
    );
    assert!(sizes.len() >= 10, "a high per doubling: {sizes:?}");
    assert!(
        highs.windows(2).all(|w| w[0].0 <= w[1].0),
        "in the order they happened: {highs:?}"
    );

    // The index's tables: from a few KiB to tens of MiB, the large ones
    // sampled (almost surely) as they were allocated.
    let mut tables: Vec<u64> = sites_at(&snap, "grow_index")
        .iter()
        .flat_map(|site| site.highs.iter().map(|&(_, bytes)| bytes))
        .collect();
    tables.sort_unstable();
    assert!(tables.len() >= 10, "a high per doubling: {tables:?}");
    assert!(
        tables.last().is_some_and(|&s| s >= 16 << 20),
        "the final table's high: {tables:?}"
    );

    let response: Vec<(u64, u64)> = sites_at(&snap, "respond")
        .iter()
        .flat_map(|site| site.highs.iter().copied())
        .collect();
    assert_eq!(
        response.iter().map(|&(_, bytes)| bytes).collect::<Vec<_>>(),
        [64 << 10],
        "a buffer of one size made 200 times is one high"
    );
    black_box((registry, index));
}
