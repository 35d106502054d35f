//! Fills one of each standard collection and smart pointer from its own
//! function, then writes a snapshot: the reference for naming types from
//! stack frames.
//!
//! ```text
//! HEAPSNAP_SAMPLE_INTERVAL=1 cargo run --release --example collections -- heap.json
//! heapsnap top heap.json --by type
//! ```
//!
//! With `--rounds N` it grows every collection N times, writing a snapshot
//! after each round into the directory given instead of a file.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// A connection's context, as a registry would hold it.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Session {
    id: u64,
    user: [u8; 24],
}

/// A queued job.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Job {
    priority: u32,
    payload: [u64; 4],
}

/// Everything the program holds.
#[derive(Default)]
struct State {
    events: Vec<Job>,
    names: Vec<String>,
    by_id: HashMap<u64, Session>,
    live: HashSet<Arc<Session>>,
    index: BTreeMap<u64, Job>,
    seen: BTreeSet<u64>,
    queue: VecDeque<Job>,
    heap: BinaryHeap<Job>,
    // Each box is an allocation of its own: the point of this field.
    #[allow(clippy::vec_box)]
    boxed: Vec<Box<Session>>,
    shared: Vec<Rc<Session>>,
}

fn session(id: u64) -> Session {
    Session {
        id,
        user: [id as u8; 24],
    }
}

fn job(id: u64) -> Job {
    Job {
        priority: (id % 97) as u32,
        payload: [id; 4],
    }
}

#[inline(never)]
fn fill_vec(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.events.push(job(id));
    }
}

#[inline(never)]
fn fill_strings(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.names.push(format!("session-{id}"));
    }
}

#[inline(never)]
fn fill_hash_map(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.by_id.insert(id, session(id));
    }
}

#[inline(never)]
fn fill_hash_set(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.live.insert(Arc::new(session(id)));
    }
}

#[inline(never)]
fn fill_btree_map(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.index.insert(id, job(id));
    }
}

#[inline(never)]
fn fill_btree_set(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.seen.insert(id * 7);
    }
}

#[inline(never)]
fn fill_vec_deque(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.queue.push_back(job(id));
    }
}

#[inline(never)]
fn fill_binary_heap(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.heap.push(job(id));
    }
}

#[inline(never)]
fn fill_boxes(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.boxed.push(Box::new(session(id)));
    }
}

#[inline(never)]
fn fill_rcs(state: &mut State, from: u64, n: u64) {
    for id in from..from + n {
        state.shared.push(Rc::new(session(id)));
    }
}

fn grow(state: &mut State, from: u64, n: u64) {
    fill_vec(state, from, n);
    fill_strings(state, from, n);
    fill_hash_map(state, from, n);
    fill_hash_set(state, from, n);
    fill_btree_map(state, from, n);
    fill_btree_set(state, from, n);
    fill_vec_deque(state, from, n);
    fill_binary_heap(state, from, n);
    fill_boxes(state, from, n);
    fill_rcs(state, from, n);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut state = State::default();
    match args.as_slice() {
        [path] => {
            grow(&mut state, 0, 20_000);
            heapsnap::snapshot().write_to_path(path)?;
        }
        [flag, rounds, dir] if flag == "--rounds" => {
            let rounds: u64 = rounds.parse()?;
            for round in 0..rounds {
                grow(&mut state, round * 10_000, 10_000);
                heapsnap::dump_to_dir(dir)?;
            }
        }
        _ => return Err("usage: collections FILE | collections --rounds N DIR".into()),
    }
    black_box(&state);
    Ok(())
}
