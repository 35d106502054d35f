//! Surviving `fork()`: a child process that allocates and takes snapshots
//! must not find a profiler lock held by a thread that did not follow it
//! into the child.
//!
//! The `prepare` handler takes every profiler lock (in one fixed order)
//! before the fork, so no other thread is inside a critical section at the
//! moment of the fork; both parent and child release them afterwards. The
//! handlers are registered after the inner allocator initialised itself (on
//! the first sampled allocation), so they run before the allocator's own
//! `prepare` handler: a thread that holds a profiler lock never waits for an
//! allocator lock, and the symbolising thread, which allocates, can finish
//! before the allocator locks are taken.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::dump;
use crate::record::{sites, table, tags, watch};
use crate::snapshot::{modules, symbolize};
use crate::sys::{self, lock::RawLock};

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the handlers, once per process.
pub(crate) fn register_once() {
    if REGISTERED.load(Ordering::Relaxed) || REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    sys::register_atfork(prepare, release_all, in_child);
}

/// Every profiler lock, in the order the `prepare` handler takes them. The
/// two that are held while the dynamic loader is inside its own lock (module
/// listing, symbolisation) come first, so that the child never inherits
/// that loader lock held either.
fn for_each_lock(mut f: impl FnMut(&'static dyn RawLock)) {
    f(&modules::LOADER);
    f(&symbolize::CACHE);
    f(&tags::TAGS);
    f(&sites::SITES);
    f(&watch::HIGHS);
    table::locks().for_each(f);
}

extern "C" fn prepare() {
    for_each_lock(|lock| lock.acquire());
}

extern "C" fn release_all() {
    // SAFETY: `prepare` took every one of these locks on this thread (the
    // one calling `fork`), without guards, and nothing released them since.
    for_each_lock(|lock| unsafe { lock.release() });
}

extern "C" fn in_child() {
    release_all();
    // The dump thread did not follow into the child.
    dump::forget_in_child();
}
