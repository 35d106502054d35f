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

use super::{
    AgeBucket, AllocatorStats, Build, Frame, Module, Process, Ref, Scan, ScanState, Site, Snapshot,
    StackWalk, Totals, Trigger, age_bucket, memory, modules,
};
use super::{graph, symbolize};
use crate::record::counters::Allocator;
use crate::record::settings::Symbolize;
use crate::record::sites::{self, Site as RawSite, SiteTotals};
use crate::record::table::{self, Live};
use crate::record::{counters, reserve, sampler, settings, stack, tags, thread, watch};
use crate::sys::clock;
use crate::sys::lock::{self, Holds};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Estimated figures of one site, summed over its live samples.
#[derive(Clone, Debug, Default)]
struct LiveSum {
    bytes: f64,
    count: f64,
    /// Sampling variances of `bytes` and `count`.
    bytes_var: f64,
    count_var: f64,
    /// The sum of each sample's estimated bytes squared.
    bytes_sq: f64,
    samples: u64,
    /// Watched buffers (see `record::watch`): scanned for the heap graph,
    /// counted in no estimate.
    watched: u64,
    /// By age bucket, youngest first, only the buckets that hold samples.
    by_age: Vec<AgeSum>,
}

/// The samples of one age bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct AgeSum {
    bucket: u16,
    samples: u64,
    bytes: f64,
    bytes_sq: f64,
}

impl AgeSum {
    fn add(&mut self, other: &AgeSum) {
        self.samples += other.samples;
        self.bytes += other.bytes;
        self.bytes_sq += other.bytes_sq;
    }
}

impl LiveSum {
    /// Adds a sample in age bucket `bucket`; samples come in bucket order.
    /// A watched buffer is only counted.
    fn add(&mut self, live: &Live, bucket: u16) {
        if live.is_watched() {
            self.watched += 1;
            return;
        }
        let bytes = live.estimated_bytes();
        self.bytes += bytes;
        self.count += live.weight;
        self.bytes_var += sampler::bytes_variance(live.size, live.weight);
        self.count_var += sampler::count_variance(live.weight);
        self.bytes_sq += bytes * bytes;
        self.samples += 1;
        let age = AgeSum {
            bucket,
            samples: 1,
            bytes,
            bytes_sq: bytes * bytes,
        };
        match self.by_age.last_mut() {
            Some(last) if last.bucket == bucket => last.add(&age),
            _ => self.by_age.push(age),
        }
    }

    fn merge(&mut self, other: &LiveSum) {
        self.bytes += other.bytes;
        self.count += other.count;
        self.bytes_var += other.bytes_var;
        self.count_var += other.count_var;
        self.bytes_sq += other.bytes_sq;
        self.samples += other.samples;
        self.watched += other.watched;
        let mut all: Vec<AgeSum> = self.by_age.iter().chain(&other.by_age).copied().collect();
        all.sort_by_key(|age| age.bucket);
        let mut merged: Vec<AgeSum> = Vec::with_capacity(all.len());
        for age in all {
            match merged.last_mut() {
                Some(last) if last.bucket == age.bucket => last.add(&age),
                _ => merged.push(age),
            }
        }
        self.by_age = merged;
    }
}

/// Address space that looking up new symbols may take (reading a large
/// binary's debug information), which a snapshot needs left under an
/// address-space limit to look them up.
const SYMBOLIZE_HEADROOM: u64 = 256 << 20;

/// Takes a snapshot, labelled with `trigger`. The caller has started the
/// profiler (configuration loaded).
pub(crate) fn capture(trigger: Trigger) -> Snapshot {
    capture_with(trigger, Detail::Full)
}

