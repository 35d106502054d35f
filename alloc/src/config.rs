//! Every `HEAPSNAP_*` setting the allocator reads, in one place.
//!
//! The allocator reads its settings once, on the first allocation that
//! reaches the profiler's slow path, with `getenv` rather than `std::env`:
//! `std::env` takes a lock that `set_var` holds while it allocates, so
//! reading it from inside the allocator could deadlock. Nothing here
//! allocates. Bad values are reported on stderr, once, and ignored.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HEAPSNAP_SAMPLE_INTERVAL` | mean bytes between samples; `1` records every allocation, `0` turns sampling off | `512KiB` |
//! | `HEAPSNAP_SEED` | seed for the samplers (reproducible runs) | random |
//! | `HEAPSNAP_MAX_FRAMES` | deepest stack recorded, 4 to 128 | 64 |
//! | `HEAPSNAP_STACK_WALK` | `auto` (frame pointers when the build has them) or `backtrace` (always unwind with DWARF) | `auto` |
//!
//! Automatic dumps (see `AutoDump`), on when `HEAPSNAP_DIR` is set:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HEAPSNAP_DIR` | directory to dump into (created, mode 0700) | off |
//! | `HEAPSNAP_DUMP_INTERVAL` | dump this often (`60s`, `5min`), or `off` | `60s` |
//! | `HEAPSNAP_DUMP_ON_GROWTH` | dump when the live heap passes the last dumped high by this much (`20%`), or `off` | `20%` |
//! | `HEAPSNAP_DUMP_NEAR_LIMIT` | dump when RSS reaches this fraction of the memory limit (`90%`), or `off` | `90%` |
//! | `HEAPSNAP_DUMP_ON_SIGNAL` | dump on SIGUSR1 (`on`/`off`) | `on` |
//! | `HEAPSNAP_DUMP_ON_OOM` | dump when an allocation fails (`on`/`off`) | `on` |
//! | `HEAPSNAP_KEEP` | keep this many newest dumps (plus the first) | 100 |
//! | `HEAPSNAP_MEMORY_LIMIT` | the memory limit (`2GiB`), instead of the cgroup's | cgroup |
//! | `HEAPSNAP_MEMORY_LIMIT_FILE` | read the limit from this file (like `memory.max`) | cgroup |

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use heapsnap_format::units;

use crate::sys;

/// The default mean number of bytes between samples: 512 KiB.
pub const DEFAULT_SAMPLE_INTERVAL: u64 = 512 * 1024;
/// The most frames ever recorded for one stack.
pub(crate) const MAX_FRAMES_LIMIT: usize = 128;
const DEFAULT_MAX_FRAMES: usize = 64;

static INTERVAL: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_INTERVAL);
/// Bumped whenever the interval changes, so threads redraw their countdowns.
static GENERATION: AtomicU32 = AtomicU32::new(1);
static SEED: AtomicU64 = AtomicU64::new(0);
static MAX_FRAMES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_FRAMES);
static FORCE_BACKTRACE: AtomicBool = AtomicBool::new(false);

const UNLOADED: u8 = 0;
const LOADING: u8 = 1;
const LOADED: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNLOADED);

/// Reads the environment the first time it is called; later calls return at
/// once. Threads that race the first call wait for it to finish (it only
/// parses a few strings).
pub(crate) fn ensure_loaded() {
    if STATE.load(Ordering::Acquire) == LOADED {
        return;
    }
    if STATE
        .compare_exchange(UNLOADED, LOADING, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        load();
        STATE.store(LOADED, Ordering::Release);
    } else {
        while STATE.load(Ordering::Acquire) != LOADED {
            std::hint::spin_loop();
        }
    }
}

fn load() {
    crate::clock::start();
    let env = |name| sys::getenv(name).map(str::trim);
    if let Some(text) = env(c"HEAPSNAP_SAMPLE_INTERVAL") {
        match units::parse_bytes(text) {
            Ok(bytes) => INTERVAL.store(bytes, Ordering::Relaxed),
            Err(err) => warn("HEAPSNAP_SAMPLE_INTERVAL", text, err.reason().as_bytes()),
        }
    }
    let seed = match env(c"HEAPSNAP_SEED").map(str::parse::<u64>) {
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            warn(
                "HEAPSNAP_SEED",
                env(c"HEAPSNAP_SEED").unwrap_or(""),
                b"not a whole number",
            );
            crate::clock::entropy()
        }
        None => crate::clock::entropy(),
    };
    SEED.store(seed, Ordering::Relaxed);
    if let Some(text) = env(c"HEAPSNAP_MAX_FRAMES") {
        match text.parse::<usize>() {
            Ok(n) if (4..=MAX_FRAMES_LIMIT).contains(&n) => MAX_FRAMES.store(n, Ordering::Relaxed),
            _ => warn(
                "HEAPSNAP_MAX_FRAMES",
                text,
                b"expected a number from 4 to 128",
            ),
        }
    }
    match env(c"HEAPSNAP_STACK_WALK") {
        None | Some("auto") => {}
        Some("backtrace") => FORCE_BACKTRACE.store(true, Ordering::Relaxed),
        Some(other) => warn("HEAPSNAP_STACK_WALK", other, b"expected auto or backtrace"),
    }
}

