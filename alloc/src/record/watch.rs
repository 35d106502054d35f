//! The growth watch: collections seen growing, whatever the sampling.
//!
//! A leak's holder is often small beside what it holds: a `Vec<Arc<Engine>>`
//! of a thousand engines is 8 KiB, and sampling one allocation per 512 KiB
//! sees it by luck. So every buffer of at least a threshold that is
//! allocated, or reallocated larger, is compared with the largest seen from
//! the same stack; a new largest is noted (the site, when, how big). A
//! collection that keeps growing reaches a new largest at each doubling of
//! its capacity; a request's buffer reaches its usual size once and is not
//! noted again. What is noted stays out of the estimates.
//!
//! The check costs a stack walk and a lookup in a fixed table of atomics,
//! for allocations of the threshold or more only: `interval / 64`, at
//! least 4 KiB (8 KiB at the default interval); off in exact mode, where
//! every allocation is a sample already.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use super::hash::{AddrHash, StackHash};
use super::settings::{self, MAX_FRAMES_LIMIT};
use super::sites::{self, SiteId};
use super::table::{self, Live};
use super::{filter, stack, thread};
use crate::sys::clock;
use crate::sys::lock::SpinLock;

/// The largest size seen per stack: a fixed table of atomics, so that the
/// check takes no lock. A stack that finds no room is not watched.
struct Largest {
    key: AtomicU64,
    size: AtomicU64,
}

const SLOTS: usize = 4096;
const PROBES: usize = 16;

static LARGEST: [Largest; SLOTS] = [const {
    Largest {
        key: AtomicU64::new(0),
        size: AtomicU64::new(0),
    }
}; SLOTS];

/// Records `size` for the stack hashed `key`; true when it is the largest
/// seen (and so worth noting).
fn is_new_largest(key: u64, size: u64) -> bool {
    let key = key.max(1);
    let start = key as usize % SLOTS;
    for probe in 0..PROBES {
        let slot = &LARGEST[(start + probe) % SLOTS];
        let current = slot.key.load(Ordering::Acquire);
        if current == 0 {
            if slot
                .key
                .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
                && slot.key.load(Ordering::Acquire) != key
            {
                continue;
            }
        } else if current != key {
            continue;
        }
        return slot.size.fetch_max(size, Ordering::AcqRel) < size;
    }
    false
}

/// When a site's buffers reached new largest sizes: the first few and the
/// latest ones.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Highs {
    /// (milliseconds of uptime, bytes), oldest first among the kept.
    pub events: [(u64, u64); HIGHS_KEPT],
    pub len: usize,
    /// How many there were in all.
    pub total: u64,
}

/// How many of a site's highs are kept: the first `HIGHS_FIRST`, then the
/// latest.
pub(crate) const HIGHS_KEPT: usize = 24;
const HIGHS_FIRST: usize = 4;

impl Highs {
    fn push(&mut self, event: (u64, u64)) {
        self.total += 1;
        if self.len < HIGHS_KEPT {
            self.events[self.len] = event;
            self.len += 1;
        } else {
            // Keep the first few; drop the oldest of the rest.
            self.events.copy_within(HIGHS_FIRST + 1.., HIGHS_FIRST);
            self.events[HIGHS_KEPT - 1] = event;
        }
    }

    /// The events kept, oldest first.
    pub(crate) fn events(&self) -> &[(u64, u64)] {
        &self.events[..self.len]
    }
}

/// Highs by site. Room is made outside the lock, as for every table here.
pub(crate) static HIGHS: SpinLock<HashMap<SiteId, Highs, AddrHash>> =
    SpinLock::new(HashMap::with_hasher(AddrHash));

/// A buffer of `size` bytes at `ptr` was just allocated, or reallocated
/// larger, by a program whose stack lies above `boundary` (see
/// `stack::capture`). A new largest is noted, and the buffer tracked (see
/// [`track`]): it is the collection the heap graph reads when its stack's
/// blocks are too few to be sampled. `ensure_started` is
/// the profiler's start-up, from above this layer.
#[cold]
#[inline(never)]
pub(crate) fn note(ptr: *mut u8, size: usize, boundary: usize, ensure_started: fn()) {
    thread::with(|state| {
        let Some(_guard) = state.enter() else {
            return;
        };
        ensure_started();
        if size < settings::watch_threshold() {
            return;
        }
        let mut buffer = [MaybeUninit::uninit(); MAX_FRAMES_LIMIT];
        let depth = settings::max_frames().min(MAX_FRAMES_LIMIT);
        let stack = stack::capture(&mut buffer[..depth], state, boundary);
        let tag = state.tag();
        let key = key(stack.frames, tag);
        if !is_new_largest(key, size as u64) {
            return;
        }
        if let Some(site) = sites::intern(stack.frames, stack.hash, tag) {
            push_high(site, size);
            track(
                ptr as usize,
                Live::watched(site, size, clock::coarse_uptime_ms()),
            );
        }
    });
}

/// Tracks a buffer noted as a new largest: the heap scan reads it, and its
/// free or move is followed like a sample's (`sampled`). A block already
/// tracked (a sample) stays as it is.
fn track(addr: usize, live: Live) {
    if table::insert_if_absent(addr, live) == Ok(true) {
        filter::add(addr);
    }
}

/// A sampled block of `size` bytes was recorded at `site`, from `frames`
/// and `tag`: a sampled buffer may be a new largest as well, and it would
/// be missed if only unsampled ones were watched.
pub(crate) fn note_sampled(site: SiteId, frames: &[usize], tag: u32, size: usize) {
    if size >= settings::watch_threshold() && is_new_largest(key(frames, tag), size as u64) {
        push_high(site, size);
    }
}

/// The watch's key for a stack and tag: hashed from the recorded frames
/// alone, so that the sampled and unsampled paths agree.
fn key(frames: &[usize], tag: u32) -> u64 {
    StackHash::of(frames).finish(tag as u64)
}

fn push_high(site: SiteId, size: usize) {
    let event = (clock::coarse_uptime_ms(), size as u64);
    if let Some(mut highs) = HIGHS.lock_with_room(1) {
        highs.entry(site).or_default().push(event);
    }
}

/// Every site's highs, for a snapshot.
pub(crate) fn all() -> Vec<(SiteId, Highs)> {
    let mut out = Vec::new();
    let _ = crate::sys::lock::copy_entries(&HIGHS, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_largest_sizes_count() {
        let key = 0xDEAD_BEEF_0000_0001;
        assert!(is_new_largest(key, 8192));
        assert!(!is_new_largest(key, 8192));
        assert!(!is_new_largest(key, 4096));
        assert!(is_new_largest(key, 16384));
        assert!(
            is_new_largest(key + SLOTS as u64, 8192),
            "a colliding key gets a slot of its own"
        );
    }

    #[test]
    fn highs_keep_the_first_and_the_latest() {
        let mut highs = Highs::default();
        for i in 0..100u64 {
            highs.push((i, i * 10));
        }
        assert_eq!(highs.total, 100);
        let events = highs.events();
        assert_eq!(events.len(), HIGHS_KEPT);
        assert_eq!(events[..HIGHS_FIRST], [(0, 0), (1, 10), (2, 20), (3, 30)]);
        assert_eq!(events[HIGHS_KEPT - 1], (99, 990));
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
