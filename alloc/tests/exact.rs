//! Exact mode (interval 1) is exact: known allocations from known functions
//! show up with exactly their bytes and counts, at sites whose innermost
//! user frame is the allocating function, with its file and line.

// Raw allocation calls are the point of these tests.
#![allow(unsafe_code)]

mod common;

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc};
use std::hint::black_box;

use common::{innermost_user_frame, sites_at};
use heapsnap::Snapshot;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Allocates `n` blocks of `size` bytes directly; returns them and the line
/// of the allocating call.
#[inline(never)]
fn raw_blocks(n: usize, size: usize) -> (Vec<*mut u8>, u32) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    let mut blocks = Vec::with_capacity(n);
    let mut line = 0;
    for _ in 0..n {
        // SAFETY: `layout` has a non-zero size.
        let (block, here) = (unsafe { alloc(layout) }, line!());
        assert!(!block.is_null());
        line = here;
        blocks.push(block);
    }
    (blocks, line)
}

#[inline(never)]
#[allow(
    clippy::vec_box,
    reason = "each box is one of the allocations under test"
)]
fn boxed_records(n: usize) -> (Vec<Box<[u64; 25]>>, u32) {
    let mut records = Vec::with_capacity(n);
    let mut line = 0;
    for i in 0..n {
        let (record, here) = (Box::new([i as u64; 25]), line!());
        line = here;
        records.push(record);
    }
    (records, line)
}

#[test]
fn known_blocks_are_reported_exactly() {
    heapsnap::set_sample_interval(1);
    let (blocks, line) = raw_blocks(1000, 100);
    let snap = heapsnap::snapshot();
    assert_eq!(snap.sampling.interval_bytes, 1);
    let sites = sites_at(&snap, "raw_blocks");
    let site = sites
        .iter()
        .find(|s| innermost_user_frame(&snap, s).unwrap().line == Some(line))
        .unwrap_or_else(|| panic!("no site at line {line}: {sites:#?}"));
    assert_eq!(site.live_bytes, 100_000);
    assert_eq!(site.live_allocs, 1000);
    assert_eq!(site.live_samples, 1000);
    assert_eq!(site.allocated_bytes, 100_000);
    assert_eq!(site.live_bytes_var, 0.0);
    assert_eq!(site.live_allocs_var, 0.0);
    // Each sample stands for its own 100 bytes.
    assert_eq!(site.live_bytes_sq, 1000.0 * 100.0 * 100.0);
    assert_eq!(site.samples_taken, 1000);
    assert_eq!(site.samples_freed, 0);
    let by_age: u64 = site.live_by_age.iter().map(|age| age.samples).sum();
    assert_eq!(by_age, 1000);
    let frame = innermost_user_frame(&snap, site).unwrap();
    assert!(
        frame.file.as_deref().unwrap().ends_with("tests/exact.rs"),
        "{frame:?}"
    );
    // The Vec that holds the pointers is another site in the same function.
    let holder = sites
        .iter()
        .find(|s| s.live_bytes == 8000)
        .expect("the Vec of pointers");
    assert_eq!(holder.live_allocs, 1);

    // Free half: live halves, the running totals remember.
    let layout = Layout::from_size_align(100, 8).unwrap();
    let (gone, kept) = blocks.split_at(500);
    for &block in gone {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { dealloc(block, layout) };
    }
    let snap = heapsnap::snapshot();
    let site = at_line(&snap, "raw_blocks", line);
    assert_eq!((site.live_bytes, site.live_allocs), (50_000, 500));
    assert_eq!(
        (site.allocated_bytes, site.allocated_allocs),
        (100_000, 1000)
    );
    assert_eq!((site.freed_bytes, site.freed_allocs), (50_000, 500));
    assert_eq!((site.samples_taken, site.samples_freed), (1000, 500));
    let bytes_by_age: u64 = site.live_by_age.iter().map(|age| age.bytes).sum();
    assert_eq!(bytes_by_age, 50_000);

    for &block in kept {
        // SAFETY: as above.
        unsafe { dealloc(block, layout) };
    }
    let snap = heapsnap::snapshot();
    let site = at_line(&snap, "raw_blocks", line);
    assert_eq!(
        (site.live_bytes, site.live_allocs, site.live_samples),
        (0, 0, 0)
    );
    assert_eq!(site.freed_bytes, 100_000);
    assert_eq!((site.samples_taken, site.samples_freed), (1000, 1000));
    assert!(site.live_by_age.is_empty());
}

fn at_line<'a>(snap: &'a Snapshot, function: &str, line: u32) -> &'a heapsnap::snapshot::Site {
    sites_at(snap, function)
        .into_iter()
        .find(|s| innermost_user_frame(snap, s).unwrap().line == Some(line))
        .unwrap_or_else(|| panic!("no site of {function} at line {line}"))
}

#[test]
fn boxes_are_attributed_to_their_caller_with_the_box_type_inlined() {
    heapsnap::set_sample_interval(1);
    let (records, line) = boxed_records(300);
    let snap = heapsnap::snapshot();
    let site = at_line(&snap, "boxed_records", line);
    assert_eq!((site.live_bytes, site.live_allocs), (300 * 200, 300));
    // Between the trimmed allocator frames and the user frame: Box::new,
    // with its element type.
    let frames: Vec<_> = snap
        .site_frames(site)
        .filter_map(|f| f.function.as_deref())
        .collect();
    assert!(
        frames.iter().any(|f| f.contains("Box<[u64; 25]>")),
        "no Box<[u64; 25]> frame in {frames:#?}"
    );
    assert!(
        !frames[0].starts_with("heapsnap::"),
        "profiler frames not trimmed: {frames:#?}"
    );
    drop(black_box(records));
}

