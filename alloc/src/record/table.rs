//! The live table: every sampled allocation that has not been freed yet.
//!
//! Sharded by address so that threads freeing different samples rarely meet
//! on one lock. Each shard is an open-addressing table with linear probing,
//! kept at most half full, and backward-shift deletion (no tombstones): the
//! table sees an insert for every sample and a removal for every free of
//! one, and a specialised table does either in a few dozen instructions.
//! Shards grow outside their lock (see [`SpinLock::lock_with_room`]).

use super::hash;
use super::sites::SiteId;
use crate::sys::lock::{self, Holds, RawLock, Room, SpinLock};

/// A sampled allocation that is still live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Live {
    /// The site (stack and tag) it was allocated at.
    pub site: SiteId,
    /// The recording scope it was allocated in (`thread::NO_SCOPE` if none).
    pub scope: u32,
    /// Its current size in bytes (it follows reallocs).
    pub size: usize,
    /// Bytes it has ever grown to through sampled paths: its chance of being
    /// sampled, and so its weight, depends on these.
    pub consumed: usize,
    /// How many allocations like it this sample stands for.
    pub weight: f64,
    /// Milliseconds after the profiler started that it was allocated.
    pub born_ms: u64,
}

impl Live {
    /// A watched buffer (see `watch`): tracked so that the heap scan can
    /// read it and its free is seen, standing for nothing in the estimates.
    pub(crate) fn watched(site: SiteId, size: usize, born_ms: u64) -> Live {
        Live {
            site,
            scope: super::thread::NO_SCOPE,
            size,
            consumed: size,
            weight: 0.0,
            born_ms,
        }
    }

    /// True for a watched buffer: weight 0, where a sample's is at least 1.
    pub(crate) fn is_watched(&self) -> bool {
        self.weight == 0.0
    }

    /// The bytes this sample stands for: its size times its weight.
    pub(crate) fn estimated_bytes(&self) -> f64 {
        self.size as f64 * self.weight
    }
}

/// A slot: address 0 means empty (the allocator never returns it).
#[derive(Clone, Copy)]
struct Slot {
    addr: usize,
    live: Live,
}

const EMPTY: Slot = Slot {
    addr: 0,
    live: Live {
        site: 0,
        scope: 0,
        size: 0,
        consumed: 0,
        weight: 0.0,
        born_ms: 0,
    },
};

/// One shard: a power-of-two array of slots, at most half full.
pub(crate) struct Shard {
    slots: Vec<Slot>,
    len: usize,
}

