//! Writing a file so that a reader never sees half of it: the content goes
//! to a hidden temporary file in the same directory, which is synced to
//! disk and then renamed (or linked) into place. A process killed mid-write
//! leaves at most a temporary file, named with [`TEMP_SUFFIX`], which
//! readers skip.
//!
//! The profiler writes its snapshots this way, and the reporter its SVG,
//! HTML and pprof outputs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files end with this; readers of a directory skip them.
pub const TEMP_SUFFIX: &str = ".heapsnap.tmp";

/// A snapshot file of plain JSON ends with this.
pub const JSON_SUFFIX: &str = ".json";
/// A snapshot file of gzip-compressed JSON ends with this.
pub const GZIP_SUFFIX: &str = ".json.gz";

/// The first bytes of a gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True for the name of a snapshot file, compressed or not.
pub fn is_snapshot_name(name: &str) -> bool {
    name.ends_with(JSON_SUFFIX) || name.ends_with(GZIP_SUFFIX)
}

/// The prefix of the numbered files the profiler writes
/// (`heapsnap-000042-PID-TRIGGER.json.gz`).
pub const NUMBERED_PREFIX: &str = "heapsnap-";

/// The sequence number of a numbered snapshot file's name
/// (`heapsnap-000042-1234-interval.json.gz` -> 42), compressed or not;
/// `None` for any other name. Numbers have six digits or more: past
/// 999,999 a name is longer, so the order of a directory is the order of
/// these numbers, never of the names' bytes.
pub fn snapshot_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(NUMBERED_PREFIX)?;
    if !is_snapshot_name(name) {
        return None;
    }
    let digits = rest.split(['-', '.']).next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The order in which a directory's snapshot files were written: numbered
/// files by their number (then name), after files of other names (by
/// name), which carry no order of their own.
pub fn snapshot_order(name: &str) -> (Option<u64>, &str) {
    (snapshot_number(name), name)
}

/// True when a file named `path` holds gzip (its name ends in `.gz`).
pub fn is_gzip_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Uncompresses gzip `bytes`, at most `limit` bytes of it: `None` when
/// there is more (a gzip bomb, or a file past the reader's bound).
pub fn gunzip_bounded(bytes: &[u8], limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

/// How a finished file takes its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Replaces whatever file has the name.
    Replace,
    /// Fails with `io::ErrorKind::AlreadyExists` if the name is taken.
    New,
}

/// Who may read the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The owner only (mode 0600 where files have modes): heap contents
    /// and paths are private.
    Private,
    /// As the process's umask allows, like any file it creates.
    Default,
}

/// Writes `path` atomically with `write`, which gets a buffered writer to a
/// temporary file beside it; the temporary file never outlives this call.
pub fn write_atomically(
    path: &Path,
    publish: Publish,
    access: Access,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = temp_path(dir, path);
    let result = (|| {
        let file = options(access).open(&temp)?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        write(&mut writer)?;
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        match publish {
            Publish::Replace => fs::rename(&temp, path)?,
            // A hard link fails if `path` exists; the temporary name is then
            // removed below.
            Publish::New => fs::hard_link(&temp, path)?,
        }
        // Make the new name durable too; not every file system can sync a
        // directory, so this is best effort.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        Ok(())
    })();
    // After a rename the temporary name is gone already; after a link or a
    // failure it must go.
    let _ = fs::remove_file(&temp);
    result
}

/// Options that create a new file with `access`.
fn options(access: Access) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if access == Access::Private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = access;
    options
}

/// The process that writes a temporary file named by [`write_atomically`]
/// (`.NAME.PID.N.heapsnap.tmp`), so that one a killed process left behind
/// can be told from one being written.
pub fn temp_file_writer(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let mut fields = stem.rsplit('.');
    let _n: u64 = fields.next()?.parse().ok()?;
    fields.next()?.parse().ok()
}

/// A hidden name beside `path`, unique within this process.
fn temp_path(dir: &Path, path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_names_past_six_digits() {
        assert_eq!(
            snapshot_number("heapsnap-000042-7-interval.json.gz"),
            Some(42)
        );
        assert_eq!(
            snapshot_number("heapsnap-1000008-7-exit.json"),
            Some(1_000_008)
        );
        assert_eq!(
            snapshot_number("heapsnap-18446744073709551615-7-exit.json"),
            Some(u64::MAX)
        );
        assert_eq!(
            snapshot_number("heapsnap-18446744073709551616-7-exit.json"),
            None
        );
        assert_eq!(snapshot_number("heapsnap-+12-7-exit.json"), None);
        assert_eq!(snapshot_number("heap.json"), None);
        assert_eq!(snapshot_number("heapsnap-000042-7-interval.txt"), None);
        let mut names = vec![
            "heapsnap-1000008-7-interval.json.gz",
            "heapsnap-999999-7-interval.json.gz",
            "heap.json",
            "heapsnap-000002-7-start.json",
        ];
        names.sort_by_key(|n| snapshot_order(n));
        assert_eq!(
            names,
            [
                "heap.json",
                "heapsnap-000002-7-start.json",
                "heapsnap-999999-7-interval.json.gz",
                "heapsnap-1000008-7-interval.json.gz",
            ]
        );
    }

    #[test]
    fn temp_names_say_their_writer() {
        let temp = temp_path(
            Path::new("/d"),
            Path::new("/d/heapsnap-000001-7-start.json"),
        );
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_writer(name), Some(std::process::id()));
        assert_eq!(temp_file_writer("heapsnap-000001-7-start.json"), None);
        assert_eq!(temp_file_writer(".x.notapid.3.heapsnap.tmp"), None);
    }
}
