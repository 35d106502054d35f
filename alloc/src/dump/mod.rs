//! The dump layer: automatic dumps. A background thread (`dumper`) watches
//! the triggers (time, a new high, the memory limit, a signal) and writes
//! snapshots into a directory; a failed allocation dumps from the failing
//! thread (`oom`); `files` numbers the files and rotates them.
//!
//! Layer rule: this layer calls `snapshot`, `record` and `sys`, never the
//! crate's entry points. What it needs at start-up (configuration loaded)
//! the entry points do before calling [`start`].

mod dumper;
pub(crate) mod files;
mod oom;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::record::thread;
use crate::snapshot::Error;
use crate::sys;

pub(crate) use oom::out_of_memory;

/// What automatic dumps do: see `AutoDump`, the public builder of these.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub dir: PathBuf,
    pub interval: Option<Duration>,
    pub growth: Option<f64>,
    pub near_limit: Option<f64>,
    pub signal: bool,
    pub on_oom: bool,
    pub keep: usize,
    pub memory_limit: Option<u64>,
    pub memory_limit_file: Option<PathBuf>,
}

impl Settings {
    /// Every 60 s, on 20% growth over the last high, at 90% of the memory
    /// limit, on SIGUSR1 and on allocation failure, keeping the newest 100
    /// and the first.
    pub(crate) fn new(dir: PathBuf) -> Settings {
        Settings {
            dir,
            interval: Some(Duration::from_secs(60)),
            growth: Some(0.2),
            near_limit: Some(0.9),
            signal: true,
            on_oom: true,
            keep: 100,
            memory_limit: None,
            memory_limit_file: None,
        }
    }
}

/// True while automatic dumps run (false again in a forked child, which
/// does not inherit the thread).
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Set by the SIGUSR1 handler.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// The background thread, to wake it.
static DUMPER: OnceLock<std::thread::Thread> = OnceLock::new();
/// Settings for the out-of-memory dump, written by the failing thread.
static OOM_DUMPS: OnceLock<Settings> = OnceLock::new();

/// Starts the background thread. Fails if the directory cannot be created,
/// or if automatic dumps are already running.
pub(crate) fn start(settings: Settings) -> Result<(), Error> {
    thread::with(|state| {
        let _busy = state.enter();
        start_guarded(settings)
    })
}

fn start_guarded(settings: Settings) -> Result<(), Error> {
    if RUNNING.swap(true, Ordering::AcqRel) {
        let busy = std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "automatic dumps are already running",
        );
        return Err(Error::from(busy).at(&settings.dir));
    }
    if let Err(err) = files::create_private_dir(&settings.dir) {
        RUNNING.store(false, Ordering::Release);
        return Err(Error::from(err).at(&settings.dir));
    }
    if settings.signal {
        sys::on_sigusr1(on_signal);
    }
    let for_thread = settings.clone();
    let spawned = std::thread::Builder::new()
        .name("heapsnap-dump".into())
        .spawn(move || {
            thread::with(|state| {
                // Everything this thread allocates is the profiler's own.
                let _busy = state.enter();
                dumper::Dumper::new(for_thread).run();
            })
        });
    match spawned {
        Ok(handle) => {
            let _ = DUMPER.set(handle.thread().clone());
            let _ = OOM_DUMPS.set(settings);
            Ok(())
        }
        Err(err) => {
            RUNNING.store(false, Ordering::Release);
            Err(Error::from(err).at(&settings.dir))
        }
    }
}

extern "C" fn on_signal(_signal: std::ffi::c_int) {
    // Async-signal-safe: one atomic store. The thread notices within its
    // poll period.
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Called in a forked child: the background thread did not follow it.
pub(crate) fn forget_in_child() {
    RUNNING.store(false, Ordering::Relaxed);
}
