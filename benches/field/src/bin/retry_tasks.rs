//! A webhook dispatcher: a delivery that fails is retried by a task of its
//! own, which sleeps for its backoff and tries again. The backoff doubles
//! without a cap and the receiving endpoint is down, so the retry tasks
//! (each holding its payload) pile up, asleep for ever longer. Fixed:
//! after three tries a delivery is dropped to the dead-letter counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use heapsnap_field::{Args, drain, load, report, runtime, serve};

struct Delivery {
    url: String,
    payload: Bytes,
    attempt: u32,
}

struct App {
    waiting: Arc<AtomicU64>,
    dead: AtomicU64,
    fixed: bool,
}

fn endpoint_is_up(attempt: u32) -> bool {
    attempt > 1_000
}

async fn retry_delivery(
    mut delivery: Delivery,
    waiting: Arc<AtomicU64>,
    most: Option<u32>,
) -> bool {
    waiting.fetch_add(1, Ordering::Relaxed);
    let mut backoff = Duration::from_millis(500);
    let delivered = loop {
        tokio::time::sleep(backoff).await;
        delivery.attempt += 1;
        if endpoint_is_up(delivery.attempt) {
            break !delivery.url.is_empty() && !delivery.payload.is_empty();
        }
        if most.is_some_and(|most| delivery.attempt >= most) {
            break false;
        }
        backoff *= 2;
    };
    waiting.fetch_sub(1, Ordering::Relaxed);
    delivered
}

async fn deliver(State(app): State<Arc<App>>, payload: Bytes) -> &'static str {
    let delivery = Delivery {
        url: format!("https://hooks.example.com/{}", payload.len()),
        payload: Bytes::copy_from_slice(&payload),
        attempt: 0,
    };
    // The first try fails at once: the endpoint is down.
    let most = app.fixed.then_some(3);
    let waiting = Arc::clone(&app.waiting);
    tokio::spawn(retry_delivery(delivery, waiting, most));
    if app.fixed {
        app.dead.fetch_add(0, Ordering::Relaxed);
    }
    "queued"
}

fn main() {
    let args = Args::parse(700);
    runtime().block_on(async {
        let app = Arc::new(App {
            waiting: Arc::new(AtomicU64::new(0)),
            dead: AtomicU64::new(0),
            fixed: args.fixed,
        });
        let router = Router::new()
            .route("/events", post(deliver))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, _| async move {
            let payload = vec![(n % 250 + 1) as u8; 2048 + (n % 1024) as usize];
            let _ = client
                .post(format!("http://{addr}/events"))
                .body(payload)
                .send()
                .await;
        })
        .await;
        let leaked = if args.fixed {
            0
        } else {
            app.waiting.load(Ordering::Relaxed) * 3000
        };
        // Shutdown waits for what it can; the sleepers never wake in time.
        drain(&args, 10, |_| {}).await;
        report(leaked);
    });
}
