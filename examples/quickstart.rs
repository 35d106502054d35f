//! The smallest useful heapsnap program: install the profiler, build some
//! state, write a snapshot.
//!
//! ```text
//! cargo run --release --example quickstart -- heap.json
//! heapsnap top heap.json
//! ```

use std::collections::HashSet;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// A connection's context, as a server's registry would hold it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    id: u64,
    peer: String,
}

/// Something a server keeps a log of.
#[derive(Debug)]
pub struct Event {
    at: u64,
    payload: [u8; 48],
}

fn register(connections: &mut HashSet<Arc<Conn>>, n: u64) {
    for id in 0..n {
        connections.insert(Arc::new(Conn {
            id,
            peer: format!("10.0.{}.{}:443", id / 250, id % 250),
        }));
    }
}

fn record(events: &mut Vec<Event>, n: u64) {
    for at in 0..n {
        events.push(Event {
            at,
            payload: [at as u8; 48],
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "heap.json".into());
    let mut connections = HashSet::new();
    let mut events = Vec::new();
    register(&mut connections, 200_000);
    record(&mut events, 500_000);
    heapsnap::snapshot().write_to_path(&path)?;
    println!(
        "wrote {path}: {} connections, {} events held",
        connections.len(),
        events.len()
    );
    assert!(events.iter().all(|e| e.payload[0] == e.at as u8));
    assert!(
        connections
            .iter()
            .all(|c| !c.peer.is_empty() && c.id < 200_000)
    );
    Ok(())
}
