//! The live table: every sampled allocation that has not been freed yet.
//!
//! Sharded by address so that threads freeing different samples rarely meet
//! on one lock. Each shard is a `HashMap` that only grows outside its lock
//! (see [`SpinLock::lock_with_room`]).

use std::collections::HashMap;

use crate::hash::{self, AddrHash};
use crate::lock::{RawLock, SpinLock, copy_entries};
use crate::sites::SiteId;

/// A sampled allocation that is still live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Live {
    /// The site (stack and tag) it was allocated at.
    pub site: SiteId,
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

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

type Shard = SpinLock<HashMap<usize, Live, AddrHash>>;

static TABLE: [Shard; SHARDS] = [const { SpinLock::new(HashMap::with_hasher(AddrHash)) }; SHARDS];

fn shard(addr: usize) -> &'static Shard {
    &TABLE[(hash::address(addr) >> (64 - SHARD_BITS)) as usize]
}

/// Records a live sample. Fails only when memory to grow the table cannot be
/// had.
pub(crate) fn insert(addr: usize, live: Live) -> Result<(), ()> {
    let mut map = shard(addr).lock_with_room(1).ok_or(())?;
    map.insert(addr, live);
    Ok(())
}

/// Forgets and returns the live sample at `addr`, if there is one.
pub(crate) fn remove(addr: usize) -> Option<Live> {
    shard(addr).lock().remove(&addr)
}

/// Copies every live sample into `out`, one shard at a time: allocating
/// threads wait at most for one shard's copy.
pub(crate) fn copy_all(
    out: &mut Vec<(usize, Live)>,
) -> Result<(), std::collections::TryReserveError> {
    for shard in &TABLE {
        copy_entries(shard, out)?;
    }
    Ok(())
}

/// Every shard's lock, for the `fork` handlers.
pub(crate) fn locks() -> impl Iterator<Item = &'static dyn RawLock> {
    TABLE.iter().map(|shard| shard as &dyn RawLock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(size: usize) -> Live {
        Live {
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
        copy_all(&mut all).unwrap();
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
}
