//! Live processes: the counters file a running program's dump thread keeps
//! beside its dumps (`heapsnap_format::live`), found from a process id, a
//! dump directory or the file itself, read without disturbing the process,
//! and turned into the rows `heapsnap stat` prints.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use heapsnap_format::live::{self, Counters, SIZE, TagFigures, WORDS};
use serde::Serialize;

/// Why no figures could be had.
#[derive(Debug)]
pub enum Error {
    /// Nothing at the target keeps live counters.
    NotFound(String),
    /// The file could not be opened or mapped.
    Io(PathBuf, std::io::Error),
    /// The file is not live counters, or of another layout.
    Read(PathBuf, live::ReadError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFound(why) => f.write_str(why),
            Error::Io(path, err) => write!(f, "{}: {err}", path.display()),
            Error::Read(path, err) => write!(f, "{}: {err}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// The live counters files a target names: a file, every running
/// process's in a directory (the newest stale one when none runs), or the
/// file a running process has mapped (`/proc/PID/maps`).
pub fn find(target: &str) -> Result<Vec<PathBuf>, Error> {
    let path = Path::new(target);
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if path.is_dir() {
        return in_dir(path);
    }
    match target.parse::<u32>() {
        Ok(pid) => of_process(pid),
        Err(_) => Err(Error::NotFound(format!(
            "{target}: no such file or directory, and not a process id"
        ))),
    }
}

/// The live counters files in `dir`: those of running processes, oldest
/// process first; failing those, the newest file (stale).
fn in_dir(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io(dir.to_owned(), e))?;
    let mut files: Vec<(u32, PathBuf, std::time::SystemTime)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = live::pid_in_name(entry.file_name().to_str()?)?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            Some((pid, entry.path(), meta.modified().ok()?))
        })
        .collect();
    if files.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: no live counters file (heapsnap-PID.live); a program keeps one while it runs with dumps on (HEAPSNAP_DIR)",
            dir.display()
        )));
    }
    let running: Vec<PathBuf> = {
        let mut running: Vec<&(u32, PathBuf, _)> = files
            .iter()
            .filter(|(pid, ..)| process_runs(*pid))
            .collect();
        running.sort_by_key(|(pid, ..)| *pid);
        running
            .into_iter()
            .map(|(_, path, _)| path.clone())
            .collect()
    };
    if !running.is_empty() {
        return Ok(running);
    }
    files.sort_by_key(|(_, _, modified)| *modified);
    Ok(files.pop().map(|(_, path, _)| path).into_iter().collect())
}

/// The live counters file process `pid` has mapped.
fn of_process(pid: u32) -> Result<Vec<PathBuf>, Error> {
    let name = live::file_name(pid);
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| {
        Error::NotFound(format!(
            "process {pid}: {}",
            match e.kind() {
                std::io::ErrorKind::NotFound => "no such process".to_owned(),
                std::io::ErrorKind::PermissionDenied =>
                    "its memory map is another user's; give its dump directory".to_owned(),
                _ => e.to_string(),
            }
        ))
    })?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.ends_with(&format!("/{name}")))
        .map(|path| vec![PathBuf::from(path)])
        .ok_or_else(|| {
            Error::NotFound(format!(
                "process {pid} keeps no live counters: it does not run heapsnap with dumps on (HEAPSNAP_DIR)"
            ))
        })
}

