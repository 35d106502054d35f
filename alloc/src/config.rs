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
//! | `HEAPSNAP_MAX_SITES` | most sites (stack and tag) recorded; samples of new stacks beyond go to one site per tag, without a stack, and are counted | 32768 |
//! | `HEAPSNAP_SYMBOLIZE` | `auto`: snapshots the program takes itself (`snapshot()`, `dump_to_dir`, `pprof()`) name their frames in the process, automatic dumps keep bare addresses and the module map, which `heapsnap` names from the binary on the same machine unasked (or from `--binary`, `--debug-dir`): no debug information is read in the process, whose memory peak stays flat; `on`: automatic dumps too, except near-limit and out-of-memory dumps (reading debug information costs tens of MiB at its peak, let go after each snapshot); `off`: none | `auto` |
//! | `HEAPSNAP_COMPRESS` | `gzip`: snapshot files the profiler numbers (automatic dumps, `dump_to_dir`) are gzip-compressed JSON, `.json.gz`; `off`: plain `.json` | `gzip` |
//! | `HEAPSNAP_SCAN` | the most bytes a snapshot reads of the sampled blocks (and of the unsampled memory between them) to find which point at which, the heap graph that names a leak's holder (`64MiB`), or `off` | `64MiB` |
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
//! | `HEAPSNAP_DUMP_ON_EXIT` | a last dump at exit, and on SIGTERM/SIGINT the program leaves to end it (`on`/`off`) | `on` |
//! | `HEAPSNAP_KEEP` | keep this many newest dumps (plus the first) | 100 |
//! | `HEAPSNAP_MEMORY_LIMIT` | the memory limit (`2GiB`), instead of the cgroup's | cgroup |
//! | `HEAPSNAP_MEMORY_LIMIT_FILE` | read the limit from this file (like `memory.max`) | cgroup |

use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering};

use heapsnap_format::units;

use crate::dump::{self, files};
use crate::record::settings::{self, MAX_FRAMES_LIMIT, Symbolize};
use crate::sys::{self, EnvValue, clock};

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

/// A variable's value, when it is set and not blank (a value that cannot be
/// read is said on stderr and ignored). A copy of 4 KiB on the stack: read
/// one at a time.
fn env(name: &CStr) -> Option<EnvValue> {
    let value = sys::getenv(name)?;
    match value.as_str() {
        Some(text) if !text.trim().is_empty() => Some(value),
        Some(_) => None,
        None => {
            let name = name.to_str().unwrap_or("HEAPSNAP_*");
            warn(name, "", b"not UTF-8, or longer than 4095 bytes");
            None
        }
    }
}

/// The trimmed text of a value [`env`] returned.
fn text(value: &EnvValue) -> &str {
    value.as_str().unwrap_or("").trim()
}

