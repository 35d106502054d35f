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

/// Every profiler lock, named, in the order the `prepare` handler takes
/// them; `docs/ARCHITECTURE.md`'s lock table lists these names in this
/// order (`tests/layers.rs` checks it). The dump layer's come first: their
/// holders take the others inside them (a dump captures, then writes), never
/// the reverse. Then the two held while the dynamic loader is inside its own
/// lock (module listing, symbolisation), so that the child never inherits
/// that loader lock held either. A lock missing here is one a child can
/// inherit held, and wait on forever.
fn for_each_lock(mut f: impl FnMut(&'static str, &'static dyn RawLock)) {
    f("dump::ONE_REQUEST", &dump::ONE_REQUEST);
    f("dump::REQUEST", &dump::REQUEST);
    f("dump::DUMPER", &dump::DUMPER);
    f("dump::OOM_DUMPS", &dump::OOM_DUMPS);
    f("dump::files::WRITTEN", &dump::files::WRITTEN);
    f("modules::LOADER", &modules::LOADER);
    f("symbolize::CACHE", &symbolize::CACHE);
    f("tags::TAGS", &tags::TAGS);
    f("sites::SITES", &sites::SITES);
    f("watch::HIGHS", &watch::HIGHS);
    table::locks().for_each(|lock| f("table::TABLE[i]", lock));
}

extern "C" fn prepare() {
    for_each_lock(|_, lock| lock.acquire());
}

extern "C" fn release_all() {
    // SAFETY: `prepare` took every one of these locks on this thread (the
    // one calling `fork`), without guards, and nothing released them since.
    for_each_lock(|_, lock| unsafe { lock.release() });
}

extern "C" fn in_child() {
    release_all();
    // The dump thread did not follow into the child.
    dump::forget_in_child();
}
