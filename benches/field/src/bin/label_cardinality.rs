//! Metrics with a user id as a label. A handler counts requests in an
//! `IntCounterVec` labelled by route and user, and keeps a "last seen"
//! gauge per user; users are many and new ones keep coming, so every
//! label set is a new time series that prometheus keeps for the life of
//! the process. Fixed: labels by route and plan (a handful of values).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use heapsnap_field::{Args, load, report, runtime, serve};
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

struct Metrics {
    requests: IntCounterVec,
    last_seen: IntGaugeVec,
    registry: Registry,
    fixed: bool,
}

impl Metrics {
    fn new(fixed: bool) -> Metrics {
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "requests by route and user"),
            &["route", "user"],
        )
        .unwrap();
        let last_seen = IntGaugeVec::new(
            Opts::new("user_last_seen_seconds", "last request"),
            &["user"],
        )
        .unwrap();
        let registry = Registry::new();
        registry.register(Box::new(requests.clone())).unwrap();
        registry.register(Box::new(last_seen.clone())).unwrap();
        Metrics {
            requests,
            last_seen,
            registry,
            fixed,
        }
    }
}

fn record_request(metrics: &Metrics, route: &str, user: &str, plan: &str, now: i64) {
    let who = if metrics.fixed { plan } else { user };
    metrics.requests.with_label_values(&[route, who]).inc();
    metrics.last_seen.with_label_values(&[who]).set(now);
}

async fn profile(State(metrics): State<Arc<Metrics>>, Path(user): Path<String>) -> &'static str {
    let plan = if user.len() % 2 == 0 { "free" } else { "pro" };
    record_request(
        &metrics,
        "/users/{user}/profile",
        &user,
        plan,
        1_700_000_000,
    );
    "ok"
}

fn main() {
    let args = Args::parse(2500);
    runtime().block_on(async {
        let metrics = Arc::new(Metrics::new(args.fixed));
        let router = Router::new()
            .route("/users/{user}/profile", get(profile))
            .with_state(Arc::clone(&metrics));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            // Most requests come from users never seen before.
            let user = if rng.below(10) < 8 {
                format!("u{n:010}-{:08x}", rng.next_u64() as u32)
            } else {
                format!("u{:010}-regular", rng.below(100))
            };
            let _ = client
                .get(format!("http://{addr}/users/{user}/profile"))
                .send()
                .await;
        })
        .await;
        let series = metrics
            .registry
            .gather()
            .iter()
            .map(|f| f.get_metric().len() as u64)
            .sum::<u64>();
        let leaked = if args.fixed { 0 } else { series * 400 };
        // Metrics live as long as the process: nothing to drain but time.
        tokio::time::sleep(args.drain).await;
        report(leaked);
    });
}