/// How much a snapshot does: all of it, or less when memory (and so time)
/// is short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detail {
    Full,
    /// A heap scan of at most `NEAR_LIMIT_SCAN` bytes: for dumps of a
    /// process nearer its memory limit than not, which keeps growing while
    /// the dump is written.
    Quick,
    /// The reduced form, for a dump that must fit in little memory (with
    /// less room left than a full dump took): no heap scan, no live bytes
    /// by age, no buffer highs, and frames as bare addresses (the reporter
    /// names them from the binary and module map).
    Reduced,
}

/// A snapshot labelled with `trigger`, with `detail`.
pub(crate) fn capture_with(trigger: Trigger, detail: Detail) -> Snapshot {
    let mut snapshot = capture_of(trigger, None, detail);
    if detail != Detail::Reduced {
        return snapshot;
    }
    for site in &mut snapshot.sites {
        site.live_by_age = Vec::new();
        site.highs = Vec::new();
    }
    for frame in &mut snapshot.frames {
        frame.function = None;
        frame.file = None;
        frame.line = None;
    }
    snapshot
}

/// Takes a snapshot of the live allocations made in recording scope
/// `scope` only (see `heapsnap::testing`); sites with none are left out.
pub(crate) fn capture_scope(scope: u32) -> Snapshot {
    capture_of(Trigger::Manual, Some(scope), Detail::Full)
}

fn capture_of(trigger: Trigger, scope: Option<u32>, detail: Detail) -> Snapshot {
    thread::with(|state| {
        // Allocations made while snapshotting are the profiler's own.
        let _guard = state.enter();
        capture_guarded(trigger, scope, detail)
    })
}

fn capture_guarded(trigger: Trigger, scope: Option<u32>, detail: Detail) -> Snapshot {
    let started_ns = crate::sys::monotonic_ns();
    let mut snapshot = Snapshot::default();
    snapshot.seq = SEQ.fetch_add(1, Ordering::Relaxed);
    snapshot.uptime_ms = clock::uptime_ms();
    snapshot.taken_at_ms = clock::unix_ms();
    snapshot.trigger = trigger;
    // Before the work below, whose own memory (symbols, the copies) is no
    // part of the program's.
    let rss_bytes = memory::rss_bytes();

    // What this thread's cache of sites holds, in the table first.
    sites::flush_this_thread();
    let copied = Copied::take(scope);
    // Read while the copy is fresh: the fewer blocks freed since, the fewer
    // stale bytes.
    let edges = heap_graph(&copied.live, &snapshot.trigger, scope, detail);
    let sums = copied.sum_by_site(snapshot.uptime_ms);
    let mut symbols = Symbols::default();
    // Short of memory, symbols are looked up no further (see `symbolize`):
    // after an allocation failed, close to an address-space limit (reading
    // debug information takes memory that stays taken, and under such a
    // limit a failed allocation of its own would end the program), or once
    // the reserve serves the profiler.
    // The program may fill memory meanwhile: asked before each lookup.
    // Under an address-space limit, the dump thread looks up nothing new
    // at all: a lookup parses a whole binary's debug information, the
    // program may fill memory to the limit meanwhile (it is not waiting
    // for the dump), and the reserve cannot cover a large binary's. Its
    // dumps keep the addresses (with the module map) of frames not already
    // known; the program's own snapshots look up while there is room.
    let reserve_used = reserve::served();
    let oom = snapshot.trigger == Trigger::Oom;
    let limited = crate::sys::address_space_limit().is_some();
    let lookups_allowed = !limited || snapshot.trigger == Trigger::Manual;
    let wanted = copied
        .sites
        .iter()
        .zip(&sums)
        .filter(|(_, sum)| copied.wants(sum))
        .map(|(site, _)| site.frames);
    // Near a memory limit or out of it, nothing new is looked up whatever
    // the setting: the lookup's own memory is what the process lacks.
    let near_limit = snapshot.trigger == Trigger::NearLimit;
    let symbolizing = match settings::symbolize() {
        Symbolize::Auto => snapshot.trigger == Trigger::Manual,
        Symbolize::On => true,
        Symbolize::Off => false,
    };
    let looked_up = symbols.resolve(wanted, symbolizing, || {
        symbolizing
            && !oom
            && !near_limit
            && lookups_allowed
            && reserve::served() == reserve_used
            && (!limited
                || memory::address_space_headroom().is_none_or(|left| left >= SYMBOLIZE_HEADROOM))
    });
    let (merged, site_of) = merge_by_stack(&copied, &sums, &symbols);

    let modules = modules::loaded();
    snapshot.process = process(&modules);
    snapshot.sampling.interval_bytes = settings::interval();
    snapshot.sampling.stack_walk = stack_walk();
    snapshot.sampling.max_frames = settings::max_frames() as u32;
    snapshot.sampling.allocator = counters::inner_allocator().map(|a| a.name().to_owned());
    let mut build = symbols.build.clone();
    build.v0_symbols = cfg!(heapsnap_v0_symbols);
    build.frame_pointers = Some(cfg!(heapsnap_frame_pointers));
    snapshot.sampling.build = Some(build);
    snapshot.modules = modules.into_iter().map(module).collect();
    add_sites(&mut snapshot, merged, &symbols, &copied.tag_names);
    snapshot.refs = refs(&copied.live, &edges, &site_of);
    snapshot.scan = Some(edges.scan);
    snapshot.totals = totals(&snapshot.sites);
    snapshot.totals.rss_bytes = rss_bytes;
    snapshot.capture.max_pause_us = copied.holds.max_ns / 1000;
    snapshot.capture.max_wait_us = lock::take_longest_wait_ns() / 1000;
    snapshot.capture.total_pause_us = copied.holds.total_ns / 1000;
    if looked_up {
        // The debug information read for the lookups was freed; the pages
        // it took go back to the system now, not at the allocator's
        // leisure (an idle jemalloc without background threads keeps them).
        memory::give_back_freed(counters::inner_allocator());
    }
    snapshot.capture.duration_ms =
        crate::sys::monotonic_ns().saturating_sub(started_ns) / 1_000_000;
    snapshot
}

