//! Numbered snapshot files in a directory, and their rotation.
//!
//! Files are named `heapsnap-NNNNNN-PID-TRIGGER.json.gz` (gzip-compressed
//! JSON, a fifth to a tenth of the bytes; `.json` with
//! `HEAPSNAP_COMPRESS=off`); `NNNNNN` continues
//! from the highest number already in the directory, so the files of
//! successive runs (a restarted container always has pid 1) sort in the
//! order they were written and never overwrite each other.
//!
//! Rotation keeps this process's first dump (the baseline a leak analysis
//! compares with) and its newest `keep` ones; files of other processes
//! (an earlier run that crashed) are never deleted.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use heapsnap_format::file;

use crate::snapshot::{Error, ErrorKind, Snapshot};
use crate::sys::lock::{Room, SpinLock};
use crate::sys::{self, clock};

/// Files this process wrote, oldest first, and the last number it used;
/// shared by the background thread, the out-of-memory dump and
/// `dump_to_dir`. Held only to take a number or to add or remove one entry,
/// never while a file is written and never while memory is allocated or
/// freed (a `fork` handler takes it: see `fork.rs`).
pub(crate) static WRITTEN: SpinLock<Written> = SpinLock::new(Written {
    files: VecDeque::new(),
    last_number: 0,
});

pub(crate) struct Written {
    files: VecDeque<PathBuf>,
    /// Numbers only go up within a process, even when the files of higher
    /// numbers were deleted: a number used again could name a file still
    /// in `files`, which rotation would then delete.
    last_number: u64,
}

impl Room for Written {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn has_room(&self, extra: usize) -> bool {
        self.files.capacity() - self.files.len() >= extra
    }
    fn try_with_capacity(capacity: usize) -> Option<Self> {
        let mut files = VecDeque::new();
        files.try_reserve_exact(capacity).ok()?;
        Some(Written {
            files,
            last_number: 0,
        })
    }
    fn move_into(&mut self, bigger: &mut Self) {
        debug_assert!(bigger.has_room(self.files.len()));
        bigger.files.extend(self.files.drain(..));
        bigger.last_number = self.last_number;
    }
}

/// Writes a dump as the next numbered file and rotates this process's
/// files: the first (the baseline) and the newest `keep` stay. When the
/// disk is full, the oldest of the others go first to make room (the
/// newest dump is worth more than the oldest), until only the first is
/// left.
pub(crate) fn write_rotating(
    dir: &Path,
    keep: usize,
    snapshot: &Snapshot,
) -> Result<PathBuf, Error> {
    rotate_in(&WRITTEN, dir, keep, snapshot)
}

/// [`write_rotating`] with `written` as this process's record.
fn rotate_in(
    written: &SpinLock<Written>,
    dir: &Path,
    keep: usize,
    snapshot: &Snapshot,
) -> Result<PathBuf, Error> {
    let path = loop {
        match write_numbered(written, dir, snapshot) {
            Err(err) if is_full(&err) => match take_entry(written, 1, 1) {
                Some(old) => {
                    let _ = fs::remove_file(old);
                }
                None => return Err(err),
            },
            other => break other?,
        }
    };
    // Unrecorded (no memory for the entry), it is never rotated away.
    if let Some(mut record) = written.lock_with_room(1) {
        record.files.push_back(path.clone());
    }
    while let Some(old) = take_entry(written, 1, keep + 1) {
        let _ = fs::remove_file(old);
    }
    Ok(path)
}

/// Takes the entry at `index` out of the record when it holds more than
/// `more_than` files. The path is dropped by the caller, after the lock.
fn take_entry(written: &SpinLock<Written>, index: usize, more_than: usize) -> Option<PathBuf> {
    let mut record = written.lock();
    if record.files.len() > more_than {
        record.files.remove(index)
    } else {
        None
    }
}

/// No room left on the device, or in the user's quota.
fn is_full(err: &Error) -> bool {
    match err.kind() {
        ErrorKind::Io(io) => {
            #[cfg(unix)]
            let quota = io.raw_os_error() == Some(libc::EDQUOT);
            #[cfg(not(unix))]
            let quota = false;
            io.kind() == io::ErrorKind::StorageFull || quota
        }
        _ => false,
    }
}

