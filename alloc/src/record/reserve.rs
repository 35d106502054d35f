//! The reserve: memory kept aside for the profiler's own allocations when
//! the inner allocator has none left.
//!
//! A snapshot allocates (tables, names, the JSON), and Rust's collections
//! abort the process when an allocation fails. A program that handles a
//! failed `try_reserve`, or runs under `ulimit -v`, must not be aborted by
//! its profiler: while a thread runs profiler code, an allocation the inner
//! allocator refuses is served from here instead.
//!
//! The reserve is one mapping made at start-up, so that it exists before
//! memory runs out: address space only (`MAP_NORESERVE`), no resident
//! memory until used. Blocks are handed out in order (a bump allocator);
//! when the last one is freed the reserve is whole again. Its blocks are
//! marked in the dealloc filter, so that their frees reach the allocator's
//! cold path, which gives them back here.

use std::alloc::Layout;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::filter;

/// Address space set aside: what the profiler can still allocate once the
/// inner allocator has nothing left (a snapshot taken then looks up no new
/// symbols). A snapshot that needs more than this then fails as it would
/// without a reserve; docs/RELIABILITY.md states the bound.
pub(crate) const BYTES: usize = 32 << 20;

/// Start of the mapping; 0 until mapped (or if mapping failed).
static BASE: AtomicUsize = AtomicUsize::new(0);

/// The next free offset (low 40 bits) and the number of live blocks (the
/// rest), in one word so that the last free can make the reserve whole
/// again without racing an allocation.
static STATE: AtomicU64 = AtomicU64::new(0);
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// How many allocations the reserve has served since start.
static SERVED: AtomicU64 = AtomicU64::new(0);

/// Maps the reserve, once. Failure leaves it empty: allocations it would
/// have served fail as they would without the profiler.
pub(crate) fn map() {
    if BASE.load(Ordering::Acquire) != 0 {
        return;
    }
    let Some(base) = crate::sys::map_reserve(BYTES) else {
        return;
    };
    if BASE
        .compare_exchange(0, base, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: another thread mapped the reserve first; this mapping was
        // never published, so nothing points into it.
        unsafe { crate::sys::unmap(base, BYTES) };
    }
}

/// True when `ptr` is a block of the reserve.
#[inline]
pub(crate) fn contains(ptr: *mut u8) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    let addr = ptr as usize;
    base != 0 && addr >= base && addr < base + BYTES
}

/// How many allocations the reserve served since start: a snapshot seeing
/// this change knows memory ran short while it was taken.
pub(crate) fn served() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

/// A block of `layout` from the reserve (zeroed if asked), or null when
/// there is no room.
pub(crate) fn alloc(layout: Layout, zeroed: bool) -> *mut u8 {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return std::ptr::null_mut();
    }
    let mut state = STATE.load(Ordering::Relaxed);
    let start = loop {
        let offset = (state & OFFSET_MASK) as usize;
        let live = state >> OFFSET_BITS;
        let Some(start) = (base + offset)
            .checked_next_multiple_of(layout.align())
            .map(|aligned| aligned - base)
        else {
            return std::ptr::null_mut();
        };
        let end = match start.checked_add(layout.size()) {
            Some(end) if end <= BYTES => end,
            _ => return std::ptr::null_mut(),
        };
        let next = ((live + 1) << OFFSET_BITS) | end as u64;
        match STATE.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => break start,
            Err(now) => state = now,
        }
    };
    let ptr = (base + start) as *mut u8;
    if zeroed {
        // SAFETY: [start, start + size) lies inside the mapping (checked
        // above) and was just handed to this caller alone.
        unsafe { ptr.write_bytes(0, layout.size()) };
    }
    filter::add(ptr as usize);
    SERVED.fetch_add(1, Ordering::Relaxed);
    ptr
}

/// Gives a block back. The last one out makes the reserve whole again.
pub(crate) fn free(ptr: *mut u8) {
    filter::remove(ptr as usize);
    let mut state = STATE.load(Ordering::Relaxed);
    loop {
        let live = (state >> OFFSET_BITS).saturating_sub(1);
        let offset = if live == 0 { 0 } else { state & OFFSET_MASK };
        let next = (live << OFFSET_BITS) | offset;
        match STATE.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => state = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_apart_and_the_reserve_is_whole_after_the_last_free() {
        map();
        let a = alloc(Layout::from_size_align(10, 1).unwrap(), false);
        let b = alloc(Layout::from_size_align(100, 64).unwrap(), true);
        assert!(contains(a) && contains(b));
        assert_eq!(b as usize % 64, 0);
        assert!(b as usize >= a as usize + 10);
        // SAFETY: `b` is a zeroed block of 100 bytes.
        assert!(
            // SAFETY: `b` is a block of 100 bytes, zeroed.
            unsafe { std::slice::from_raw_parts(b, 100) }
                .iter()
                .all(|&x| x == 0)
        );
        assert!(filter::may_contain(a as usize));
        assert!(alloc(Layout::from_size_align(BYTES, 1).unwrap(), false).is_null());
        free(a);
        free(b);
        assert_eq!(STATE.load(Ordering::Relaxed), 0, "whole again");
        let c = alloc(Layout::from_size_align(BYTES, 1).unwrap(), false);
        assert!(!c.is_null(), "all of it once whole");
        free(c);
        assert!(!contains(std::ptr::null_mut()));
    }
}
