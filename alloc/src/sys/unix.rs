//! The system calls of Unix-like systems (Linux, macOS).

/// Monotonic clock in nanoseconds (a vDSO read: no lock, no allocation).
pub(crate) fn monotonic_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// The monotonic clock as of the last timer tick (a few milliseconds of
/// resolution), in nanoseconds: a plain memory read in the vDSO, cheap
/// enough for every sample's age.
pub(crate) fn coarse_monotonic_ns() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_MONOTONIC_COARSE;
    // Elsewhere (macOS): the precise clock, a vDSO-like read there too.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_MONOTONIC;
    read_clock(clock)
}

fn read_clock(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut now) };
    if rc != 0 {
        return 0;
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// The size of a memory page.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Registers `fork` handlers.
pub(crate) fn register_atfork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) {
    // SAFETY: the handlers are plain `extern "C"` functions with no
    // arguments, which is all `pthread_atfork` requires; they never unwind
    // (an `extern "C"` function aborts rather than unwind).
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// Installs `handler` for SIGUSR1, unless the program has a handler of its
/// own (its disposition is not the default). The handler must be
/// async-signal-safe.
pub(crate) fn on_sigusr1(handler: extern "C" fn(libc::c_int)) {
    install_where_default(libc::SIGUSR1, handler);
}

/// Installs `handler` for SIGTERM and SIGINT where the program left them
/// at their default action (ending the process); a program's own handler,
/// or an ignored signal, stays as it is. The handler must be
/// async-signal-safe.
pub(crate) fn on_termination(handler: extern "C" fn(libc::c_int)) {
    install_where_default(libc::SIGTERM, handler);
    install_where_default(libc::SIGINT, handler);
}

/// The action for `signal` now: its handler's address, `SIG_DFL` or
/// `SIG_IGN`; `None` if it cannot be read.
fn current_action(signal: libc::c_int) -> Option<libc::sighandler_t> {
    // SAFETY: `current` is a valid, writable sigaction; a null new action
    // only queries.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
    (rc == 0).then_some(current.sa_sigaction)
}

fn install_where_default(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    if current_action(signal) != Some(libc::SIG_DFL) {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid starting point; the handler is
    // an `extern "C" fn(c_int)`, as `sa_sigaction` without `SA_SIGINFO`
    // expects, and only stores to atomics.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

pub(crate) use libc::{SIGINT, SIGTERM, SIGUSR1};

/// Restores the default action for `signal` if `handler` is its action
/// (a handler the program installed since stays).
pub(crate) fn remove_handler(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    if is_action(signal, handler) {
        // SAFETY: restoring the default action touches no memory of ours.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

/// True while `handler` is the action for `signal`: no handler of the
/// program's replaced it since.
pub(crate) fn is_action(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) -> bool {
    current_action(signal) == Some(handler as usize)
}

/// True when a process with this pid exists (it may be another's than
/// the one that had the pid: pids are reused, so this errs on the side of
/// "exists").
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the
    // process exists and may be signalled. No memory is involved.
    let result = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists, but belongs to someone else.
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Maps `bytes` of private, zeroed address space that commits no memory
/// until touched (`MAP_NORESERVE`). Returns its address.
pub(crate) fn map_reserve(bytes: usize) -> Option<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (ptr != libc::MAP_FAILED).then_some(ptr as usize)
}

/// Removes the file at `path` (a NUL-terminated path). Allocates nothing:
/// for exit handlers.
///
/// # Safety
///
/// `path` points at a NUL-terminated string that lives through the call.
pub(crate) unsafe fn unlink(path: *const libc::c_char) {
    // SAFETY: the caller guarantees a valid C string.
    unsafe { libc::unlink(path) };
}

/// Maps the first `bytes` of `file` shared, readable and writable: what
/// is stored there reaches the file, and every process mapping it. Returns
/// its address.
pub(crate) fn map_shared(file: &std::fs::File, bytes: usize) -> Option<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: a shared mapping of an open file at an address of the
    // kernel's choosing touches no existing memory; the caller sized the
    // file to at least `bytes`.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    (ptr != libc::MAP_FAILED).then_some(ptr as usize)
}

/// Unmaps a mapping made by [`map_reserve`] or [`map_shared`].
///
/// # Safety
///
/// Nothing may use the mapping, or any pointer into it, afterwards.
pub(crate) unsafe fn unmap(addr: usize, bytes: usize) {
    // SAFETY: the caller guarantees the mapping is no longer used.
    unsafe { libc::munmap(addr as *mut libc::c_void, bytes) };
}

/// The address-space limit (RLIMIT_AS, `ulimit -v`) in bytes, or `None`
/// when there is none.
pub(crate) fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// The most pieces one [`read_own_memory`] call takes.
pub(crate) const MAX_READ_PIECES: usize = 256;

/// Why this process's memory cannot be read through the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadRefused {
    /// The system has no such call (not Linux).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Unsupported,
    /// The kernel refused (a seccomp profile without `process_vm_readv`,
    /// and no `/proc/self/mem`).
    Denied,
}

/// Reads pieces `(address, length)` of this process's own memory through
/// the kernel into `out`, one after another: the number of bytes read. A
/// piece that cannot be read (unmapped meanwhile) ends the read there, so
/// the count stops inside or before it; the caller goes on after it. Never
/// faults, whatever the addresses: the kernel checks them, not a load of
/// ours. At most [`MAX_READ_PIECES`] pieces, whose lengths add up to at
/// most `out.len()`.
#[cfg(target_os = "linux")]
pub(crate) fn read_own_memory(
    pieces: &[(usize, usize)],
    out: &mut [u8],
) -> Result<usize, ReadRefused> {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not tried yet; 1: `process_vm_readv` works; 2: only
    /// `/proc/self/mem` does; 3: neither.
    static WAY: AtomicU8 = AtomicU8::new(0);
    let pieces = &pieces[..pieces.len().min(MAX_READ_PIECES)];
    let total: usize = pieces.iter().map(|&(_, len)| len).sum();
    if total > out.len() {
        return Ok(0);
    }
    match WAY.load(Ordering::Relaxed) {
        0 | 1 => match vm_readv(pieces, out) {
            Ok(read) => {
                WAY.store(1, Ordering::Relaxed);
                Ok(read)
            }
            Err(()) => {
                let fallback = proc_self_mem_read(pieces, out);
                WAY.store(if fallback.is_ok() { 2 } else { 3 }, Ordering::Relaxed);
                fallback
            }
        },
        2 => proc_self_mem_read(pieces, out),
        _ => Err(ReadRefused::Denied),
    }
}

/// `process_vm_readv` on this process; `Err` when the call itself is
/// refused (absent, or denied by a seccomp profile).
#[cfg(target_os = "linux")]
fn vm_readv(pieces: &[(usize, usize)], out: &mut [u8]) -> Result<usize, ()> {
    let mut remote = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_READ_PIECES];
    for (iov, &(addr, len)) in remote.iter_mut().zip(pieces) {
        iov.iov_base = addr as *mut libc::c_void;
        iov.iov_len = len;
    }
    let local = libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: out.len(),
    };
    // SAFETY: the local iovec is `out`, writable for its length; the remote
    // ones are only addresses for the kernel, which checks them against this
    // process's mappings and copies nothing from those it cannot read. No
    // memory of ours is read by a load.
    let read = unsafe {
        libc::process_vm_readv(
            libc::getpid(),
            &local,
            1,
            remote.as_ptr(),
            pieces.len() as libc::c_ulong,
            0,
        )
    };
    if read >= 0 {
        return Ok(read as usize);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        // The first piece was unreadable.
        Some(libc::EFAULT) | Some(libc::ENOMEM) => Ok(0),
        _ => Err(()),
    }
}

