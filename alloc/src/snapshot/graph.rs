//! The heap graph: which sampled blocks point at which, read at snapshot
//! time, so that a leak's holder is named from references (as a JVM heap
//! analyser does) rather than guessed from types and stacks.
//!
//! The blocks are the live samples and the watched buffers (each stack's
//! new largest, and the first of the largest's class; see
//! `record::watch`), copied out of the live
//! table. Their memory is read **through the kernel** (`process_vm_readv`
//! on this process, else `/proc/self/mem`), never by a load: a block freed
//! and unmapped meanwhile gives a refused read, one freed and reused gives
//! stale bytes, neither a fault. No profiler lock is held while reading.
//!
//! Every aligned word of a block that holds an address inside another block
//! (its start or its interior: hashbrown keeps a pointer into the middle of
//! its table) is an edge. Most chains pass through small blocks that were
//! never sampled (a boxed closure, an `ArcInner`, a map's node), so a word
//! that points into the heap but at no block is followed: the first bytes
//! at its address are read, up to `DEPTH` steps from a block. Those places
//! are thinned uniformly (a bottom-k sample of their addresses) to stay
//! within bounds, and the fraction kept is recorded.
//!
//! Bounded: at most `budget` bytes read (`HEAPSNAP_SCAN`), the direct reads
//! first, every block's first 64 KiB (or 16 spread pieces of a larger one)
//! before the rest of any; fixed caps on the places followed and the edges
//! kept, so that its memory is a few MiB whatever the heap; and a time
//! limit (an unoptimised build or a busy machine reads a few MiB a second,
//! and a dump must not keep the thread from the next one, the near-limit
//! dump above all): past it the scan stops where it is, and says so.

use heapsnap_format::snapshot::{Scan, ScanState};

use crate::record::hash;
use crate::sys::{self, MAX_READ_PIECES, ReadRefused};

/// Bytes a read covers at most: blocks are read in pieces of this size.
const PIECE: usize = 4096;
/// A block is read whole up to this size in the first pass; a larger one
/// in `FIRST_PIECES` pieces spread over it, the rest in the second pass.
const FIRST_WHOLE: usize = 64 << 10;
const FIRST_PIECES: usize = 16;
/// What reading one piece costs of the budget at least, in bytes.
const PIECE_COST: usize = 256;
/// How many bytes are read at an unsampled place: enough for an `ArcInner`
/// header and a small struct's fields (boxes, closures, nodes).
const WINDOW: usize = 128;
/// How many unsampled steps a chain may take between two blocks.
const DEPTH: usize = 3;
/// The most (place, origin) pairs kept per step.
const FRONTIER_CAP: usize = 1 << 17;
/// The most edges kept of each kind.
const EDGES_CAP: usize = 1 << 18;
/// Bytes read per system call at most.
const BATCH: usize = 256 << 10;
/// Blocks are indexed by the 64 KiB regions they cover.
const REGION_BITS: u32 = 16;

/// What a scan found: edges between blocks (indices into the blocks
/// given), and what it covered.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    /// (holding block, held block): a word of the holding block points into
    /// the held one. Sorted, each pair once.
    pub direct: Vec<(u32, u32)>,
    /// The same through unsampled memory (pairs not in `direct`).
    pub chased: Vec<(u32, u32)>,
    /// For each pair of `chased`, the chance that the scan followed its
    /// chain: past the budget, each block's unsampled places are followed
    /// in a uniform sample, at every step of a chain. A held block found
    /// at this chance stands for `1 / chance` of them.
    pub chased_chance: Vec<f64>,
    /// Bytes read of each block.
    pub read: Vec<u64>,
    /// The figures of the snapshot's `scan`.
    pub scan: Scan,
}

impl Edges {
    /// Leaves out the edges from or to the blocks `freed` marks (freed while
    /// the scan read, so that what was read of them, or what points at
    /// them, may belong to a block since put in their place), and counts
    /// them in the scan's figures.
    pub(crate) fn leave_out(&mut self, freed: &[bool]) {
        let gone = |(from, to): (u32, u32)| {
            let is_freed = |block: u32| freed.get(block as usize).copied().unwrap_or(false);
            is_freed(from) || is_freed(to)
        };
        self.direct.retain(|&pair| !gone(pair));
        let chased = std::mem::take(&mut self.chased);
        let chances = std::mem::take(&mut self.chased_chance);
        (self.chased, self.chased_chance) = chased
            .into_iter()
            .zip(chances)
            .filter(|&(pair, _)| !gone(pair))
            .unzip();
        self.scan.freed_meanwhile = freed.iter().filter(|&&f| f).count() as u64;
    }
}

/// Reads this process's memory; the kernel in the profiler, a fake in
/// tests.
pub(crate) trait Memory {
    /// As [`sys::read_own_memory`].
    fn read(&mut self, pieces: &[(usize, usize)], out: &mut [u8]) -> Result<usize, ReadRefused>;
}

/// Reads through the kernel.
struct Kernel;

impl Memory for Kernel {
    fn read(&mut self, pieces: &[(usize, usize)], out: &mut [u8]) -> Result<usize, ReadRefused> {
        sys::read_own_memory(pieces, out)
    }
}

/// Scans the blocks `(address, size)` of this process, reading at most
/// `budget` bytes, for at most `time_limit_ns` or a batch more.
pub(crate) fn scan(blocks: &[(usize, usize)], budget: u64, time_limit_ns: u64) -> Edges {
    let started = sys::monotonic_ns();
    let mappings = Mappings::of_this_process();
    let deadline = started.saturating_add(time_limit_ns);
    let expired = || sys::monotonic_ns() > deadline;
    let mut edges = scan_with(&mut Kernel, blocks, &mappings, budget, expired);
    edges.scan.duration_us = sys::monotonic_ns().saturating_sub(started) / 1000;
    edges
}

