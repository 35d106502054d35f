//! A search API caches its responses by the full request URL. Clients add
//! a cache-busting timestamp to every query, so every URL is new: the
//! `Mutex<HashMap<String, Arc<Value>>>` keeps one parsed JSON response
//! per request ever served. Fixed: a moka cache of 1,000 entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use heapsnap_field::{Args, drain, load, report, runtime, serve};
use serde_json::{Value, json};

enum Store {
    Map(Mutex<HashMap<String, Arc<Value>>>),
    Moka(moka::sync::Cache<String, Arc<Value>>),
}

struct ResponseCache {
    store: Store,
}

impl ResponseCache {
    fn get(&self, url: &str) -> Option<Arc<Value>> {
        match &self.store {
            Store::Map(map) => map.lock().unwrap().get(url).cloned(),
            Store::Moka(cache) => cache.get(url),
        }
    }

    fn put(&self, url: String, response: Arc<Value>) {
        match &self.store {
            Store::Map(map) => {
                map.lock().unwrap().insert(url, response);
            }
            Store::Moka(cache) => cache.insert(url, response),
        }
    }
}

fn search(q: &str) -> Value {
    let hits: Vec<Value> = (0..8)
        .map(|i| json!({"id": i, "title": format!("{q} result {i}"), "score": 1.0 / (i as f64 + 1.0)}))
        .collect();
    json!({"query": q, "hits": hits, "total": 8})
}

async fn handle(
    State(cache): State<Arc<ResponseCache>>,
    Query(params): Query<HashMap<String, String>>,
) -> String {
    let q = params.get("q").cloned().unwrap_or_default();
    let url = format!(
        "/search?q={q}&t={}",
        params.get("t").map_or("", String::as_str)
    );
    if let Some(hit) = cache.get(&url) {
        return hit.to_string();
    }
    let response = Arc::new(search(&q));
    cache.put(url, Arc::clone(&response));
    response.to_string()
}

fn main() {
    let args = Args::parse(1200);
    runtime().block_on(async {
        let store = if args.fixed {
            Store::Moka(moka::sync::Cache::new(1000))
        } else {
            Store::Map(Mutex::new(HashMap::new()))
        };
        let cache = Arc::new(ResponseCache { store });
        let router = Router::new()
            .route("/search", get(handle))
            .with_state(Arc::clone(&cache));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let q = format!("term{}", rng.below(300));
            let _ = client
                .get(format!("http://{addr}/search?q={q}&t={n}"))
                .send()
                .await;
        })
        .await;
        let leaked = match &cache.store {
            Store::Map(map) => map.lock().unwrap().len() as u64 * 1400,
            Store::Moka(_) => 0,
        };
        drain(&args, 10, |_| {
            if let Store::Map(map) = &cache.store {
                let mut map = map.lock().unwrap();
                let keys: Vec<String> = map.keys().take(map.len() / 3 + 1).cloned().collect();
                for key in keys {
                    map.remove(&key);
                }
            }
        })
        .await;
        report(leaked);
    });
}