/// Removes temporary files of dumps whose writer is gone: a process killed
/// mid-write, or this pid's earlier incarnation (a restarted container's
/// process is always pid 1), told by a file older than this process. They
/// are never finished, and a crash loop would fill the disk with them.
pub(crate) fn remove_abandoned_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    // A second of margin: the clocks of files and of the profiler's start
    // are read differently (and coarsely).
    let started =
        UNIX_EPOCH + Duration::from_millis(clock::started_unix_ms()) - Duration::from_secs(1);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(writer) = name.to_str().and_then(file::temp_file_writer) else {
            continue;
        };
        let abandoned = if writer == me {
            // One being written now by another thread of this process is
            // younger than the process.
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < started)
        } else {
            !sys::process_exists(writer)
        };
        if abandoned {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether numbered files are written gzip-compressed (the default).
static GZIP: AtomicBool = AtomicBool::new(true);

/// Writes numbered files gzip-compressed (`.json.gz`) or as plain JSON.
pub(crate) fn set_gzip(gzip: bool) {
    GZIP.store(gzip, Ordering::Relaxed);
}

/// Writes `snapshot` as the next numbered file in `dir` (created if
/// missing, mode 0700) and returns its path.
pub(crate) fn write_next(dir: &Path, snapshot: &Snapshot) -> Result<PathBuf, Error> {
    write_numbered(&WRITTEN, dir, snapshot)
}

/// Writes `snapshot` under a number above both the highest in `dir` and
/// the last this process used (which `written` keeps). Past `u64::MAX`
/// there is no number: refused, with the reason.
fn write_numbered(
    written: &SpinLock<Written>,
    dir: &Path,
    snapshot: &Snapshot,
) -> Result<PathBuf, Error> {
    create_private_dir(dir).map_err(|err| Error::from(err).at(dir))?;
    let mut above = highest_number(dir).map_err(|err| Error::from(err).at(dir))?;
    let suffix = if GZIP.load(Ordering::Relaxed) {
        file::GZIP_SUFFIX
    } else {
        file::JSON_SUFFIX
    };
    loop {
        let number = take_number(written, above).ok_or_else(|| {
            let exhausted = io::Error::other(
                "snapshot numbers are used up: a file in the directory is numbered 18446744073709551615; move the old snapshots away",
            );
            Error::from(exhausted).at(dir)
        })?;
        let name = format!(
            "{}{number:06}-{}-{}{suffix}",
            file::NUMBERED_PREFIX,
            snapshot.process.pid,
            sanitize(snapshot.trigger.as_str())
        );
        let path = dir.join(name);
        match snapshot.write_new(&path) {
            Ok(()) => {
                // Its page cache would count against a memory cgroup's limit.
                if let Ok(file) = fs::File::open(&path) {
                    sys::drop_cached_pages(&file);
                }
                return Ok(path);
            }
            // Another writer took this number: take the next.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => above = number,
            Err(err) => return Err(Error::from(err).at(&path)),
        }
    }
}

/// The next number above both `above` and the last this process took,
/// taken: no two writers of this process ever get the same one. `None` past
/// `u64::MAX`.
fn take_number(written: &SpinLock<Written>, above: u64) -> Option<u64> {
    let mut record = written.lock();
    let number = above.max(record.last_number).checked_add(1)?;
    record.last_number = number;
    Some(number)
}

/// Creates `dir` (and its parents) readable by the owner only, or accepts it
/// if it exists.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    // On Windows a new directory inherits its parent's access rules.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(err) => Err(err),
    }
}

fn highest_number(dir: &Path) -> io::Result<u64> {
    let mut highest = 0;
    for entry in fs::read_dir(dir)? {
        if let Some(n) = entry?.file_name().to_str().and_then(file::snapshot_number) {
            highest = highest.max(n);
        }
    }
    Ok(highest)
}

