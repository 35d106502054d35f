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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use heapsnap_format::file;

use crate::snapshot::{Error, ErrorKind, Snapshot};
use crate::sys::{self, clock};

/// Files this process wrote, oldest first, and the last number it used;
/// shared by the background thread and the out-of-memory dump.
static WRITTEN: Mutex<Written> = Mutex::new(Written {
    files: VecDeque::new(),
    last_number: 0,
});

struct Written {
    files: VecDeque<PathBuf>,
    /// Numbers only go up within a process, even when the files of higher
    /// numbers were deleted: a number used again could name a file still
    /// in `files`, which rotation would then delete.
    last_number: u64,
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
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    rotate_in(&mut written, dir, keep, snapshot)
}

/// [`write_rotating`] with `written` as this process's record.
fn rotate_in(
    written: &mut Written,
    dir: &Path,
    keep: usize,
    snapshot: &Snapshot,
) -> Result<PathBuf, Error> {
    let path = loop {
        match write_numbered(dir, snapshot, &mut written.last_number) {
            Err(err) if is_full(&err) && written.files.len() > 1 => {
                if let Some(old) = written.files.remove(1) {
                    let _ = fs::remove_file(old);
                }
            }
            other => break other?,
        }
    };
    written.files.push_back(path.clone());
    while written.files.len() > keep + 1 {
        if let Some(old) = written.files.remove(1) {
            let _ = fs::remove_file(old);
        }
    }
    Ok(path)
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

const PREFIX: &str = "heapsnap-";

/// Whether numbered files are written gzip-compressed (the default).
static GZIP: AtomicBool = AtomicBool::new(true);

/// Writes numbered files gzip-compressed (`.json.gz`) or as plain JSON.
pub(crate) fn set_gzip(gzip: bool) {
    GZIP.store(gzip, Ordering::Relaxed);
}

/// The sequence number in a snapshot file name, if it is one of ours
/// (compressed or not: numbers continue across runs that differ).
pub(crate) fn file_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?;
    if !file::is_snapshot_name(name) {
        return None;
    }
    let digits = rest.split(['-', '.']).next()?;
    digits.parse().ok()
}

/// Writes `snapshot` as the next numbered file in `dir` (created if
/// missing, mode 0700) and returns its path.
pub(crate) fn write_next(dir: &Path, snapshot: &Snapshot) -> Result<PathBuf, Error> {
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    write_numbered(dir, snapshot, &mut written.last_number)
}

/// Writes `snapshot` under a number above both the highest in `dir` and
/// `last_number`, which it updates.
fn write_numbered(
    dir: &Path,
    snapshot: &Snapshot,
    last_number: &mut u64,
) -> Result<PathBuf, Error> {
    create_private_dir(dir).map_err(|err| Error::from(err).at(dir))?;
    let highest = highest_number(dir).map_err(|err| Error::from(err).at(dir))?;
    let mut number = highest.max(*last_number) + 1;
    let suffix = if GZIP.load(Ordering::Relaxed) {
        file::GZIP_SUFFIX
    } else {
        file::JSON_SUFFIX
    };
    loop {
        let name = format!(
            "{PREFIX}{number:06}-{}-{}{suffix}",
            snapshot.process.pid,
            sanitize(snapshot.trigger.as_str())
        );
        let path = dir.join(name);
        match snapshot.write_new(&path) {
            Ok(()) => {
                *last_number = number;
                return Ok(path);
            }
            // Another writer took this number: take the next.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => number += 1,
            Err(err) => return Err(Error::from(err).at(&path)),
        }
    }
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
        if let Some(n) = entry?.file_name().to_str().and_then(file_number) {
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

    #[test]
    fn numbers_continue_and_names_parse() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("dumps");
        let mut snap = Snapshot::default();
        snap.process.pid = 42;
        let mut last = 0;
        let first = write_numbered(&dir, &snap, &mut last).unwrap();
        assert_eq!(
            first.file_name().unwrap(),
            "heapsnap-000001-42-manual.json.gz"
        );
        assert_eq!(Snapshot::read_from_path(&first).unwrap(), snap);
        // A plain file of a run with `HEAPSNAP_COMPRESS=off` counts too.
        fs::write(dir.join("heapsnap-000017-1-interval.json"), "{}").unwrap();
        fs::write(dir.join(".heapsnap-000099-1.json.1.2.heapsnap.tmp"), "").unwrap();
        snap.trigger = crate::snapshot::Trigger::NearLimit;
        let next = write_numbered(&dir, &snap, &mut last).unwrap();
        assert_eq!(
            next.file_name().unwrap(),
            "heapsnap-000018-42-near-limit.json.gz"
        );
        assert_eq!(file_number("heapsnap-000018-42-near-limit.json"), Some(18));
        assert_eq!(
            file_number("heapsnap-000019-42-near-limit.json.gz"),
            Some(19)
        );
        assert_eq!(file_number("notes.txt"), None);
        assert_eq!(
            file_number(".heapsnap-000099-1.json.1.2.heapsnap.tmp"),
            None
        );
    }

    /// Deleting the newest files does not bring their numbers back: a
    /// number used again named a file rotation still listed, and rotation
    /// deleted the dump just written.
    #[test]
    fn numbers_are_never_used_twice_and_rotation_keeps_the_newest() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let snap = Snapshot::default();
        let mut written = Written {
            files: VecDeque::new(),
            last_number: 0,
        };
        for _ in 0..3 {
            rotate_in(&mut written, dir, 1, &snap).unwrap();
        }
        for entry in fs::read_dir(dir).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let newest = rotate_in(&mut written, dir, 1, &snap).unwrap();
        assert_eq!(
            file_number(newest.file_name().unwrap().to_str().unwrap()),
            Some(4)
        );
        assert!(newest.exists(), "the newest dump survives its rotation");
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
