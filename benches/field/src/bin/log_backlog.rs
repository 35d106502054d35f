//! Structured access logs behind a slow sink. Each request sends a JSON
//! record (`serde_json::Value`) down an unbounded channel to one writer
//! task, which writes one record at a time to a sink that takes a
//! millisecond per write; requests come faster than that, and the backlog
//! in the channel grows for as long as the traffic lasts. Fixed: the
//! writer takes everything waiting in one batched write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use heapsnap_field::{Args, drain, load, report, runtime, serve};
use serde_json::{Value, json};
use tokio::sync::mpsc;

struct App {
    logs: mpsc::UnboundedSender<Value>,
    queued: Arc<AtomicU64>,
}

fn access_record(path: &str, status: u16, n: u64) -> Value {
    json!({
        "ts": 1_700_000_000_000u64 + n,
        "method": "GET",
        "path": path,
        "status": status,
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "remote": format!("198.51.100.{}", n % 250),
        "trace_id": format!("{:032x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        "headers": {"accept": "*/*", "x-request-id": n.to_string(), "x-tenant": "acme"},
        "latency_ms": (n % 97) as f64 / 3.0,
    })
}

fn log_request(app: &App, path: &str, status: u16, n: u64) {
    app.queued.fetch_add(1, Ordering::Relaxed);
    let _ = app.logs.send(access_record(path, status, n));
}

async fn write_logs(
    mut logs: mpsc::UnboundedReceiver<Value>,
    queued: Arc<AtomicU64>,
    batched: bool,
) {
    let mut written = 0usize;
    while let Some(record) = logs.recv().await {
        let mut batch = vec![record];
        if batched {
            while let Ok(more) = logs.try_recv() {
                batch.push(more);
            }
        }
        written += batch.iter().map(|r| r.to_string().len()).sum::<usize>();
        queued.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        // The sink: a millisecond a write, however large.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    std::hint::black_box(written);
}

async fn item(State(app): State<Arc<App>>, Path(id): Path<u64>) -> String {
    let body = format!("item {id}");
    log_request(&app, &format!("/items/{id}"), 200, id);
    body
}

fn main() {
    let args = Args::parse(1500);
    runtime().block_on(async {
        let (logs, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(write_logs(receiver, Arc::clone(&queued), args.fixed));
        let app = Arc::new(App {
            logs,
            queued: Arc::clone(&queued),
        });
        let router = Router::new()
            .route("/items/{id}", get(item))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, _| async move {
            let _ = client.get(format!("http://{addr}/items/{n}")).send().await;
        })
        .await;
        let leaked = queued.load(Ordering::Relaxed) * 1500;
        // Shutdown: the writer goes on draining while the server winds down.
        drain(&args, 10, |_| {}).await;
        writer.abort();
        report(leaked);
    });
}
