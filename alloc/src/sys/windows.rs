//! Windows: what the profiler can do there without Unix's calls. Clocks
//! come from the standard library; there is no `fork`, no SIGUSR1 or
//! SIGTERM to dump on (a console's Ctrl-C is not caught either), no
//! address-space limit, and no emergency reserve (a failed allocation
//! fails as it would without the profiler).

use std::sync::OnceLock;
use std::time::Instant;

/// The clock's origin: the first reading.
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Monotonic clock in nanoseconds since the first reading
/// (`QueryPerformanceCounter`: no lock, no allocation).
pub(crate) fn monotonic_ns() -> u64 {
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The monotonic clock; Windows has no cheaper coarse one.
pub(crate) fn coarse_monotonic_ns() -> u64 {
    monotonic_ns()
}

/// The size of a memory page: 4 KiB on every Windows target Rust has.
pub(crate) fn page_size() -> u64 {
    4096
}

/// No `fork` on Windows: nothing to register.
pub(crate) fn register_atfork(
    _prepare: extern "C" fn(),
    _parent: extern "C" fn(),
    _child: extern "C" fn(),
) {
}

/// No SIGUSR1 on Windows: dumps on demand come from `heapsnap::snapshot`.
pub(crate) fn on_sigusr1(_handler: extern "C" fn(libc::c_int)) {}

/// SIGTERM is never delivered on Windows; the last dump at exit still is.
pub(crate) fn on_termination(_handler: extern "C" fn(libc::c_int)) {}

pub(crate) use libc::{SIGINT, SIGTERM};
/// No SIGUSR1 on Windows: a number no handler is ever installed for.
pub(crate) const SIGUSR1: libc::c_int = 0;

/// Nothing was installed (see [`on_sigusr1`], [`on_termination`]).
pub(crate) fn remove_handler(_signal: libc::c_int, _handler: extern "C" fn(libc::c_int)) {}

/// Never installed (see [`on_termination`]).
pub(crate) fn is_action(_signal: libc::c_int, _handler: extern "C" fn(libc::c_int)) -> bool {
    false
}

/// Errs on the side of "exists" (see the Unix version): temporary files
/// of other writers are left alone.
pub(crate) fn process_exists(_pid: u32) -> bool {
    true
}

/// No reserve on Windows.
pub(crate) fn map_reserve(_bytes: usize) -> Option<usize> {
    None
}

/// Never called: there is no live counters file on Windows.
///
/// # Safety
///
/// None needed; kept `unsafe` to match the Unix version.
pub(crate) unsafe fn unlink(_path: *const std::ffi::c_char) {}

/// No live counters file on Windows.
pub(crate) fn map_shared(_file: &std::fs::File, _bytes: usize) -> Option<usize> {
    None
}

/// Never called: [`map_reserve`] and [`map_shared`] map nothing.
///
/// # Safety
///
/// None needed; kept `unsafe` to match the Unix version.
pub(crate) unsafe fn unmap(_addr: usize, _bytes: usize) {}

/// No address-space limit on Windows (job objects limit commit, which
/// the allocator reports as failed allocations).
pub(crate) fn address_space_limit() -> Option<u64> {
    None
}

/// The most pieces one [`read_own_memory`] call takes.
pub(crate) const MAX_READ_PIECES: usize = 256;

/// Why this process's memory cannot be read through the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadRefused {
    /// The system has no such call here.
    Unsupported,
    /// The kernel refused.
    #[allow(dead_code)]
    Denied,
}

/// Not on Windows: the heap graph is off.
pub(crate) fn read_own_memory(
    _pieces: &[(usize, usize)],
    _out: &mut [u8],
) -> Result<usize, ReadRefused> {
    Err(ReadRefused::Unsupported)
}

/// No page-cache advice on Windows.
pub(crate) fn drop_cached_pages(_file: &std::fs::File) {}
