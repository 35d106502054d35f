//! A notification service: each subscriber gets a task that forwards
//! broadcast messages to the subscriber's own queue. The task ends only
//! when a send to that queue fails, and broadcasts are rare, so tasks of
//! clients that left wait on the broadcast receiver for a long time, each
//! with its subscriber's state. Fixed: the task also ends when the
//! client's queue closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use heapsnap_field::{Args, drain, load, report, runtime, serve};
use tokio::sync::{broadcast, mpsc};

#[derive(Clone, Debug)]
struct Notice {
    text: String,
}

struct Subscriber {
    name: String,
    filters: Vec<String>,
    scratch: Vec<u8>,
}

struct App {
    notices: broadcast::Sender<Notice>,
    live: Arc<AtomicU64>,
    fixed: bool,
}

async fn forward_messages(
    mut notices: broadcast::Receiver<Notice>,
    out: mpsc::Sender<Notice>,
    subscriber: Subscriber,
    live: Arc<AtomicU64>,
    fixed: bool,
) {
    live.fetch_add(1, Ordering::Relaxed);
    loop {
        let notice = if fixed {
            tokio::select! {
                notice = notices.recv() => notice,
                _ = out.closed() => break,
            }
        } else {
            notices.recv().await
        };
        let Ok(notice) = notice else { break };
        if subscriber
            .filters
            .iter()
            .any(|f| notice.text.contains(f.as_str()))
            && out.send(notice).await.is_err()
        {
            break;
        }
    }
    live.fetch_sub(1, Ordering::Relaxed);
    drop(subscriber.scratch);
    drop(subscriber.name);
}

async fn subscribe(State(app): State<Arc<App>>, Path(id): Path<u64>) -> String {
    let (out, mut inbox) = mpsc::channel(16);
    let subscriber = Subscriber {
        name: format!("client-{id}"),
        filters: vec![format!("topic-{}", id % 10), "all".to_owned()],
        scratch: vec![(id % 250 + 1) as u8; 4096],
    };
    tokio::spawn(forward_messages(
        app.notices.subscribe(),
        out,
        subscriber,
        Arc::clone(&app.live),
        app.fixed,
    ));
    // The client reads what is there and leaves.
    let first = inbox.try_recv().map(|n| n.text).unwrap_or_default();
    drop(inbox);
    first
}

fn main() {
    let args = Args::parse(600);
    runtime().block_on(async {
        let (notices, _) = broadcast::channel(64);
        let app = Arc::new(App {
            notices: notices.clone(),
            live: Arc::new(AtomicU64::new(0)),
            fixed: args.fixed,
        });
        let router = Router::new()
            .route("/subscribe/{id}", post(subscribe))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, _| async move {
            let _ = client
                .post(format!("http://{addr}/subscribe/{n}"))
                .send()
                .await;
        })
        .await;
        let leaked = app.live.load(Ordering::Relaxed) * (4096 + 600);
        // Shutdown: a last notice to everyone, a part at a time; each
        // forwarder finds its client gone and ends.
        drain(&args, 10, |i| {
            let _ = notices.send(Notice {
                text: format!("all: shutting down ({i})"),
            });
        })
        .await;
        report(leaked);
    });
}
