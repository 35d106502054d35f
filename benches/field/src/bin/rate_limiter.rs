//! A per-client rate limiter in an API gateway. Each client key
//! (address and port, which churn behind mobile NAT) gets a token bucket
//! with its recent request times in a `DashMap<String, Bucket>`. Nothing
//! ever removes a bucket: the map grows with every client ever seen.
//! Fixed: a sweeper task removes buckets idle for a second.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use dashmap::DashMap;
use heapsnap_field::{Args, drain, load, report, runtime, serve};

struct Bucket {
    tokens: f64,
    last: Instant,
    recent: VecDeque<u64>,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            tokens: 10.0,
            last: Instant::now(),
            recent: VecDeque::with_capacity(128),
        }
    }
}

#[derive(Default)]
struct RateLimiter {
    buckets: DashMap<String, Bucket>,
}

impl RateLimiter {
    fn check(&self, client: String, now_ms: u64) -> bool {
        let mut bucket = self.buckets.entry(client).or_insert_with(Bucket::new);
        let elapsed = bucket.last.elapsed().as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * 5.0).min(10.0);
        bucket.last = Instant::now();
        bucket.recent.push_back(now_ms);
        if bucket.recent.len() > 100 {
            bucket.recent.pop_front();
        }
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn sweep(&self, idle: Duration) {
        self.buckets
            .retain(|_, bucket| bucket.last.elapsed() < idle);
    }
}

async fn handle(
    State(limiter): State<Arc<RateLimiter>>,
    Path(client): Path<String>,
) -> &'static str {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if limiter.check(client, now_ms) {
        "ok"
    } else {
        "slow down"
    }
}

fn main() {
    let args = Args::parse(2000);
    runtime().block_on(async {
        let limiter = Arc::new(RateLimiter::default());
        if args.fixed {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    limiter.sweep(Duration::from_secs(1));
                }
            });
        }
        let router = Router::new()
            .route("/api/{client}", get(handle))
            .with_state(Arc::clone(&limiter));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let port = 1024 + rng.below(60000);
            let key = format!(
                "10.{}.{}.{}:{port}-{n}",
                n % 256,
                (n / 256) % 256,
                rng.below(256)
            );
            let _ = client.get(format!("http://{addr}/api/{key}")).send().await;
        })
        .await;
        let leaked = if args.fixed {
            0
        } else {
            limiter.buckets.len() as u64 * (128 * 8 + 160)
        };
        drain(&args, 10, |_| {
            let keys: Vec<String> = limiter
                .buckets
                .iter()
                .take(limiter.buckets.len() / 3 + 1)
                .map(|e| e.key().clone())
                .collect();
            for key in keys {
                limiter.buckets.remove(&key);
            }
        })
        .await;
        report(leaked);
    });
}
