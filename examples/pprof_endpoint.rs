//! Serving heap profiles from the program's own HTTP server, the way
//! jemalloc_pprof is used: `/debug/pprof/heap` answers with a pprof profile
//! (for `go tool pprof`, Parca, Pyroscope, Grafana Alloy) and
//! `/debug/heapsnap` with a snapshot (for the `heapsnap` command). heapsnap
//! itself never opens a socket; these are two routes of the application.
//!
//! ```text
//! cargo run --release --example pprof_endpoint
//! curl -X POST 'http://127.0.0.1:8080/sessions?count=1000'
//! go tool pprof -top http://127.0.0.1:8080/debug/pprof/heap
//! curl -s http://127.0.0.1:8080/debug/heapsnap > heap.json && heapsnap top heap.json
//! ```
//!
//! `--addr HOST:PORT` binds elsewhere (port 0: any free port); the address
//! bound is printed on the first line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// What the application keeps per session.
#[derive(Debug)]
#[allow(dead_code, reason = "kept, never read: the leak")]
struct Session {
    user: String,
    history: Vec<u64>,
}

type Sessions = Arc<Mutex<HashMap<u64, Session>>>;

/// `POST /sessions?count=N`: opens N sessions, which are never closed.
async fn open_sessions(
    State(sessions): State<Sessions>,
    Query(query): Query<HashMap<String, usize>>,
) -> String {
    let count = query.get("count").copied().unwrap_or(1);
    let mut sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..count {
        let id = sessions.len() as u64;
        sessions.insert(
            id,
            Session {
                user: format!("user-{id}"),
                history: (0..64).collect(),
            },
        );
    }
    format!("{} sessions\n", sessions.len())
}

/// `GET /debug/pprof/heap`: the live heap as a gzipped pprof profile.
async fn pprof_heap() -> impl IntoResponse {
    let profile = tokio::task::spawn_blocking(heapsnap::pprof)
        .await
        .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        profile,
    )
}

/// `GET /debug/heapsnap`: a snapshot, as JSON.
async fn heapsnap_snapshot() -> impl IntoResponse {
    let json = tokio::task::spawn_blocking(|| {
        let mut out = Vec::new();
        heapsnap::snapshot().write_to(&mut out).map(|()| out)
    })
    .await;
    match json {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
        .map_or("127.0.0.1:8080", String::as_str);
    let sessions = Sessions::default();
    let app = Router::new()
        .route("/sessions", post(open_sessions))
        .route("/debug/pprof/heap", get(pprof_heap))
        .route("/debug/heapsnap", get(heapsnap_snapshot))
        .with_state(sessions);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
