//! What snapshots cost the process that takes them, in a framework-heavy
//! binary (tokio, hyper and axum: a large binary with a lot of debug
//! information to symbolise from): the RSS it gains from its first
//! snapshot and from 100 more, and the CPU time of the first.
//!
//! ```text
//! cargo bench --bench snapshot_cost                         # 512 KiB
//! HEAPSNAP_SAMPLE_INTERVAL=64KiB cargo bench --bench snapshot_cost
//! ```
//!
//! An axum server on loopback keeps what its requests store; a client
//! thread sends requests (each through hyper's and tokio's stacks) between
//! snapshots, so that new stacks keep appearing. RSS is read from
//! `/proc/self/statm`; the CPU time is the process's (`/proc/self/stat`), so
//! it counts every thread.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::post;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

type Items = Arc<Mutex<HashMap<u64, Vec<String>>>>;

async fn store(State(items): State<Items>, Query(query): Query<HashMap<String, u64>>) -> String {
    let count = query.get("count").copied().unwrap_or(1);
    let mut items = items.lock().unwrap_or_else(|e| e.into_inner());
    let id = items.len() as u64;
    items.insert(id, (0..count).map(|i| format!("item-{id}-{i}")).collect());
    format!("{}\n", items.len())
}

fn request(addr: SocketAddr, count: u64) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST /items?count={count} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The process's CPU time (every thread's, user and system), from
/// `/proc/self/stat`, in clock ticks of 10 ms.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are the 14th and 15th fields; `fields` starts at the
    // 3rd.
    (ticks(11) + ticks(12)) / 100.0
}

fn mib(bytes: i64) -> String {
    format!("{:+.1} MiB", bytes as f64 / 1048576.0)
}

/// What writing one snapshot took, as plain JSON and as a dump writes it
/// (gzip-compressed), into memory.
struct Written {
    json_bytes: usize,
    json: Duration,
    gzip_bytes: usize,
    gzip: Duration,
}

/// Takes a snapshot and writes it both ways.
fn snapshot() -> Written {
    let snapshot = heapsnap::snapshot();
    let (mut json, mut gzip) = (Vec::new(), Vec::new());
    let start = Instant::now();
    snapshot.write_to(&mut json).expect("JSON");
    let json_time = start.elapsed();
    let start = Instant::now();
    snapshot.write_gzipped_to(&mut gzip).expect("gzip");
    Written {
        json_bytes: json.len(),
        json: json_time,
        gzip_bytes: gzip.len(),
        gzip: start.elapsed(),
    }
}

/// The median of `values`.
fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let items: Items = Arc::default();
    let app = Router::new().route("/items", post(store)).with_state(items);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    runtime.spawn(async move { axum::serve(listener, app).await });

    for i in 0..2_000 {
        request(addr, 1 + i % 50);
    }
    let interval = heapsnap::stats().interval_bytes;
    let before = rss_bytes() as i64;
    let cpu = cpu_seconds();
    let wall = Instant::now();
    let first = snapshot();
    let first_wall = wall.elapsed();
    let first_cpu = cpu_seconds() - cpu;
    let after_first = rss_bytes() as i64;
    // jemalloc gives dirty pages back over its decay time (10 s).
    std::thread::sleep(Duration::from_secs(12));
    let settled = rss_bytes() as i64;
    let mut after = Vec::new();
    let mut writes = vec![(first.json, first.gzip)];
    let mut last = first.gzip_bytes;
    for round in 1..=100 {
        for i in 0..20 {
            request(addr, 1 + (round + i) % 50);
        }
        let written = snapshot();
        writes.push((written.json, written.gzip));
        last = written.gzip_bytes;
        if [10, 50, 100].contains(&round) {
            after.push((round, rss_bytes() as i64));
        }
    }
    std::thread::sleep(Duration::from_secs(12));
    let settled_100 = rss_bytes() as i64;

    println!(
        "interval: {interval} bytes; RSS before the first snapshot: {}",
        mib(before).trim_start_matches('+')
    );
    println!("| | RSS gained | CPU time | wall time |");
    println!("|---|---:|---:|---:|");
    println!(
        "| first snapshot ({} KB of JSON, {} KB gzipped) | {} | {:.0} ms | {:.0} ms |",
        first.json_bytes / 1000,
        first.gzip_bytes / 1000,
        mib(after_first - before),
        first_cpu * 1000.0,
        first_wall.as_secs_f64() * 1000.0
    );
    println!("| 12 s later | {} | | |", mib(settled - before));
    for (round, rss) in after {
        println!("| after {round} more | {} | | |", mib(rss - before));
    }
    println!("| 12 s later | {} | | |", mib(settled_100 - before));
    println!(
        "\nwriting one (median of {}): JSON {:.2} ms, gzip {:.2} ms; the last {} KB gzipped",
        writes.len(),
        median(writes.iter().map(|w| w.0).collect()).as_secs_f64() * 1000.0,
        median(writes.iter().map(|w| w.1).collect()).as_secs_f64() * 1000.0,
        last / 1000
    );
}
