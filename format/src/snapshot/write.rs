//! Writing snapshots so that a reader never sees half of one (see
//! [`crate::file`]).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{Error, Snapshot};
use crate::file::{self, Access, Publish, write_atomically};

impl Snapshot {
    /// Writes the snapshot as JSON.
    pub fn write_to(&self, mut writer: impl Write) -> Result<(), Error> {
        Ok(self.write_json(&mut writer, false)?)
    }

    /// Writes the snapshot as gzip-compressed JSON, as a `.json.gz` file
    /// holds it (a fifth to a tenth of the bytes).
    pub fn write_gzipped_to(&self, mut writer: impl Write) -> Result<(), Error> {
        Ok(self.write_json(&mut writer, true)?)
    }

    /// Writes the snapshot as a file named `name` holds it: gzip-compressed
    /// for a name ending in `.gz`, plain JSON otherwise.
    pub fn write_named(&self, name: &Path, mut writer: impl Write) -> Result<(), Error> {
        Ok(self.write_json(&mut writer, file::is_gzip_name(name))?)
    }

    /// Writes the snapshot to `path` atomically, replacing any file there:
    /// a temporary file in the same directory is written, synced to disk and
    /// renamed over `path`. The file is created with mode 0600 (heap
    /// contents and paths are private). A name ending in `.gz` gets
    /// gzip-compressed JSON, any other plain JSON.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        self.write_file(path, Publish::Replace)
            .map_err(|err| Error::from(err).at(path))
    }

    /// Like [`Snapshot::write_to_path`], but fails with
    /// `io::ErrorKind::AlreadyExists` instead of replacing a file.
    pub fn write_new(&self, path: &Path) -> io::Result<()> {
        self.write_file(path, Publish::New)
    }

    fn write_file(&self, path: &Path, publish: Publish) -> io::Result<()> {
        write_atomically(path, publish, Access::Private, |out| {
            self.write_json(out, file::is_gzip_name(path))
        })
    }

    /// The JSON, compressed if `gzip`, into `out`.
    fn write_json(&self, out: &mut dyn Write, gzip: bool) -> io::Result<()> {
        if !gzip {
            return self.write_buffered(out);
        }
        let mut encoder = GzEncoder::new(out, Compression::default());
        self.write_buffered(&mut encoder)?;
        encoder.finish()?.flush()
    }

    /// serde_json writes a few bytes at a time: its output is buffered
    /// before it reaches `out` (a file, or the encoder, which works on
    /// whole buffers).
    fn write_buffered(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut buffered = BufWriter::with_capacity(1 << 16, out);
        serde_json::to_writer(&mut buffered, self)?;
        buffered.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    #[cfg(unix)]
    fn writes_atomically_with_private_mode_and_no_leftovers() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("heap.json");
        fs::write(&path, "old contents").unwrap();
        let snap = Snapshot::default();
        snap.write_to_path(&path).unwrap();
        assert_eq!(Snapshot::read_from_path(&path).unwrap(), snap);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("heap.json")]);
    }

    #[test]
    fn a_name_ending_in_gz_gets_gzip() {
        let scratch = tempfile::tempdir().unwrap();
        let snap = Snapshot::default();
        for (name, gzip) in [("heap.json.gz", true), ("heap.json", false)] {
            let path = scratch.path().join(name);
            snap.write_to_path(&path).unwrap();
            let bytes = fs::read(&path).unwrap();
            assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), gzip, "{name}");
            assert_eq!(Snapshot::read_from_path(&path).unwrap(), snap);
        }
    }

    #[test]
    fn write_new_never_replaces() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("a.json");
        Snapshot::default().write_new(&path).unwrap();
        let err = Snapshot::default().write_new(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_dir(dir).unwrap().count(), 1);
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