/// The same through `/proc/self/mem`, a piece at a time.
#[cfg(target_os = "linux")]
fn proc_self_mem_read(pieces: &[(usize, usize)], out: &mut [u8]) -> Result<usize, ReadRefused> {
    use std::sync::atomic::{AtomicI32, Ordering};
    /// The open file, -1 before it is opened, -2 when it cannot be.
    static FD: AtomicI32 = AtomicI32::new(-1);
    let mut fd = FD.load(Ordering::Acquire);
    if fd == -1 {
        // SAFETY: the path is NUL-terminated; `open` touches no memory of
        // ours besides reading it.
        let opened =
            unsafe { libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        let value = if opened >= 0 { opened } else { -2 };
        fd = match FD.compare_exchange(-1, value, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => value,
            Err(first) => {
                if opened >= 0 {
                    // SAFETY: our own descriptor, never shared.
                    unsafe { libc::close(opened) };
                }
                first
            }
        };
    }
    if fd < 0 {
        return Err(ReadRefused::Denied);
    }
    let mut done = 0;
    for &(addr, len) in pieces {
        let Ok(offset) = libc::off64_t::try_from(addr) else {
            break;
        };
        // SAFETY: writes at most `len` bytes into `out[done..]`, which has
        // room for every piece (checked by the caller); the kernel reads the
        // address, not us.
        let read = unsafe { libc::pread64(fd, out[done..].as_mut_ptr().cast(), len, offset) };
        if read <= 0 {
            break;
        }
        done += read as usize;
        if (read as usize) < len {
            break;
        }
    }
    Ok(done)
}

/// No way to read memory through the kernel here.
#[cfg(not(target_os = "linux"))]
pub(crate) fn read_own_memory(
    _pieces: &[(usize, usize)],
    _out: &mut [u8],
) -> Result<usize, ReadRefused> {
    Err(ReadRefused::Unsupported)
}

/// Asks the kernel to drop `file`'s pages from the page cache (written and
/// synced already, they are clean): in a memory cgroup the page cache of a
/// dump counts against the limit the dump was written near.
pub(crate) fn drop_cached_pages(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: an advice on our own open descriptor; no memory of ours
        // is involved.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}