/// True when process `pid` runs (or may: a pid another user owns).
pub fn process_runs(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 sends nothing; kill only checks the process.
        let result = unsafe { libc::kill(pid, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// An open live counters file, mapped to read.
#[derive(Debug)]
pub struct Live {
    path: PathBuf,
    map: memmap2::Mmap,
}

/// One reading of a live counters file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The figures.
    pub counters: Counters,
    /// Its tags' figures, in the order they were named.
    pub tags: Vec<TagFigures>,
    /// The process that wrote them is gone: they are its last.
    pub stale: bool,
}

impl Live {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> Result<Live, Error> {
        let io = |e| Error::Io(path.to_owned(), e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len != SIZE as u64 {
            return Err(Error::Read(path.to_owned(), live::ReadError::NotCounters));
        }
        // SAFETY: the file is mapped to read. Its writer (the process's
        // dump thread) never changes its size, and every value read from
        // it goes through `live::read`, which copies the words with atomic
        // loads and checks them: a concurrent write is seen and read again.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Live {
            path: path.to_owned(),
            map,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the figures now.
    pub fn read(&self) -> Result<Reading, Error> {
        let Ok(words) = <&[u8; SIZE]>::try_from(&self.map[..]) else {
            return Err(Error::Read(self.path.clone(), live::ReadError::NotCounters));
        };
        // SAFETY: the mapping is page-aligned (so aligned for u64) and
        // `SIZE` bytes long; `AtomicU64` has the layout of `u64`, and the
        // mapping outlives the reference (borrowed from `self`).
        let words = unsafe { &*std::ptr::from_ref(words).cast::<[AtomicU64; WORDS]>() };
        let figures = live::read(words).map_err(|e| Error::Read(self.path.clone(), e))?;
        let stale = u32::try_from(figures.counters.pid).is_ok_and(|pid| !process_runs(pid));
        Ok(Reading {
            counters: figures.counters,
            tags: figures.tags,
            stale,
        })
    }
}

/// One line of `heapsnap stat`: a process's figures now and their rates
/// since the reading before (or, on the first line, since start).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The process.
    pub pid: u64,
    /// Milliseconds since its profiler started.
    pub uptime_ms: u64,
    /// The estimated live heap, in bytes.
    pub live_bytes: u64,
    /// Its change per second.
    pub live_bytes_per_sec: f64,
    /// Estimated bytes allocated per second.
    pub allocated_bytes_per_sec: f64,
    /// Estimated bytes freed per second.
    pub freed_bytes_per_sec: f64,
    /// Resident memory, in bytes (0: unknown).
    pub rss_bytes: u64,
    /// The memory limit, in bytes (0: none).
    pub memory_limit: u64,
    /// Samples taken since start, and dropped.
    pub samples: u64,
    /// Samples the profiler could not record.
    pub samples_dropped: u64,
    /// Dumps written since start.
    pub dumps: u64,
    /// The mean number of bytes between samples.
    pub interval_bytes: u64,
    /// The process is gone: these are its last figures.
    pub stale: bool,
    /// Its tags' figures, in the order they were named.
    pub tags: Vec<TagRow>,
}

/// A tag's figures on a line of `heapsnap stat`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TagRow {
    /// The tag.
    pub name: String,
    /// Estimated live bytes allocated under it.
    pub live_bytes: u64,
    /// Their change per second.
    pub live_bytes_per_sec: f64,
    /// Estimated bytes allocated under it per second.
    pub allocated_bytes_per_sec: f64,
}

impl Row {
    /// The row of `now`, with rates since `before` (a reading of the same
    /// process), or since start.
    pub fn new(before: Option<&Reading>, now: &Reading) -> Row {
        let c = &now.counters;
        let since =
            before.filter(|b| b.counters.pid == c.pid && b.counters.uptime_ms < c.uptime_ms);
        let (base, base_tags, ms) = match since {
            Some(b) => (b.counters, &b.tags[..], c.uptime_ms - b.counters.uptime_ms),
            None => (
                Counters {
                    uptime_ms: 0,
                    ..Counters::default()
                },
                &[][..],
                c.uptime_ms,
            ),
        };
        // Whole bytes a second: the estimates carry no finer figure.
        let per_sec = |now: u64, then: u64| {
            if ms == 0 {
                0.0
            } else {
                ((now as f64 - then as f64) * 1000.0 / ms as f64).round()
            }
        };
        Row {
            pid: c.pid,
            uptime_ms: c.uptime_ms,
            live_bytes: c.live_bytes,
            live_bytes_per_sec: per_sec(c.live_bytes, base.live_bytes),
            allocated_bytes_per_sec: per_sec(c.allocated_bytes, base.allocated_bytes),
            freed_bytes_per_sec: per_sec(c.freed_bytes(), base.freed_bytes()),
            rss_bytes: c.rss_bytes,
            memory_limit: c.memory_limit,
            samples: c.samples,
            samples_dropped: c.samples_dropped,
            dumps: c.dumps,
            interval_bytes: c.interval_bytes,
            stale: now.stale,
            tags: now
                .tags
                .iter()
                .map(|tag| {
                    let then = base_tags.iter().find(|t| t.name == tag.name);
                    TagRow {
                        name: tag.name.clone(),
                        live_bytes: tag.live_bytes,
                        live_bytes_per_sec: per_sec(
                            tag.live_bytes,
                            then.map_or(0, |t| t.live_bytes),
                        ),
                        allocated_bytes_per_sec: per_sec(
                            tag.allocated_bytes,
                            then.map_or(0, |t| t.allocated_bytes),
                        ),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(uptime_ms: u64, live: u64, allocated: u64) -> Reading {
        Reading {
            counters: Counters {
                pid: 7,
                uptime_ms,
                live_bytes: live,
                allocated_bytes: allocated,
                ..Counters::default()
            },
            tags: vec![TagFigures {
                name: "ips".into(),
                live_bytes: live / 2,
                allocated_bytes: allocated / 2,
            }],
            stale: false,
        }
    }

    #[test]
    fn rates_are_since_the_reading_before_or_since_start() {
        let first = reading(2_000, 4_000, 10_000);
        let row = Row::new(None, &first);
        assert_eq!(row.live_bytes_per_sec, 2_000.0);
        assert_eq!(row.allocated_bytes_per_sec, 5_000.0);
        assert_eq!(row.freed_bytes_per_sec, 3_000.0);
        let second = reading(4_000, 3_000, 14_000);
        let row = Row::new(Some(&first), &second);
        assert_eq!(row.live_bytes_per_sec, -500.0);
        assert_eq!(row.allocated_bytes_per_sec, 2_000.0);
        assert_eq!(row.freed_bytes_per_sec, 2_500.0);
        // A tag's rates, from its own figures.
        assert_eq!(row.tags[0].live_bytes, 1_500);
        assert_eq!(row.tags[0].live_bytes_per_sec, -250.0);
        assert_eq!(row.tags[0].allocated_bytes_per_sec, 1_000.0);
        // Not updated since: rates since start, not a division by zero.
        let row = Row::new(Some(&second), &second);
        assert_eq!(row.live_bytes_per_sec, 750.0);
    }

    #[test]
    fn a_directory_without_counters_or_a_missing_process_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let err = find(dir.path().to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no live counters file"), "{err}");
        let err = find("4294967294").unwrap_err();
        assert!(err.to_string().contains("no such process"), "{err}");
        let err = find("no/such/place").unwrap_err();
        assert!(err.to_string().contains("not a process id"), "{err}");
    }

    #[test]
    fn a_stale_file_is_found_and_said_to_be_stale() {
        let dir = tempfile::tempdir().unwrap();
        let words = live::words_of(&[0; SIZE]).unwrap();
        // A pid that cannot run: pids stop far below this.
        let pid = 4_000_000_000u32;
        live::publish(
            &words,
            &Counters {
                pid: u64::from(pid),
                live_bytes: 12,
                ..Counters::default()
            },
            &[],
        );
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.load(std::sync::atomic::Ordering::Relaxed).to_le_bytes())
            .collect();
        let path = dir.path().join(live::file_name(pid));
        std::fs::write(&path, bytes).unwrap();
        let found = find(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(found, std::slice::from_ref(&path));
        let reading = Live::open(&path).unwrap().read().unwrap();
        assert!(reading.stale);
        assert_eq!(reading.counters.live_bytes, 12);
        std::fs::write(&path, b"short").unwrap();
        assert!(Live::open(&path).is_err());
    }
}
