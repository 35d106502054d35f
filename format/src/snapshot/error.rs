//! Why a snapshot could not be read or written.

use std::fmt;
use std::path::{Path, PathBuf};

/// A snapshot could not be read or written. The message names the file (when
/// there is one) and what was wrong with it.
#[derive(Debug)]
pub struct Error {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The content is not JSON.
    NotJson(String),
    /// The JSON ends before the document does.
    Truncated,
    /// JSON, but not a heapsnap snapshot (its `format` field, if any).
    NotASnapshot(Option<String>),
    /// A snapshot version this reader does not know.
    UnsupportedVersion {
        /// The version in the file.
        found: u64,
        /// The newest version this reader knows.
        supported: u32,
    },
    /// A field is missing or has the wrong type.
    Malformed(String),
    /// The fields are well-formed but inconsistent: an index that points
    /// nowhere, an impossible number.
    Invalid(String),
}

impl Error {
    /// An error of `kind`, naming no file.
    pub fn new(kind: ErrorKind) -> Self {
        Error { path: None, kind }
    }

    /// The same error, naming `path`.
    pub fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file, when the error concerns one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(err))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        match &self.kind {
            ErrorKind::Io(err) => write!(f, "{err}"),
            ErrorKind::NotJson(detail) => write!(f, "not JSON ({detail})"),
            ErrorKind::Truncated => {
                f.write_str("truncated: the JSON ends early (an interrupted copy or write?)")
            }
            ErrorKind::NotASnapshot(Some(format)) => {
                write!(f, "not a heapsnap snapshot (its format is {format:?})")
            }
            ErrorKind::NotASnapshot(None) => {
                f.write_str("not a heapsnap snapshot (no \"format\": \"heapsnap\" field)")
            }
            ErrorKind::UnsupportedVersion { found, supported } if *found > *supported as u64 => {
                write!(
                    f,
                    "snapshot version {found} is newer than this reader ({supported}); upgrade heapsnap"
                )
            }
            ErrorKind::UnsupportedVersion { found, .. } => {
                write!(f, "snapshot version {found} does not exist")
            }
            ErrorKind::Malformed(detail) => write!(f, "malformed snapshot: {detail}"),
            ErrorKind::Invalid(detail) => write!(f, "invalid snapshot: {detail}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(err) => Some(err),
            _ => None,
        }
    }
}
