//! A profile cache from the `moka` crate, bounded by its capacity: it warms
//! up, then replaces entries.

use std::sync::Arc;

use moka::sync::Cache;

use super::{Kept, Run, text};

/// A user's profile, as fetched from a user service.
#[allow(dead_code, reason = "what a real cache would keep")]
pub struct Profile {
    name: String,
    bio: String,
    friends: Vec<u64>,
}

/// Bytes of one profile, roughly.
const PROFILE_BYTES: u64 = 600;

impl Profile {
    #[inline(never)]
    pub fn fetch(id: u64) -> Profile {
        Profile {
            name: text(id, 16),
            bio: text(id ^ 1, 300),
            friends: (0..32).map(|i| id.wrapping_mul(31) + i).collect(),
        }
    }
}

pub fn run(run: &Run, bytes: u64, fill_fraction: f64) -> Kept {
    let capacity = (bytes / PROFILE_BYTES).max(16);
    let cache: Cache<u64, Arc<Profile>> = Cache::new(capacity);
    // New keys at the rate that fills the cache in `fill_fraction` of the
    // run; afterwards each insert replaces an entry.
    let per_sec = capacity as f64 / (fill_fraction * run.seconds);
    run.paced(per_sec, |id| {
        if cache.get(&id).is_none() {
            cache.insert(id, Arc::new(Profile::fetch(id)));
        }
        if id == capacity {
            run.settle("lru");
        }
        if id % 256 == 0 {
            cache.run_pending_tasks();
        }
    });
    Box::new(cache)
}
