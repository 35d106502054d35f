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
use heapsnap_format::file::{self, TEMP_SUFFIX};
use heapsnap_format::units;

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
    /// It is (or decompresses to) more than `limit` bytes: see
    /// [`LIMIT_VARIABLE`].
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// Neither JSON nor gzip: its first bytes say so.
    NotASnapshot,
    /// [`LIMIT_VARIABLE`] is set, but not to a size.
    BadLimit(String),
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
            ErrorKind::TooLarge { limit } => write!(
                f,
                "more than {}, the largest snapshot read (decompressed); \
                 {LIMIT_VARIABLE}=<size> raises the limit",
                crate::format::bytes(*limit)
            ),
            ErrorKind::NotASnapshot => {
                f.write_str("not a snapshot: not JSON, nor gzip-compressed JSON")
            }
            ErrorKind::BadLimit(reason) => write!(f, "{LIMIT_VARIABLE}: {reason}"),
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

/// The environment variable that sets the largest snapshot read (a size:
/// `4GiB`). Reading stops there, so a wrong file, a device or a gzip bomb
/// costs bounded memory and time.
pub const LIMIT_VARIABLE: &str = "HEAPSNAP_MAX_SNAPSHOT_SIZE";

/// The largest snapshot read unless [`LIMIT_VARIABLE`] says otherwise: ten
/// times the largest seen in tests (2^17 distinct stacks in exact mode
/// wrote about 130 MB).
const DEFAULT_LIMIT: u64 = 1 << 30;

/// The limit in force for `source`.
fn limit(source: &str) -> Result<u64, Error> {
    match std::env::var(LIMIT_VARIABLE) {
        Ok(text) => units::parse_bytes(&text)
            .map_err(|err| Error::new(source, ErrorKind::BadLimit(err.reason().to_owned()))),
        Err(_) => Ok(DEFAULT_LIMIT),
    }
}

/// Loads one snapshot from a file or `-`.
pub fn one(path: &str) -> Result<Loaded, Error> {
    if path != "-" && Path::new(path).is_dir() {
        return Err(Error::new(path, ErrorKind::IsADirectory));
    }
    let bytes = read(path)?;
    parse(path, &bytes)
}

/// Loads one snapshot from a file, `-`, or a directory: its newest
/// snapshot file (the highest number, the order they were written in).
pub fn newest(path: &str) -> Result<Loaded, Error> {
    if path != "-" && Path::new(path).is_dir() {
        let files = snapshot_files(Path::new(path))?;
        let Some(last) = files.last() else {
            return Err(Error::new(path, ErrorKind::NoSnapshotFiles));
        };
        return one(&last.to_string_lossy());
    }
    one(path)
}

/// Loads every snapshot named: files, `-`, and the snapshot files of
/// directories (in the order they were written: by number).
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

/// The snapshot files of a directory, in the order they were written
/// (numbers compared as numbers: `heapsnap-1000000-…` after
/// `heapsnap-999999-…`).
pub fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let source = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|err| Error::new(&source, ErrorKind::Io(err)))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| Error::new(&source, ErrorKind::Io(err)))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let wanted =
            !name.starts_with('.') && !name.ends_with(TEMP_SUFFIX) && file::is_snapshot_name(&name);
        if wanted && entry.path().is_file() {
            files.push((name.into_owned(), entry.path()));
        }
    }
    files.sort_by(|(a, _), (b, _)| file::snapshot_order(a).cmp(&file::snapshot_order(b)));
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// Reads a file or standard input, bounded by [`limit`]: refused as soon
/// as it is known to be too large or not a snapshot at all.
fn read(path: &str) -> Result<Vec<u8>, Error> {
    let limit = limit(path)?;
    let io_error = |err| Error::new(path, ErrorKind::Io(err));
    let input: Box<dyn Read> = if path == "-" {
        Box::new(io::stdin().lock())
    } else {
        let meta = fs::metadata(path).map_err(io_error)?;
        if meta.is_file() && meta.len() > limit {
            return Err(Error::new(path, ErrorKind::TooLarge { limit }));
        }
        open(Path::new(path)).map_err(io_error)?
    };
    read_bounded(path, input, limit)
}

