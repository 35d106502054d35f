//! Numbered snapshot files in a directory, and their rotation.
//!
//! Files are named `heapsnap-NNNNNN-PID-TRIGGER.json`; `NNNNNN` continues
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

use crate::snapshot::{Error, Snapshot};

/// Files this process wrote, oldest first; shared by the background thread
/// and the out-of-memory dump.
static WRITTEN: Mutex<VecDeque<PathBuf>> = Mutex::new(VecDeque::new());

/// Writes a dump as the next numbered file and rotates this process's
/// files: the first (the baseline) and the newest `keep` stay.
pub(crate) fn write_rotating(
    dir: &Path,
    keep: usize,
    snapshot: &Snapshot,
) -> Result<PathBuf, Error> {
    let path = write_next(dir, snapshot)?;
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    written.push_back(path.clone());
    while written.len() > keep + 1 {
        if let Some(old) = written.remove(1) {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(path)
}

const PREFIX: &str = "heapsnap-";
const SUFFIX: &str = ".json";

/// The sequence number in a snapshot file name, if it is one of ours.
pub(crate) fn file_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?;
    if !name.ends_with(SUFFIX) {
        return None;
    }
    let digits = rest.split(['-', '.']).next()?;
    digits.parse().ok()
}

/// Writes `snapshot` as the next numbered file in `dir` (created if
/// missing, mode 0700) and returns its path.
pub(crate) fn write_next(dir: &Path, snapshot: &Snapshot) -> Result<PathBuf, Error> {
    create_private_dir(dir).map_err(|err| Error::from(err).at(dir))?;
    let mut number = highest_number(dir).map_err(|err| Error::from(err).at(dir))? + 1;
    loop {
        let name = format!(
            "{PREFIX}{number:06}-{}-{}{SUFFIX}",
            snapshot.process.pid,
            sanitize(snapshot.trigger.as_str())
        );
        let path = dir.join(name);
        match snapshot.write_new(&path) {
            Ok(()) => return Ok(path),
            // Another writer took this number: take the next.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => number += 1,
            Err(err) => return Err(Error::from(err).at(&path)),
        }
    }
}

/// Creates `dir` (and its parents) readable by the owner only, or accepts it
/// if it exists.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
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
        let first = write_next(&dir, &snap).unwrap();
        assert_eq!(first.file_name().unwrap(), "heapsnap-000001-42-manual.json");
        fs::write(dir.join("heapsnap-000017-1-interval.json"), "{}").unwrap();
        fs::write(dir.join(".heapsnap-000099-1.json.1.2.heapsnap.tmp"), "").unwrap();
        snap.trigger = crate::snapshot::Trigger::NearLimit;
        let next = write_next(&dir, &snap).unwrap();
        assert_eq!(
            next.file_name().unwrap(),
            "heapsnap-000018-42-near-limit.json"
        );
        assert_eq!(file_number("heapsnap-000018-42-near-limit.json"), Some(18));
        assert_eq!(file_number("notes.txt"), None);
        assert_eq!(
            file_number(".heapsnap-000099-1.json.1.2.heapsnap.tmp"),
            None
        );
    }
}
