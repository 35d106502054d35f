//! The profiler's one kind of lock, and the rule that no lock is ever held
//! while memory is allocated or freed.
//!
//! Why a spin lock: it needs no allocation and no initialisation, it can be
//! taken and released by the `fork` handlers without a guard object, and the
//! locks on the allocation path are held for a few hundred instructions at
//! most. Waiters spin briefly, then yield (a snapshot's copy of one table
//! shard ends within a few hundred microseconds), then sleep 200 µs at a
//! time (symbolisation at snapshot time is long), so nobody burns a core.
//!
//! Why [`SpinLock::lock_with_room`]: allocating under a profiler lock could
//! re-enter the profiler on this thread, or wait on an allocator lock that a
//! `fork` handler holds, so a container that must grow is rebuilt into memory
//! allocated *outside* the lock.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A mutual-exclusion lock that never allocates.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time, so
// sharing the lock is sound whenever moving a `T` between threads is.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock and returns a guard that releases it when dropped.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        self.acquire();
        SpinGuard { lock: self }
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard { lock: self })
    }

    /// Takes the lock without a guard; for the `fork` handlers, which hold
    /// every profiler lock across the `fork` system call.
    #[inline]
    pub(crate) fn acquire(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.acquire_contended();
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_contended(&self) {
        let start = super::monotonic_ns();
        let mut waits = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                backoff(&mut waits);
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                let waited = super::monotonic_ns().saturating_sub(start);
                LONGEST_WAIT_NS.fetch_max(waited, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Releases a lock taken with [`SpinLock::acquire`].
    ///
    /// # Safety
    ///
    /// The calling thread must hold the lock, taken with
    /// [`SpinLock::acquire`], and no [`SpinGuard`] for it may exist: another
    /// holder's guard would otherwise lose its exclusive access.
    pub(crate) unsafe fn release(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl<C: Room> SpinLock<C> {
    /// Locks a container that has room for `extra` more elements, so that the
    /// caller can insert them without allocating under the lock.
    ///
    /// When the container is full, a larger one is allocated with the lock
    /// released, the elements are moved across under the lock (a move, not an
    /// allocation), and the old, now empty, container is freed after the lock
    /// is released again. Returns `None` when memory for the larger container
    /// cannot be had; the caller drops its sample.
    #[inline]
    pub(crate) fn lock_with_room(&self, extra: usize) -> Option<SpinGuard<'_, C>> {
        let guard = self.lock();
        if guard.has_room(extra) {
            return Some(guard);
        }
        drop(guard);
        self.grow_then_lock(extra)
    }

    #[cold]
    #[inline(never)]
    fn grow_then_lock(&self, extra: usize) -> Option<SpinGuard<'_, C>> {
        loop {
            let guard = self.lock();
            if guard.has_room(extra) {
                return Some(guard);
            }
            let wanted = guard.grown_capacity(extra);
            drop(guard);
            let mut bigger = C::try_with_capacity(wanted)?;
            let mut guard = self.lock();
            if !guard.has_room(extra) && bigger.has_room(guard.len() + extra) {
                guard.move_into(&mut bigger);
                std::mem::swap(&mut *guard, &mut bigger);
            }
            drop(guard);
            // `bigger` now holds the old container, or the unused new one.
            drop(bigger);
        }
    }
}

/// A lock taken and released without a guard, by the `fork` handlers, which
/// hold every profiler lock across the `fork` system call.
pub(crate) trait RawLock: Sync {
    fn acquire(&self);
    /// # Safety
    ///
    /// As [`SpinLock::release`]: only for the thread that took the lock with
    /// `acquire`, and holds no guard for it.
    unsafe fn release(&self);
}

impl<T: Send> RawLock for SpinLock<T> {
    fn acquire(&self) {
        SpinLock::acquire(self);
    }
    unsafe fn release(&self) {
        // SAFETY: our caller holds the lock, without a guard.
        unsafe { SpinLock::release(self) }
    }
}

/// The longest any thread waited for a profiler lock since it was last
/// taken (see [`take_longest_wait_ns`]): the stall a snapshot, or a thread
/// recording a sample, caused another thread. Only waits are timed; a lock
/// taken at once costs nothing more.
static LONGEST_WAIT_NS: AtomicU64 = AtomicU64::new(0);

/// The longest wait for a profiler lock since the last call, in
/// nanoseconds; counts afresh from now.
pub(crate) fn take_longest_wait_ns() -> u64 {
    LONGEST_WAIT_NS.swap(0, Ordering::Relaxed)
}

/// Waits a little longer each time: spin, then yield, then sleep.
fn backoff(waits: &mut u32) {
    *waits = waits.saturating_add(1);
    if *waits < 64 {
        std::hint::spin_loop();
    } else if *waits < 4096 {
        // Most holds end within a few hundred microseconds (one table
        // shard's copy): give the core to the holder rather than sleep past
        // the release.
        std::thread::yield_now();
    } else {
        // `std::thread::sleep` does not allocate either; a waiter on a long
        // hold (symbolisation) stays nearly idle.
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Access to the value behind a [`SpinLock`]; releases it on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so
        // no other reference to the value is live.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // obtained through this guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while this thread holds the lock,
        // and it is the only guard for it.
        unsafe { self.lock.release() }
    }
}

/// A container that can say whether more elements fit without reallocating,
/// and be rebuilt into a larger allocation made elsewhere.
pub(crate) trait Room: Sized {
    fn len(&self) -> usize;
    /// True when `extra` more elements fit without reallocating.
    fn has_room(&self, extra: usize) -> bool;
    /// An empty container for at least `capacity` elements, or `None` when
    /// the memory cannot be had.
    fn try_with_capacity(capacity: usize) -> Option<Self>;
    /// Moves every element into `bigger`, which has room for all of them.
    fn move_into(&mut self, bigger: &mut Self);

    /// The capacity to grow to: double, so that growth is amortised.
    fn grown_capacity(&self, extra: usize) -> usize {
        (self.len() + extra).saturating_mul(2).max(64)
    }
}

impl<T> Room for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn has_room(&self, extra: usize) -> bool {
        self.capacity() - Vec::len(self) >= extra
    }
    fn try_with_capacity(capacity: usize) -> Option<Self> {
        let mut fresh = Vec::new();
        fresh.try_reserve_exact(capacity).ok()?;
        Some(fresh)
    }
    fn move_into(&mut self, bigger: &mut Self) {
        debug_assert!(bigger.has_room(Vec::len(self)));
        bigger.append(self);
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> Room for HashMap<K, V, S> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn has_room(&self, extra: usize) -> bool {
        // `capacity()` is the number of elements the map holds without
        // reallocating, tombstones accounted for.
        self.capacity() - HashMap::len(self) >= extra
    }
    fn try_with_capacity(capacity: usize) -> Option<Self> {
        let mut fresh = HashMap::with_hasher(S::default());
        fresh.try_reserve(capacity).ok()?;
        Some(fresh)
    }
    fn move_into(&mut self, bigger: &mut Self) {
        debug_assert!(bigger.has_room(HashMap::len(self)));
        for (key, value) in self.drain() {
            bigger.insert(key, value);
        }
    }
}

/// How long a snapshot held locks that allocating threads may wait for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holds {
    pub max_ns: u64,
    pub total_ns: u64,
}

impl Holds {
    /// Takes `lock`, runs `copy` on what it guards, releases it, and counts
    /// the time it was held (not the time spent waiting for it).
    pub(crate) fn copy<T, R>(&mut self, lock: &SpinLock<T>, copy: impl FnOnce(&T) -> R) -> R {
        let guard = lock.lock();
        let start = super::monotonic_ns();
        let result = copy(&guard);
        drop(guard);
        let held = super::monotonic_ns().saturating_sub(start);
        self.max_ns = self.max_ns.max(held);
        self.total_ns += held;
        result
    }
}

/// Appends what `lock` guards to `out` without allocating under the lock,
/// the hold timed in `holds`: room for `len` of the guarded value (and a
/// margin) is reserved and its pages touched first, and `copy` runs under
/// the lock only if everything still fits; if the value grew meanwhile, the
/// whole again. Fails only when the room cannot be had.
pub(crate) fn copy_out<T, E>(
    lock: &SpinLock<T>,
    out: &mut Vec<E>,
    holds: &mut Holds,
    len: impl Fn(&T) -> usize,
    copy: impl Fn(&T, &mut Vec<E>),
) -> Result<(), std::collections::TryReserveError> {
    loop {
        let wanted = len(&lock.lock());
        reserve_touched(out, wanted + wanted / 8 + 16)?;
        let copied = holds.copy(lock, |guarded| {
            let fits = out.capacity() - out.len() >= len(guarded);
            if fits {
                copy(guarded, out);
            }
            fits
        });
        if copied {
            return Ok(());
        }
    }
}

/// Reserves room for `wanted` more elements in `out` and touches every page
/// of it, so that a copy made under a lock later takes no page faults.
fn reserve_touched<T>(
    out: &mut Vec<T>,
    wanted: usize,
) -> Result<(), std::collections::TryReserveError> {
    out.try_reserve(wanted)?;
    let per_page = (super::page_size() as usize / std::mem::size_of::<T>().max(1)).max(1);
    for slot in out.spare_capacity_mut().iter_mut().step_by(per_page) {
        *slot = std::mem::MaybeUninit::zeroed();
    }
    Ok(())
}

/// Copies every entry of a locked map into `out` (see [`copy_out`]).
pub(crate) fn copy_entries<K: Copy, V: Copy, S>(
    lock: &SpinLock<HashMap<K, V, S>>,
    out: &mut Vec<(K, V)>,
) -> Result<(), std::collections::TryReserveError> {
    copy_out(
        lock,
        out,
        &mut Holds::default(),
        HashMap::len,
        |map, out| {
            out.extend(map.iter().map(|(k, v)| (*k, *v)));
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_excludes_other_threads() {
        let counter = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *counter.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*counter.lock(), 400_000);
    }

    #[test]
    fn room_is_made_outside_the_lock_and_keeps_every_element() {
        let lock: SpinLock<HashMap<u64, u64>> = SpinLock::new(HashMap::new());
        for i in 0..10_000u64 {
            let mut map = lock.lock_with_room(1).expect("memory");
            let capacity = map.capacity();
            map.insert(i, i * 2);
            assert_eq!(
                map.capacity(),
                capacity,
                "insert reallocated under the lock"
            );
        }
        let map = lock.lock();
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000).all(|i| map[&i] == i * 2));
    }

    #[test]
    fn vec_room() {
        let lock: SpinLock<Vec<u32>> = SpinLock::new(Vec::new());
        for i in 0..1000 {
            let mut v = lock.lock_with_room(3).expect("memory");
            let capacity = v.capacity();
            v.extend([i, i, i]);
            assert_eq!(v.capacity(), capacity);
        }
        assert_eq!(lock.lock().len(), 3000);
    }

    #[test]
    fn copies_entries() {
        let lock: SpinLock<HashMap<u32, u32>> =
            SpinLock::new((0..100).map(|i| (i, i + 1)).collect());
        let mut out = Vec::new();
        copy_entries(&lock, &mut out).unwrap();
        out.sort();
        assert_eq!(out.len(), 100);
        assert_eq!(out[7], (7, 8));
    }
}
