//! The live counters file: a running process's figures, kept by its dump
//! thread in a small file of fixed size beside its dumps (as the JVM keeps
//! its `hsperfdata`), and read from outside by `heapsnap stat`. No socket:
//! whoever can read the dump directory can read the figures, and a reader
//! never makes the process do anything.
//!
//! The file is [`SIZE`] bytes of little-endian 64-bit words, mapped shared
//! by the process. Word 0 is [`MAGIC`], word 1 the layout's [`VERSION`],
//! word 2 a sequence number (odd while the writer is changing the figures),
//! then the figures of [`Counters`] in the order of its fields, then the
//! number of tags and, for each of the first [`TAGS`] a program named, its
//! name (48 bytes, cut at a character) and its live and allocated bytes
//! ([`TagFigures`]). The writer
//! ([`publish`]) and a reader ([`read`]) work on the mapped words, as a
//! sequence lock: a reader that saw the sequence change, or odd, reads
//! again.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

use crate::units;

use serde::Serialize;

/// The file's size: one page.
pub const SIZE: usize = 4096;
/// Its size in words.
pub const WORDS: usize = SIZE / 8;
/// The first word: `heapsnap` live counters.
pub const MAGIC: u64 = u64::from_le_bytes(*b"HSLIVE\0\0");
/// The layout's version; a reader refuses others.
pub const VERSION: u64 = 1;

const SEQUENCE: usize = 2;
const FIRST: usize = 3;

/// The file's name for process `pid`.
pub fn file_name(pid: u32) -> String {
    format!("heapsnap-{pid}.live")
}

/// The name of the file that asks process `pid` for dumps at an interval
/// (`heapsnap watch --interval`): a duration as `parse_duration` reads it
/// (`2s`), rewritten by the watcher at least every few seconds.
pub fn request_name(pid: u32) -> String {
    format!("heapsnap-{pid}.interval")
}

/// A request older than this is forgotten: its watcher went away without
/// removing it.
pub const REQUEST_FRESH: Duration = Duration::from_secs(10);

/// The shortest interval a request gets: a watcher cannot make a process
/// dump without pause.
pub const LEAST_REQUESTED_INTERVAL: Duration = Duration::from_secs(1);

/// The process id in a live counters file's name, if it is one.
pub fn pid_in_name(name: &str) -> Option<u32> {
    name.strip_prefix("heapsnap-")?
        .strip_suffix(".live")?
        .parse()
        .ok()
}

/// A running process's figures. Estimates are from the samples, as in
/// `heapsnap::stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// The process.
    pub pid: u64,
    /// When the figures were written, in milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
    /// Milliseconds since the profiler started, when they were written.
    pub uptime_ms: u64,
    /// The mean number of bytes between samples (1: every allocation).
    pub interval_bytes: u64,
    /// The estimated live heap, in bytes.
    pub live_bytes: u64,
    /// The estimated number of live allocations.
    pub live_allocations: u64,
    /// Estimated bytes allocated since start (growth by reallocation
    /// included).
    pub allocated_bytes: u64,
    /// Estimated allocations made since start.
    pub allocations: u64,
    /// Samples taken since start.
    pub samples: u64,
    /// Samples the profiler could not record.
    pub samples_dropped: u64,
    /// Resident memory, in bytes (0: unknown).
    pub rss_bytes: u64,
    /// The memory limit the near-limit dump watches, in bytes (0: none).
    pub memory_limit: u64,
    /// Dumps written since start.
    pub dumps: u64,
}

impl Counters {
    /// The figures as words, in the file's order.
    fn words(&self) -> [u64; FIELDS] {
        [
            self.pid,
            self.updated_unix_ms,
            self.uptime_ms,
            self.interval_bytes,
            self.live_bytes,
            self.live_allocations,
            self.allocated_bytes,
            self.allocations,
            self.samples,
            self.samples_dropped,
            self.rss_bytes,
            self.memory_limit,
            self.dumps,
        ]
    }

    fn from_words(w: &[u64; FIELDS]) -> Counters {
        Counters {
            pid: w[0],
            updated_unix_ms: w[1],
            uptime_ms: w[2],
            interval_bytes: w[3],
            live_bytes: w[4],
            live_allocations: w[5],
            allocated_bytes: w[6],
            allocations: w[7],
            samples: w[8],
            samples_dropped: w[9],
            rss_bytes: w[10],
            memory_limit: w[11],
            dumps: w[12],
        }
    }

    /// Estimated bytes freed since start.
    pub fn freed_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.live_bytes)
    }
}

const FIELDS: usize = 13;

