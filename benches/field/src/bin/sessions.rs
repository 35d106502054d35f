//! A newcomer's session store. Request bodies are read into a `Vec<u8>` by
//! `read_request_body` and moved into `SessionStore::open`'s
//! `Mutex<HashMap<u64, Vec<u8>>>`; the client closes its session, except
//! that one in three never does (a timeout path forgets `close`). Beside
//! it, a bounded FIFO of recent bodies for debugging. Fixed: every session
//! is closed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use heapsnap_field::{Args, body, drain, load, report, runtime, serve};

#[derive(Default)]
struct SessionStore {
    sessions: Mutex<HashMap<u64, Vec<u8>>>,
}

impl SessionStore {
    fn open(&self, id: u64, body: Vec<u8>) {
        self.sessions.lock().unwrap().insert(id, body);
    }

    fn close(&self, id: u64) {
        self.sessions.lock().unwrap().remove(&id);
    }
}

/// The last bodies seen, for a debug page: bounded.
#[derive(Default)]
struct RecentBodies {
    bodies: Mutex<VecDeque<Vec<u8>>>,
}

impl RecentBodies {
    fn remember(&self, body: &[u8]) {
        let mut bodies = self.bodies.lock().unwrap();
        if bodies.len() == 200 {
            bodies.pop_front();
        }
        bodies.push_back(body.to_vec());
    }
}

struct App {
    store: SessionStore,
    recent: RecentBodies,
}

fn read_request_body(body: &Bytes) -> Vec<u8> {
    body.to_vec()
}

async fn open(State(app): State<Arc<App>>, Path(id): Path<u64>, body: Bytes) {
    let body = read_request_body(&body);
    app.recent.remember(&body);
    app.store.open(id, body);
}

async fn close(State(app): State<Arc<App>>, Path(id): Path<u64>) {
    app.store.close(id);
}

fn main() {
    let args = Args::parse(1500);
    runtime().block_on(async {
        let app = Arc::new(App {
            store: SessionStore::default(),
            recent: RecentBodies::default(),
        });
        let router = Router::new()
            .route("/open/{id}", post(open))
            .route("/close/{id}", post(close))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        let fixed = args.fixed;
        load(&args, 8, move |client, n, mut rng| async move {
            let len = 2048 + rng.below(4096) as usize;
            let payload = body(&mut rng, len);
            let _ = client
                .post(format!("http://{addr}/open/{n}"))
                .body(payload)
                .send()
                .await;
            if fixed || n % 3 != 0 {
                let _ = client.post(format!("http://{addr}/close/{n}")).send().await;
            }
        })
        .await;
        let leaked: u64 = app
            .store
            .sessions
            .lock()
            .unwrap()
            .values()
            .map(|b| b.len() as u64)
            .sum();
        drain(&args, 10, |_| {
            let mut sessions = app.store.sessions.lock().unwrap();
            let keys: Vec<u64> = sessions
                .keys()
                .take(sessions.len() / 3 + 1)
                .copied()
                .collect();
            for key in keys {
                sessions.remove(&key);
            }
        })
        .await;
        report(leaked);
    });
}