/// Loads one snapshot from any reader (JSON or gzip-compressed JSON),
/// bounded like a file: what the `heapsnap` command does with a file,
/// for programs and fuzzers that hold the bytes. `source` names it in
/// errors.
pub fn from_reader(source: &str, reader: impl Read) -> Result<Loaded, Error> {
    let bytes = read_bounded(source, reader, limit(source)?)?;
    parse(source, &bytes)
}

/// Reads at most `limit` bytes of snapshot (decompressed) from `input`.
fn read_bounded(path: &str, mut input: impl Read, limit: u64) -> Result<Vec<u8>, Error> {
    let io_error = |err| Error::new(path, ErrorKind::Io(err));
    // The first bytes tell text or gzip from anything else before the rest
    // is read (a disk image, /dev/zero): JSON starts with a printable
    // character after its white space.
    let mut raw = Vec::new();
    (&mut input)
        .take(4096)
        .read_to_end(&mut raw)
        .map_err(io_error)?;
    if raw.is_empty() {
        return Err(Error::new(path, ErrorKind::Empty));
    }
    let gzip = raw.starts_with(&file::GZIP_MAGIC);
    let json = raw
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|b| b.is_ascii_graphic());
    if !gzip && !json {
        return Err(Error::new(path, ErrorKind::NotASnapshot));
    }
    input
        .take(limit + 1 - raw.len() as u64)
        .read_to_end(&mut raw)
        .map_err(io_error)?;
    if raw.len() as u64 > limit {
        return Err(Error::new(path, ErrorKind::TooLarge { limit }));
    }
    if !gzip {
        return Ok(raw);
    }
    file::gunzip_bounded(&raw, limit)
        .map_err(|err| Error::new(path, ErrorKind::Gzip(err)))?
        .ok_or_else(|| Error::new(path, ErrorKind::TooLarge { limit }))
}

/// Opens a file to read. A FIFO is opened without waiting for a writer
/// (with none, it reads as empty at once instead of blocking forever).
fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        if file.metadata()?.is_file() {
            return Ok(Box::new(file));
        }
        Ok(Box::new(Patient(file)))
    }
    #[cfg(not(unix))]
    Ok(Box::new(fs::File::open(path)?))
}

/// Reads a file opened without blocking (a FIFO, a device) as if it
/// blocked: when nothing is there yet, waits a little and asks again. A
/// FIFO with no writer reads as its end.
#[cfg(unix)]
struct Patient(fs::File);

#[cfg(unix)]
impl Read for Patient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => return other,
            }
        }
    }
}

fn parse(source: &str, bytes: &[u8]) -> Result<Loaded, Error> {
    let mut snapshot =
        Snapshot::from_slice(bytes).map_err(|err| Error::new(source, ErrorKind::Snapshot(err)))?;
    defuse(&mut snapshot);
    Ok(Loaded {
        source: source.to_owned(),
        snapshot,
    })
}

/// Makes every name of a snapshot safe to print: control characters (an
/// escape sequence would retitle or clear the reader's terminal, and XML
/// forbids most of them) and the characters that reorder text are written
/// as `\u{1b}`. A snapshot's names are shown, never obeyed.
fn defuse(snapshot: &mut Snapshot) {
    let fix = |text: &mut String| {
        if text.chars().any(is_unsafe) {
            *text = text
                .chars()
                .map(|c| {
                    if is_unsafe(c) {
                        format!("\\u{{{:x}}}", c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect();
        }
    };
    fix(&mut snapshot.process.exe);
    for frame in &mut snapshot.frames {
        frame.function.iter_mut().for_each(fix);
        frame.file.iter_mut().for_each(fix);
    }
    for site in &mut snapshot.sites {
        site.tag.iter_mut().for_each(fix);
    }
    for module in &mut snapshot.modules {
        fix(&mut module.path);
        module.build_id.iter_mut().for_each(fix);
    }
    snapshot.sampling.allocator.iter_mut().for_each(fix);
    if let heapsnap_format::snapshot::Trigger::Other(word) = &mut snapshot.trigger {
        fix(word);
    }
}

/// Control characters, and the marks that reorder text (bidirectional
/// overrides and isolates).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
