//! The heapsnap snapshot format, shared by the profiler (`heapsnap`), which
//! writes snapshots, and the reporter (`heapsnap-report`), which reads them.
//!
//! Pure Rust with no platform calls, so that snapshots taken on a Linux
//! server can be read wherever engineers look at them (macOS, Windows).
//!
//! - [`snapshot`]: the types, [`Snapshot::read_from_path`] (validated, with
//!   typed errors) and [`Snapshot::write_to_path`] (atomic);
//! - [`units`]: sizes, durations and fractions as people write them;
//! - [`file`](mod@file): writing a file so that no reader sees half of it;
//! - [`names`] and [`types`]: reading the frames of a stack as people do:
//!   short function names, the program's frames apart from the standard
//!   library's, and the type a site's memory holds;
//! - `pprof` (feature `pprof`): a snapshot as a gzipped pprof profile;
//! - [`quality`]: what a snapshot's build lacked (frame pointers, v0
//!   symbols, debug information), and the fix;
//! - [`settings`]: the environment variables heapsnap reads;
//! - [`live`]: the live counters file a running process keeps.
//!
//! ```
//! let snap = heapsnap_format::Snapshot::default();
//! let json = serde_json::to_vec(&snap)?;
//! assert_eq!(heapsnap_format::Snapshot::from_slice(&json)?, snap);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod file;
pub mod live;
pub mod names;
#[cfg(feature = "pprof")]
pub mod pprof;
pub mod quality;
pub mod settings;
pub mod snapshot;
pub mod types;
pub mod units;

pub use snapshot::{Error, ErrorKind, Snapshot};