#[inline(never)]
fn growing_vec(n: u64) -> Vec<u64> {
    let mut values = Vec::new();
    for i in 0..n {
        values.push(i);
    }
    values
}

#[test]
fn a_growing_buffer_is_one_allocation_that_follows_its_reallocs() {
    heapsnap::set_sample_interval(1);
    let mut values = growing_vec(100_000);
    let capacity = values.capacity() as u64;
    let snap = heapsnap::snapshot();
    let sites = sites_at(&snap, "growing_vec");
    assert_eq!(sites.len(), 1, "{sites:#?}");
    let site = sites[0];
    assert_eq!((site.live_bytes, site.live_allocs), (capacity * 8, 1));
    // Every byte it grew by was allocated here; nothing freed yet.
    assert_eq!(site.allocated_bytes, capacity * 8);
    assert_eq!(site.freed_bytes, 0);

    values.shrink_to_fit();
    let snap = heapsnap::snapshot();
    let site = sites_at(&snap, "growing_vec")[0];
    assert_eq!(site.live_bytes, 100_000 * 8);
    assert_eq!(site.freed_bytes, (capacity - 100_000) * 8);
    assert_eq!(values.iter().sum::<u64>(), 100_000 * 99_999 / 2);
    drop(values);
    let snap = heapsnap::snapshot();
    assert_eq!(sites_at(&snap, "growing_vec")[0].live_bytes, 0);
}

#[inline(never)]
fn zeroed_and_tagged() -> (*mut u8, Vec<u8>) {
    let _scope = heapsnap::tag("exact-tag");
    let layout = Layout::from_size_align(4096, 64).unwrap();
    // SAFETY: non-zero size.
    let block = unsafe { alloc_zeroed(layout) };
    (block, vec![0u8; 777])
}

#[test]
fn zeroed_aligned_and_tagged_allocations_are_recorded() {
    heapsnap::set_sample_interval(1);
    let (block, bytes) = zeroed_and_tagged();
    let untagged = Vec::<u8>::with_capacity(123);
    let snap = heapsnap::snapshot();
    let sites = sites_at(&snap, "zeroed_and_tagged");
    let mut sizes: Vec<_> = sites
        .iter()
        .map(|s| (s.live_bytes, s.tag.as_deref()))
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![(777, Some("exact-tag")), (4096, Some("exact-tag"))]
    );
    let here = sites_at(&snap, "zeroed_aligned_and_tagged_allocations_are_recorded");
    assert!(
        here.iter().any(|s| s.live_bytes == 123 && s.tag.is_none()),
        "{here:#?}"
    );
    // SAFETY: allocated in `zeroed_and_tagged` with this layout.
    unsafe { dealloc(block, Layout::from_size_align(4096, 64).unwrap()) };
    drop((bytes, untagged));
}

#[test]
fn snapshots_round_trip_through_files() {
    heapsnap::set_sample_interval(1);
    let (records, _) = boxed_records(10);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("dumps");
    let first = heapsnap::dump_to_dir(&dir).unwrap();
    let second = heapsnap::dump_to_dir(&dir).unwrap();
    assert!(
        first
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("heapsnap-000001-")
    );
    assert!(
        second
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("heapsnap-000002-")
    );
    let read = Snapshot::read_from_path(&second).unwrap();
    assert_eq!(read.format, "heapsnap");
    assert!(read.seq > Snapshot::read_from_path(&first).unwrap().seq);
    assert!(!read.modules.is_empty());
    assert!(read.process.build_id.is_some());
    assert_eq!(read.sampling.allocator.as_deref(), Some("jemalloc"));
    assert!(read.totals.rss_bytes.unwrap() > 0);
    assert!(!sites_at(&read, "boxed_records").is_empty());
    // Writing the first file (its JSON, the compressor's buffers) was the
    // profiler's work, not the program's: no site of it.
    let writing: Vec<&str> = read
        .frames
        .iter()
        .filter_map(|f| f.function.as_deref())
        .filter(|f| f.contains("flate2") || f.contains("dump::files"))
        .collect();
    assert!(writing.is_empty(), "{writing:?}");

    drop(records);
}

/// With the `jemalloc-stats` feature, snapshots carry jemalloc's own view of
/// the heap, which must agree with the profiler's exact count of it.
#[cfg(feature = "jemalloc-stats")]
#[test]
fn jemalloc_statistics_are_in_snapshots() {
    heapsnap::set_sample_interval(1);
    let (records, _) = boxed_records(10_000);
    let snap = heapsnap::snapshot();
    let stats = snap.totals.allocator.expect("jemalloc statistics");
    // jemalloc's `allocated` counts every live byte, the test harness's
    // included; the 2 MB of records are among them.
    assert!(stats.allocated >= 10_000 * 200, "{stats:?}");
    assert!(stats.active >= stats.allocated && stats.resident >= stats.active / 2);
    assert!(stats.mapped >= stats.active);
    drop(records);
}
