//! The snapshot layer: taking a snapshot of the running process (`capture`),
//! turning addresses into frames (`symbolize`), listing loaded objects for
//! offline symbolisation (`modules`), and what the system says about memory
//! (`memory`). The format itself comes from `heapsnap-format`, re-exported
//! here so that `heapsnap::snapshot::Snapshot` and friends keep their paths.
//!
//! Layer rule: this layer calls `record` and `sys`, never `dump` or the
//! crate's entry points.

pub use heapsnap_format::snapshot::*;

mod capture;
mod graph;
pub(crate) mod memory;
#[allow(unsafe_code)]
pub(crate) mod modules;
pub(crate) mod symbolize;

pub(crate) use capture::{Detail, capture, capture_scope, capture_with};
