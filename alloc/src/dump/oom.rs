//! The out-of-memory dump: written by the thread whose allocation failed,
//! at once, because the program will most likely abort.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{OOM_DUMPS, RUNNING, files};
use crate::record::thread;
use crate::snapshot::{self, Trigger};

/// Only one out-of-memory dump per process.
static OOM_DUMPED: AtomicBool = AtomicBool::new(false);

/// The inner allocator returned null: dump now, from this thread (best
/// effort, once).
#[cold]
#[inline(never)]
pub(crate) fn out_of_memory() {
    if !RUNNING.load(Ordering::Acquire) || OOM_DUMPED.swap(true, Ordering::AcqRel) {
        return;
    }
    // Never wait here: a thread starting or stopping dumps holds it only
    // for an assignment, and this dump is best effort. The settings are
    // shared (a reference count), not copied, under the lock.
    let Some(settings) = OOM_DUMPS.try_lock().and_then(|guard| guard.clone()) else {
        return;
    };
    if !settings.on_oom {
        return;
    }
    thread::with(|state| {
        // The allocating thread may already be inside the profiler (a
        // failed allocation of its own): then do nothing.
        if let Some(_busy) = state.enter() {
            let snapshot = snapshot::capture(Trigger::Oom);
            let _ = files::write_rotating(&settings.dir, settings.keep, &snapshot);
        }
    });
}
