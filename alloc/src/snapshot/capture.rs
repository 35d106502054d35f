//! Taking a snapshot of the running process.
//!
//! 1. Copy the live table, the site totals, the stacks and the tags, one
//!    lock at a time; this is the only moment allocating threads can wait
//!    for the snapshot, and only for one table shard's copy.
//! 2. Aggregate the live samples by site (stack, tag): estimated bytes and
//!    count, sampling variance, bytes by age.
//! 3. Symbolise the addresses (cached across snapshots), expanding inlined
//!    frames, and trim the profiler's and the allocator's own frames from
//!    the innermost end. Stacks that differed only in those frames merge.
//! 4. Add the heap-wide figures: allocator statistics, RSS, cgroup limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::symbolize::{self, Symbol};
use super::{
    AGE_BUCKETS_MS, AllocatorStats, Frame, Module, Process, Site, Snapshot, StackWalk, Totals,
    Trigger, memory, modules,
};
use crate::record::sites::{self, Site as RawSite, SiteTotals};
use crate::record::table::{self, Live};
use crate::record::{counters, sampler, settings, stack, tags, thread};
use crate::sys::clock;
use crate::sys::lock::Holds;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Estimated figures of one site, summed over its live samples.
#[derive(Clone, Debug, Default)]
struct LiveSum {
    bytes: f64,
    count: f64,
    variance: f64,
    samples: u64,
    by_age: [f64; AGE_BUCKETS_MS.len() + 1],
}

impl LiveSum {
    fn add(&mut self, live: &Live, now_ms: u64) {
        let bytes = live.estimated_bytes();
        self.bytes += bytes;
        self.count += live.weight;
        self.variance += sampler::bytes_variance(live.size, live.weight);
        self.samples += 1;
        let age = now_ms.saturating_sub(live.born_ms);
        let bucket = AGE_BUCKETS_MS.partition_point(|&bound| bound <= age);
        self.by_age[bucket] += bytes;
    }

    fn merge(&mut self, other: &LiveSum) {
        self.bytes += other.bytes;
        self.count += other.count;
        self.variance += other.variance;
        self.samples += other.samples;
        for (mine, theirs) in self.by_age.iter_mut().zip(other.by_age) {
            *mine += theirs;
        }
    }
}

/// Takes a snapshot, labelled with `trigger`. The caller has started the
/// profiler (configuration loaded).
pub(crate) fn capture(trigger: Trigger) -> Snapshot {
    thread::with(|state| {
        // Allocations made while snapshotting are the profiler's own.
        let _guard = state.enter();
        capture_guarded(trigger)
    })
}

fn capture_guarded(trigger: Trigger) -> Snapshot {
    let started_ns = crate::sys::monotonic_ns();
    let mut snapshot = Snapshot::default();
    snapshot.seq = SEQ.fetch_add(1, Ordering::Relaxed);
    snapshot.uptime_ms = clock::uptime_ms();
    snapshot.taken_at_ms = clock::unix_ms();
    snapshot.trigger = trigger;

    let copied = Copied::take();
    let sums = copied.sum_by_site(snapshot.uptime_ms);
    let mut symbols = Symbols::default();
    symbols.resolve(copied.sites.iter().map(|site| site.frames));
    let merged = merge_by_stack(&copied.sites, &sums, &symbols);

    let modules = modules::loaded();
    snapshot.process = process(&modules);
    snapshot.sampling.interval_bytes = settings::interval();
    snapshot.sampling.stack_walk = stack_walk();
    snapshot.sampling.max_frames = settings::max_frames() as u32;
    snapshot.sampling.allocator = counters::inner_allocator().map(allocator_name);
    snapshot.modules = modules.into_iter().map(module).collect();
    add_sites(&mut snapshot, merged, &symbols, &copied.tag_names);
    snapshot.totals = totals(&snapshot.sites);
    snapshot.capture.max_pause_us = copied.holds.max_ns / 1000;
    snapshot.capture.total_pause_us = copied.holds.total_ns / 1000;
    snapshot.capture.duration_ms =
        crate::sys::monotonic_ns().saturating_sub(started_ns) / 1_000_000;
    snapshot
}

/// What the snapshot copies out of the recording layer's tables.
struct Copied {
    live: Vec<(usize, Live)>,
    sites: Vec<RawSite>,
    tag_names: HashMap<u32, &'static str>,
    /// How long allocating threads could have waited on the copies.
    holds: Holds,
}

