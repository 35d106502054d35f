//! Heap assertions in tests: what a piece of code allocated, exactly, and
//! what of it is still live when it is done.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);
//!
//! #[test]
//! fn handling_requests_keeps_nothing() {
//!     let scope = heapsnap::testing::Scope::start();
//!     // handle_requests(1_000);
//!     let live = scope.finish();
//!     live.assert_none();
//!     assert!(live.allocations_made() <= 20_000);
//! }
//! ```
//!
//! A [`Scope`] records every allocation of the thread that started it (and
//! of threads and futures entered into it with a [`ScopeHandle`]) with its
//! stack, exactly, while the rest of the process keeps its usual sampling:
//! any number of scopes run at once in one test binary, one per test
//! thread, without seeing each other's allocations. Recording is exact, so
//! a scope costs what exact mode costs (a stack walk per allocation); keep
//! scopes around the code under test.
//!
//! Code with caches allocates on its first call what later calls reuse:
//! [`measure_after`] runs a body a few times and measures the last run.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};

use heapsnap_format::names::{
    function_name, is_library_frame, is_outside_program, short_file_path,
};
use heapsnap_format::snapshot::Frame;
use heapsnap_format::types;
use heapsnap_format::units::format_bytes;

use crate::record::thread::{self, NO_SCOPE, ScopeCounts};
use crate::{snapshot, start};

/// Numbers scopes; 0 is "no scope".
static NEXT_SCOPE: AtomicU32 = AtomicU32::new(1);

/// What the threads that left a scope counted for it.
#[derive(Debug)]
struct Shared {
    id: u32,
    allocations: AtomicU64,
    bytes: AtomicU64,
}

impl Shared {
    fn add(&self, counts: ScopeCounts) {
        self.allocations
            .fetch_add(counts.allocations, Ordering::Relaxed);
        self.bytes.fetch_add(counts.bytes, Ordering::Relaxed);
    }
}

/// Records every allocation of this thread, exactly, until [`Scope::finish`].
///
/// Scopes nest (an allocation belongs to the innermost); finish them in the
/// reverse order they started. A scope dropped without `finish` just stops
/// recording.
#[must_use = "a scope records until it is finished"]
#[derive(Debug)]
pub struct Scope {
    shared: Arc<Shared>,
    previous: Option<(u32, ScopeCounts)>,
    // It records the thread that started it.
    _not_send: PhantomData<*const ()>,
}

impl Scope {
    /// Starts recording this thread's allocations.
    ///
    /// # Panics
    ///
    /// When [`Profiler`](crate::Profiler) is not the program's
    /// `#[global_allocator]`: nothing could be recorded, and every
    /// assertion would pass whatever the code does.
    pub fn start() -> Scope {
        start::ensure();
        let id = loop {
            let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
            if id != NO_SCOPE {
                break id;
            }
        };
        let shared = Arc::new(Shared {
            id,
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let previous = thread::with(|state| state.enter_scope(id));
        // One allocation the global allocator must see: proof that it is
        // the profiler.
        drop(std::hint::black_box(Box::new(0u64)));
        let probed = thread::with(|state| state.take_scope_counts());
        if probed.allocations == 0 {
            thread::with(|state| state.leave_scope(previous));
            panic!(
                "heapsnap::testing::Scope records nothing: heapsnap::Profiler is not this \
                 program's #[global_allocator] (add `#[global_allocator] static GLOBAL: \
                 heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);` \
                 to the test crate)"
            );
        }
        Scope {
            shared,
            previous: Some(previous),
            _not_send: PhantomData,
        }
    }

    /// A handle that enters other threads and futures into this scope.
    pub fn handle(&self) -> ScopeHandle {
        ScopeHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops recording and reports what the scope allocated that is still
    /// live. Threads entered into the scope count once they left it.
    pub fn finish(mut self) -> Live {
        self.leave();
        let snapshot = snapshot::capture_scope(self.shared.id);
        Live::of(&snapshot, &self.shared)
    }

    fn leave(&mut self) {
        if let Some(previous) = self.previous.take() {
            let counted = thread::with(|state| state.leave_scope(previous));
            self.shared.add(counted);
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Enters threads and futures into a [`Scope`]: `Send`, `Clone`.
#[derive(Clone, Debug)]
pub struct ScopeHandle {
    shared: Arc<Shared>,
}

impl ScopeHandle {
    /// Records this thread's allocations in the scope until the guard is
    /// dropped.
    pub fn enter(&self) -> EnteredScope {
        let previous = thread::with(|state| state.enter_scope(self.shared.id));
        EnteredScope {
            shared: Arc::clone(&self.shared),
            previous,
            _not_send: PhantomData,
        }
    }

    /// Wraps `future` so that whatever it allocates while polled, on any
    /// thread, is recorded in the scope.
    pub fn in_scope<F: Future>(&self, future: F) -> InScope<F> {
        InScope {
            handle: self.clone(),
            future: Box::pin(future),
        }
    }
}

/// A thread entered into a scope; dropping it leaves. Returned by
/// [`ScopeHandle::enter`].
#[must_use = "the thread is in the scope only while the guard lives"]
#[derive(Debug)]
pub struct EnteredScope {
    shared: Arc<Shared>,
    previous: (u32, ScopeCounts),
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnteredScope {
    fn drop(&mut self) {
        let counted = thread::with(|state| state.leave_scope(self.previous));
        self.shared.add(counted);
    }
}

/// A future whose polls are recorded in a scope. Returned by
/// [`ScopeHandle::in_scope`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct InScope<F> {
    handle: ScopeHandle,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InScope<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.future.as_mut().poll(cx)
    }
}

/// Runs `body` in a scope and reports what it left live (its result is
/// dropped inside the scope).
pub fn measure<R>(body: impl FnOnce() -> R) -> Live {
    let scope = Scope::start();
    drop(body());
    scope.finish()
}

/// Runs `body` `warm_up` times unrecorded (filling the caches code builds on
/// first use), then once more in a scope, and reports that last run.
pub fn measure_after<R>(warm_up: usize, mut body: impl FnMut() -> R) -> Live {
    for _ in 0..warm_up {
        drop(body());
    }
    measure(body)
}

/// One place the scope's live allocations were made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSite {
    /// What the memory holds (`Vec<Session>`), inferred from the
    /// allocating frames; `?` when they do not say.
    pub type_name: String,
    /// The innermost frame of the program's own code: `register
    /// (tests/heap.rs:42)`.
    pub location: String,
    /// Live bytes allocated there.
    pub bytes: u64,
    /// Live allocations made there.
    pub count: u64,
    /// The program's own frames, innermost first (`function (file:line)`).
    pub stack: Vec<String>,
}

/// What a [`Scope`] allocated that is still live, and what it allocated in
/// all. Its `Display` lists the live sites, largest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    sites: Vec<LiveSite>,
    allocations_made: u64,
    bytes_allocated: u64,
}

impl Live {
    fn of(snapshot: &snapshot::Snapshot, shared: &Shared) -> Live {
        let mut sites: Vec<LiveSite> = snapshot
            .sites
            .iter()
            .filter(|site| site.live_allocs > 0)
            .map(|site| {
                let frames: Vec<&Frame> = snapshot
                    .stacks
                    .get(site.stack as usize)
                    .into_iter()
                    .flatten()
                    .filter_map(|&f| snapshot.frames.get(f as usize))
                    .collect();
                live_site(&frames, site.live_bytes, site.live_allocs)
            })
            .collect();
        sites.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.location.cmp(&b.location))
        });
        Live {
            sites,
            allocations_made: shared.allocations.load(Ordering::Relaxed),
            bytes_allocated: shared.bytes.load(Ordering::Relaxed),
        }
    }