/// Tags the file has room for: the first a program names.
pub const TAGS: usize = 32;
/// Bytes of a tag's name kept.
const NAME_BYTES: usize = 48;
const NAME_WORDS: usize = NAME_BYTES / 8;
const TAG_WORDS: usize = NAME_WORDS + 2;
/// Where the number of tags is, and the first tag.
const TAG_COUNT: usize = FIRST + FIELDS;
const TAG_FIRST: usize = TAG_COUNT + 1;
const _: () = assert!(TAG_FIRST + TAGS * TAG_WORDS <= WORDS);

/// The figures of one tag (`heapsnap::tag`, `heapsnap::tagged`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagFigures {
    /// The tag's name (its first 48 bytes).
    pub name: String,
    /// Estimated live bytes allocated under it.
    pub live_bytes: u64,
    /// Estimated bytes allocated under it since start.
    pub allocated_bytes: u64,
}

/// Everything a reading of the file gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// The process's figures.
    pub counters: Counters,
    /// Its tags', in the order they were named.
    pub tags: Vec<TagFigures>,
}

/// A name as words: its first bytes, up to a character's end, NUL padded.
fn name_words(name: &str) -> [u64; NAME_WORDS] {
    let mut end = name.len().min(NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut bytes = [0u8; NAME_BYTES];
    bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
    let mut words = [0u64; NAME_WORDS];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
    }
    words
}

