//! Server scenarios for evaluating `heapsnap leaks` on programs it was not
//! tuned for.
//!
//! A [`plan::Plan`] describes one run of a server: how long, at which
//! sampling interval, when snapshots are taken, whether the last one is
//! taken during teardown, at most one leak (a registry of `Arc`s, a map of
//! structs stored by value, values parsed elsewhere and moved into a map,
//! an instance per call kept by a watcher, a log that never forgets) and
//! healthy parts around it (caches from the `moka` crate that warm up or
//! expire, a table loaded once at any time, queues with bursts, thread per
//! connection churn, a bounded store of the leak's own element type, async
//! tasks on `tokio`). The `scenario` binary runs a plan as a real
//! allocating program with the profiler installed and writes what really
//! leaked (a [`score::Truth`]) beside its snapshots; [`score`] judges a
//! `heapsnap leaks` report against it.
//!
//! Plans are drawn at random ([`plan::Plan::random`]) by the evaluation
//! bench (`benches/leak_eval.rs`), and fixed by the end-to-end tests.

pub mod plan;
pub mod run;
pub mod score;
