//! Image uploads handed to a background thread. The handler copies each
//! upload into `Bytes` and sends it over a `std::sync::mpsc` channel to an
//! uploader thread that pushes one file every two milliseconds to object
//! storage; uploads arrive faster, and the channel's backlog grows. Fixed:
//! a bounded channel, and uploads refused with 503 when it is full.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use heapsnap_field::{Args, drain, load, report, runtime, serve};

enum Queue {
    Unbounded(mpsc::Sender<Bytes>),
    Bounded(mpsc::SyncSender<Bytes>),
}

struct App {
    queue: Queue,
    queued: Arc<AtomicU64>,
}

fn enqueue_upload(app: &App, upload: Bytes) -> bool {
    let sent = match &app.queue {
        Queue::Unbounded(tx) => tx.send(upload).is_ok(),
        Queue::Bounded(tx) => tx.try_send(upload).is_ok(),
    };
    if sent {
        app.queued.fetch_add(1, Ordering::Relaxed);
    }
    sent
}

fn uploader(uploads: mpsc::Receiver<Bytes>, queued: Arc<AtomicU64>) {
    let mut stored = 0usize;
    while let Ok(upload) = uploads.recv() {
        stored += upload.len();
        queued.fetch_sub(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::hint::black_box(stored);
}

async fn upload(State(app): State<Arc<App>>, body: Bytes) -> StatusCode {
    let copy = Bytes::copy_from_slice(&body);
    if enqueue_upload(&app, copy) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

fn main() {
    let args = Args::parse(1000);
    let queued = Arc::new(AtomicU64::new(0));
    let (queue, receiver) = if args.fixed {
        let (tx, rx) = mpsc::sync_channel(256);
        (Queue::Bounded(tx), rx)
    } else {
        let (tx, rx) = mpsc::channel();
        (Queue::Unbounded(tx), rx)
    };
    {
        let queued = Arc::clone(&queued);
        std::thread::spawn(move || uploader(receiver, queued));
    }
    runtime().block_on(async {
        let app = Arc::new(App {
            queue,
            queued: Arc::clone(&queued),
        });
        let router = Router::new()
            .route("/upload", post(upload))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, _| async move {
            let image = vec![(n % 250 + 1) as u8; 3072];
            let _ = client
                .post(format!("http://{addr}/upload"))
                .body(image)
                .send()
                .await;
        })
        .await;
        let leaked = if args.fixed {
            0
        } else {
            queued.load(Ordering::Relaxed) * 3100
        };
        drain(&args, 10, |_| {}).await;
        report(leaked);
    });
}
