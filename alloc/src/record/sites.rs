//! Sites: a call stack plus a tag, interned once and named by a small id,
//! with estimated running totals (bytes and allocations allocated and freed
//! since start), so a snapshot can say "allocated 9 GiB here since start,
//! 3 GiB still live".
//!
//! One table, one lock: a sample looks its site up (by hash and content)
//! and adds to its totals in one critical section; a free finds its site by
//! id, without hashing. The table holds `settings::max_sites()` sites at
//! most: past them, samples of new stacks go to their tag's site without a
//! stack, counted (`counters::merged`). Stacks are leaked on purpose: they are never freed
//! or changed, so a snapshot can read them after releasing the lock.
//!
//! Exact recording (an interval of 1, a test scope) records every
//! allocation, and threads doing so at once would meet on the lock at each
//! one. Each thread therefore keeps the sites it used last in a small cache
//! of its own, found without the lock, and while recording exactly adds to
//! their totals there, moving them to the table every `BATCH` events, when
//! the site leaves the cache, when the thread takes a snapshot, and when
//! the thread ends. Sampled recording adds to the table at once.

use std::cell::Cell;

use hashbrown::HashTable;

use super::hash::StackHash;
use super::{counters, settings};
use crate::sys::lock::{self, Holds, Room, SpinLock};

/// Names a site.
pub(crate) type SiteId = u32;

/// Estimated running totals of one site.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SiteTotals {
    pub allocated_bytes: f64,
    pub allocated_count: f64,
    pub freed_bytes: f64,
    pub freed_count: f64,
    /// Samples taken here, and how many of them were freed.
    pub samples_taken: u64,
    pub samples_freed: u64,
}

impl SiteTotals {
    /// Adds `other`'s totals to these.
    pub(crate) fn add(&mut self, other: &SiteTotals) {
        self.allocated_bytes += other.allocated_bytes;
        self.allocated_count += other.allocated_count;
        self.freed_bytes += other.freed_bytes;
        self.freed_count += other.freed_count;
        self.samples_taken += other.samples_taken;
        self.samples_freed += other.samples_freed;
    }
}

/// One site: where (frames, innermost first), under which tag, and how much.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    pub frames: &'static [usize],
    pub tag: u32,
    pub totals: SiteTotals,
    hash: u64,
}

impl Site {
    /// Adds `change` to the site's totals, and to its tag's figures.
    fn add(&mut self, change: &SiteTotals) {
        self.totals.add(change);
        if self.tag != 0 {
            counters::add_to_tag(self.tag, change.allocated_bytes, change.freed_bytes);
        }
    }
}

/// Sites by id, and an index from (tag, frames) to id.
pub(crate) struct SiteTable {
    sites: Vec<Site>,
    index: HashTable<SiteId>,
}

pub(crate) static SITES: SpinLock<SiteTable> = SpinLock::new(SiteTable {
    sites: Vec::new(),
    index: HashTable::new(),
});

impl SiteTable {
    fn find(&self, hash: u64, tag: u32, frames: &[usize]) -> Option<SiteId> {
        self.index
            .find(hash, |&id| {
                let site = &self.sites[id as usize];
                site.hash == hash && site.tag == tag && site.frames == frames
            })
            .copied()
    }
}

impl Room for SiteTable {
    fn len(&self) -> usize {
        self.sites.len()
    }
    fn has_room(&self, extra: usize) -> bool {
        self.sites.has_room(extra) && self.index.capacity() - self.index.len() >= extra
    }
    fn try_with_capacity(capacity: usize) -> Option<Self> {
        let mut index = HashTable::new();
        index.try_reserve(capacity, |_| 0).ok()?;
        Some(SiteTable {
            sites: Room::try_with_capacity(capacity)?,
            index,
        })
    }
    fn move_into(&mut self, bigger: &mut Self) {
        self.sites.move_into(&mut bigger.sites);
        let sites = &bigger.sites;
        for id in self.index.drain() {
            // Within the reserved capacity: the hasher is never called.
            bigger
                .index
                .insert_unique(sites[id as usize].hash, id, |&i| sites[i as usize].hash);
        }
    }
}

