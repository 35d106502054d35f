//! The profiler's one-time start-up, on its first sampled allocation (or the
//! first public call that needs it): read the configuration, register the
//! `fork` handlers, start the automatic dumps the environment asks for.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{config, dump, fork, sys};

/// True once start-up has run.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Runs start-up once per process; later calls return at once. Runs under
/// the re-entrancy guard when called from the allocation path (the
/// recording layer passes it down), with no profiler lock held.
#[inline]
pub(crate) fn ensure() {
    if !STARTED.load(Ordering::Acquire) {
        start_once();
    }
}

#[cold]
fn start_once() {
    static ONCE: AtomicBool = AtomicBool::new(false);
    config::ensure_loaded();
    fork::register_once();
    // Before memory can run out: the profiler's allocations fall back on it.
    crate::record::reserve::map();
    if !ONCE.swap(true, Ordering::AcqRel) {
        // Mark started first: the dumper thread's own first allocation
        // comes back here.
        STARTED.store(true, Ordering::Release);
        start_dumps_from_env();
    }
}

/// Starts automatic dumps from the environment (`HEAPSNAP_DIR` and
/// friends).
fn start_dumps_from_env() {
    if let Some(settings) = config::auto_dump()
        && let Err(err) = dump::start(settings)
    {
        sys::write_stderr(format!("heapsnap: automatic dumps not started: {err}\n").as_bytes());
    }
}
