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
//! The heap scan reads the buffers the watch tracks. One collection per
//! stack is often not enough: twenty inner maps of a map of maps grow from
//! one call, in step, and only the first to reach each size is a new
//! largest. So a buffer that reaches the largest's power-of-two class is
//! tracked too, the first `TRACKED_PER_CLASS` of each class per stack
//! (request buffers of one size stop being tracked after that many).
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

/// The largest size seen per stack, and how many buffers of its class were
/// tracked: a fixed table of atomics, so that the check takes no lock. A
/// stack that finds no room is not watched.
struct Largest {
    key: AtomicU64,
    size: AtomicU64,
    /// The class tracked (high 32 bits) and how many of it (low 32).
    tracked: AtomicU64,
}

const SLOTS: usize = 4096;
const PROBES: usize = 16;
/// Buffers of the largest's class tracked per stack, at most.
const TRACKED_PER_CLASS: u64 = 32;

static LARGEST: [Largest; SLOTS] = [const {
    Largest {
        key: AtomicU64::new(0),
        size: AtomicU64::new(0),
        tracked: AtomicU64::new(0),
    }
}; SLOTS];

/// What the watch does with a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verdict {
    /// The largest its stack has made: a high, noted.
    new_largest: bool,
    /// Tracked for the heap scan: a new largest, or one of the first of
    /// the largest's class.
    track: bool,
}

/// A size's power-of-two class.
fn class(size: u64) -> u64 {
    u64::from(size.max(1).ilog2())
}

/// Records `size` for the stack hashed `key`: whether it is the largest
/// seen (and so worth noting) and whether to track it.
fn judge(key: u64, size: u64) -> Verdict {
    let no = Verdict {
        new_largest: false,
        track: false,
    };
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
        let before = slot.size.fetch_max(size, Ordering::AcqRel);
        let new_largest = before < size;
        let of_largest = class(size) >= class(before.max(size));
        let counted = of_largest && count_tracked(&slot.tracked, class(size));
        return Verdict {
            new_largest,
            track: new_largest || counted,
        };
    }
    no
}

/// Counts one more tracked buffer of `class` in `tracked`; false when its
/// class already has its share, or a larger class is tracked.
fn count_tracked(tracked: &AtomicU64, class: u64) -> bool {
    let mut current = tracked.load(Ordering::Acquire);
    loop {
        let (of, count) = (current >> 32, current & u64::from(u32::MAX));
        let next = if count == 0 || of < class {
            class << 32 | 1
        } else if of == class && count < TRACKED_PER_CLASS {
            current + 1
        } else {
            return false;
        };
        match tracked.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
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
/// `stack::capture`). A new largest is noted, and it and the first few of
/// its class are tracked (see [`track`]): they are the collections the
/// heap graph reads when their stack's blocks are too few to be sampled. `ensure_started` is
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
        let verdict = judge(key(stack.frames, tag), size as u64);
        if !verdict.track {
            return;
        }
        if let Some(site) = sites::intern(stack.frames, stack.hash, tag) {
            if verdict.new_largest {
                push_high(site, size);
            }
            track(
                ptr as usize,
                Live::watched(site, size, clock::coarse_uptime_ms()),
            );
        }
    });
}

/// Tracks a buffer the watch chose: the heap scan reads it, and its
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
    if size >= settings::watch_threshold() && judge(key(frames, tag), size as u64).new_largest {
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
        let is_new_largest = |key, size| judge(key, size).new_largest;
        assert!(is_new_largest(key, 8192));
        assert!(!is_new_largest(key, 8192));
        assert!(!is_new_largest(key, 4096));
        assert!(is_new_largest(key, 16384));
        assert!(
            is_new_largest(key + SLOTS as u64, 8192),
            "a colliding key gets a slot of its own"
        );
    }

    /// Twenty maps grown from one call in step: each is tracked as it
    /// reaches the largest's class, not only the first; a smaller class
    /// is not, and a class stops being tracked after its share.
    #[test]
    fn buffers_reaching_the_largest_class_are_tracked_up_to_a_share() {
        let key = 0xFEED_0000_0000_0002;
        let mut tracked = 0;
        for map in 0..20u64 {
            let verdict = judge(key, (16 << 10) + 512);
            assert_eq!(verdict.new_largest, map == 0);
            tracked += u64::from(verdict.track);
        }
        assert_eq!(tracked, 20, "every map of the 16 KiB class");
        let smaller = judge(key, 9 << 10);
        assert!(!smaller.track && !smaller.new_largest);
        let first_of_next = judge(key, 32 << 10);
        assert!(first_of_next.new_largest && first_of_next.track);
        let equal = (0..100).filter(|_| judge(key, 32 << 10).track).count() as u64;
        assert_eq!(equal, TRACKED_PER_CLASS - 1, "one share per class");
        // A buffer of the class below the largest is no longer tracked.
        assert!(!judge(key, 16 << 10).track);
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
