//! Snapshots: the format (from `heapsnap-format`, re-exported so that
//! `heapsnap::snapshot::Snapshot` and friends keep their paths), and taking
//! one of the running process.

pub use heapsnap_format::snapshot::*;

mod capture;

pub(crate) use capture::capture;