/// [`scan`] over `memory`, following unsampled places inside `mappings`,
/// until `expired` says the time is up (asked before each batch read).
pub(crate) fn scan_with(
    memory: &mut impl Memory,
    blocks: &[(usize, usize)],
    mappings: &Mappings,
    budget: u64,
    expired: impl FnMut() -> bool,
) -> Edges {
    let index = Index::new(blocks);
    let mut out = Edges {
        read: vec![0; blocks.len()],
        ..Edges::default()
    };
    out.scan.budget_bytes = budget;
    out.scan.blocks = blocks.len() as u64;
    out.scan.bytes = blocks.iter().map(|&(_, size)| size as u64).sum();
    out.scan.chased_fraction = 1.0;
    let mut reader = Reader::new(memory, expired);
    let mut direct = Pairs::default();
    // Pairs found through unsampled memory, at each step of a chain.
    let mut chased: [Pairs; DEPTH] = Default::default();
    let mut frontier = Frontier::new(blocks.len());
    // Each step's frontier once taken: its thresholds say the share of
    // each block's places that step kept.
    let mut steps: Vec<Frontier> = Vec::new();

    // Every block's first look, then the rest: a scan out of time has
    // looked at every block it could, not at the low addresses only.
    let (first, rest) = direct_pieces(&index, budget - budget / 4);
    let mut read_direct = |block: u32, at: usize, bytes: &[u8]| {
        out.read[block as usize] += bytes.len() as u64;
        for word in words(at, bytes) {
            match index.find(word) {
                Some(held) if held != block => direct.push(block, held),
                Some(_) => {}
                None if frontier.wants(word, block) && mappings.contains(word) => {
                    frontier.push(word, block)
                }
                None => {}
            }
        }
    };
    let refused = reader
        .read_all(&first, &mut read_direct)
        .and_then(|()| reader.read_all(&rest, &mut read_direct));
    out.scan.bytes_read = reader.bytes;
    let mut left = budget.saturating_sub(reader.bytes);
    let mut visited: Vec<usize> = Vec::new();
    if let Err(refused) = refused {
        out.scan.state = match refused {
            ReadRefused::Unsupported => ScanState::Unsupported,
            ReadRefused::Denied => ScanState::Refused,
        };
        return out;
    }
    for this_step in &mut chased {
        let pairs = frontier.take();
        out.scan.chased_fraction = out.scan.chased_fraction.min(frontier.fraction());
        if pairs.is_empty() || left < WINDOW as u64 || reader.out_of_time {
            break;
        }
        // Each distinct place once: its window, and the range of `pairs`
        // with its origins.
        let mut places: Vec<(usize, usize, u32)> = Vec::new();
        let mut origins: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        while start < pairs.len() && left >= WINDOW as u64 {
            let place = pairs[start].0;
            let end = start + pairs[start..].partition_point(|p| p.0 == place);
            if visited.binary_search(&place).is_err() {
                let len = index
                    .room_after(place, WINDOW)
                    .min(mappings.room_after(place));
                if len >= 8 {
                    places.push((place, len, origins.len() as u32));
                    origins.push((start, end));
                    left = left.saturating_sub(len as u64);
                }
            }
            start = end;
        }
        visited.extend(places.iter().map(|p| p.0));
        visited.sort_unstable();
        let mut next = frontier.next();
        let before = reader.bytes;
        let _ = reader.read_all(&places, |place, at, bytes| {
            let (from, to) = origins[place as usize];
            let from_origins = pairs[from..to].iter().map(|p| p.1);
            for word in words(at, bytes) {
                match index.find(word) {
                    Some(held) => {
                        for origin in from_origins.clone().filter(|&o| o != held) {
                            this_step.push(origin, held);
                        }
                    }
                    None if mappings.contains(word) && visited.binary_search(&word).is_err() => {
                        for origin in from_origins.clone() {
                            if next.wants(word, origin) {
                                next.push(word, origin);
                            }
                        }
                    }
                    None => {}
                }
            }
        });
        out.scan.chased += places.len() as u64;
        out.scan.chased_bytes += reader.bytes - before;
        steps.push(std::mem::replace(&mut frontier, next));
    }
    out.scan.failed_reads = reader.failed;
    if reader.out_of_time {
        out.scan.state = ScanState::OutOfTime;
    }
    out.direct = direct.finish();
    // Each pair once, at the shortest chain that found it (the likeliest
    // to be followed), unless it was found directly.
    let mut found: Vec<(u32, u32, usize)> = Vec::new();
    for (step, pairs) in chased.into_iter().enumerate() {
        found.extend(pairs.finish().into_iter().map(|(a, b)| (a, b, step + 1)));
    }
    found.sort_unstable();
    found.dedup_by_key(|&mut (a, b, _)| (a, b));
    for (from, to, length) in found {
        if out.direct.binary_search(&(from, to)).is_err() {
            out.chased.push((from, to));
            // Never 0: a found pair was followed at some chance.
            let chance = chance_followed(&steps[..length.min(steps.len())], from);
            out.chased_chance.push(chance.max(f64::MIN_POSITIVE));
        }
    }
    out
}

/// The chance that a chain of `steps.len()` unsampled steps from `block`
/// was followed: each step kept its own uniform share of the block's
/// places (hashes of different addresses, so independent), and a share
/// only falls from one step to the next.
fn chance_followed(steps: &[Frontier], block: u32) -> f64 {
    steps.iter().map(|step| step.followed(block)).product()
}

/// The aligned words of `bytes`, read at address `at`, as addresses.
fn words(at: usize, bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let skip = at.next_multiple_of(8) - at;
    bytes
        .get(skip..)
        .unwrap_or(&[])
        .chunks_exact(8)
        .map(|word| u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])) as usize)
}