/// What the snapshot copies out of the recording layer's tables.
struct Copied {
    /// The recording scope copied, or `None` for every live sample.
    scope: Option<u32>,
    live: Vec<(usize, Live)>,
    sites: Vec<RawSite>,
    /// New largest buffer sizes, by site (see `record::watch`).
    highs: HashMap<u32, Vec<(u64, u64)>>,
    tag_names: HashMap<u32, &'static str>,
    /// How long allocating threads could have waited on the copies.
    holds: Holds,
}

impl Copied {
    /// Copies the live table, the sites and the tags, one lock at a time:
    /// the only moment allocating threads can wait for the snapshot. A copy
    /// that cannot get memory leaves its part out.
    fn take(scope: Option<u32>) -> Copied {
        let mut holds = Holds::default();
        let mut live = Vec::new();
        let _ = table::copy_matching(&mut live, &mut holds, |sample| {
            scope.is_none_or(|scope| sample.scope == scope)
        });
        let mut sites = Vec::new();
        let _ = sites::copy_all(&mut sites, &mut holds);
        let tag_names = tags::all()
            .into_iter()
            .map(|(name, id)| (id, name))
            .collect();
        let highs = watch::all()
            .into_iter()
            .map(|(site, highs)| (site, highs.events().to_vec()))
            .collect();
        Copied {
            scope,
            live,
            sites,
            highs,
            tag_names,
            holds,
        }
    }

    /// True when a site with these live sums belongs in the snapshot: every
    /// site, or for a scope's, those with live samples of it.
    fn wants(&self, sum: &LiveSum) -> bool {
        self.scope.is_none() || sum.samples > 0
    }

