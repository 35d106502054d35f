//! Latency histograms labelled by the raw request path. An order API
//! observes each request's latency in a `HistogramVec` labelled by method
//! and path, but passes `/orders/83421` instead of the route template
//! `/orders/{id}`: one histogram (a dozen buckets) per order ever looked
//! up. Fixed: labelled by the template.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use heapsnap_field::{Args, load, report, runtime, serve};
use prometheus::{HistogramOpts, HistogramVec, Registry};

struct Metrics {
    latency: HistogramVec,
    registry: Registry,
    fixed: bool,
}

fn observe_latency(metrics: &Metrics, method: &str, path: &str, template: &str, started: Instant) {
    let label = if metrics.fixed { template } else { path };
    metrics
        .latency
        .with_label_values(&[method, label])
        .observe(started.elapsed().as_secs_f64());
}

async fn order(State(metrics): State<Arc<Metrics>>, Path(id): Path<u64>) -> String {
    let started = Instant::now();
    let body = format!("{{\"order\": {id}, \"status\": \"shipped\"}}");
    observe_latency(
        &metrics,
        "GET",
        &format!("/orders/{id}"),
        "/orders/{id}",
        started,
    );
    body
}

fn main() {
    let args = Args::parse(2000);
    runtime().block_on(async {
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "latency by route"),
            &["method", "path"],
        )
        .unwrap();
        let registry = Registry::new();
        registry.register(Box::new(latency.clone())).unwrap();
        let metrics = Arc::new(Metrics {
            latency,
            registry,
            fixed: args.fixed,
        });
        let router = Router::new()
            .route("/orders/{id}", get(order))
            .with_state(Arc::clone(&metrics));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let id = if rng.below(4) == 0 {
                rng.below(50)
            } else {
                1_000_000 + n
            };
            let _ = client
                .get(format!("http://{addr}/orders/{id}"))
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
        let leaked = if args.fixed { 0 } else { series * 600 };
        tokio::time::sleep(args.drain).await;
        report(leaked);
    });
}
