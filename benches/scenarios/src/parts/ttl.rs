//! A token cache from the `moka` crate whose entries expire: it fills for
//! one time-to-live, then holds steady.

use std::time::Duration;

use moka::sync::Cache;

use super::{Kept, Run, text};

pub fn run(run: &Run, bytes_per_sec: f64, ttl_fraction: f64) -> Kept {
    let ttl = Duration::from_secs_f64(ttl_fraction * run.seconds);
    let cache: Cache<u64, String> = Cache::builder().time_to_live(ttl).build();
    const TOKEN_BYTES: f64 = 256.0;
    let mut settled = false;
    run.paced(bytes_per_sec / TOKEN_BYTES, |id| {
        cache.insert(id, text(id, TOKEN_BYTES as usize));
        if !settled && run.elapsed() >= ttl.as_secs_f64() {
            run.settle("ttl");
            settled = true;
        }
        if id % 256 == 0 {
            cache.run_pending_tasks();
        }
    });
    Box::new(cache)
}