/// The pieces the direct pass reads, `(address, length, block)`, within
/// `budget` bytes: first every block's first `FIRST_WHOLE` bytes (or
/// `FIRST_PIECES` pieces spread over a larger block), then the rest of the
/// larger blocks. Larger blocks first (collections' buffers, what holds
/// many), then in an order that no part of the heap is favoured by (their
/// addresses hashed). What a piece costs is [`piece_cost`]. The two
/// passes' pieces apart, each in memory order.
fn direct_pieces(index: &Index, budget: u64) -> (Vec<Piece>, Vec<Piece>) {
    let mut order: Vec<u32> = (0..index.len() as u32).collect();
    order.sort_unstable_by_key(|&i| {
        let (addr, size) = index.block(i);
        (
            std::cmp::Reverse(size.min(FIRST_WHOLE)),
            hash::address(addr),
        )
    });
    let mut pieces = Vec::new();
    let mut rest = Vec::new();
    let mut left = budget;
    let gaps = index.gaps_before();
    let mut take = |pieces: &mut Vec<_>, addr: usize, len: usize, block: u32| {
        // A block's first piece follows the memory before the block; a
        // later piece follows the block's own bytes.
        let gap = if addr == index.block(block).0 {
            gaps[block as usize]
        } else {
            0
        };
        let cost = piece_cost(len, gap);
        if left < cost {
            left = 0;
            return false;
        }
        left -= cost;
        pieces.push((addr, len, block));
        true
    };
    'first: for &i in &order {
        let (addr, size) = index.block(i);
        let count = size.div_ceil(PIECE);
        for k in first_pass(count) {
            let len = PIECE.min(size - k * PIECE);
            if !take(&mut pieces, addr + k * PIECE, len, i) {
                break 'first;
            }
        }
    }
    'rest: for &i in &order {
        let (addr, size) = index.block(i);
        let count = size.div_ceil(PIECE);
        if size <= FIRST_WHOLE {
            continue;
        }
        let first: Vec<usize> = first_pass(count).collect();
        for k in (0..count).filter(|k| first.binary_search(k).is_err()) {
            let len = PIECE.min(size - k * PIECE);
            if !take(&mut rest, addr + k * PIECE, len, i) {
                break 'rest;
            }
        }
    }
    // Chosen in that order, read in the order of memory.
    pieces.sort_unstable_by_key(|&(addr, _, _)| addr);
    rest.sort_unstable_by_key(|&(addr, _, _)| addr);
    (pieces, rest)
}

/// A piece to read: `(address, length, block or place)`.
type Piece = (usize, usize, u32);

/// What reading a piece of `len` bytes costs of the budget, `gap` bytes
/// past the end of the block before it in memory. The reader joins pieces
/// closer than `SPAN_GAP` into one span, gap included: blocks side by side
/// (a slab of small objects, all of them samples in exact mode) cost their
/// bytes and the gaps between them. A piece that starts a span of its own
/// costs at least `PIECE_COST`: a read of its own costs more than its
/// bytes. Charged per block, reading millions of tiny blocks would use up
/// the budget on a fraction of their bytes and leave the rest of a large
/// collection's buffer, which holds them, unread.
fn piece_cost(len: usize, gap: usize) -> u64 {
    if gap <= SPAN_GAP {
        (len + gap) as u64
    } else {
        len.max(PIECE_COST) as u64
    }
}

/// The pieces of a block of `count` pieces read in the first pass, in
/// order.
fn first_pass(count: usize) -> impl Iterator<Item = usize> {
    let whole = count <= FIRST_WHOLE / PIECE;
    let spread = (0..FIRST_PIECES).map(move |k| k * count / FIRST_PIECES);
    let all = 0..count;
    all.filter(move |_| whole)
        .chain(spread.filter(move |_| !whole))
}

/// Reads pieces in batches through a [`Memory`], counting what it read and
/// what it could not, until `expired` says the time is up.
struct Reader<'m, M, E> {
    memory: &'m mut M,
    expired: E,
    buffer: Vec<u8>,
    bytes: u64,
    failed: u64,
    /// The time was up before a batch: nothing more is read.
    out_of_time: bool,
}

impl<'m, M: Memory, E: FnMut() -> bool> Reader<'m, M, E> {
    fn new(memory: &'m mut M, expired: E) -> Self {
        Reader {
            memory,
            expired,
            buffer: vec![0; BATCH],
            bytes: 0,
            failed: 0,
            out_of_time: false,
        }
    }

    /// Reads every piece `(address, length, tag)` (each at most `PIECE`
    /// or `WINDOW` bytes) and hands what was read of it to `found`, with
    /// its tag and address; a piece the kernel could read only part of is
    /// handed that part. Pieces close together in memory are read as one
    /// span (blocks of one size share a slab; the kernel's cost is per
    /// span, not per byte), at most `MAX_READ_PIECES` spans a call. Fails
    /// only when the kernel refuses every read; stops, without error, when
    /// the time is up.
    fn read_all(
        &mut self,
        pieces: &[Piece],
        mut found: impl FnMut(u32, usize, &[u8]),
    ) -> Result<(), ReadRefused> {
        let mut order: Vec<u32> = (0..pieces.len() as u32).collect();
        if !pieces.is_sorted_by_key(|&(addr, _, _)| addr) {
            order.sort_unstable_by_key(|&i| pieces[i as usize].0);
        }
        // Spans: (start, end, first and end of their pieces in `order`).
        let mut spans: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let (addr, len, _) = pieces[i as usize];
            let end = addr.saturating_add(len);
            match spans.last_mut() {
                Some(span)
                    if addr <= span.1.saturating_add(SPAN_GAP)
                        && end.max(span.1) - span.0 <= SPAN_MOST =>
                {
                    span.1 = span.1.max(end);
                    span.3 = k + 1;
                }
                _ => spans.push((addr, end, k, k + 1)),
            }
        }
        let mut remote: Vec<(usize, usize)> = Vec::with_capacity(MAX_READ_PIECES);
        let mut alone: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < spans.len() {
            if self.out_of_time || (self.expired)() {
                self.out_of_time = true;
                return Ok(());
            }
            remote.clear();
            let mut total = 0;
            let mut j = i;
            while j < spans.len()
                && remote.len() < MAX_READ_PIECES
                && total + (spans[j].1 - spans[j].0) <= self.buffer.len()
            {
                remote.push((spans[j].0, spans[j].1 - spans[j].0));
                total += spans[j].1 - spans[j].0;
                j += 1;
            }
            let got = self
                .memory
                .read(&remote, &mut self.buffer[..total])?
                .min(total);
            let mut offset = 0;
            let mut next = j;
            for (s, &(start, end, first, last)) in spans[i..j].iter().enumerate() {
                let readable = got.saturating_sub(offset).min(end - start);
                for &p in &order[first..last] {
                    let (addr, len, tag) = pieces[p as usize];
                    let at = addr - start;
                    let have = readable.saturating_sub(at).min(len);
                    if have > 0 {
                        found(tag, addr, &self.buffer[offset + at..offset + at + have]);
                        self.bytes += have as u64;
                    }
                    if have == 0 && at >= readable && readable < end - start {
                        // Past where the span was cut: alone, below.
                        alone.push(p);
                    } else if have < len {
                        self.failed += 1;
                    }
                }
                if readable < end - start {
                    // Cut short (unmapped meanwhile): the read goes on with
                    // the next span.
                    next = i + s + 1;
                    break;
                }
                offset += end - start;
            }
            i = next;
            // Pieces of a span cut short that lay after the cut: each read
            // on its own (another block, perhaps still mapped).
            for p in alone.drain(..) {
                let (addr, len, tag) = pieces[p as usize];
                let got = self
                    .memory
                    .read(&[(addr, len)], &mut self.buffer[..len])?
                    .min(len);
                if got > 0 {
                    found(tag, addr, &self.buffer[..got]);
                    self.bytes += got as u64;
                }
                if got < len {
                    self.failed += 1;
                }
            }
        }
        Ok(())
    }
}

