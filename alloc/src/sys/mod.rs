//! The bottom layer: what the profiler needs from the system. Safe
//! wrappers for the few C library calls it makes, the spin lock, and the
//! clock. None of it allocates, and nothing here uses any other module of
//! the crate.

pub(crate) mod clock;
pub(crate) mod lock;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(crate) use unix::*;
#[cfg(windows)]
pub(crate) use windows::*;

use std::ffi::CStr;

/// Purges every jemalloc arena's dirty pages: gives freed memory back to
/// the system now rather than after jemalloc's decay time.
#[cfg(heapsnap_jemalloc)]
pub(crate) fn jemalloc_purge() {
    // `MALLCTL_ARENAS_ALL` is 4096.
    const NAME: &CStr = c"arena.4096.purge";
    // SAFETY: the name is NUL-terminated; `arena.<i>.purge` reads and
    // writes no value, so every pointer is null and the length zero, as
    // its contract requires. It takes jemalloc's own locks, none of ours.
    let _ = unsafe {
        tikv_jemalloc_sys::mallctl(
            NAME.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
}

/// Gives glibc's free heap memory back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn trim_system_heap() {
    // SAFETY: `malloc_trim` takes no pointer and is safe to call at any
    // time from any thread.
    let _ = unsafe { libc::malloc_trim(0) };
}

/// The longest environment value the profiler reads (a path).
const ENV_VALUE_MAX: usize = 4096;

/// An environment variable's value, copied out of the environment block so
/// that a later `set_var` cannot free it under the reader.
pub(crate) struct EnvValue {
    bytes: [u8; ENV_VALUE_MAX],
    /// `None` when the value did not fit.
    len: Option<usize>,
}

impl EnvValue {
    /// The value, or `None` when it is not UTF-8 or longer than 4095 bytes.
    pub(crate) fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes[..self.len?]).ok()
    }
}

/// Reads an environment variable with `getenv`, which takes no lock and does
/// not allocate (unlike `std::env`, whose lock `set_var` holds while it
/// allocates), and copies its value.
pub(crate) fn getenv(name: &CStr) -> Option<EnvValue> {
    // SAFETY: `name` is NUL-terminated. `getenv` returns null or a pointer
    // into the environment block. Changing the environment while another
    // thread reads it is undefined behaviour that `std::env::set_var` makes
    // its caller rule out (it is `unsafe` for that reason), so the block is
    // stable while it is copied below.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-null results of `getenv` point to NUL-terminated strings.
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    let mut copy = EnvValue {
        bytes: [0; ENV_VALUE_MAX],
        len: None,
    };
    if bytes.len() < ENV_VALUE_MAX {
        copy.bytes[..bytes.len()].copy_from_slice(bytes);
        copy.len = Some(bytes.len());
    }
    Some(copy)
}

/// Writes bytes to standard error, ignoring failure.
pub(crate) fn write_stderr(bytes: &[u8]) {
    // Windows' C library counts in `c_uint`: what it cannot take is cut.
    let len = bytes.len().min(i32::MAX as usize) as _;
    // SAFETY: writes at most `bytes.len()` initialised bytes from `bytes`.
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), len) };
}

/// Ends the process as `signal` would have without the profiler's handler:
/// its default action restored, the signal raised again.
pub(crate) fn die_of(signal: libc::c_int) {
    // SAFETY: restoring the default action and raising a signal touch no
    // memory of ours; `raise` runs the default action (the process ends).
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Runs `handler` when the process exits normally (`exit`, or `main`
/// returning), as C's `atexit` does.
pub(crate) fn at_exit(handler: extern "C" fn()) {
    // SAFETY: the handler is a plain `extern "C"` function without
    // arguments, which is all `atexit` requires; it never unwinds (an
    // `extern "C"` function aborts rather than unwind).
    let _ = unsafe { libc::atexit(handler) };
}
