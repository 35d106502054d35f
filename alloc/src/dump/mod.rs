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
#[allow(unsafe_code)]
mod live;
mod oom;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::record::thread;
use crate::snapshot::Error;
use crate::sys;
use crate::sys::lock::SpinLock;

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
    pub on_exit: bool,
    pub keep: usize,
    pub memory_limit: Option<u64>,
    pub memory_limit_file: Option<PathBuf>,
}

impl Settings {
    /// Every 60 s, on 20% growth over the last high, at 90% of the memory
    /// limit, on SIGUSR1, on allocation failure and at exit (normal, or
    /// SIGTERM and SIGINT left to end the process), keeping the newest 100
    /// and the first.
    pub(crate) fn new(dir: PathBuf) -> Settings {
        Settings {
            dir,
            interval: Some(Duration::from_secs(60)),
            growth: Some(0.2),
            near_limit: Some(0.9),
            signal: true,
            on_oom: true,
            on_exit: true,
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
/// The termination signal received (SIGTERM, SIGINT), 0 for none.
static TERMINATING: AtomicI32 = AtomicI32::new(0);
/// Set when the process exits normally; the background thread writes the
/// last dump and sets `EXIT_DUMPED`.
static EXITING: AtomicBool = AtomicBool::new(false);
/// True when the running dumps want a last dump at exit (the `atexit`
/// handler, once registered, stays for the life of the process).
static ON_EXIT: AtomicBool = AtomicBool::new(false);
static EXIT_DUMPED: AtomicBool = AtomicBool::new(false);
/// How long an exiting process waits for its last dump.
const EXIT_WAIT: Duration = Duration::from_secs(10);
// The locks of this layer. A `fork` handler takes each of them (see
// `fork.rs`), so a child never inherits one held by a thread that did not
// follow it; so none is held while memory is allocated or freed (values
// are swapped in and out, and dropped after the lock).

/// The background thread, to wake it.
pub(crate) static DUMPER: SpinLock<Option<Thread>> = SpinLock::new(None);
/// Settings for the out-of-memory dump, read by the failing thread.
pub(crate) static OOM_DUMPS: SpinLock<Option<Arc<Settings>>> = SpinLock::new(None);
/// A dump asked for by [`dump_now`], and its outcome once written.
pub(crate) static REQUEST: SpinLock<Request> = SpinLock::new(Request {
    asked: false,
    waiter: None,
    answer: None,
});
/// One [`dump_now`] at a time: each gets its own dump and its own answer.
/// Held while the asking thread waits (waiters back off to sleeping).
pub(crate) static ONE_REQUEST: SpinLock<()> = SpinLock::new(());

/// A dump asked for from a program's thread.
pub(crate) struct Request {
    asked: bool,
    /// The thread waiting for the answer, woken when it comes.
    waiter: Option<Thread>,
    answer: Option<Result<PathBuf, Error>>,
}

/// Replaces what `lock` guards with `value`, and drops the old value after
/// releasing the lock.
fn swap_in<T>(lock: &SpinLock<T>, value: T) {
    let old = std::mem::replace(&mut *lock.lock(), value);
    drop(old);
}

/// Starts the background thread, and returns it. Fails if the directory
/// cannot be created, or if automatic dumps are already running.
pub(crate) fn start(settings: Settings) -> Result<JoinHandle<()>, Error> {
    thread::with(|state| {
        let _busy = state.enter();
        start_guarded(settings)
    })
}

fn start_guarded(settings: Settings) -> Result<JoinHandle<()>, Error> {
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
    ON_EXIT.store(settings.on_exit, Ordering::Release);
    if settings.on_exit {
        sys::on_termination(on_termination);
    }
    // At exit: the last dump (if wanted), and the live file removed.
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| sys::at_exit(at_exit));
    let for_thread = settings.clone();
    THREAD_UP.store(false, Ordering::Release);
    let spawned = std::thread::Builder::new()
        .name("heapsnap-dump".into())
        .spawn(move || {
            thread::with(|state| {
                // Everything this thread allocates is the profiler's own.
                let _busy = state.enter();
                THREAD_UP.store(true, Ordering::Release);
                dumper::Dumper::new(for_thread).run();
            })
        });
    match spawned {
        Ok(handle) => {
            // The standard library's start of a thread allocates (a copy
            // of the thread's name for its stack-overflow handler) before
            // the guard above is up: a thread first scheduled after the
            // program had filled memory (a busy machine) failed that
            // allocation and aborted a program that handles its own
            // failures. Bounded, so that nothing the new thread's start
            // waits for can hold up the program's allocation without end.
            wait_until(THREAD_START_WAIT, || THREAD_UP.load(Ordering::Acquire));
            swap_in(&DUMPER, Some(handle.thread().clone()));
            swap_in(&OOM_DUMPS, Some(Arc::new(settings)));
            Ok(handle)
        }
        Err(err) => {
            RUNNING.store(false, Ordering::Release);
            Err(Error::from(err).at(&settings.dir))
        }
    }
}

/// Set by the dump thread once it runs its own code, under the guard.
static THREAD_UP: AtomicBool = AtomicBool::new(false);

/// The longest start-up waits for the dump thread to run its own code.
const THREAD_START_WAIT: Duration = Duration::from_secs(1);

/// Waits until `done`, for at most `limit`. Allocates nothing.
fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

extern "C" fn on_signal(_signal: std::ffi::c_int) {
    // Async-signal-safe: one atomic store. The thread notices within its
    // poll period.
    SIGNALLED.store(true, Ordering::Relaxed);
}

extern "C" fn on_termination(signal: std::ffi::c_int) {
    // Async-signal-safe: one atomic store. The background thread writes
    // the last dump within its poll period, then ends the process as the
    // signal would have (unless the program has since handled it itself).
    TERMINATING.store(signal, Ordering::Relaxed);
}

/// After the last dump on a termination `signal`: ends the process as the
/// signal would have ended it, unless a handler of the program's replaced
/// the profiler's meanwhile (it then chains to ours, and shuts down its own
/// way).
pub(super) fn end_as_signalled(signal: std::ffi::c_int) {
    if sys::is_action(signal, on_termination) {
        sys::die_of(signal);
    }
}

/// At normal exit: asks the background thread for the last dump and waits
/// for it (at most `EXIT_WAIT`), then removes the live counters file.
/// Allocates nothing.
extern "C" fn at_exit() {
    if RUNNING.load(Ordering::Acquire) && ON_EXIT.load(Ordering::Acquire) {
        EXITING.store(true, Ordering::Release);
        wake_dumper();
        wait_until(EXIT_WAIT, || {
            EXIT_DUMPED.load(Ordering::Acquire) || !RUNNING.load(Ordering::Acquire)
        });
    }
    live::remove_at_exit();
}

/// Wakes the background thread to look at its triggers now.
fn wake_dumper() {
    // A clone is a reference count: nothing allocated under the lock.
    let dumper = DUMPER.lock().clone();
    if let Some(dumper) = dumper {
        dumper.unpark();
    }
}

/// Writes a dump now (trigger `manual`) and waits for it: the file's path.
/// Fails when automatic dumps are not running, or the dump could not be
/// written.
pub(crate) fn dump_now() -> Result<PathBuf, Error> {
    let not_running = || {
        Error::from(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "automatic dumps are not running",
        ))
    };
    if !RUNNING.load(Ordering::Acquire) {
        return Err(not_running());
    }
    let me = std::thread::current();
    let _one = ONE_REQUEST.lock();
    // An answer left by an earlier asker that gave up is not this one's.
    let earlier = {
        let mut request = REQUEST.lock();
        request.asked = true;
        (request.waiter.replace(me), request.answer.take())
    };
    drop(earlier);
    wake_dumper();
    loop {
        let answer = REQUEST.lock().answer.take();
        if let Some(answer) = answer {
            return answer;
        }
        if !RUNNING.load(Ordering::Acquire) {
            let waiter = {
                let mut request = REQUEST.lock();
                request.asked = false;
                request.waiter.take()
            };
            drop(waiter);
            return Err(not_running());
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// For the background thread: true when [`dump_now`] asked for a dump.
fn asked() -> bool {
    REQUEST.lock().asked
}

/// For the background thread: the outcome of the dump [`dump_now`] asked
/// for; wakes the thread that asked.
fn answer(outcome: Result<PathBuf, Error>) {
    let (unanswered, waiter) = {
        let mut request = REQUEST.lock();
        request.asked = false;
        (request.answer.replace(outcome), request.waiter.take())
    };
    drop(unanswered);
    if let Some(waiter) = waiter {
        waiter.unpark();
    }
}

/// Stops automatic dumps: the background thread finishes what it is
/// writing and ends, and the signal handlers it installed are removed (a
/// signal they caught meanwhile is acted on as it would have been).
/// `start` may be called again afterwards.
pub(crate) fn stop(dumper: JoinHandle<()>) {
    RUNNING.store(false, Ordering::Release);
    dumper.thread().unpark();
    let _ = dumper.join();
    swap_in(&DUMPER, None);
    swap_in(&OOM_DUMPS, None);
    sys::remove_handler(sys::SIGUSR1, on_signal);
    sys::remove_handler(sys::SIGTERM, on_termination);
    sys::remove_handler(sys::SIGINT, on_termination);
    SIGNALLED.store(false, Ordering::Relaxed);
    let signal = TERMINATING.swap(0, Ordering::AcqRel);
    if signal != 0 {
        // Caught after the thread stopped looking: the default action now.
        end_as_signalled(signal);
    }
}

/// Called in a forked child: the background thread did not follow it.
pub(crate) fn forget_in_child() {
    RUNNING.store(false, Ordering::Relaxed);
    live::forget_in_child();
}
