//! Where the command's output goes: standard output, or a file written
//! atomically (or standard output again, for `-`).
//!
//! What the user named stays what it was: a symbolic link is followed and
//! stays a link, a FIFO, a device or a socket is written into (as a shell's
//! `>` would), and only a regular file (or a new name) is replaced
//! atomically, keeping its permissions.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use heapsnap_format::file::{Access, Publish, write_atomically};
use heapsnap_report::render::style;

/// True when `err` comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Says `text` on standard error after `heapsnap: ` (and `prefix`),
/// wrapped to the terminal's width.
pub fn note(prefix: &str, text: &str) {
    for line in style::wrap(text, &format!("heapsnap: {prefix}"), "  ") {
        eprintln!("{line}");
    }
}

/// Runs `write` on buffered standard output.
pub fn stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .context("writing to standard output")
}

/// Writes `path` (or standard output for `-`). A regular file or a new
/// name is written through a temporary file, so that a failure leaves
/// whatever was there before; anything else is written into.
pub fn file(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    if path == Path::new("-") {
        return stdout(write);
    }
    let context = || format!("writing {}", path.display());
    let (target, descriptor) = follow_links(path).with_context(context)?;
    match fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => bail!("{}: is a directory", path.display()),
        // `/dev/stdout` is whatever standard output is, even a regular
        // file: written into, like every file that is not a regular one.
        Ok(meta) if descriptor || !meta.is_file() => {
            write_into(&target, write).with_context(context)
        }
        Ok(meta) => {
            write_atomically(&target, Publish::Replace, Access::Default, write)
                .with_context(context)?;
            // The new file takes the old one's permissions.
            fs::set_permissions(&target, meta.permissions()).with_context(context)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            write_atomically(&target, Publish::Replace, Access::Default, write)
                .with_context(context)
        }
        Err(err) => Err(err).with_context(context),
    }
}

/// Where `path` leads after its symbolic links (the last may point to a
/// name that does not exist yet), and whether any step was under `/dev` or
/// `/proc`: an open descriptor (`/dev/stdout`, `/proc/self/fd/1`), never a
/// file to replace.
fn follow_links(path: &Path) -> io::Result<(PathBuf, bool)> {
    let special = |p: &Path| p.starts_with("/dev") || p.starts_with("/proc");
    // A descriptor's link names what it is open on (`pipe:[7]`, a deleted
    // file), not a path to follow: it is opened by its own name.
    if special(path) {
        return Ok((path.to_path_buf(), true));
    }
    let mut current = path.to_path_buf();
    // As many links as the kernel follows (Linux: 40).
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
                if special(&current) {
                    return Ok((path.to_path_buf(), true));
                }
            }
            _ => return Ok((current, false)),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Writes into an existing file that is not a regular one (a FIFO, a
/// device, a terminal): opened for writing, never created or replaced.
fn write_into(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let file = fs::OpenOptions::new().write(true).open(path)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    out.flush()
}
