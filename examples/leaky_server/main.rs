//! The first incident, reproduced: a chat gateway whose connection registry
//! never forgets closed connections, because closing a channel rewrites its
//! address to `$UNKNOWN` before `unbind` looks the address up.
//!
//! ```text
//! cargo run --release --example leaky_server             # ~20 s, then the report
//! cargo run --release --example leaky_server -- --fixed  # the control: no leak
//! ```
//!
//! The gateway serves clients from a built-in load generator on loopback,
//! beside parts that are healthy: a bounded profile cache that warms up, a
//! capped message history, an audit queue that fills and empties, a routing
//! table loaded once, and per-message buffers. Automatic dumps write a
//! snapshot every second into `target/heapsnap-demo/leaky-server/`; at the
//! end the example prints `heapsnap leaks` over them and writes a
//! flamegraph of the last one.

mod channel;
mod clients;
#[path = "../support/demo.rs"]
mod demo;
mod gateway;
mod ips;
mod parts;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use gateway::Gateway;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

fn main() -> std::io::Result<()> {
    let options = demo::Options::parse("leaky-server", 4000);
    demo::start_dumps(&options);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway::new(options.fixed));
    gateway.serve(listener, 4)?;
    Arc::clone(&gateway.audit).upload_every(Duration::from_millis(1500));
    let routes = parts::load_routes_after(Duration::from_secs(1));

    println!(
        "chat gateway on {addr}{}: {} connections/s for {:?}, a snapshot every {:?} into {}",
        if options.fixed { " (fixed)" } else { "" },
        options.rate,
        options.duration,
        options.interval,
        options.dir.display()
    );
    let served = clients::run(addr, options.rate, options.duration, 2);
    let (routes, routes_loaded) = routes.join().unwrap_or_default();
    println!(
        "{served} conversations served; {} channels still registered; {} routes",
        gateway.ips.len(),
        routes.len()
    );
    // When the parts that fill to a bound stopped growing: a cache still
    // warming at the end is growing for real.
    println!(
        "{}, {}, {}\n",
        after("profile cache full", gateway.profiles.filled.after()),
        after("history full", gateway.history.filled.after()),
        after("routes loaded", Some(routes_loaded)),
    );
    demo::finish(&options);
    std::hint::black_box(routes);
    Ok(())
}

/// `what after 2.6 s`, or `what: not yet`.
fn after(what: &str, took: Option<Duration>) -> String {
    match took {
        Some(took) => format!("{what} after {:.1} s", took.as_secs_f64()),
        None => format!("{what}: not yet"),
    }
}
