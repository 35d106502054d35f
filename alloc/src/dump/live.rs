//! The live counters file (`heapsnap_format::live`): the dump thread keeps
//! the running figures in a small file mapped shared beside the dumps,
//! about once a second, for `heapsnap stat` to read from outside. Only the
//! dump thread writes it; allocating threads never touch it.

use std::ffi::{CString, c_char};
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use heapsnap_format::live::{self, Counters, SIZE, TagFigures, WORDS};

use crate::record::{counters, settings, tags};
use crate::snapshot::memory;
use crate::sys;

/// The live file's path for the exit handler, which allocates nothing: a
/// C string, owned by whoever swaps it out (the handler leaves it to the
/// ending process).
static PATH_AT_EXIT: AtomicPtr<c_char> = AtomicPtr::new(null_mut());

/// Removes the live file at exit, from the exiting thread (when no exit
/// dump removed it first). Allocates nothing.
pub(super) fn remove_at_exit() {
    let path = PATH_AT_EXIT.swap(null_mut(), Ordering::AcqRel);
    if !path.is_null() {
        // SAFETY: a C string made by `keep_path_for_exit`, never freed
        // once swapped out here.
        unsafe { sys::unlink(path) };
    }
}

/// In a forked child: the live file is the parent's, which the child's
/// exit must not remove. Allocates and frees nothing (the string stays in
/// the child's copy of the heap).
pub(super) fn forget_in_child() {
    PATH_AT_EXIT.store(null_mut(), Ordering::Release);
}

/// Keeps `path` for [`remove_at_exit`] (`None`: forgets it).
fn keep_path_for_exit(path: Option<&Path>) {
    #[cfg(unix)]
    let c_path =
        path.and_then(|p| CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())).ok());
    #[cfg(not(unix))]
    let c_path: Option<CString> = path.and(None);
    let new = c_path.map_or(null_mut(), CString::into_raw);
    let old = PATH_AT_EXIT.swap(new, Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: made by `CString::into_raw` here, and swapped out, so
        // owned by this call alone.
        drop(unsafe { CString::from_raw(old) });
    }
}

/// The interval a watcher asks this process for (`heapsnap watch
/// --interval`), if a fresh request file is in `dir`: a regular file of a
/// few bytes, rewritten within `REQUEST_FRESH`.
pub(super) fn requested_interval(dir: &Path) -> Option<std::time::Duration> {
    let path = dir.join(live::request_name(std::process::id()));
    let meta = fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_file() || meta.len() > 64 {
        return None;
    }
    let age = meta.modified().ok()?.elapsed().unwrap_or_default();
    if age > live::REQUEST_FRESH {
        return None;
    }
    live::requested_interval(&fs::read_to_string(&path).ok()?)
}

/// The mapped file of this process.
pub(super) struct LiveFile {
    path: PathBuf,
    /// The mapping's address: [`SIZE`] bytes, page-aligned.
    addr: usize,
}

impl LiveFile {
    /// Creates `heapsnap-PID.live` in `dir`, readable by its owner only.
    /// A regular file of that name (left by an earlier process of the same
    /// pid, as in a container whose program is always pid 1) is replaced;
    /// anything else of that name (a link, a pipe) is left as it is, and
    /// there is no live file. `None` where it cannot be made.
    pub(super) fn create(dir: &Path) -> Option<LiveFile> {
        let path = dir.join(live::file_name(std::process::id()));
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            fs::remove_file(&path).ok()?;
        }
        let mut options = OpenOptions::new();
        // `create_new` never follows a link left at the path.
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).ok()?;
        let mapped = file
            .set_len(SIZE as u64)
            .ok()
            .and_then(|()| sys::map_shared(&file, SIZE));
        let Some(addr) = mapped else {
            let _ = fs::remove_file(&path);
            return None;
        };
        keep_path_for_exit(Some(&path));
        Some(LiveFile { path, addr })
    }

    /// Writes the running figures, with those only the dump thread knows.
    pub(super) fn publish(&self, memory_limit: Option<u64>, dumps: u64) {
        let (allocated_bytes, allocations) = counters::allocated_estimate();
        let figures = Counters {
            pid: u64::from(std::process::id()),
            updated_unix_ms: sys::clock::unix_ms(),
            uptime_ms: sys::clock::uptime_ms(),
            interval_bytes: settings::interval(),
            live_bytes: counters::live_bytes_estimate(),
            live_allocations: counters::live_count_estimate(),
            allocated_bytes,
            allocations,
            samples: counters::samples(),
            samples_dropped: counters::dropped(),
            rss_bytes: memory::rss_bytes().unwrap_or(0),
            memory_limit: memory_limit.unwrap_or(0),
            dumps,
        };
        let mut named = tags::all();
        named.sort_by_key(|&(_, id)| id);
        let tags: Vec<TagFigures> = named
            .into_iter()
            .filter_map(|(name, id)| {
                let (live_bytes, allocated_bytes) = counters::tag_estimate(id)?;
                Some(TagFigures {
                    name: name.to_owned(),
                    live_bytes,
                    allocated_bytes,
                })
            })
            .collect();
        // SAFETY: `addr` is a live shared mapping of `SIZE` bytes, page
        // aligned (so aligned for `AtomicU64`), made by `create` and
        // unmapped only when `self` is consumed; other processes change
        // nothing in it (they map it to read).
        let words = unsafe { &*(self.addr as *const [AtomicU64; WORDS]) };
        live::publish(words, &figures, &tags);
    }

    /// Unmaps and removes the file (at exit, or when dumps stop).
    pub(super) fn remove(self) {
        keep_path_for_exit(None);
        // SAFETY: `self` is consumed; no reference into the mapping
        // outlives `publish`.
        unsafe { sys::unmap(self.addr, SIZE) };
        let _ = fs::remove_file(&self.path);
    }
}
