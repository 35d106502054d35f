//! The heapsnap reporter: reads heap snapshots and answers where the memory
//! is and what grew.

#![deny(missing_docs)]

pub use heapsnap::Snapshot;