/// Pieces closer than this are read in one span, gap included.
const SPAN_GAP: usize = 256;
/// The longest span.
const SPAN_MOST: usize = 64 << 10;

/// The blocks by address, to find the one a word points into.
struct Index {
    /// (start, end, block), by start; an end cut back where a block
    /// overlaps the next (a stale copy of a block freed meanwhile).
    spans: Vec<(usize, usize, u32)>,
    /// The blocks' own `(address, size)`, by block.
    blocks: Vec<(usize, usize)>,
    regions: Regions,
}

impl Index {
    fn new(blocks: &[(usize, usize)]) -> Index {
        let mut spans: Vec<(usize, usize, u32)> = blocks
            .iter()
            .enumerate()
            .filter(|(_, (_, size))| *size > 0)
            .map(|(i, &(addr, size))| (addr, addr.saturating_add(size), i as u32))
            .collect();
        spans.sort_unstable();
        for i in 1..spans.len() {
            let next_start = spans[i].0;
            let previous = &mut spans[i - 1];
            previous.1 = previous.1.min(next_start);
        }
        let regions = Regions::new(&spans);
        Index {
            spans,
            blocks: blocks.to_vec(),
            regions,
        }
    }

    fn len(&self) -> usize {
        self.blocks.len()
    }

    /// For each block, the bytes between the end of the block before it in
    /// memory and its start (`usize::MAX` for the lowest, and for a block
    /// of no size).
    fn gaps_before(&self) -> Vec<usize> {
        let mut gaps = vec![usize::MAX; self.blocks.len()];
        for pair in self.spans.windows(2) {
            let (before, (start, _, block)) = (pair[0], pair[1]);
            gaps[block as usize] = start.saturating_sub(before.1);
        }
        gaps
    }

    fn block(&self, i: u32) -> (usize, usize) {
        self.blocks[i as usize]
    }

    /// The block `word` points into, if any.
    #[inline]
    fn find(&self, word: usize) -> Option<u32> {
        if !self.regions.contains(word >> REGION_BITS) {
            return None;
        }
        let at = self.spans.partition_point(|s| s.0 <= word).checked_sub(1)?;
        let (_, end, block) = self.spans[at];
        (word < end).then_some(block)
    }

    /// How many bytes from `addr` (which is in no block) up to `most` lie
    /// before the next block: a window read there must not read a block's
    /// words as if they were the place's.
    fn room_after(&self, addr: usize, most: usize) -> usize {
        let next = self.spans.partition_point(|s| s.0 <= addr);
        match self.spans.get(next) {
            Some(&(start, _, _)) => most.min(start - addr),
            None => most,
        }
    }
}

/// The 64 KiB regions that hold some block: an open-addressing set of
/// region numbers (stored plus one; 0 is empty), so that most words, which
/// point nowhere near a block, are rejected without a search. Blocks
/// covering more than `MAX_REGIONS` regions in all make it answer yes to
/// every region (the search decides).
struct Regions {
    slots: Vec<usize>,
}

const MAX_REGIONS: usize = 1 << 20;

impl Regions {
    fn new(spans: &[(usize, usize, u32)]) -> Regions {
        let count = spans.iter().fold(0usize, |sum, &(start, end, _)| {
            let regions = ((end.max(start + 1) - 1) >> REGION_BITS) - (start >> REGION_BITS) + 1;
            sum.saturating_add(regions)
        });
        if count > MAX_REGIONS {
            return Regions { slots: Vec::new() };
        }
        let mut set = Regions {
            slots: vec![0; (count * 2).next_power_of_two().max(16)],
        };
        for &(start, end, _) in spans {
            let last = (end.max(start + 1) - 1) >> REGION_BITS;
            for region in (start >> REGION_BITS)..=last {
                set.insert(region);
            }
        }
        set
    }

    fn home(&self, region: usize) -> usize {
        hash::address(region) as usize & (self.slots.len() - 1)
    }