fn name_of(words: &[u64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Writes the header and the figures into the mapped words (the file's
/// only writer, its process's dump thread): the first [`TAGS`] of `tags`.
/// Allocates nothing.
pub fn publish(words: &[AtomicU64; WORDS], counters: &Counters, tags: &[TagFigures]) {
    let sequence = words[SEQUENCE].load(Ordering::Relaxed);
    let writing = sequence | 1;
    words[SEQUENCE].store(writing, Ordering::Relaxed);
    // Readers that see a figure of this write see the odd sequence.
    fence(Ordering::Release);
    words[0].store(MAGIC, Ordering::Relaxed);
    words[1].store(VERSION, Ordering::Relaxed);
    for (word, value) in words[FIRST..].iter().zip(counters.words()) {
        word.store(value, Ordering::Relaxed);
    }
    let tags = &tags[..tags.len().min(TAGS)];
    words[TAG_COUNT].store(tags.len() as u64, Ordering::Relaxed);
    for (i, tag) in tags.iter().enumerate() {
        let at = TAG_FIRST + i * TAG_WORDS;
        for (word, value) in words[at..].iter().zip(name_words(&tag.name)) {
            word.store(value, Ordering::Relaxed);
        }
        words[at + NAME_WORDS].store(tag.live_bytes, Ordering::Relaxed);
        words[at + NAME_WORDS + 1].store(tag.allocated_bytes, Ordering::Relaxed);
    }
    words[SEQUENCE].store(writing.wrapping_add(1), Ordering::Release);
}

/// Why the words are not a process's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Not a live counters file (or not yet written).
    NotCounters,
    /// A layout this reader does not know.
    Version(u64),
    /// The writer kept changing them while they were read.
    Busy,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotCounters => write!(f, "not a heapsnap live counters file"),
            ReadError::Version(v) => write!(
                f,
                "live counters of layout {v}, this heapsnap reads layout {VERSION}"
            ),
            ReadError::Busy => write!(f, "the figures changed on every read"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads the figures from the mapped words: a consistent copy, or why
/// there is none. Retries while the writer is between two figures.
pub fn read(words: &[AtomicU64; WORDS]) -> Result<Figures, ReadError> {
    for _ in 0..1000 {
        let before = words[SEQUENCE].load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let magic = words[0].load(Ordering::Relaxed);
        let version = words[1].load(Ordering::Relaxed);
        let mut figures = [0u64; FIELDS];
        for (figure, word) in figures.iter_mut().zip(&words[FIRST..]) {
            *figure = word.load(Ordering::Relaxed);
        }
        let count = (words[TAG_COUNT].load(Ordering::Relaxed) as usize).min(TAGS);
        let mut tag_words = [0u64; TAGS * TAG_WORDS];
        for (copy, word) in tag_words[..count * TAG_WORDS]
            .iter_mut()
            .zip(&words[TAG_FIRST..])
        {
            *copy = word.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        if words[SEQUENCE].load(Ordering::Relaxed) != before {
            continue;
        }
        if magic != MAGIC {
            return Err(ReadError::NotCounters);
        }
        if version != VERSION {
            return Err(ReadError::Version(version));
        }
        let tags = tag_words[..count * TAG_WORDS]
            .chunks_exact(TAG_WORDS)
            .map(|tag| TagFigures {
                name: name_of(&tag[..NAME_WORDS]),
                live_bytes: tag[NAME_WORDS],
                allocated_bytes: tag[NAME_WORDS + 1],
            })
            .collect();
        return Ok(Figures {
            counters: Counters::from_words(&figures),
            tags,
        });
    }
    Err(ReadError::Busy)
}

/// The interval a request file's text asks for: at least
/// [`LEAST_REQUESTED_INTERVAL`]; `None` when it reads as no duration.
pub fn requested_interval(text: &str) -> Option<Duration> {
    let asked = units::parse_duration(text.trim()).ok()?;
    Some(asked.max(LEAST_REQUESTED_INTERVAL))
}

/// The words of a copy of the file (`bytes` of [`SIZE`]), for readers that
/// hold no mapping (a file read once, a test). `None` when the size is
/// wrong.
pub fn words_of(bytes: &[u8]) -> Option<Box<[AtomicU64; WORDS]>> {
    if bytes.len() != SIZE {
        return None;
    }
    let words: Vec<AtomicU64> = bytes
        .chunks_exact(8)
        .map(|c| AtomicU64::new(u64::from_le_bytes(c.try_into().unwrap_or_default())))
        .collect();
    words.into_boxed_slice().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Box<[AtomicU64; WORDS]> {
        words_of(&[0; SIZE]).unwrap()
    }

    #[test]
    fn what_is_published_is_read() {
        let words = blank();
        assert_eq!(read(&words), Err(ReadError::NotCounters));
        let counters = Counters {
            pid: 42,
            live_bytes: 5 << 20,
            allocated_bytes: 9 << 20,
            dumps: 3,
            ..Counters::default()
        };
        let tags = [
            TagFigures {
                name: "ips".into(),
                live_bytes: 3 << 20,
                allocated_bytes: 7 << 20,
            },
            TagFigures {
                // Cut at 48 bytes, at a character's end.
                name: format!("{}é{}", "a".repeat(47), "b".repeat(10)),
                live_bytes: 1,
                allocated_bytes: 2,
            },
        ];
        publish(&words, &counters, &tags);
        let read_back = read(&words).unwrap();
        assert_eq!(read_back.counters, counters);
        assert_eq!(read_back.tags[0], tags[0]);
        assert_eq!(read_back.tags[1].name, "a".repeat(47));
        assert_eq!(counters.freed_bytes(), 4 << 20);
        let later = Counters {
            dumps: 4,
            ..counters
        };
        publish(&words, &later, &[]);
        assert_eq!(
            read(&words),
            Ok(Figures {
                counters: later,
                tags: Vec::new()
            })
        );
        assert_eq!(words[SEQUENCE].load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_write_in_progress_or_another_layout_is_not_read() {
        let words = blank();
        publish(&words, &Counters::default(), &[]);
        words[SEQUENCE].store(5, Ordering::Relaxed);
        assert_eq!(read(&words), Err(ReadError::Busy));
        words[SEQUENCE].store(6, Ordering::Relaxed);
        words[1].store(9, Ordering::Relaxed);
        assert_eq!(read(&words), Err(ReadError::Version(9)));
    }

    /// A reader racing a writer never sees figures of two writes mixed.
    #[test]
    fn a_reader_racing_the_writer_sees_whole_writes() {
        let words: &'static [AtomicU64; WORDS] = Box::leak(blank());
        publish(words, &Counters::default(), &[]);
        let writer = std::thread::spawn(move || {
            for n in 1..=20_000u64 {
                let c = Counters {
                    pid: n,
                    live_bytes: n,
                    dumps: n,
                    ..Counters::default()
                };
                let tag = TagFigures {
                    name: n.to_string(),
                    live_bytes: n,
                    allocated_bytes: n,
                };
                publish(words, &c, &[tag]);
            }
        });
        let mut seen = 0;
        while seen < 20_000 {
            if let Ok(Figures { counters: c, tags }) = read(words) {
                assert_eq!((c.live_bytes, c.dumps), (c.pid, c.pid));
                if let [tag] = &tags[..] {
                    assert_eq!(tag.name, c.pid.to_string());
                    assert_eq!(tag.live_bytes, c.pid);
                }
                seen = c.pid;
            }
        }
        writer.join().unwrap();
    }

    #[test]
    fn a_request_is_a_duration_of_a_second_or_more() {
        assert_eq!(requested_interval("2s\n"), Some(Duration::from_secs(2)));
        assert_eq!(requested_interval("100ms"), Some(LEAST_REQUESTED_INTERVAL));
        assert_eq!(requested_interval("soon"), None);
        assert_eq!(request_name(77), "heapsnap-77.interval");
    }

    #[test]
    fn names_carry_the_process() {
        assert_eq!(file_name(77), "heapsnap-77.live");
        assert_eq!(pid_in_name("heapsnap-77.live"), Some(77));
        assert_eq!(pid_in_name("heapsnap-77.json.gz"), None);
        assert_eq!(pid_in_name("x-77.live"), None);
    }
}