impl Copied {
    /// Copies the live table, the sites and the tags, one lock at a time:
    /// the only moment allocating threads can wait for the snapshot. A copy
    /// that cannot get memory leaves its part out.
    fn take() -> Copied {
        let mut holds = Holds::default();
        let mut live = Vec::new();
        let _ = table::copy_all(&mut live, &mut holds);
        let mut sites = Vec::new();
        let _ = sites::copy_all(&mut sites, &mut holds);
        let tag_names = tags::all()
            .into_iter()
            .map(|(name, id)| (id, name))
            .collect();
        Copied {
            live,
            sites,
            tag_names,
            holds,
        }
    }

    /// The live samples summed by site, indexed like `sites`.
    fn sum_by_site(&self, now_ms: u64) -> Vec<LiveSum> {
        let mut sums = vec![LiveSum::default(); self.sites.len()];
        for (_, sample) in &self.live {
            if let Some(sum) = sums.get_mut(sample.site as usize) {
                sum.add(sample, now_ms);
            }
        }
        sums
    }
}

/// A site of the snapshot before it is numbered: its trimmed stack (frame
/// ids of `Symbols`) and tag, with its live sums and running totals.
type Merged = ((Vec<u32>, u32), (LiveSum, SiteTotals));

/// Merges the sites whose stacks became equal once trimmed; most live bytes
/// first, ties broken by cumulative bytes, then stack, so that the same heap
/// gives the same file.
fn merge_by_stack(sites: &[RawSite], sums: &[LiveSum], symbols: &Symbols) -> Vec<Merged> {
    let mut merged: HashMap<(Vec<u32>, u32), (LiveSum, SiteTotals)> = HashMap::new();
    for (site, sum) in sites.iter().zip(sums) {
        let entry = merged
            .entry((symbols.trimmed_stack(site.frames), site.tag))
            .or_default();
        entry.0.merge(sum);
        entry.1.add(&site.totals);
    }
    let mut merged: Vec<Merged> = merged.into_iter().collect();
    merged.sort_by(|a, b| {
        (b.1.0.bytes.total_cmp(&a.1.0.bytes))
            .then(b.1.1.allocated_bytes.total_cmp(&a.1.1.allocated_bytes))
            .then_with(|| a.0.cmp(&b.0))
    });
    merged
}

/// Numbers the frames and stacks the merged sites use, and adds the sites.
fn add_sites(
    snapshot: &mut Snapshot,
    merged: Vec<Merged>,
    symbols: &Symbols,
    tag_names: &HashMap<u32, &'static str>,
) {
    let mut stack_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut frame_ids: HashMap<u32, u32> = HashMap::new();
    for ((frames, tag), (sum, totals)) in merged {
        let next = snapshot.stacks.len() as u32;
        let stack = *stack_ids.entry(frames.clone()).or_insert_with(|| {
            let renumbered = frames
                .iter()
                .map(|&f| {
                    *frame_ids.entry(f).or_insert_with(|| {
                        snapshot.frames.push(symbols.frames[f as usize].clone());
                        snapshot.frames.len() as u32 - 1
                    })
                })
                .collect();
            snapshot.stacks.push(renumbered);
            next
        });
        let tag = tag_names.get(&tag).map(|t| t.to_string());
        snapshot.sites.push(site(stack, tag, &sum, &totals));
    }
}

/// How this build captures stacks.
fn stack_walk() -> StackWalk {
    if stack::uses_frame_pointers() {
        StackWalk::FramePointers
    } else {
        StackWalk::Backtrace
    }
}

fn module(loaded: modules::Loaded) -> Module {
    let mut module = Module::default();
    module.path = loaded.path;
    module.start = loaded.start;
    module.end = loaded.end;
    module.bias = loaded.bias;
    module.build_id = loaded.build_id;
    module
}

fn site(stack: u32, tag: Option<String>, sum: &LiveSum, totals: &SiteTotals) -> Site {
    let mut site = Site::default();
    site.stack = stack;
    site.tag = tag;
    site.live_bytes = sum.bytes.round() as u64;
    site.live_allocs = sum.count.round() as u64;
    site.live_bytes_var = sum.variance;
    site.allocated_bytes = totals.allocated_bytes.round() as u64;
    site.allocated_allocs = totals.allocated_count.round() as u64;
    site.freed_bytes = totals.freed_bytes.round() as u64;
    site.freed_allocs = totals.freed_count.round() as u64;
    site.live_samples = sum.samples;
    if sum.samples > 0 {
        site.live_bytes_by_age = sum.by_age.iter().map(|b| b.round() as u64).collect();
    }
    site
}