    fn insert(&mut self, region: usize) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(region);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = region + 1;
                    return;
                }
                r if r == region + 1 => return,
                _ => i = (i + 1) & mask,
            }
        }
    }

    #[inline]
    fn contains(&self, region: usize) -> bool {
        if self.slots.is_empty() {
            return true;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(region);
        loop {
            match self.slots[i] {
                0 => return false,
                r if r == region.wrapping_add(1) => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// The places to follow next, with the blocks they were reached from.
/// Thinned fairly across those blocks when the pairs pass their cap: each
/// block keeps a uniform sample of its own places (those whose hashed
/// address is below its threshold), and a block with a million places (a
/// table of strings) is thinned before one with ten (a cache's entry) loses
/// any. Only when there are more blocks than room is every block's share
/// lowered together.
struct Frontier {
    pairs: Vec<(usize, u32)>,
    /// Per block reaching places: the hashes it keeps are below this.
    thresholds: Vec<u64>,
    /// Every block's hashes are below this too.
    threshold: u64,
}

impl Frontier {
    /// A frontier for places reached from `blocks` blocks.
    fn new(blocks: usize) -> Frontier {
        Frontier {
            pairs: Vec::new(),
            thresholds: vec![u64::MAX; blocks],
            threshold: u64::MAX,
        }
    }

    /// An empty frontier for the next step, keeping the thresholds: a
    /// block's places stay a sample of the same kind all the way.
    fn next(&self) -> Frontier {
        Frontier {
            pairs: Vec::new(),
            thresholds: self.thresholds.clone(),
            threshold: self.threshold,
        }
    }

    #[inline]
    fn wants(&self, place: usize, origin: u32) -> bool {
        let limit = self
            .thresholds
            .get(origin as usize)
            .map_or(self.threshold, |&t| t.min(self.threshold));
        hash::address(place) < limit
    }

    fn push(&mut self, place: usize, origin: u32) {
        self.pairs.push((place, origin));
        if self.pairs.len() >= FRONTIER_CAP {
            self.thin();
        }
    }

    /// Keeps each pair once, then at most an equal share of the places of
    /// each block (the lowest hashes), under half the cap in all.
    fn thin(&mut self) {
        self.pairs
            .sort_unstable_by_key(|&(place, origin)| (origin, hash::address(place), place));
        self.pairs.dedup();
        let room = FRONTIER_CAP / 2;
        if self.pairs.len() <= room {
            return;
        }
        // Each block's pairs are one run; the share is the most each keeps
        // so that all of them fit (blocks with fewer keep all theirs).
        let runs: Vec<usize> = self
            .pairs
            .chunk_by(|a, b| a.1 == b.1)
            .map(<[_]>::len)
            .collect();
        let share = share_within(&runs, room);
        if share == 0 {
            self.thin_all(room);
            return;
        }
        let mut kept = Vec::with_capacity(room);
        for run in self.pairs.chunk_by(|a, b| a.1 == b.1) {
            let Some(&(cut, origin)) = run.get(share) else {
                kept.extend_from_slice(run);
                continue;
            };
            let cut = hash::address(cut);
            if let Some(t) = self.thresholds.get_mut(origin as usize) {
                *t = (*t).min(cut);
            }
            kept.extend(run[..share].iter().filter(|p| hash::address(p.0) < cut));
        }
        self.pairs = kept;
    }

    /// More blocks than room: the places of the lower half of the hashes,
    /// whichever block reached them, until under `room`.
    fn thin_all(&mut self, room: usize) {
        while self.pairs.len() > room {
            let mut hashes: Vec<u64> = self.pairs.iter().map(|p| hash::address(p.0)).collect();
            hashes.sort_unstable();
            hashes.dedup();
            if hashes.len() < 2 {
                // One place reached from too many blocks: keep the first.
                self.pairs.truncate(room);
                break;
            }
            self.threshold = self.threshold.min(hashes[hashes.len() / 2]);
            let threshold = self.threshold;
            self.pairs.retain(|p| hash::address(p.0) < threshold);
        }
    }

    /// The pairs, sorted by place, each once.
    fn take(&mut self) -> Vec<(usize, u32)> {
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }

    /// The fraction of `block`'s places this step kept.
    fn followed(&self, block: u32) -> f64 {
        let kept = self
            .thresholds
            .get(block as usize)
            .map_or(self.threshold, |&t| t.min(self.threshold));
        kept as f64 / u64::MAX as f64
    }

    /// The smallest fraction of one block's places kept.
    fn fraction(&self) -> f64 {
        let least = self.thresholds.iter().copied().min().unwrap_or(u64::MAX);
        least.min(self.threshold) as f64 / u64::MAX as f64
    }
}

/// The largest share such that `runs`, each cut to it, add up to at most
/// `room` (0 when even a share of one does not fit).
fn share_within(runs: &[usize], room: usize) -> usize {
    let mut sorted = runs.to_vec();
    sorted.sort_unstable();
    let mut used = 0;
    for (i, &len) in sorted.iter().enumerate() {
        let left = sorted.len() - i;
        if used + len * left > room {
            return (room - used) / left;
        }
        used += len;
    }
    usize::MAX
}

/// Edges as `(from << 32) | to`, deduplicated when they pass the cap; past
/// it, new ones are left out.
#[derive(Default)]
struct Pairs {
    keys: Vec<u64>,
    full: bool,
}

impl Pairs {
    #[inline]
    fn push(&mut self, from: u32, to: u32) {
        if self.full {
            return;
        }
        self.keys.push((u64::from(from) << 32) | u64::from(to));
        if self.keys.len() >= EDGES_CAP {
            self.keys.sort_unstable();
            self.keys.dedup();
            self.full = self.keys.len() > EDGES_CAP * 3 / 4;
        }
    }

    fn finish(mut self) -> Vec<(u32, u32)> {
        self.keys.sort_unstable();
        self.keys.dedup();
        self.keys
            .into_iter()
            .map(|key| ((key >> 32) as u32, key as u32))
            .collect()
    }
}

/// The process's private, writable, anonymous mappings (and the `brk`
/// heap): where heap blocks live, so that only words pointing there are
/// followed.
#[derive(Debug, Default)]
pub(crate) struct Mappings {
    ranges: Vec<(usize, usize)>,
}

impl Mappings {
    /// This process's, from `/proc/self/maps`; none elsewhere (nothing is
    /// followed, direct edges are still found).
    fn of_this_process() -> Mappings {
        match std::fs::read_to_string("/proc/self/maps") {
            Ok(text) => Mappings::parse(&text),
            Err(_) => Mappings::default(),
        }
    }

    fn parse(text: &str) -> Mappings {
        let mut ranges: Vec<(usize, usize)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_ascii_whitespace();
                let (start, end) = fields.next()?.split_once('-')?;
                let perms = fields.next()?;
                let path = fields.nth(3).unwrap_or("");
                let heap = path.is_empty() || path == "[heap]";
                (perms.starts_with("rw") && heap).then_some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                ))
            })
            .collect();
        ranges.sort_unstable();
        Mappings { ranges }
    }

    #[inline]
    fn contains(&self, addr: usize) -> bool {
        let at = self.ranges.partition_point(|r| r.0 <= addr);
        at > 0 && addr < self.ranges[at - 1].1
    }

    /// Bytes from `addr` to the end of its mapping.
    fn room_after(&self, addr: usize) -> usize {
        let at = self.ranges.partition_point(|r| r.0 <= addr);
        match at.checked_sub(1).map(|i| self.ranges[i]) {
            Some((_, end)) if addr < end => end - addr,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake address space: pages of bytes at addresses of our choosing,
    /// and a count of the reads.
    #[derive(Default)]
    struct Fake {
        memory: std::collections::BTreeMap<usize, u8>,
        calls: usize,
    }

    impl Fake {
        fn put_word(&mut self, addr: usize, word: usize) {
            for (i, b) in (word as u64).to_ne_bytes().into_iter().enumerate() {
                self.memory.insert(addr + i, b);
            }
        }
        fn fill(&mut self, addr: usize, len: usize) {
            for a in addr..addr + len {
                self.memory.entry(a).or_insert(0);
            }
        }
    }

    impl Memory for Fake {
        fn read(
            &mut self,
            pieces: &[(usize, usize)],
            out: &mut [u8],
        ) -> Result<usize, ReadRefused> {
            self.calls += 1;
            let mut done = 0;
            for &(addr, len) in pieces {
                for a in addr..addr + len {
                    match self.memory.get(&a) {
                        Some(&b) => {
                            out[done] = b;
                            done += 1;
                        }
                        None => return Ok(done),
                    }
                }
            }
            Ok(done)
        }
    }

    const HEAP: usize = 0x7f00_0000_0000;

    /// A clock whose time is never up.
    fn never() -> bool {
        false
    }

    fn heap() -> Mappings {
        Mappings {
            ranges: vec![(HEAP, HEAP + (64 << 20))],
        }
    }

    #[test]
    fn words_pointing_into_blocks_are_edges_interior_ones_included() {
        let mut fake = Fake::default();
        // Block 0 (a table) points at the start of block 1 and into the
        // middle of block 2 (a hashbrown control pointer).
        let blocks = [(HEAP, 64), (HEAP + 0x1000, 32), (HEAP + 0x2000, 256)];
        for &(addr, size) in &blocks {
            fake.fill(addr, size);
        }
        fake.put_word(HEAP + 8, HEAP + 0x1000);
        fake.put_word(HEAP + 16, HEAP + 0x2000 + 200);
        // A word one past block 1's end points at nothing.
        fake.put_word(HEAP + 24, HEAP + 0x1000 + 32);
        let edges = scan_with(&mut fake, &blocks, &Mappings::default(), 1 << 20, never);
        assert_eq!(edges.direct, [(0, 1), (0, 2)]);
        assert!(edges.chased.is_empty());
        assert_eq!(edges.read, [64, 32, 256]);
        assert_eq!(edges.scan.state, ScanState::Done);
    }

    /// A list of boxed closures, each holding an `Arc` whose value holds a
    /// sampled table: the list reaches the tables through two unsampled
    /// steps.
    #[test]
    fn chains_through_unsampled_memory_are_followed() {
        let mut fake = Fake::default();
        let list = (HEAP, 32);
        let tables = [(HEAP + 0x10_0000, 64), (HEAP + 0x20_0000, 64)];
        fake.fill(list.0, list.1);
        for (i, &(table, size)) in tables.iter().enumerate() {
            let boxed = HEAP + 0x5000 + i * 0x100;
            let arc_inner = HEAP + 0x8000 + i * 0x100;
            fake.fill(boxed, 16);
            fake.fill(arc_inner, 48);
            fake.fill(table, size);
            fake.put_word(list.0 + 8 * i, boxed);
            fake.put_word(boxed, arc_inner);
            // strong, weak, then the value's fields.
            fake.put_word(arc_inner, 1);
            fake.put_word(arc_inner + 8, 1);
            fake.put_word(arc_inner + 24, table + 40);
        }
        let blocks = [list, tables[0], tables[1]];
        let edges = scan_with(&mut fake, &blocks, &heap(), 1 << 20, never);
        assert!(edges.direct.is_empty(), "{:?}", edges.direct);
        assert_eq!(edges.chased, [(0, 1), (0, 2)]);
        assert_eq!(edges.chased_chance, [1.0, 1.0], "nothing thinned");
        assert_eq!(edges.scan.chased, 4, "two boxes, two ArcInners");
        assert_eq!(edges.scan.chased_fraction, 1.0);
    }

    /// A freed block's memory is gone (unmapped): the read of it fails, the
    /// others go on.
    #[test]
    fn unreadable_blocks_are_counted_and_skipped() {
        let mut fake = Fake::default();
        let blocks = [(HEAP, 64), (HEAP + 0x1000, 64), (HEAP + 0x2000, 64)];
        fake.fill(HEAP, 64);
        fake.fill(HEAP + 0x2000, 64);
        fake.put_word(HEAP + 0x2000, HEAP);
        let edges = scan_with(&mut fake, &blocks, &Mappings::default(), 1 << 20, never);
        assert_eq!(edges.direct, [(2, 0)]);
        assert_eq!(edges.scan.failed_reads, 1);
        assert_eq!(edges.read, [64, 0, 64]);
    }

    /// A block freed while the scan read it may have been read as the
    /// bytes of whatever took its place (a map's old table, pointing at
    /// every member): its edges, out and in, are left out, the others kept.
    #[test]
    fn the_edges_of_a_block_freed_meanwhile_are_left_out() {
        let mut fake = Fake::default();
        let blocks = [(HEAP, 64), (HEAP + 0x1000, 64), (HEAP + 0x2000, 64)];
        let (boxed, arc) = (HEAP + 0x8000, HEAP + 0x9000);
        for &(at, _) in &blocks {
            fake.fill(at, 64);
        }
        fake.fill(boxed, WINDOW);
        fake.fill(arc, WINDOW);
        // Block 1 (the one since freed) points at 0 directly and at 2
        // through an unsampled box; block 0 points at 2 directly.
        fake.put_word(HEAP + 0x1000, HEAP);
        fake.put_word(HEAP + 0x1008, boxed);
        fake.put_word(boxed, HEAP + 0x2000);
        fake.put_word(HEAP, HEAP + 0x2000);
        fake.put_word(HEAP + 0x2008, arc);
        fake.put_word(arc, HEAP + 0x1000);
        let mut edges = scan_with(&mut fake, &blocks, &heap(), 1 << 20, never);
        assert_eq!(edges.direct, [(0, 2), (1, 0)]);
        assert_eq!(edges.chased, [(1, 2), (2, 1)]);
        edges.leave_out(&[false, true, false]);
        assert_eq!(edges.direct, [(0, 2)]);
        assert!(edges.chased.is_empty() && edges.chased_chance.is_empty());
        assert_eq!(edges.scan.freed_meanwhile, 1);
    }

    /// Over its budget, a scan reads a large block in spread pieces before
    /// finishing any, and never more than the budget.
    #[test]
    fn the_budget_bounds_the_reads_and_every_block_gets_a_first_look() {
        let mut fake = Fake::default();
        let big = (HEAP, 4 << 20);
        let small: Vec<(usize, usize)> = (0..10)
            .map(|i| (HEAP + (8 << 20) + i * 0x1000, 256))
            .collect();
        fake.fill(big.0, big.1);
        for &(addr, size) in &small {
            fake.fill(addr, size);
        }
        let blocks: Vec<(usize, usize)> =
            std::iter::once(big).chain(small.iter().copied()).collect();
        let budget = 256 << 10;
        let edges = scan_with(&mut fake, &blocks, &heap(), budget, never);
        assert!(edges.scan.bytes_read <= budget);
        assert!(
            edges.read[1..].iter().all(|&r| r == 256),
            "{:?}",
            edges.read
        );
        assert!(edges.read[0] >= (FIRST_PIECES * PIECE) as u64);
        assert!(edges.read[0] < big.1 as u64);
    }

    /// Small blocks side by side (a slab, every block of it sampled in
    /// exact mode) cost the budget their bytes, read in one span: they do
    /// not use it up before the rest of the large buffer that holds them
    /// is read. Scattered ones cost a read of their own each.
    #[test]
    fn blocks_side_by_side_cost_their_bytes_and_the_holders_rest_is_read() {
        let mut fake = Fake::default();
        let list = (HEAP, 256 << 10);
        let slab = HEAP + (8 << 20);
        let small: Vec<(usize, usize)> = (0..4000).map(|i| (slab + i * 16, 16)).collect();
        fake.fill(list.0, list.1);
        for (i, &(addr, size)) in small.iter().enumerate() {
            fake.fill(addr, size);
            // The list's last quarter points at them: past its first look.
            fake.put_word(list.0 + (192 << 10) + 8 * i, addr);
        }
        let blocks: Vec<(usize, usize)> =
            std::iter::once(list).chain(small.iter().copied()).collect();
        // Charged `PIECE_COST` each, the small blocks alone would cost 1 MB.
        let budget = 640 << 10;
        let edges = scan_with(&mut fake, &blocks, &heap(), budget, never);
        assert_eq!(edges.read[0], list.1 as u64, "the list read whole");
        assert!(edges.read[1..].iter().all(|&r| r == 16));
        assert_eq!(edges.direct.len(), 4000);

        // The same number of blocks a page apart: each a read of its own.
        let mut fake = Fake::default();
        let scattered: Vec<(usize, usize)> = (0..100).map(|i| (HEAP + i * 0x1000, 16)).collect();
        for &(addr, size) in &scattered {
            fake.fill(addr, size);
        }
        let budget = 40 * PIECE_COST as u64 * 4 / 3;
        let edges = scan_with(&mut fake, &scattered, &heap(), budget, never);
        let read = edges.read.iter().filter(|&&r| r > 0).count();
        assert_eq!(read, 40, "{:?}", edges.read);
    }

    /// Out of time after its first batch, a scan has given every block its
    /// first look (not the low addresses whole), follows no chain, and says
    /// it ran out of time.
    #[test]
    fn a_scan_out_of_time_stops_after_every_first_look() {
        let mut fake = Fake::default();
        let blocks: Vec<(usize, usize)> = (0..4).map(|i| (HEAP + i * (1 << 20), 1 << 20)).collect();
        for &(addr, size) in &blocks {
            fake.fill(addr, size);
        }
        fake.put_word(HEAP + (3 << 20) + 8, HEAP + 16);
        let mut batches = 0;
        let after_one_batch = || {
            batches += 1;
            batches > 1
        };
        let edges = scan_with(&mut fake, &blocks, &heap(), 64 << 20, after_one_batch);
        assert_eq!(edges.scan.state, ScanState::OutOfTime);
        let first_look = (FIRST_PIECES * PIECE) as u64;
        assert!(
            edges.read.iter().all(|&r| r == first_look),
            "{:?}",
            edges.read
        );
        assert_eq!(edges.direct, [(3, 0)]);
        assert_eq!(edges.scan.chased, 0);
    }

    #[test]
    fn a_kernel_that_refuses_turns_the_scan_off() {
        struct Refusing;
        impl Memory for Refusing {
            fn read(&mut self, _: &[(usize, usize)], _: &mut [u8]) -> Result<usize, ReadRefused> {
                Err(ReadRefused::Denied)
            }
        }
        let edges = scan_with(&mut Refusing, &[(HEAP, 64)], &heap(), 1 << 20, never);
        assert_eq!(edges.scan.state, ScanState::Refused);
        assert!(edges.direct.is_empty());
    }

    /// Many places from a few blocks: the frontier keeps a uniform part of
    /// them and says which fraction.
    #[test]
    fn the_frontier_thins_uniformly() {
        let mut frontier = Frontier::new(7);
        for i in 0..(FRONTIER_CAP * 3) {
            let place = HEAP + i * 16;
            let origin = (i % 7) as u32;
            if frontier.wants(place, origin) {
                frontier.push(place, origin);
            }
        }
        let kept = frontier.take();
        assert!(kept.len() <= FRONTIER_CAP);
        let fraction = frontier.fraction();
        assert!(fraction > 0.05 && fraction < 0.6, "{fraction}");
        let expected = (FRONTIER_CAP * 3) as f64 * fraction;
        let ratio = kept.len() as f64 / expected;
        assert!(
            (0.9..1.1).contains(&ratio),
            "kept {} of ~{expected}",
            kept.len()
        );
    }

    /// One block reaching many places (a table of a million strings) is
    /// thinned; the blocks reaching a few (a cache's entries) keep all of
    /// theirs.
    #[test]
    fn a_block_with_many_places_does_not_crowd_out_the_others() {
        let mut frontier = Frontier::new(101);
        let mut few = Vec::new();
        for i in 0..(FRONTIER_CAP * 4) {
            let place = HEAP + i * 16;
            if frontier.wants(place, 0) {
                frontier.push(place, 0);
            }
            if i % (FRONTIER_CAP / 10) == 0 {
                let origin = 1 + (few.len() % 100) as u32;
                let place = HEAP + (1 << 30) + few.len() * 64;
                if frontier.wants(place, origin) {
                    frontier.push(place, origin);
                }
                few.push((place, origin));
            }
        }
        let kept = frontier.take();
        assert!(kept.len() <= FRONTIER_CAP);
        for pair in &few {
            assert!(kept.contains(pair), "{pair:?} left out");
        }
        let of_the_table = kept.iter().filter(|p| p.1 == 0).count();
        assert!(of_the_table > FRONTIER_CAP / 4, "{of_the_table}");
        assert!(frontier.fraction() < 0.5);
        // The chance recorded for the table's places is the share kept, so
        // what was found through them scales back to what they reach.
        let share = of_the_table as f64 / (FRONTIER_CAP * 4) as f64;
        let followed = frontier.followed(0);
        assert!(
            (followed / share - 1.0).abs() < 0.05,
            "{followed} for {share}"
        );
        assert_eq!(frontier.followed(1), 1.0);
    }

    /// A chain of two steps was followed at the share the first step kept
    /// times the share the second kept, not at the last share squared
    /// (which counted each found block as more than it stands for).
    #[test]
    fn a_chain_is_followed_at_the_product_of_its_steps_shares() {
        let places = |frontier: &mut Frontier, base: usize, count: usize| {
            for i in 0..count {
                let place = base + i * 16;
                if frontier.wants(place, 0) {
                    frontier.push(place, 0);
                }
            }
        };
        let mut first = Frontier::new(1);
        places(&mut first, HEAP, FRONTIER_CAP * 2);
        let kept_first = first.take().len() as f64 / (FRONTIER_CAP * 2) as f64;
        let mut second = first.next();
        // Four times as many places: the first step's threshold lets its
        // share through, and the second step thins further.
        places(&mut second, HEAP + (1 << 32), FRONTIER_CAP * 8);
        let kept_second = second.take().len() as f64 / (FRONTIER_CAP * 8) as f64;
        assert!(
            kept_second < kept_first * 0.75,
            "{kept_second} {kept_first}"
        );
        let steps = [first, second];
        let chance = chance_followed(&steps, 0);
        let expected = kept_first * kept_second;
        assert!(
            (chance / expected - 1.0).abs() < 0.05,
            "{chance} for {expected}"
        );
        let squared = steps[1].followed(0).powi(2);
        assert!(squared < chance * 0.8, "{squared} {chance}");
    }

    /// More blocks than the frontier has room for: every block's share
    /// falls together, and the frontier stays within its cap.
    #[test]
    fn more_blocks_than_room_thins_them_all() {
        let blocks = FRONTIER_CAP * 2;
        let mut frontier = Frontier::new(blocks);
        for i in 0..blocks {
            let place = HEAP + i * 16;
            if frontier.wants(place, i as u32) {
                frontier.push(place, i as u32);
            }
        }
        let kept = frontier.take();
        assert!(kept.len() <= FRONTIER_CAP);
        assert!(kept.len() > FRONTIER_CAP / 8, "{}", kept.len());
    }

    #[test]
    fn shares_fill_the_room() {
        assert_eq!(share_within(&[1, 2, 3], 10), usize::MAX);
        assert_eq!(share_within(&[1, 100, 100], 21), 10);
        assert_eq!(share_within(&[5, 5, 5], 2), 0);
    }

    #[test]
    fn maps_are_parsed_for_anonymous_writable_memory() {
        let maps = "\
55d0c0000000-55d0c0021000 r--p 00000000 fd:01 123 /usr/bin/app
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
7f0000400000-7f0000401000 ---p 00000000 00:00 0
7f0000500000-7f0000501000 rw-p 00001000 fd:01 124 /usr/lib/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";
        let mappings = Mappings::parse(maps);
        assert_eq!(
            mappings.ranges,
            [
                (0x55d0c1000000, 0x55d0c1100000),
                (0x7f0000000000, 0x7f0000400000)
            ]
        );
        assert!(mappings.contains(0x7f0000000010));
        assert!(!mappings.contains(0x7f0000400010));
        assert_eq!(mappings.room_after(0x7f00003fff80), 0x80);
    }

    #[test]
    fn regions_find_what_was_put_in() {
        let spans = [(0x10000usize, 0x30001usize, 0u32), (0x500000, 0x500010, 1)];
        let regions = Regions::new(&spans);
        for region in [1, 2, 3, 0x50] {
            assert!(regions.contains(region), "{region}");
        }
        assert!(!regions.contains(4));
        assert!(!regions.contains(0));
    }
}