/// Mean bytes between samples (0 = off, 1 = every allocation).
pub(crate) fn interval() -> u64 {
    INTERVAL.load(Ordering::Relaxed)
}

/// Changes the sampling interval for every thread.
pub(crate) fn set_interval(bytes: u64) {
    ensure_loaded();
    INTERVAL.store(bytes, Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Changes whenever the interval does.
pub(crate) fn generation() -> u32 {
    GENERATION.load(Ordering::Acquire)
}

/// The seed all threads' samplers derive from.
pub(crate) fn seed() -> u64 {
    SEED.load(Ordering::Relaxed)
}

/// How many frames to record per stack.
pub(crate) fn max_frames() -> usize {
    MAX_FRAMES.load(Ordering::Relaxed)
}

/// True when `HEAPSNAP_STACK_WALK=backtrace` asks for DWARF unwinding.
pub(crate) fn force_backtrace() -> bool {
    FORCE_BACKTRACE.load(Ordering::Relaxed)
}

/// Automatic-dump settings from the environment, when `HEAPSNAP_DIR` is set.
/// Read with `getenv` too: this runs on the allocator's slow path.
pub(crate) fn auto_dump() -> Option<crate::AutoDump> {
    let env = |name| sys::getenv(name).map(str::trim).filter(|v| !v.is_empty());
    let dir = env(c"HEAPSNAP_DIR")?;
    let mut dump = crate::AutoDump::new(dir);
    let off = |value: &str| matches!(value, "off" | "0" | "no" | "false");
    if let Some(text) = env(c"HEAPSNAP_DUMP_INTERVAL") {
        match units::parse_duration(text) {
            _ if off(text) => dump = dump.interval(None),
            Ok(interval) => dump = dump.interval(Some(interval)),
            Err(err) => warn("HEAPSNAP_DUMP_INTERVAL", text, err.reason().as_bytes()),
        }
    }
    for (name, value) in [
        ("HEAPSNAP_DUMP_ON_GROWTH", env(c"HEAPSNAP_DUMP_ON_GROWTH")),
        ("HEAPSNAP_DUMP_NEAR_LIMIT", env(c"HEAPSNAP_DUMP_NEAR_LIMIT")),
    ] {
        let Some(text) = value else { continue };
        let fraction = match units::parse_fraction(text) {
            _ if off(text) => None,
            Ok(fraction) if fraction > 0.0 => Some(fraction),
            _ => {
                warn(name, text, b"expected a percentage such as 20%, or off");
                continue;
            }
        };
        dump = if name == "HEAPSNAP_DUMP_ON_GROWTH" {
            dump.on_growth(fraction)
        } else {
            dump.near_limit(fraction)
        };
    }
    if let Some(text) = env(c"HEAPSNAP_DUMP_ON_SIGNAL") {
        dump = dump.on_signal(!off(text));
    }
    if let Some(text) = env(c"HEAPSNAP_DUMP_ON_OOM") {
        dump = dump.on_out_of_memory(!off(text));
    }
    if let Some(text) = env(c"HEAPSNAP_KEEP") {
        match text.parse::<usize>() {
            Ok(keep) if keep > 0 => dump = dump.keep(keep),
            _ => warn("HEAPSNAP_KEEP", text, b"expected a number of files"),
        }
    }
    if let Some(text) = env(c"HEAPSNAP_MEMORY_LIMIT") {
        match units::parse_bytes(text) {
            Ok(bytes) => dump = dump.memory_limit(Some(bytes)),
            Err(err) => warn("HEAPSNAP_MEMORY_LIMIT", text, err.reason().as_bytes()),
        }
    }
    if let Some(file) = env(c"HEAPSNAP_MEMORY_LIMIT_FILE") {
        dump = dump.memory_limit_file(Some(file.into()));
    }
    Some(dump)
}

/// Writes `heapsnap: ignoring NAME=VALUE: REASON` to stderr, without
/// allocating.
fn warn(name: &str, value: &str, reason: &[u8]) {
    let mut line = [0u8; 256];
    let mut len = 0;
    for part in [
        b"heapsnap: ignoring ".as_slice(),
        name.as_bytes(),
        b"=",
        value.as_bytes(),
        b": ",
        reason,
        b"\n",
    ] {
        let n = part.len().min(line.len() - len);
        line[len..len + n].copy_from_slice(&part[..n]);
        len += n;
    }
    sys::write_stderr(&line[..len]);
}