/// Returns the id of the site (`frames`, whose hash is `stack_hash`, and
/// `tag`), creating it on first sight, and adds a sampled allocation (or
/// the growth of one) to its totals; `exact` when every allocation is
/// being recorded (the totals may then wait in the thread's cache). `None`
/// when memory cannot be had.
pub(crate) fn record_allocated(
    frames: &[usize],
    stack_hash: StackHash,
    tag: u32,
    (bytes, count): (f64, f64),
    exact: bool,
) -> Option<SiteId> {
    let change = SiteTotals {
        allocated_bytes: bytes,
        allocated_count: count,
        samples_taken: 1,
        ..SiteTotals::default()
    };
    let hash = stack_hash.finish(tag as u64);
    let cached =
        THREAD_SITES.try_with(|cache| cache.find_and_add(hash, tag, frames, change, exact));
    if let Ok(Some(id)) = cached {
        return Some(id);
    }
    let id = with_site(frames, stack_hash, tag, |site| site.add(&change))?;
    let _ = THREAD_SITES.try_with(|cache| cache.remember(hash, tag, frames, id));
    Some(id)
}

/// Returns the id of the site, creating it on first sight; its totals are
/// left as they are.
pub(crate) fn intern(frames: &[usize], stack_hash: StackHash, tag: u32) -> Option<SiteId> {
    with_site(frames, stack_hash, tag, |_| {})
}

/// Finds or creates a site and runs `update` on it under the lock. A new
/// site's frames are copied outside the lock (and leaked only if kept).
/// When the table is full, the site is the tag's without a stack.
fn with_site(
    frames: &[usize],
    stack_hash: StackHash,
    tag: u32,
    update: impl Fn(&mut Site),
) -> Option<SiteId> {
    let found = |table: &mut SiteTable, id: SiteId| {
        update(&mut table.sites[id as usize]);
        Some(id)
    };
    let (mut frames, mut stack_hash) = (frames, stack_hash);
    loop {
        let hash = stack_hash.finish(tag as u64);
        {
            let mut table = SITES.lock();
            if let Some(id) = table.find(hash, tag, frames) {
                return found(&mut table, id);
            }
        }
        let mut copy = Vec::new();
        copy.try_reserve_exact(frames.len()).ok()?;
        copy.extend_from_slice(frames);
        let copy = copy.into_boxed_slice();
        let mut table = SITES.lock_with_room(1)?;
        if let Some(id) = table.find(hash, tag, frames) {
            drop(table);
            drop(copy);
            return found(&mut SITES.lock(), id);
        }
        if table.sites.len() >= settings::max_sites() && !frames.is_empty() {
            // Full: the tag's site without a stack (made past the cap, one
            // per tag), counted, so that memory stays bounded and totals
            // whole.
            drop(table);
            drop(copy);
            counters::merge_sample();
            (frames, stack_hash) = (&[], StackHash::new());
            continue;
        }
        let id = table.sites.len() as SiteId;
        table.sites.push(Site {
            frames: Box::leak(copy),
            tag,
            totals: SiteTotals::default(),
            hash,
        });
        let SiteTable { sites, index } = &mut *table;
        // Room for one more was made above: the hasher is never called.
        index.insert_unique(hash, id, |&i| sites[i as usize].hash);
        return found(&mut table, id);
    }
}

/// Changes a site's totals after the growth or shrinking of a live sample
/// (`exact` as for [`record_allocated`]).
pub(crate) fn adjust(site: SiteId, change: SiteTotals, exact: bool) {
    add_to(site, change, exact);
}

/// Adds the free of a sample to a site's totals (`exact` as for
/// [`record_allocated`]).
pub(crate) fn record_freed(site: SiteId, bytes: f64, count: f64, exact: bool) {
    adjust(
        site,
        SiteTotals {
            freed_bytes: bytes,
            freed_count: count,
            samples_freed: 1,
            ..SiteTotals::default()
        },
        exact,
    );
}