    /// The live samples summed by site, indexed like `sites`, with their
    /// ages at `now_ms`.
    fn sum_by_site(&self, now_ms: u64) -> Vec<LiveSum> {
        let mut sums = vec![LiveSum::default(); self.sites.len()];
        // Ordered by site, then age bucket, so that each site's buckets come
        // in order.
        let mut order: Vec<(u32, u16, u32)> = self
            .live
            .iter()
            .enumerate()
            .map(|(i, (_, sample))| {
                let age = now_ms.saturating_sub(sample.born_ms);
                (sample.site, age_bucket(age), i as u32)
            })
            .collect();
        order.sort_unstable();
        for (site, bucket, i) in order {
            if let Some(sum) = sums.get_mut(site as usize) {
                sum.add(&self.live[i as usize].1, bucket);
            }
        }
        sums
    }
}

/// A site of the snapshot before it is numbered: its trimmed stack (frame
/// ids of `Symbols`) and tag, with its live sums, running totals and
/// highs.
type Merged = ((Vec<u32>, u32), (LiveSum, SiteTotals, Vec<(u64, u64)>));

/// Merges the sites whose stacks became equal once trimmed and named: an
/// optimised build calls the allocator from several places for one line
/// (a loop's first turn peeled off, its body unrolled), and those are one
/// site to the reader, as they are one line of the source. Most live bytes
/// first, ties broken by cumulative bytes, then stack, so that the same
/// heap gives the same file. Also returns, for each copied site, the index
/// of the merged site it went into (`None` for one left out).
fn merge_by_stack(
    copied: &Copied,
    sums: &[LiveSum],
    symbols: &Symbols,
) -> (Vec<Merged>, Vec<Option<u32>>) {
    type Parts = (LiveSum, SiteTotals, Vec<(u64, u64)>);
    let places = symbols.places();
    // By the places of the trimmed stack and the tag: the stack kept for
    // the site (the least of those merged), and its parts.
    let mut merged: HashMap<(Vec<u32>, u32), (Vec<u32>, Parts)> = HashMap::new();
    let mut keys: Vec<Option<(Vec<u32>, u32)>> = Vec::with_capacity(copied.sites.len());
    for (id, (site, sum)) in copied.sites.iter().zip(sums).enumerate() {
        if !copied.wants(sum) {
            keys.push(None);
            continue;
        }
        let stack = symbols.trimmed_stack(site.frames);
        let key = (
            stack.iter().map(|&f| places[f as usize]).collect(),
            site.tag,
        );
        let (kept, entry) = merged
            .entry(key.clone())
            .or_insert_with(|| (stack.clone(), Parts::default()));
        if stack < *kept {
            *kept = stack;
        }
        entry.0.merge(sum);
        entry.1.add(&site.totals);
        if let Some(highs) = copied.highs.get(&(id as u32)) {
            entry.2.extend_from_slice(highs);
            entry.2.sort_unstable();
        }
        keys.push(Some(key));
    }
    let mut merged: Vec<((Vec<u32>, u32), Merged)> = merged
        .into_iter()
        .map(|((places, tag), (stack, parts))| ((places, tag), ((stack, tag), parts)))
        .collect();
    merged.sort_by(|(_, a), (_, b)| {
        (b.1.0.bytes.total_cmp(&a.1.0.bytes))
            .then(b.1.1.allocated_bytes.total_cmp(&a.1.1.allocated_bytes))
            .then_with(|| a.0.cmp(&b.0))
    });
    let position: HashMap<&(Vec<u32>, u32), u32> = merged
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (key, i as u32))
        .collect();
    let site_of = keys
        .iter()
        .map(|key| key.as_ref().and_then(|key| position.get(key).copied()))
        .collect();
    (merged.into_iter().map(|(_, m)| m).collect(), site_of)
}

/// The most a near-limit (or quick) dump's heap scan reads.
const NEAR_LIMIT_SCAN: u64 = 8 << 20;
/// The longest a heap scan runs, in nanoseconds: in a release build the
/// default budget takes well under these; an unoptimised one reads a few
/// MiB a second, and a dump that keeps the thread busy for seconds misses
/// the next one (a program near its limit is killed meanwhile).
const SCAN_TIME: u64 = 1_000_000_000;
const NEAR_LIMIT_SCAN_TIME: u64 = 200_000_000;