fn load() {
    clock::start();
    if let Some(value) = env(c"HEAPSNAP_SAMPLE_INTERVAL") {
        let text = text(&value);
        match units::parse_interval(text) {
            Ok(bytes) => settings::set_interval(bytes),
            Err(err) => warn("HEAPSNAP_SAMPLE_INTERVAL", text, err.reason().as_bytes()),
        }
    }
    let seed = match env(c"HEAPSNAP_SEED") {
        Some(value) => text(&value).parse::<u64>().unwrap_or_else(|_| {
            warn("HEAPSNAP_SEED", text(&value), b"not a whole number");
            clock::entropy()
        }),
        None => clock::entropy(),
    };
    settings::set_seed(seed);
    if let Some(value) = env(c"HEAPSNAP_MAX_FRAMES") {
        let text = text(&value);
        match text.parse::<usize>() {
            Ok(n) if (4..=MAX_FRAMES_LIMIT).contains(&n) => settings::set_max_frames(n),
            _ => warn(
                "HEAPSNAP_MAX_FRAMES",
                text,
                b"expected a number from 4 to 128",
            ),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_MAX_SITES") {
        let text = text(&value);
        match text.parse::<usize>() {
            Ok(n) if n >= 16 => settings::set_max_sites(n),
            _ => warn("HEAPSNAP_MAX_SITES", text, b"expected a number, 16 or more"),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_STACK_WALK") {
        match text(&value) {
            "auto" => {}
            "backtrace" => settings::set_force_backtrace(true),
            other => warn("HEAPSNAP_STACK_WALK", other, b"expected auto or backtrace"),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_SYMBOLIZE") {
        match text(&value) {
            "auto" => settings::set_symbolize(Symbolize::Auto),
            "on" | "1" | "yes" | "true" => settings::set_symbolize(Symbolize::On),
            text if off(text) => settings::set_symbolize(Symbolize::Off),
            other => warn("HEAPSNAP_SYMBOLIZE", other, b"expected auto, on or off"),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_SCAN") {
        let text = text(&value);
        match units::parse_bytes(text) {
            _ if off(text) => settings::set_scan_budget(0),
            Ok(bytes) => settings::set_scan_budget(bytes),
            Err(err) => warn("HEAPSNAP_SCAN", text, err.reason().as_bytes()),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_COMPRESS") {
        match text(&value) {
            "gzip" | "on" => files::set_gzip(true),
            text if off(text) => files::set_gzip(false),
            other => warn("HEAPSNAP_COMPRESS", other, b"expected gzip or off"),
        }
    }
}

/// Changes the sampling interval for every thread (after reading the
/// environment, so that the environment does not override it later).
pub(crate) fn set_interval(bytes: u64) {
    ensure_loaded();
    settings::set_interval(bytes);
}

/// Automatic-dump settings from the environment, when `HEAPSNAP_DIR` is set.
/// Read with `getenv` too: this runs on the allocator's slow path.
pub(crate) fn auto_dump() -> Option<dump::Settings> {
    let mut dump = dump::Settings::new(text(&env(c"HEAPSNAP_DIR")?).into());
    if let Some(value) = env(c"HEAPSNAP_DUMP_INTERVAL") {
        let text = text(&value);
        match units::parse_duration(text) {
            _ if off(text) => dump.interval = None,
            Ok(interval) => dump.interval = Some(interval),
            Err(err) => warn("HEAPSNAP_DUMP_INTERVAL", text, err.reason().as_bytes()),
        }
    }
    for (name, variable) in [
        ("HEAPSNAP_DUMP_ON_GROWTH", c"HEAPSNAP_DUMP_ON_GROWTH"),
        ("HEAPSNAP_DUMP_NEAR_LIMIT", c"HEAPSNAP_DUMP_NEAR_LIMIT"),
    ] {
        let Some(value) = env(variable) else { continue };
        let text = text(&value);
        let fraction = match units::parse_fraction(text) {
            _ if off(text) => None,
            Ok(fraction) if fraction > 0.0 => Some(fraction),
            _ => {
                warn(name, text, b"expected a percentage such as 20%, or off");
                continue;
            }
        };
        if name == "HEAPSNAP_DUMP_ON_GROWTH" {
            dump.growth = fraction;
        } else {
            dump.near_limit = fraction;
        }
    }
    if let Some(value) = env(c"HEAPSNAP_DUMP_ON_SIGNAL") {
        dump.signal = !off(text(&value));
    }
    if let Some(value) = env(c"HEAPSNAP_DUMP_ON_OOM") {
        dump.on_oom = !off(text(&value));
    }
    if let Some(value) = env(c"HEAPSNAP_DUMP_ON_EXIT") {
        dump.on_exit = !off(text(&value));
    }
    if let Some(value) = env(c"HEAPSNAP_KEEP") {
        let text = text(&value);
        match text.parse::<usize>() {
            Ok(keep) if keep > 0 => dump.keep = keep,
            _ => warn("HEAPSNAP_KEEP", text, b"expected a number of files"),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_MEMORY_LIMIT") {
        let text = text(&value);
        match units::parse_bytes(text) {
            Ok(bytes) => dump.memory_limit = Some(bytes),
            Err(err) => warn("HEAPSNAP_MEMORY_LIMIT", text, err.reason().as_bytes()),
        }
    }
    if let Some(value) = env(c"HEAPSNAP_MEMORY_LIMIT_FILE") {
        dump.memory_limit_file = Some(text(&value).into());
    }
    Some(dump)
}

/// True for the words that turn a switch off.
fn off(value: &str) -> bool {
    matches!(value, "off" | "0" | "no" | "false")
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