impl Shard {
    const fn new() -> Self {
        Shard {
            slots: Vec::new(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot an address would occupy in an empty table. Low hash bits;
    /// the shard was chosen with the high ones.
    fn home(&self, addr: usize) -> usize {
        hash::address(addr) as usize & self.mask()
    }

    fn find(&self, addr: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut i = self.home(addr);
        loop {
            match self.slots[i].addr {
                0 => return None,
                a if a == addr => return Some(i),
                _ => i = (i + 1) & self.mask(),
            }
        }
    }

    /// Inserts or replaces; returns what it replaced. The caller made room
    /// (see `Room`).
    fn insert(&mut self, addr: usize, live: Live) -> Option<Live> {
        debug_assert!(addr != 0 && self.has_room(1));
        let mut i = self.home(addr);
        loop {
            let slot = &mut self.slots[i];
            if slot.addr == 0 || slot.addr == addr {
                let replaced = (slot.addr == addr).then_some(slot.live);
                if slot.addr == 0 {
                    self.len += 1;
                }
                *slot = Slot { addr, live };
                return replaced;
            }
            i = (i + 1) & self.mask();
        }
    }

    fn remove(&mut self, addr: usize) -> Option<Live> {
        let mut hole = self.find(addr)?;
        let removed = self.slots[hole].live;
        // Backward shift: move later entries of the probe run into the hole
        // unless their home lies cyclically in (hole, j].
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let addr = self.slots[j].addr;
            if addr == 0 {
                break;
            }
            let home = self.home(addr);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(removed)
    }
}

impl Room for Shard {
    fn len(&self) -> usize {
        self.len
    }
    fn has_room(&self, extra: usize) -> bool {
        (self.len + extra) * 2 <= self.slots.len()
    }
    fn try_with_capacity(capacity: usize) -> Option<Self> {
        let slots_wanted = capacity.checked_mul(2)?.checked_next_power_of_two()?;
        let mut slots = Vec::new();
        slots.try_reserve_exact(slots_wanted).ok()?;
        slots.resize(slots_wanted, EMPTY);
        Some(Shard { slots, len: 0 })
    }
    fn move_into(&mut self, bigger: &mut Self) {
        debug_assert!(bigger.has_room(self.len));
        for slot in &self.slots {
            if slot.addr != 0 {
                bigger.insert(slot.addr, slot.live);
            }
        }
        self.slots.iter_mut().for_each(|slot| *slot = EMPTY);
        self.len = 0;
    }
}

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// A shard's lock on cache lines of its own: threads using neighbouring
/// shards do not slow each other down.
#[repr(align(128))]
struct Padded(SpinLock<Shard>);

static TABLE: [Padded; SHARDS] = [const { Padded(SpinLock::new(Shard::new())) }; SHARDS];

/// Blocks within one region of this many bytes share a shard.
const REGION_BITS: u32 = 16;

/// The shard of a block: chosen by the region it lies in, so that a thread,
/// whose blocks come from its allocator's own regions (arenas, thread
/// caches), mostly meets its own shards, and threads recording at once
/// rarely share one.
fn shard(addr: usize) -> &'static SpinLock<Shard> {
    &TABLE[(hash::address(addr >> REGION_BITS) >> (64 - SHARD_BITS)) as usize].0
}

/// Records a live sample; returns the entry it replaced (a watched buffer
/// that became a sample). Fails only when memory to grow the table cannot
/// be had.
pub(crate) fn insert(addr: usize, live: Live) -> Result<Option<Live>, ()> {
    let mut shard = shard(addr).lock_with_room(1).ok_or(())?;
    Ok(shard.insert(addr, live))
}

/// Records `live` unless `addr` is tracked already (a sample keeps its
/// entry): true when it was added. Fails only when memory to grow the table
/// cannot be had.
pub(crate) fn insert_if_absent(addr: usize, live: Live) -> Result<bool, ()> {
    let mut shard = shard(addr).lock_with_room(1).ok_or(())?;
    if shard.find(addr).is_some() {
        return Ok(false);
    }
    shard.insert(addr, live);
    Ok(true)
}

/// Forgets and returns the live sample at `addr`, if there is one.
pub(crate) fn remove(addr: usize) -> Option<Live> {
    shard(addr).lock().remove(addr)
}

/// True while `addr` holds the block `live` describes: the same site and
/// birth (its size may have changed in place). A block freed since, or
/// freed and its address given to another, is not.
pub(crate) fn still_holds(addr: usize, live: &Live) -> bool {
    let shard = shard(addr).lock();
    shard.find(addr).is_some_and(|i| {
        let now = &shard.slots[i].live;
        now.site == live.site && now.born_ms == live.born_ms
    })
}

/// Copies the live samples `keep` accepts into `out`, one shard at a
/// time: allocating threads wait at most for one shard's copy (timed in
/// `holds`).
pub(crate) fn copy_matching(
    out: &mut Vec<(usize, Live)>,
    holds: &mut Holds,
    keep: impl Fn(&Live) -> bool,
) -> Result<(), std::collections::TryReserveError> {
    for Padded(lock) in &TABLE {
        lock::copy_out(
            lock,
            out,
            holds,
            |shard| shard.len,
            |shard, out| {
                let live = shard.slots.iter().filter(|s| s.addr != 0 && keep(&s.live));
                out.extend(live.map(|s| (s.addr, s.live)));
            },
        )?;
    }
    Ok(())
}

/// Every shard's lock, for the `fork` handlers.
pub(crate) fn locks() -> impl Iterator<Item = &'static dyn RawLock> {
    TABLE.iter().map(|shard| &shard.0 as &dyn RawLock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn live(size: usize) -> Live {
        Live {
            scope: 0,
            site: 1,
            size,
            consumed: size,
            weight: 1.0,
            born_ms: 0,
        }
    }

    #[test]
    fn insert_remove_copy() {
        // Addresses no other unit test uses.
        let base = 0x4242_0000_0000usize;
        for i in 0..5000 {
            insert(base + i * 16, live(i)).unwrap();
        }
        let mut all = Vec::new();
        copy_matching(&mut all, &mut Holds::default(), |_| true).unwrap();
        let ours = all
            .iter()
            .filter(|(a, _)| (base..base + 5000 * 16).contains(a))
            .count();
        assert_eq!(ours, 5000);
        for i in 0..5000 {
            assert_eq!(remove(base + i * 16).map(|l| l.size), Some(i));
        }
        assert_eq!(remove(base), None);
    }

    /// The run wraps past the last slot and the entry that wrapped has the
    /// hole as its home: it must move back into the hole.
    #[test]
    fn removal_pulls_back_an_entry_that_wrapped() {
        let mut shard = Shard::try_with_capacity(8).unwrap();
        let last = shard.slots.len() - 1;
        let mut at_last = (1..).map(|i| i * 16).filter(|&a| shard.home(a) == last);
        let (first, wrapped) = (at_last.next().unwrap(), at_last.next().unwrap());
        assert_eq!(shard.insert(first, live(1)), None);
        assert_eq!(shard.insert(wrapped, live(2)), None);
        assert_eq!(shard.find(wrapped), Some(0));
        assert_eq!(shard.remove(first).map(|l| l.size), Some(1));
        assert_eq!(shard.find(wrapped), Some(last));
        assert_eq!(shard.remove(wrapped).map(|l| l.size), Some(2));
        assert_eq!(shard.len, 0);
    }

    /// Random inserts, replacements and removals against a `HashMap`,
    /// through growth, with probe runs that wrap around the end: many keys
    /// in a large table, then few keys in a small one (where runs often
    /// cross the last slot).
    #[test]
    fn behaves_like_a_map() {
        check_against_model(3000, None);
        check_against_model(50, None);
        // 16 slots kept half full: dense runs that wrap all the time.
        check_against_model(40, Some(8));
    }

    /// `fixed`: a table of that capacity that never grows (an insert into a
    /// full one becomes a removal).
    fn check_against_model(distinct: u64, fixed: Option<usize>) {
        let mut shard = match fixed {
            Some(capacity) => Shard::try_with_capacity(capacity).unwrap(),
            None => Shard::new(),
        };
        let mut model: HashMap<usize, usize> = HashMap::new();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut removed = 0;
        for step in 0..200_000usize {
            let addr = 16 * (1 + (next() % distinct) as usize);
            let full = fixed.is_some() && !shard.has_room(1) && !model.contains_key(&addr);
            if next() % 3 == 0 || full {
                removed += usize::from(model.contains_key(&addr));
                assert_eq!(
                    shard.remove(addr).map(|l| l.size),
                    model.remove(&addr),
                    "step {step}"
                );
            } else {
                if !shard.has_room(1) {
                    let mut bigger = Shard::try_with_capacity(shard.grown_capacity(1)).unwrap();
                    shard.move_into(&mut bigger);
                    std::mem::swap(&mut shard, &mut bigger);
                }
                let replaced = shard.insert(addr, live(step)).map(|l| l.size);
                assert_eq!(replaced, model.get(&addr).copied(), "step {step}");
                model.insert(addr, step);
            }
            assert_eq!(shard.len, model.len());
        }
        for (&addr, &size) in &model {
            assert_eq!(
                shard.find(addr).map(|i| shard.slots[i].live.size),
                Some(size)
            );
        }
        assert_eq!(shard.find(16 * (distinct as usize + 1)), None);
        assert!(removed > 20_000, "only {removed} removals of present keys");
    }
}