/// Adds `change` to a site's totals: in the thread's cache while recording
/// exactly and the site is there, else in the table.
fn add_to(site: SiteId, change: SiteTotals, exact: bool) {
    let kept = exact
        && THREAD_SITES
            .try_with(|cache| cache.add(site, change))
            .unwrap_or(false);
    if !kept {
        add_to_table(site, &change);
    }
}

fn add_to_table(site: SiteId, change: &SiteTotals) {
    if let Some(record) = SITES.lock().sites.get_mut(site as usize) {
        record.add(change);
    }
}

/// Moves the totals this thread's cache holds to the table (before a
/// snapshot the thread takes).
pub(crate) fn flush_this_thread() {
    let _ = THREAD_SITES.try_with(ThreadSites::flush_all);
}

/// Events (allocations, frees, changes) a cached site's totals gather
/// before they move to the table.
const BATCH: u32 = 64;

/// Sites a thread cached.
const WAYS: usize = 16;

/// A site in a thread's cache: how to recognise it, and totals not yet in
/// the table.
#[derive(Clone, Copy, Debug)]
struct Cached {
    hash: u64,
    tag: u32,
    id: SiteId,
    frames: &'static [usize],
    pending: SiteTotals,
    events: u32,
}

/// A thread's cache of sites, direct-mapped by hash. Its destructor moves
/// what it holds to the table when the thread ends.
struct ThreadSites {
    ways: [Cell<Option<Cached>>; WAYS],
    /// The id each way holds (`NO_SITE` when empty), scanned by frees
    /// without copying the ways.
    ids: [Cell<SiteId>; WAYS],
}

/// No site: an empty way.
const NO_SITE: SiteId = SiteId::MAX;

thread_local! {
    static THREAD_SITES: ThreadSites = const {
        ThreadSites {
            ways: [const { Cell::new(None) }; WAYS],
            ids: [const { Cell::new(NO_SITE) }; WAYS],
        }
    };
}

impl ThreadSites {
    fn index(hash: u64) -> usize {
        (hash >> 32) as usize % WAYS
    }

    fn way(&self, hash: u64) -> &Cell<Option<Cached>> {
        &self.ways[Self::index(hash)]
    }

    /// The id of a cached site, found without the table's lock (its stack
    /// is compared with the site's own, leaked and never changed), with
    /// `change` added to its totals: here while recording exactly, else in
    /// the table. `None` when the site is not cached.
    fn find_and_add(
        &self,
        hash: u64,
        tag: u32,
        frames: &[usize],
        change: SiteTotals,
        exact: bool,
    ) -> Option<SiteId> {
        let way = self.way(hash);
        let cached = way.get()?;
        if cached.hash != hash || cached.tag != tag || cached.frames != frames {
            return None;
        }
        if exact {
            add_to_way(way, cached, change);
        } else {
            add_to_table(cached.id, &change);
        }
        Some(cached.id)
    }

    /// Caches site `id`, found for `frames`, moving out the site it
    /// replaces; unless the site is not that stack's own (the table was
    /// full: it is the tag's site without a stack), which no later lookup
    /// of the stack would find in the cache.
    fn remember(&self, hash: u64, tag: u32, frames: &[usize], id: SiteId) {
        // The site's stack as the table keeps it.
        let kept = SITES.lock().sites.get(id as usize).map(|s| s.frames);
        let Some(frames) = kept.filter(|&kept| kept == frames) else {
            return;
        };
        self.ids[Self::index(hash)].set(id);
        let evicted = self.way(hash).replace(Some(Cached {
            hash,
            tag,
            id,
            frames,
            pending: SiteTotals::default(),
            events: 0,
        }));
        if let Some(evicted) = evicted {
            flush(&evicted);
        }
    }

    /// Adds `change` to site `id` if cached; moves its totals to the table
    /// every `BATCH` events. False when the site is not cached.
    fn add(&self, id: SiteId, change: SiteTotals) -> bool {
        let Some(index) = self.ids.iter().position(|held| held.get() == id) else {
            return false;
        };
        let way = &self.ways[index];
        match way.get() {
            Some(cached) => {
                add_to_way(way, cached, change);
                true
            }
            None => false,
        }
    }