/// Keeps a trigger word safe in a file name.
fn sanitize(word: &str) -> String {
    let clean: String = word
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if clean.is_empty() {
        "manual".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SpinLock<Written> {
        SpinLock::new(Written {
            files: VecDeque::new(),
            last_number: 0,
        })
    }

    fn number(path: &Path) -> Option<u64> {
        file::snapshot_number(path.file_name()?.to_str()?)
    }

    #[test]
    fn numbers_continue_and_names_parse() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("dumps");
        let mut snap = Snapshot::default();
        snap.process.pid = 42;
        let written = record();
        let first = write_numbered(&written, &dir, &snap).unwrap();
        assert_eq!(
            first.file_name().unwrap(),
            "heapsnap-000001-42-manual.json.gz"
        );
        assert_eq!(Snapshot::read_from_path(&first).unwrap(), snap);
        // A plain file of a run with `HEAPSNAP_COMPRESS=off` counts too.
        fs::write(dir.join("heapsnap-000017-1-interval.json"), "{}").unwrap();
        fs::write(dir.join(".heapsnap-000099-1.json.1.2.heapsnap.tmp"), "").unwrap();
        snap.trigger = crate::snapshot::Trigger::NearLimit;
        let next = write_numbered(&written, &dir, &snap).unwrap();
        assert_eq!(
            next.file_name().unwrap(),
            "heapsnap-000018-42-near-limit.json.gz"
        );
    }

    /// Past 999,999 names grow a digit and numbers go on; at `u64::MAX`
    /// there is no next number: refused with the reason, never wrapped to
    /// 0 (and never repeated).
    #[test]
    fn numbers_grow_past_six_digits_and_never_wrap() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let snap = Snapshot::default();
        let written = record();
        fs::write(dir.join("heapsnap-999999-1-interval.json"), "{}").unwrap();
        let next = write_numbered(&written, dir, &snap).unwrap();
        assert_eq!(number(&next), Some(1_000_000));
        fs::write(
            dir.join(format!("heapsnap-{}-1-interval.json", u64::MAX - 1)),
            "{}",
        )
        .unwrap();
        let last = write_numbered(&written, dir, &snap).unwrap();
        assert_eq!(number(&last), Some(u64::MAX));
        let err = write_numbered(&written, dir, &snap).unwrap_err();
        assert!(err.to_string().contains("numbers are used up"), "{err}");
        fs::remove_file(&last).unwrap();
        // The directory no longer has it, but this process used it.
        assert!(write_numbered(&written, dir, &snap).is_err());
    }

    /// Deleting the newest files does not bring their numbers back: a
    /// number used again named a file rotation still listed, and rotation
    /// deleted the dump just written.
    #[test]
    fn numbers_are_never_used_twice_and_rotation_keeps_the_newest() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let snap = Snapshot::default();
        let written = record();
        for _ in 0..3 {
            rotate_in(&written, dir, 1, &snap).unwrap();
        }
        for entry in fs::read_dir(dir).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let newest = rotate_in(&written, dir, 1, &snap).unwrap();
        assert_eq!(number(&newest), Some(4));
        assert!(newest.exists(), "the newest dump survives its rotation");
    }

    /// Threads writing at once each get numbers of their own.
    #[test]
    fn concurrent_writers_never_share_a_number() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let written = std::sync::Arc::new(record());
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (dir, written) = (dir.clone(), std::sync::Arc::clone(&written));
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| {
                            number(&rotate_in(&written, &dir, 1000, &Snapshot::default()).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut numbers: Vec<u64> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .map(Option::unwrap)
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=100).collect::<Vec<u64>>());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 100);
    }

    /// Temporary files of writers that are gone go (this pid's, when older
    /// than this process); those of a live process stay.
    #[test]
    fn abandoned_temporary_files_are_removed() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let gone = format!(
            ".heapsnap-000003-9-growth.json.{}.0.heapsnap.tmp",
            u32::MAX - 1
        );
        let mine = format!(
            ".heapsnap-000004-9-growth.json.{}.0.heapsnap.tmp",
            std::process::id()
        );
        // pid 1 is always alive (in a container, the container's init).
        let live = ".heapsnap-000005-1-growth.json.1.0.heapsnap.tmp";
        clock::start();
        let fresh = format!(
            ".heapsnap-000006-9-growth.json.{}.1.heapsnap.tmp",
            std::process::id()
        );
        for name in [gone.as_str(), mine.as_str(), live, fresh.as_str()] {
            fs::write(dir.join(name), "half a dump").unwrap();
        }
        // `mine` is from before this process started: this pid's earlier
        // incarnation. `fresh` is being written now.
        let before =
            UNIX_EPOCH + Duration::from_millis(clock::started_unix_ms()) - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(dir.join(&mine))
            .unwrap()
            .set_modified(before)
            .unwrap();
        remove_abandoned_temps(dir);
        let mut left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [live, fresh.as_str()]);
    }
}
