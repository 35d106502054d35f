//! The recording layer: everything the allocator does on each allocation
//! and free. The fast path is a thread-local countdown and a filter read
//! (`thread`, `filter`); the sampled path (`sampled`) walks the stack
//! (`stack`), interns the site (`sites`) and keeps the live sample
//! (`table`), under the re-entrancy guard (`guard`). Buffers past a size
//! that reach a new largest for their stack are noted apart (`watch`).
//! When the inner allocator refuses the profiler's own allocations, they
//! come from a reserve (`reserve`).
//!
//! Layer rule: this layer calls only `sys` (and `heapsnap-format`). What it
//! needs from above (start-up on the first sample) is passed in by the
//! caller; out-of-memory dumps are the caller's to trigger.

pub(crate) mod counters;
pub(crate) mod filter;
pub(crate) mod guard;
pub(crate) mod hash;
#[allow(unsafe_code)]
pub(crate) mod reserve;
mod sampled;
pub(crate) mod sampler;
pub(crate) mod settings;
pub(crate) mod sites;
#[allow(unsafe_code)]
pub(crate) mod stack;
pub(crate) mod table;
pub(crate) mod tags;
pub(crate) mod thread;
pub(crate) mod watch;

pub(crate) use sampled::{forget_freed, record_sample, retrack_after_realloc, take_for_realloc};