fn totals(sites: &[Site]) -> Totals {
    let sum = |f: fn(&Site) -> u64| sites.iter().map(f).sum();
    let inner_is_jemalloc =
        counters::inner_allocator().is_some_and(|name| allocator_name(name) == "jemalloc");
    let mut totals = Totals::default();
    totals.live_bytes = sum(|s| s.live_bytes);
    totals.live_allocs = sum(|s| s.live_allocs);
    totals.allocated_bytes = sum(|s| s.allocated_bytes);
    totals.allocated_allocs = sum(|s| s.allocated_allocs);
    totals.freed_bytes = sum(|s| s.freed_bytes);
    totals.freed_allocs = sum(|s| s.freed_allocs);
    totals.live_samples = sum(|s| s.live_samples);
    totals.samples_dropped = counters::dropped();
    if inner_is_jemalloc {
        totals.allocator = jemalloc_stats();
    }
    totals.rss_bytes = memory::rss_bytes();
    totals.memory_limit_bytes = memory::cgroup_memory_limit();
    totals
}

#[cfg(feature = "jemalloc-stats")]
fn jemalloc_stats() -> Option<AllocatorStats> {
    memory::jemalloc_stats()
}

#[cfg(not(feature = "jemalloc-stats"))]
fn jemalloc_stats() -> Option<AllocatorStats> {
    None
}

/// `jemalloc` and `system` for the two usual inner allocators, else the
/// type's name.
fn allocator_name(type_name: &'static str) -> String {
    match type_name {
        "tikv_jemallocator::Jemalloc" => "jemalloc".to_owned(),
        "std::alloc::System" => "system".to_owned(),
        other => other.to_owned(),
    }
}

fn process(modules: &[modules::Loaded]) -> Process {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut process = Process::default();
    process.pid = std::process::id();
    process.build_id = modules
        .iter()
        .find(|m| m.path == exe)
        .and_then(|m| m.build_id.clone());
    process.started_at_ms = clock::started_unix_ms();
    process.exe = exe;
    process
}

/// Symbolised addresses: every distinct frame gets an index into `frames`.
#[derive(Default)]
struct Symbols {
    frames: Vec<Frame>,
    /// For each address, the indices of its frames, innermost first.
    by_address: HashMap<usize, Vec<u32>>,
}

impl Symbols {
    fn resolve<'a>(&mut self, stacks: impl Iterator<Item = &'a [usize]>) {
        let mut addresses: Vec<usize> = stacks
            .flatten()
            .copied()
            .filter(|&addr| addr != 0)
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        let mut seen: HashMap<Frame, u32> = HashMap::new();
        symbolize::resolve_all(addresses, |addr, symbols| {
            let frames = frames_at(addr, symbols);
            let ids = frames
                .into_iter()
                .map(|frame| {
                    *seen.entry(frame.clone()).or_insert_with(|| {
                        self.frames.push(frame);
                        self.frames.len() as u32 - 1
                    })
                })
                .collect();
            self.by_address.insert(addr, ids);
        });
    }

    /// The frames of a raw stack, inlined frames expanded, with the
    /// allocator's entry point and interface removed from the innermost end.
    fn trimmed_stack(&self, addresses: &[usize]) -> Vec<u32> {
        // Some frame-pointer chains end in a zero return address.
        let all: Vec<u32> = addresses
            .iter()
            .filter(|&&addr| addr != 0)
            .flat_map(|addr| self.by_address.get(addr).into_iter().flatten().copied())
            .collect();
        let cut = all
            .iter()
            .take_while(|&&id| is_allocator_frame(&self.frames[id as usize]))
            .count();
        all[cut..].to_vec()
    }
}

/// Frames between a program and the memory it asked for: the allocator's
/// entry points (`__rust_alloc`), the profiler inlined into them, the
/// allocator interface (`alloc::alloc::alloc`, `Global::allocate`) and the
/// inner allocator. Judged by name, or by source file where names are the
/// short ones of `debug = "line-tables-only"` builds (`alloc`).
///
/// The profiler's own frames never reach a stack (the walk starts above
/// them, see `stack::capture`); these are what is left between the
/// program's call and that point.
fn is_allocator_frame(frame: &Frame) -> bool {
    const NAMES: [&str; 12] = [
        "heapsnap::",
        "__rustc::",
        "__rust_",
        "__rg_",
        "__rdl_",
        "alloc::alloc::",
        "std::alloc::",
        "core::alloc::",
        "tikv_jemallocator::",
        "backtrace::",
        "_Unwind_",
        "_rjem_",
    ];
    const FILES: [&str; 4] = [
        "/library/alloc/src/alloc.rs",
        "/library/std/src/alloc.rs",
        "/library/core/src/alloc/",
        "/tikv-jemallocator-",
    ];
    let function = frame.function.as_deref().unwrap_or("");
    let name = function.strip_prefix('<').unwrap_or(function);
    let file = frame.file.as_deref().unwrap_or("");
    NAMES.iter().any(|prefix| name.starts_with(prefix))
        || FILES.iter().any(|part| file.contains(part))
        || file.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/src/"))
}

