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
pub mod filter;
pub mod flame;
pub mod leaks;
#[allow(unsafe_code)]
pub mod live;
pub mod load;
pub mod render;
pub mod report;
pub mod symbolize;
pub mod top;

pub mod format;
mod stats;
mod summary;
mod trend;
mod view;

pub use heapsnap_format::Snapshot;
pub use load::Loaded;
pub use summary::Summary;
pub use trend::Verdict;
pub use view::{Location, Unknown};