/// Scans the copied blocks for the heap graph, unless the scan is off or
/// this snapshot is not for it: an out-of-memory dump or a reduced one (no
/// memory to spare) or a test scope's (exact figures of one piece of code).
fn heap_graph(
    live: &[(usize, Live)],
    trigger: &Trigger,
    scope: Option<u32>,
    detail: Detail,
) -> graph::Edges {
    // Near a memory limit the dump must be quick (the program keeps
    // growing while it is written): a smaller scan.
    let (budget, time_limit) = if *trigger == Trigger::NearLimit || detail == Detail::Quick {
        (
            settings::scan_budget().min(NEAR_LIMIT_SCAN),
            NEAR_LIMIT_SCAN_TIME,
        )
    } else {
        (settings::scan_budget(), SCAN_TIME)
    };
    let state = if budget == 0 {
        ScanState::Off
    } else if *trigger == Trigger::Oom || scope.is_some() || detail == Detail::Reduced {
        ScanState::Skipped
    } else {
        let blocks: Vec<(usize, usize)> = live.iter().map(|(addr, l)| (*addr, l.size)).collect();
        let mut edges = graph::scan(&blocks, budget, time_limit);
        edges.scan.watched = live.iter().filter(|(_, l)| l.is_watched()).count() as u64;
        // A block freed while the scan read (a batch dropped, a table
        // outgrown) may have been read as another's bytes after its memory
        // was reused: its words would be that block's pointers. Blocks
        // still live when the scan ends were live while it read them.
        let freed: Vec<bool> = live
            .iter()
            .map(|(addr, l)| !table::still_holds(*addr, l))
            .collect();
        edges.leave_out(&freed);
        return edges;
    };
    let mut scan = Scan::default();
    scan.state = state;
    scan.budget_bytes = budget;
    graph::Edges {
        scan,
        ..graph::Edges::default()
    }
}

/// The heap graph by site: for each (holding site, held site), how many
/// distinct blocks hold, how many are held, and how many of those
/// directly. `site_of` maps a copied site to the snapshot's.
fn refs(live: &[(usize, Live)], edges: &graph::Edges, site_of: &[Option<u32>]) -> Vec<Ref> {
    let site = |block: u32| {
        live.get(block as usize)
            .and_then(|(_, l)| site_of.get(l.site as usize).copied().flatten())
    };
    // (from site, to site, holding block, held block, direct, chance the
    // scan followed the way it was found)
    let mut rows: Vec<(u32, u32, u32, u32, bool, f64)> = Vec::new();
    let direct = edges.direct.iter().map(|&pair| (pair, true, 1.0));
    let chased = (edges.chased.iter().copied())
        .zip(edges.chased_chance.iter().copied())
        .map(|(pair, chance)| (pair, false, chance));
    for ((a, b), is_direct, chance) in direct.chain(chased) {
        if let (Some(from), Some(to)) = (site(a), site(b)) {
            rows.push((from, to, a, b, is_direct, chance));
        }
    }
    rows.sort_unstable_by_key(|&(from, to, _, held, ..)| (from, to, held));
    let mut refs = Vec::new();
    for group in rows.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
        let mut holders: Vec<u32> = group.iter().map(|row| row.2).collect();
        holders.sort_unstable();
        holders.dedup();
        let mut r = Ref::default();
        r.from = group[0].0;
        r.to = group[0].1;
        r.holders = holders.len() as u64;
        // Each held block once, at the best chance it was found with.
        let mut chances = 0.0;
        for held in group.chunk_by(|x, y| x.3 == y.3) {
            r.held += 1;
            r.direct += u64::from(held.iter().any(|row| row.4));
            chances += held.iter().map(|row| row.5).fold(0.0, f64::max);
        }
        r.followed = chances / r.held as f64;
        refs.push(r);
    }
    refs
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
    for ((frames, tag), (sum, totals, highs)) in merged {
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
        let mut site = site(stack, tag, &sum, &totals);
        site.highs = highs;
        snapshot.sites.push(site);
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
    site.live_bytes_var = sum.bytes_var;
    site.live_allocs_var = sum.count_var;
    site.live_bytes_sq = sum.bytes_sq;
    site.allocated_bytes = totals.allocated_bytes.round() as u64;
    site.allocated_allocs = totals.allocated_count.round() as u64;
    site.freed_bytes = totals.freed_bytes.round() as u64;
    site.freed_allocs = totals.freed_count.round() as u64;
    site.live_samples = sum.samples;
    site.watched = sum.watched;
    site.samples_taken = totals.samples_taken;
    site.samples_freed = totals.samples_freed;
    site.live_by_age = sum
        .by_age
        .iter()
        .map(|age| {
            AgeBucket::new(
                age.bucket,
                age.samples,
                age.bytes.round() as u64,
                age.bytes_sq,
            )
        })
        .collect();
    site
}