/// The frames at one address: one per inlined function, then the function
/// that owns the code; one anonymous frame when nothing is known.
fn frames_at(addr: usize, symbols: &[Symbol]) -> Vec<Frame> {
    let frame = |symbol: Option<&Symbol>, inlined: bool| {
        let mut frame = Frame::default();
        frame.ip = addr as u64;
        if let Some(symbol) = symbol {
            frame.function = symbol.function.clone();
            frame.file = symbol.file.clone();
            frame.line = symbol.line;
        }
        frame.inlined = inlined;
        frame
    };
    if symbols.is_empty() {
        return vec![frame(None, false)];
    }
    symbols
        .iter()
        .enumerate()
        .map(|(i, symbol)| frame(Some(symbol), i + 1 < symbols.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str) -> Frame {
        let mut frame = Frame::default();
        frame.function = Some(function.into());
        frame.file = Some(file.into());
        frame
    }

    #[test]
    fn allocator_entry_and_interface_frames_are_recognised() {
        let std = "/rustc/0123abcd/library";
        for allocator in [
            frame("__rustc::__rust_alloc", "/app/src/main.rs"),
            frame(
                "<heapsnap::profiler::Profiler<tikv_jemallocator::Jemalloc> as core::alloc::global::GlobalAlloc>::alloc",
                "?",
            ),
            frame("alloc::alloc::exchange_malloc", "?"),
            frame(
                "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
                "?",
            ),
            // line-tables-only builds: short names, known by their files.
            frame("alloc", &format!("{std}/alloc/src/alloc.rs")),
            frame("alloc_impl", &format!("{std}/alloc/src/alloc.rs")),
            frame(
                "alloc<tikv_jemallocator::Jemalloc>",
                concat!(env!("CARGO_MANIFEST_DIR"), "/src/profiler.rs"),
            ),
            frame("__rust_alloc", "/app/src/main.rs"),
        ] {
            assert!(is_allocator_frame(&allocator), "{allocator:?}");
        }
        for program in [
            frame(
                "<alloc::raw_vec::RawVec<app::Event>>::grow_one",
                &format!("{std}/alloc/src/raw_vec/mod.rs"),
            ),
            frame(
                "grow_one<app::Event, alloc::alloc::Global>",
                &format!("{std}/alloc/src/raw_vec/mod.rs"),
            ),
            frame("app::record", "/app/src/record.rs"),
            frame("alloc", "/app/src/pool.rs"),
        ] {
            assert!(!is_allocator_frame(&program), "{program:?}");
        }
    }

    #[test]
    fn trimming_expands_inlined_frames_and_drops_zero_addresses() {
        let mut symbols = Symbols::default();
        let names = [
            "heapsnap::x",
            "__rustc::__rust_alloc",
            "app::f",
            "app::g",
            "heapsnap::y",
        ];
        for (i, name) in names.iter().enumerate() {
            let mut frame = Frame::default();
            frame.ip = i as u64;
            frame.function = Some(name.to_string());
            symbols.frames.push(frame);
        }
        // Address 1 holds frames 0 and 1 (inlined); 2 -> 2; 3 -> 3 and 4;
        // only the innermost allocator frames go.
        symbols.by_address.insert(1, vec![0, 1]);
        symbols.by_address.insert(2, vec![2]);
        symbols.by_address.insert(3, vec![3, 4]);
        assert_eq!(symbols.trimmed_stack(&[1, 2, 3, 0]), vec![2, 3, 4]);
    }

    #[test]
    fn ages_fall_in_buckets() {
        let mut sum = LiveSum::default();
        let live = |born_ms| Live {
            site: 0,
            size: 10,
            consumed: 10,
            weight: 1.0,
            born_ms,
        };
        sum.add(&live(10_000), 10_500); // 0.5 s old
        sum.add(&live(0), 10_500); // 10.5 s old
        sum.add(&live(0), 1_000_000_000); // 11.6 days old
        assert_eq!(sum.by_age[0], 10.0);
        assert_eq!(sum.by_age[4], 10.0);
        assert_eq!(sum.by_age[AGE_BUCKETS_MS.len()], 10.0);
        assert_eq!(sum.bytes, 30.0);
    }
}
