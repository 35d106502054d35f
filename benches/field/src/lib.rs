//! What the field programs share: the global allocator, the command line,
//! an HTTP server on loopback and a load generator for it, a paced
//! shutdown, and the last line each prints (`{"leaked_bytes": N}`, the
//! program's own count of what its bug kept, for the evaluation's
//! eligibility rule).
//!
//! Each program is a small service from published crates (axum, tokio,
//! prometheus, moka, lru, dashmap, bytes, serde_json), written from a
//! one-paragraph description of a leak seen in real services; `--fixed`
//! runs its healthy twin. Automatic dumps come from the environment
//! (`HEAPSNAP_DIR`, `HEAPSNAP_DUMP_INTERVAL`), as a user would set them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// The command line every program takes.
#[derive(Clone, Debug)]
pub struct Args {
    /// Run the healthy twin.
    pub fixed: bool,
    /// How long the load runs.
    pub serve: Duration,
    /// How long the shutdown takes to drop the state.
    pub drain: Duration,
    /// Requests per second.
    pub rate: u32,
    /// Seeds the request data.
    pub seed: u64,
}

impl Args {
    /// `--fixed --seconds N --drain N --rate N --seed N`; exits 2 on error.
    pub fn parse(default_rate: u32) -> Args {
        let mut args = Args {
            fixed: false,
            serve: Duration::from_secs(10),
            drain: Duration::from_secs(3),
            rate: default_rate,
            seed: 1,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut number = || -> f64 {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage(&format!("{arg} needs a number")))
            };
            match arg.as_str() {
                "--fixed" => args.fixed = true,
                "--seconds" => args.serve = Duration::from_secs_f64(number()),
                "--drain" => args.drain = Duration::from_secs_f64(number()),
                "--rate" => args.rate = number() as u32,
                "--seed" => args.seed = number() as u64,
                other => usage(&format!("unknown option {other}")),
            }
        }
        args
    }
}

fn usage(reason: &str) -> ! {
    eprintln!("{reason}\noptions: --fixed --seconds N --drain N --rate N --seed N");
    std::process::exit(2);
}

/// A small, fast, seeded generator of request data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The multi-threaded runtime the programs serve on (two workers, as on
/// a small container).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Serves `router` on a loopback port; returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the server");
    });
    addr
}

/// Sends requests for `args.serve` at about `args.rate` a second from
/// `clients` concurrent clients: `request(client, n, rng)` sends request
/// number `n`. Returns how many were sent.
pub async fn load<F, Fut>(args: &Args, clients: usize, request: F) -> u64
where
    F: Fn(reqwest::Client, u64, Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + args.serve;
    let per_client = Duration::from_secs_f64(clients as f64 / f64::from(args.rate.max(1)));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (request, sent) = (Arc::clone(&request), Arc::clone(&sent));
        let mut rng = Rng::new(args.seed.wrapping_mul(1000).wrapping_add(c as u64));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("an HTTP client");
        tasks.push(tokio::spawn(async move {
            let mut next = Instant::now();
            while Instant::now() < deadline {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                request(client.clone(), n, Rng::new(rng.next_u64())).await;
                next += per_client;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                } else {
                    next = Instant::now();
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    sent.load(Ordering::Relaxed)
}

/// A graceful shutdown that drops the state in `steps` parts over
/// `args.drain` (a server draining its connections and caches): `step(i)`
/// drops part `i`.
pub async fn drain(args: &Args, steps: usize, mut step: impl FnMut(usize)) {
    let pause = args.drain / steps.max(1) as u32;
    for i in 0..steps {
        step(i);
        tokio::time::sleep(pause).await;
    }
}

/// The program's last line: what its bug kept, by its own count.
pub fn report(leaked_bytes: u64) {
    println!("{{\"leaked_bytes\": {leaked_bytes}}}");
}

/// A body of `len` bytes, never zero (zeroed memory comes from another
/// allocation path).
pub fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let fill = (rng.next_u64() % 250 + 1) as u8;
    vec![fill; len]
}
