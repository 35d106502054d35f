//! Sites: a call stack plus a tag, interned once and named by a small id,
//! with estimated running totals (bytes and allocations allocated and freed
//! since start), so a snapshot can say "allocated 9 GiB here since start,
//! 3 GiB still live".
//!
//! One table, one lock: a sample looks its site up (by hash and content)
//! and adds to its totals in one critical section; a free finds its site by
//! id, without hashing. Stacks are leaked on purpose: they are never freed
//! or changed, so a snapshot can read them after releasing the lock.

use hashbrown::HashTable;

use super::hash::StackHash;
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
/// the growth of one) to its totals. `None` when memory cannot be had.
pub(crate) fn record_allocated(
    frames: &[usize],
    stack_hash: StackHash,
    tag: u32,
    bytes: f64,
    count: f64,
) -> Option<SiteId> {
    with_site(frames, stack_hash, tag, |site| {
        site.totals.allocated_bytes += bytes;
        site.totals.allocated_count += count;
        site.totals.samples_taken += 1;
    })
}

/// Returns the id of the site, creating it on first sight; its totals are
/// left as they are.
pub(crate) fn intern(frames: &[usize], stack_hash: StackHash, tag: u32) -> Option<SiteId> {
    with_site(frames, stack_hash, tag, |_| {})
}

/// Finds or creates a site and runs `update` on it under the lock. A new
/// site's frames are copied outside the lock (and leaked only if kept).
fn with_site(
    frames: &[usize],
    stack_hash: StackHash,
    tag: u32,
    update: impl Fn(&mut Site),
) -> Option<SiteId> {
    let hash = stack_hash.finish(tag as u64);
    let found = |table: &mut SiteTable, id: SiteId| {
        update(&mut table.sites[id as usize]);
        Some(id)
    };
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
    found(&mut table, id)
}

/// Changes a site's totals after the growth or shrinking of a live sample.
pub(crate) fn adjust(site: SiteId, change: SiteTotals) {
    if let Some(record) = SITES.lock().sites.get_mut(site as usize) {
        record.totals.add(&change);
    }
}

/// Adds the free of a sample to a site's totals.
pub(crate) fn record_freed(site: SiteId, bytes: f64, count: f64) {
    adjust(
        site,
        SiteTotals {
            freed_bytes: bytes,
            freed_count: count,
            samples_freed: 1,
            ..SiteTotals::default()
        },
    );
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
        record_allocated(frames, StackHash::of(frames), tag, bytes, 1.0)
    }

    #[test]
    fn sites_are_interned_once_per_stack_and_tag() {
        let a = record(&[0x1111, 0x2222, 0x3333], 0, 100.0).unwrap();
        let b = record(&[0x1111, 0x2222], 0, 10.0).unwrap();
        let c = record(&[0x1111, 0x2222, 0x3333], 5, 1.0).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(record(&[0x1111, 0x2222, 0x3333], 0, 50.0), Some(a));
        record_freed(a, 100.0, 1.0);
        let mut all = Vec::new();
        copy_all(&mut all, &mut Holds::default()).unwrap();
        let site = all[a as usize];
        assert_eq!(site.frames, &[0x1111, 0x2222, 0x3333]);
        assert_eq!(site.totals.allocated_bytes, 150.0);
        assert_eq!(site.totals.freed_count, 1.0);
        assert_eq!(all[c as usize].tag, 5);
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
