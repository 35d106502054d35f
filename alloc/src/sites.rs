//! Interned stacks and per-site running totals.
//!
//! A stack (a list of return addresses) is stored once, for the life of the
//! process, and named by a small id; a site is a stack plus a tag. Each site
//! keeps estimated cumulative totals (bytes and allocations allocated and
//! freed since start), so a snapshot can say "allocated 9 GiB here since
//! start, 3 GiB still live".

use std::collections::HashMap;

use crate::hash::AddrHash;
use crate::lock::{SpinLock, copy_entries};

/// Names an interned stack.
pub(crate) type StackId = u32;

/// A stack and a tag: what a sample is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SiteKey {
    pub stack: StackId,
    pub tag: u32,
}

/// Estimated running totals of one site.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SiteTotals {
    pub allocated_bytes: f64,
    pub allocated_count: f64,
    pub freed_bytes: f64,
    pub freed_count: f64,
}

/// Interned stacks. The frames are leaked on purpose: they are never freed or
/// changed, so a snapshot can read them after releasing the lock.
pub(crate) static STACKS: SpinLock<HashMap<&'static [usize], StackId, AddrHash>> =
    SpinLock::new(HashMap::with_hasher(AddrHash));

pub(crate) static SITES: SpinLock<HashMap<SiteKey, SiteTotals, AddrHash>> =
    SpinLock::new(HashMap::with_hasher(AddrHash));

/// Returns the id of `frames`, interning them on first sight. `None` when
/// memory cannot be had.
pub(crate) fn intern_stack(frames: &[usize]) -> Option<StackId> {
    if let Some(&id) = STACKS.lock().get(frames) {
        return Some(id);
    }
    // A copy made outside the lock; leaked only if it is the one kept.
    let mut copy = Vec::new();
    copy.try_reserve_exact(frames.len()).ok()?;
    copy.extend_from_slice(frames);
    let copy = copy.into_boxed_slice();
    let mut stacks = STACKS.lock_with_room(1)?;
    if let Some(&id) = stacks.get(frames) {
        drop(stacks);
        drop(copy);
        return Some(id);
    }
    let id = stacks.len() as StackId;
    stacks.insert(Box::leak(copy), id);
    Some(id)
}

/// Adds an allocation (or the growth of one) to a site's totals. `None` when
/// memory for a new site cannot be had.
pub(crate) fn add_allocated(site: SiteKey, bytes: f64, count: f64) -> Option<()> {
    let mut sites = SITES.lock_with_room(1)?;
    let totals = sites.entry(site).or_default();
    totals.allocated_bytes += bytes;
    totals.allocated_count += count;
    Some(())
}

/// Adds a free (or the shrinking of an allocation) to a site's totals.
pub(crate) fn add_freed(site: SiteKey, bytes: f64, count: f64) {
    if let Some(totals) = SITES.lock().get_mut(&site) {
        totals.freed_bytes += bytes;
        totals.freed_count += count;
    }
}

/// Copies every interned stack into `out`.
pub(crate) fn copy_stacks(
    out: &mut Vec<(&'static [usize], StackId)>,
) -> Result<(), std::collections::TryReserveError> {
    copy_entries(&STACKS, out)
}

/// Copies every site's totals into `out`.
pub(crate) fn copy_sites(
    out: &mut Vec<(SiteKey, SiteTotals)>,
) -> Result<(), std::collections::TryReserveError> {
    copy_entries(&SITES, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_interned_once() {
        let a = intern_stack(&[0x1111, 0x2222, 0x3333]).unwrap();
        let b = intern_stack(&[0x1111, 0x2222]).unwrap();
        assert_ne!(a, b);
        assert_eq!(intern_stack(&[0x1111, 0x2222, 0x3333]), Some(a));
        let mut all = Vec::new();
        copy_stacks(&mut all).unwrap();
        assert!(all.contains(&(&[0x1111usize, 0x2222, 0x3333][..], a)));
    }

    #[test]
    fn totals_accumulate() {
        let site = SiteKey {
            stack: 999_999,
            tag: 7,
        };
        add_allocated(site, 100.0, 1.0).unwrap();
        add_allocated(site, 50.0, 1.0).unwrap();
        add_freed(site, 100.0, 1.0);
        let mut all = Vec::new();
        copy_sites(&mut all).unwrap();
        let (_, totals) = all.iter().find(|(k, _)| *k == site).unwrap();
        assert_eq!(totals.allocated_bytes, 150.0);
        assert_eq!(totals.freed_count, 1.0);
    }
}
