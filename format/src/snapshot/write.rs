//! Writing snapshots so that a reader never sees half of one: the JSON goes
//! to a hidden temporary file in the same directory, which is flushed to
//! disk and then renamed (or linked) into place. A process killed mid-write
//! leaves at most a temporary file, which readers skip.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Error, Snapshot};

/// Temporary files end with this; readers of a directory skip them.
pub const TEMP_SUFFIX: &str = ".heapsnap.tmp";

impl Snapshot {
    /// Writes the snapshot as JSON.
    pub fn write_to(&self, writer: impl Write) -> Result<(), Error> {
        let mut writer = BufWriter::with_capacity(1 << 16, writer);
        serde_json::to_writer(&mut writer, self).map_err(io::Error::from)?;
        writer.flush()?;
        Ok(())
    }

    /// Writes the snapshot to `path` atomically, replacing any file there:
    /// a temporary file in the same directory is written, synced to disk and
    /// renamed over `path`. The file is created with mode 0600 (heap
    /// contents and paths are private).
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        self.write_atomically(path, |temp| fs::rename(temp, path))
            .map_err(|err| Error::from(err).at(path))
    }

    /// Like [`Snapshot::write_to_path`], but fails with
    /// `io::ErrorKind::AlreadyExists` instead of replacing a file.
    pub fn write_new(&self, path: &Path) -> io::Result<()> {
        self.write_atomically(path, |temp| {
            // A hard link fails if `path` exists; the temporary name is then
            // removed below.
            fs::hard_link(temp, path)
        })
    }

    /// Writes to a temporary file beside `path`, syncs it, then calls
    /// `publish` to move it into place. The temporary file never outlives
    /// this call.
    fn write_atomically(
        &self,
        path: &Path,
        publish: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = temp_path(dir, path);
        let result = (|| {
            let file = private_file_options().open(&temp)?;
            let mut writer = BufWriter::with_capacity(1 << 16, file);
            serde_json::to_writer(&mut writer, self).map_err(io::Error::from)?;
            let file = writer
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
            file.sync_all()?;
            publish(&temp)?;
            // Make the new name durable too; not every file system can sync
            // a directory, so this is best effort.
            let _ = File::open(dir).and_then(|d| d.sync_all());
            Ok(())
        })();
        // After a rename the temporary name is gone already; after a link or
        // a failure it must go.
        let _ = fs::remove_file(&temp);
        result
    }
}

/// Options that create a new file readable by its owner only (mode 0600
/// where files have modes).
fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// A hidden name beside `path`, unique within this process.
fn temp_path(dir: &Path, path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("heapsnap-write-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    #[cfg(unix)]
    fn writes_atomically_with_private_mode_and_no_leftovers() {
        let dir = scratch("atomic");
        let path = dir.join("heap.json");
        fs::write(&path, "old contents").unwrap();
        let snap = Snapshot::default();
        snap.write_to_path(&path).unwrap();
        assert_eq!(Snapshot::read_from_path(&path).unwrap(), snap);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("heap.json")]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = scratch("new");
        let path = dir.join("a.json");
        Snapshot::default().write_new(&path).unwrap();
        let err = Snapshot::default().write_new(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let err = Snapshot::default()
            .write_to_path("/nonexistent-heapsnap-dir/heap.json")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent-heapsnap-dir/heap.json: "),
            "{err}"
        );
    }
}