    fn flush_all(&self) {
        for way in &self.ways {
            if let Some(mut cached) = way.get() {
                flush(&cached);
                cached.pending = SiteTotals::default();
                cached.events = 0;
                way.set(Some(cached));
            }
        }
    }
}

impl Drop for ThreadSites {
    fn drop(&mut self) {
        self.flush_all();
    }
}

/// Adds `change` to the totals `way` holds (`cached`), moving them to the
/// table every `BATCH` events.
fn add_to_way(way: &Cell<Option<Cached>>, mut cached: Cached, change: SiteTotals) {
    cached.pending.add(&change);
    cached.events += 1;
    if cached.events >= BATCH {
        flush(&cached);
        cached.pending = SiteTotals::default();
        cached.events = 0;
    }
    way.set(Some(cached));
}

fn flush(cached: &Cached) {
    if cached.events > 0 {
        add_to_table(cached.id, &cached.pending);
    }
}

/// Copies every site into `out`, indexed by id (the lock's hold timed in
/// `holds`).
pub(crate) fn copy_all(
    out: &mut Vec<Site>,
    holds: &mut Holds,
) -> Result<(), std::collections::TryReserveError> {
    lock::copy_out(
        &SITES,
        out,
        holds,
        |table| table.sites.len(),
        |table, out| out.extend_from_slice(&table.sites),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(frames: &[usize], tag: u32, bytes: f64) -> Option<SiteId> {
        record_allocated(frames, StackHash::of(frames), tag, (bytes, 1.0), false)
    }

    #[test]
    fn sites_are_interned_once_per_stack_and_tag() {
        let a = record(&[0x1111, 0x2222, 0x3333], 0, 100.0).unwrap();
        let b = record(&[0x1111, 0x2222], 0, 10.0).unwrap();
        let c = record(&[0x1111, 0x2222, 0x3333], 5, 1.0).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(record(&[0x1111, 0x2222, 0x3333], 0, 50.0), Some(a));
        record_freed(a, 100.0, 1.0, false);
        let mut all = Vec::new();
        copy_all(&mut all, &mut Holds::default()).unwrap();
        let site = all[a as usize];
        assert_eq!(site.frames, &[0x1111, 0x2222, 0x3333]);
        assert_eq!(site.totals.allocated_bytes, 150.0);
        assert_eq!(site.totals.freed_count, 1.0);
        assert_eq!(all[c as usize].tag, 5);
    }

    fn taken(id: SiteId) -> u64 {
        let mut all = Vec::new();
        copy_all(&mut all, &mut Holds::default()).unwrap();
        all[id as usize].totals.samples_taken
    }

    #[test]
    fn exact_totals_wait_in_the_thread_and_reach_the_table() {
        let frames = [0x5151_0000, 0x5252_0000, 0x5353_0000];
        let exact = move || record_allocated(&frames, StackHash::of(&frames), 0, (8.0, 1.0), true);
        let id = std::thread::spawn(move || {
            let id = exact().unwrap();
            for _ in 0..9 {
                assert_eq!(exact(), Some(id));
            }
            // The first went to the table; nine wait in the thread's cache.
            assert_eq!(taken(id), 1);
            flush_this_thread();
            assert_eq!(taken(id), 10);
            for _ in 0..BATCH {
                exact();
            }
            // A full batch moved on its own.
            assert_eq!(taken(id), 10 + BATCH as u64);
            for _ in 0..5 {
                exact();
            }
            id
        })
        .join()
        .unwrap();
        // The thread's end moved the last five.
        assert_eq!(taken(id), 15 + BATCH as u64);
    }

    #[test]
    fn the_table_grows_without_losing_sites() {
        let ids: Vec<_> = (0..5000usize)
            .map(|i| record(&[0xABC0_0000 + i, 7], 0, 1.0).unwrap())
            .collect();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(record(&[0xABC0_0000 + i, 7], 0, 1.0), Some(id));
        }
    }
}
