//! Files, directories and standard input to validated snapshots.
//!
//! A path is a snapshot file (JSON, or gzip-compressed JSON), a directory of
//! them (temporary files of interrupted writes and hidden files are
//! skipped), or `-` for standard input. Every failure names the file and
//! what was wrong with it.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use heapsnap_format::Snapshot;
use heapsnap_format::file::TEMP_SUFFIX;

/// A snapshot and where it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The file's path, or `-` for standard input.
    pub source: String,
    /// The snapshot, validated.
    pub snapshot: Snapshot,
}

/// A snapshot could not be loaded: which file, and why.
#[derive(Debug)]
pub struct Error {
    source: String,
    kind: ErrorKind,
}

/// Why a snapshot could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the file or directory failed.
    Io(io::Error),
    /// The content is not a valid snapshot.
    Snapshot(heapsnap_format::Error),
    /// A directory where one snapshot file was wanted.
    IsADirectory,
    /// The file is empty.
    Empty,
    /// The directory holds no snapshot files.
    NoSnapshotFiles,
    /// Gzip-compressed, but not validly.
    Gzip(io::Error),
    /// It decompresses to more than any snapshot.
    TooLarge,
}

impl Error {
    fn new(source: impl Into<String>, kind: ErrorKind) -> Error {
        Error {
            source: source.into(),
            kind,
        }
    }

    /// The file, directory or `-` that could not be loaded.
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// Why.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// Names the file and, when there is no underlying error to say it (see
/// `source`), what was wrong; print the chain (`{:#}` with `anyhow`) for
/// the whole story.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if matches!(self.kind, ErrorKind::Io(_) | ErrorKind::Snapshot(_)) {
            return Ok(());
        }
        f.write_str(": ")?;
        match &self.kind {
            ErrorKind::Io(_) | ErrorKind::Snapshot(_) => Ok(()),
            ErrorKind::IsADirectory => {
                f.write_str("is a directory; this command reads one snapshot file")
            }
            ErrorKind::Empty => f.write_str("empty file"),
            ErrorKind::NoSnapshotFiles => {
                f.write_str("no snapshot files (*.json, *.json.gz) in this directory")
            }
            ErrorKind::Gzip(err) => write!(f, "not a valid gzip file ({err})"),
            ErrorKind::TooLarge => f.write_str("decompresses to more than 4 GiB; not a snapshot"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(err) => Some(err),
            ErrorKind::Snapshot(err) => Some(err),
            _ => None,
        }
    }
}

/// Decompressed snapshots larger than this are refused (a gzip bomb, or not
/// a snapshot at all).
const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

/// Loads one snapshot from a file or `-`.
pub fn one(path: &str) -> Result<Loaded, Error> {
    if path != "-" && Path::new(path).is_dir() {
        return Err(Error::new(path, ErrorKind::IsADirectory));
    }
    let bytes = read(path)?;
    parse(path, &bytes)
}

/// Loads every snapshot named: files, `-`, and the snapshot files of
/// directories (sorted by name, which is the order they were written in).
pub fn many(paths: &[String]) -> Result<Vec<Loaded>, Error> {
    let mut loaded = Vec::new();
    for path in paths {
        if path != "-" && Path::new(path).is_dir() {
            let files = snapshot_files(Path::new(path))?;
            if files.is_empty() {
                return Err(Error::new(path, ErrorKind::NoSnapshotFiles));
            }
            for file in files {
                loaded.push(one(&file.to_string_lossy())?);
            }
        } else {
            loaded.push(one(path)?);
        }
    }
    Ok(loaded)
}

/// The snapshot files of a directory, by name.
fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let source = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|err| Error::new(&source, ErrorKind::Io(err)))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| Error::new(&source, ErrorKind::Io(err)))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let wanted = !name.starts_with('.')
            && !name.ends_with(TEMP_SUFFIX)
            && (name.ends_with(".json") || name.ends_with(".json.gz"));
        if wanted && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &str) -> Result<Vec<u8>, Error> {
    let mut raw = Vec::new();
    let result = if path == "-" {
        io::stdin().lock().read_to_end(&mut raw)
    } else {
        fs::File::open(path).and_then(|mut file| file.read_to_end(&mut raw))
    };
    result.map_err(|err| Error::new(path, ErrorKind::Io(err)))?;
    if raw.is_empty() {
        return Err(Error::new(path, ErrorKind::Empty));
    }
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut json = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(MAX_SNAPSHOT_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|err| Error::new(path, ErrorKind::Gzip(err)))?;
        if json.len() as u64 > MAX_SNAPSHOT_BYTES {
            return Err(Error::new(path, ErrorKind::TooLarge));
        }
        return Ok(json);
    }
    Ok(raw)
}

fn parse(source: &str, bytes: &[u8]) -> Result<Loaded, Error> {
    let snapshot =
        Snapshot::from_slice(bytes).map_err(|err| Error::new(source, ErrorKind::Snapshot(err)))?;
    Ok(Loaded {
        source: source.to_owned(),
        snapshot,
    })
}
