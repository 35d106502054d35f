//! The heapsnap reporter: reads heap snapshots written by the `heapsnap`
//! crate and answers where the memory is and what grew.
//!
//! Each command is a module with an options struct and one entry point that
//! returns a report; `render` writes reports as text, JSON or Markdown. The
//! `heapsnap` binary only parses arguments and calls these.
//!
//! ```no_run
//! let loaded = heapsnap_report::load::one("heap.json")?;
//! let report = heapsnap_report::top::top(&loaded, &heapsnap_report::top::Options::default());
//! heapsnap_report::render::text::top(&report, &mut std::io::stdout())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod diff;
pub mod flame;
pub mod format;
pub mod leaks;
pub mod load;
mod names;
pub mod render;
mod stats;
pub mod top;
pub mod trend;
pub mod types;
pub mod view;

pub use heapsnap_format::Snapshot;
