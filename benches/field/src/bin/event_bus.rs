//! An in-process event bus in an order service. Each request subscribes a
//! closure that captures its `Arc<RequestContext>` (headers, user, a trace
//! buffer) to hear about price changes while it runs; the handler returns
//! early on success and never unsubscribes. The bus keeps
//! `Mutex<Vec<(u64, Box<dyn Fn(&Event) + Send + Sync>)>>` forever. Fixed:
//! the subscription is removed when the request ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use heapsnap_field::{Args, Rng, drain, load, report, runtime, serve};

struct Event {
    sku: u64,
    price: u64,
}

type Handler = Box<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct EventBus {
    subscribers: Mutex<Vec<(u64, Handler)>>,
    next: AtomicU64,
}

impl EventBus {
    fn subscribe(&self, handler: Handler) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.subscribers.lock().unwrap().push((id, handler));
        id
    }

    fn unsubscribe(&self, id: u64) {
        self.subscribers.lock().unwrap().retain(|(i, _)| *i != id);
    }

    fn publish(&self, event: &Event) {
        for (_, handler) in self.subscribers.lock().unwrap().iter() {
            handler(event);
        }
    }
}

struct RequestContext {
    headers: HashMap<String, String>,
    user: String,
    trace: Vec<u8>,
    seen: AtomicU64,
}

fn request_context(order: u64) -> RequestContext {
    let mut rng = Rng::new(order);
    let headers = (0..8)
        .map(|i| {
            (
                format!("x-header-{i}"),
                format!("value-{}-{}", order, rng.next_u64()),
            )
        })
        .collect();
    RequestContext {
        headers,
        user: format!("user-{}", rng.below(1_000_000)),
        trace: vec![(order % 250 + 1) as u8; 1024],
        seen: AtomicU64::new(0),
    }
}

struct App {
    bus: EventBus,
    fixed: bool,
    orders: AtomicU64,
}

async fn place_order(State(app): State<Arc<App>>, Path(order): Path<u64>) -> String {
    let context = Arc::new(request_context(order));
    let watching = Arc::clone(&context);
    let id = app.bus.subscribe(Box::new(move |event: &Event| {
        if event.sku % 7 == watching.headers.len() as u64 {
            watching.seen.fetch_add(event.price, Ordering::Relaxed);
        }
    }));
    let placed = app.orders.fetch_add(1, Ordering::Relaxed);
    if placed % 500 == 0 {
        app.bus.publish(&Event {
            sku: placed,
            price: 3,
        });
    }
    if app.fixed {
        app.bus.unsubscribe(id);
    }
    format!("{} {}", context.user, context.trace.len())
}

fn main() {
    let args = Args::parse(1200);
    runtime().block_on(async {
        let app = Arc::new(App {
            bus: EventBus::default(),
            fixed: args.fixed,
            orders: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/orders/{order}", post(place_order))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, _| async move {
            let _ = client
                .post(format!("http://{addr}/orders/{n}"))
                .send()
                .await;
        })
        .await;
        let leaked = app.bus.subscribers.lock().unwrap().len() as u64 * 1800;
        drain(&args, 10, |_| {
            let mut subscribers = app.bus.subscribers.lock().unwrap();
            let keep = subscribers.len() * 2 / 3;
            subscribers.truncate(keep);
        })
        .await;
        report(leaked);
    });
}