fn totals(sites: &[Site]) -> Totals {
    let sum = |f: fn(&Site) -> u64| sites.iter().map(f).sum();
    let inner_is_jemalloc = counters::inner_allocator() == Some(Allocator::Jemalloc);
    let mut totals = Totals::default();
    totals.live_bytes = sum(|s| s.live_bytes);
    totals.live_allocs = sum(|s| s.live_allocs);
    totals.allocated_bytes = sum(|s| s.allocated_bytes);
    totals.allocated_allocs = sum(|s| s.allocated_allocs);
    totals.freed_bytes = sum(|s| s.freed_bytes);
    totals.freed_allocs = sum(|s| s.freed_allocs);
    totals.live_samples = sum(|s| s.live_samples);
    totals.samples_dropped = counters::dropped();
    totals.samples_merged = counters::merged();
    if inner_is_jemalloc {
        totals.allocator = jemalloc_stats();
    }
    totals.memory_limit_bytes = memory::cgroup_memory_limit();
    totals
}

#[cfg(all(heapsnap_jemalloc, feature = "jemalloc-stats"))]
fn jemalloc_stats() -> Option<AllocatorStats> {
    memory::jemalloc_stats()
}

#[cfg(not(all(heapsnap_jemalloc, feature = "jemalloc-stats")))]
fn jemalloc_stats() -> Option<AllocatorStats> {
    None
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
    /// What the addresses looked up were found to have.
    build: Build,
}

