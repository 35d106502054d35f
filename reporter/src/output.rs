//! Where the command's output goes: standard output, or a file written
//! atomically (or standard output again, for `-`).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use heapsnap_format::file::{Access, Publish, write_atomically};

/// True when `err` comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Runs `write` on buffered standard output.
pub fn stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .context("writing to standard output")
}

/// Writes `path` (or standard output for `-`), through a temporary file so
/// that a failure leaves whatever was there before.
pub fn file(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    if path == Path::new("-") {
        return stdout(write);
    }
    write_atomically(path, Publish::Replace, Access::Default, write)
        .with_context(|| format!("writing {}", path.display()))
}