    /// Live bytes the scope allocated.
    pub fn bytes(&self) -> u64 {
        self.sites.iter().map(|s| s.bytes).sum()
    }

    /// Live allocations the scope made.
    pub fn count(&self) -> u64 {
        self.sites.iter().map(|s| s.count).sum()
    }

    /// Allocations the scope made, live or freed (a budget, like Go's
    /// `testing.AllocsPerRun`). A reallocation that grew a block allocated
    /// before the scope counts as one.
    pub fn allocations_made(&self) -> u64 {
        self.allocations_made
    }

    /// Bytes the scope allocated, live or freed.
    pub fn bytes_allocated(&self) -> u64 {
        self.bytes_allocated
    }

    /// The live sites, largest first.
    pub fn sites(&self) -> &[LiveSite] {
        &self.sites
    }

    /// Panics, listing every live site with its type, location, bytes,
    /// count and stack, unless nothing the scope allocated is live.
    #[track_caller]
    pub fn assert_none(&self) {
        if !self.sites.is_empty() {
            panic!("{self}");
        }
    }

    /// Panics with the live sites unless at most `bytes` are live.
    #[track_caller]
    pub fn assert_bytes_at_most(&self, bytes: u64) {
        if self.bytes() > bytes {
            panic!("more than {} live: {self}", format_bytes(bytes));
        }
    }
}

impl fmt::Display for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (count, bytes) = (self.count(), self.bytes());
        if count == 0 {
            return write!(f, "nothing the scope allocated is live");
        }
        writeln!(
            f,
            "{} ({}) the scope allocated {} still live:",
            plural(count, "allocation"),
            format_bytes(bytes),
            if count == 1 { "is" } else { "are" },
        )?;
        for site in &self.sites {
            writeln!(
                f,
                "  {} in {} of {}, allocated in {}",
                format_bytes(site.bytes),
                plural(site.count, "allocation"),
                site.type_name,
                site.location,
            )?;
            for frame in &site.stack {
                writeln!(f, "      at {frame}")?;
            }
        }
        write!(
            f,
            "(the scope made {} of {} in all)",
            plural(self.allocations_made, "allocation"),
            format_bytes(self.bytes_allocated)
        )
    }
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The stack's frames, innermost first, at most this many.
const STACK_SHOWN: usize = 12;

/// A live site from its frames (innermost first) and figures, exact in a
/// scope (each sample stands for itself).
fn live_site(frames: &[&Frame], bytes: u64, count: u64) -> LiveSite {
    let library_depth = frames.iter().take_while(|f| is_outside_program(f)).count();
    let type_name = types::infer(frames[..library_depth].iter().copied()).short;
    let own: Vec<String> = frames[library_depth..]
        .iter()
        .filter(|f| !is_library_frame(f) && !is_test_harness(f))
        .take(STACK_SHOWN)
        .map(|f| describe(f))
        .collect();
    LiveSite {
        type_name,
        location: own.first().cloned().unwrap_or_else(|| "?".into()),
        bytes,
        count,
        stack: own,
    }
}

/// The test harness's frames, which every test's stack ends in.
fn is_test_harness(frame: &Frame) -> bool {
    frame
        .function
        .as_deref()
        .is_some_and(|f| f.starts_with("test::") || f.starts_with("<test::"))
}

/// `function (file:line)`.
fn describe(frame: &Frame) -> String {
    let function = function_name(frame);
    match (&frame.file, frame.line) {
        (Some(file), Some(line)) => format!("{function} ({}:{line})", short_file_path(file)),
        (Some(file), None) => format!("{function} ({})", short_file_path(file)),
        _ => function,
    }
}