impl Symbols {
    /// Symbolises every address of `stacks`; true when it looked any up
    /// (rather than finding them all cached). With `symbolizing` off
    /// (`HEAPSNAP_SYMBOLIZE=off`), the bare addresses count in the build's
    /// record, so that readers say how to name them.
    fn resolve<'a>(
        &mut self,
        stacks: impl Iterator<Item = &'a [usize]>,
        symbolizing: bool,
        may_look_up: impl FnMut() -> bool,
    ) -> bool {
        let mut addresses: Vec<usize> = stacks
            .flatten()
            .copied()
            .filter(|&addr| addr != 0)
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        let mut seen: HashMap<Frame, u32> = HashMap::new();
        let build = &mut self.build;
        symbolize::resolve_while(addresses, may_look_up, |addr, symbols| {
            let frames = Frame::at(addr as u64, symbols.unwrap_or(&[]));
            if symbols.is_some() || !symbolizing {
                count_build(build, &frames);
            }
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
        })
    }

    /// For each frame, the first frame of the same place in the source
    /// (function, file, line, inlined or not): a line the compiler made
    /// several calls of is one place. A frame named by nothing (a bare
    /// address) is a place of its own.
    fn places(&self) -> Vec<u32> {
        type Place<'a> = (&'a Option<String>, &'a Option<String>, Option<u32>, bool);
        let mut first: HashMap<Place<'_>, u32> = HashMap::new();
        (self.frames.iter().enumerate())
            .map(|(id, frame)| {
                let id = id as u32;
                if frame.function.is_none() && frame.file.is_none() {
                    return id;
                }
                let place = (&frame.function, &frame.file, frame.line, frame.inlined);
                *first.entry(place).or_insert(id)
            })
            .collect()
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

/// Counts what one looked-up address has (its `frames`): by the function
/// that owns its code (the last frame; those before it were inlined into
/// it). The allocator's frames (the compiler's shims, the allocator
/// interface, the profiler) are left out: they say nothing of the program's
/// build.
fn count_build(build: &mut Build, frames: &[Frame]) {
    let Some(owner) = frames.last() else {
        return;
    };
    if is_allocator_frame(owner) {
        return;
    }
    build.addresses += 1;
    build.named += u32::from(owner.function.is_some());
    build.with_lines += u32::from(owner.file.is_some() && owner.line.is_some());
}

/// [`heapsnap_format::names::is_allocator_frame`], and this crate's own
/// source (the profiler inlined into the entry points, in builds whose
/// names are the short ones of `debug = "line-tables-only"`).
///
/// The profiler's own frames never reach a stack (the walk starts above
/// them, see `stack::capture`); these are what is left between the
/// program's call and that point.
fn is_allocator_frame(frame: &Frame) -> bool {
    heapsnap_format::names::is_allocator_frame(frame)
        || frame
            .file
            .as_deref()
            .is_some_and(|file| file.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/src/")))
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

    /// One line the compiler called the allocator from twice (a loop's
    /// first turn peeled off) is one place; another line, the same line
    /// inlined, or a bare address is not.
    #[test]
    fn the_calls_of_one_line_are_one_place() {
        let at = |ip: u64, line: u32, inlined: bool| {
            let mut frame = frame("app::fill", "/app/src/main.rs");
            (frame.ip, frame.line, frame.inlined) = (ip, Some(line), inlined);
            frame
        };
        let bare = |ip: u64| {
            let mut frame = Frame::default();
            frame.ip = ip;
            frame
        };
        let symbols = Symbols {
            frames: vec![
                at(0x1000, 28, false),
                at(0x1060, 28, false),
                at(0x1100, 29, false),
                at(0x1200, 28, true),
                bare(0x5000),
                bare(0x6000),
            ],
            ..Symbols::default()
        };
        assert_eq!(symbols.places(), [0, 0, 2, 3, 4, 5]);
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
    fn ages_fall_in_buckets_and_merge_in_order() {
        let live = |bytes: usize| Live {
            scope: 0,
            site: 0,
            size: bytes,
            consumed: bytes,
            weight: 2.0,
            born_ms: 0,
        };
        let mut a = LiveSum::default();
        a.add(&live(10), age_bucket(30));
        a.add(&live(10), age_bucket(40));
        a.add(&live(5), age_bucket(10_500));
        assert_eq!(a.by_age.len(), 2);
        assert_eq!((a.by_age[0].bucket, a.by_age[0].samples), (0, 2));
        assert_eq!(a.by_age[0].bytes, 40.0);
        assert_eq!(a.by_age[1].bytes_sq, 100.0);
        let mut b = LiveSum::default();
        b.add(&live(1), age_bucket(500));
        b.add(&live(1), age_bucket(10_600));
        a.merge(&b);
        let buckets: Vec<(u16, u64)> = a.by_age.iter().map(|g| (g.bucket, g.samples)).collect();
        assert_eq!(
            buckets,
            [(0, 2), (age_bucket(500), 1), (age_bucket(10_500), 2)]
        );
        assert_eq!(a.samples, 5);
        assert_eq!(a.bytes, 54.0);
        // weight 2: each sample's count variance is w(w - 1) = 2.
        assert_eq!(a.count_var, 10.0);
    }
}
