//! A multi-tenant documentation service caches rendered pages per tenant:
//! `HashMap<String, HashMap<String, Vec<u8>>>`, tenant then path. The
//! inner key is the request's path with its query string, and clients add
//! a tracking parameter to every link, so each tenant's inner map takes a
//! new entry on almost every request. Fixed: each tenant keeps at most 64
//! pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use heapsnap_field::{Args, Rng, drain, load, report, runtime, serve};

struct DocCache {
    pages: Mutex<HashMap<String, HashMap<String, Vec<u8>>>>,
    per_tenant: Option<usize>,
}

impl DocCache {
    fn get(&self, tenant: &str, key: &str) -> Option<usize> {
        let pages = self.pages.lock().unwrap();
        pages.get(tenant)?.get(key).map(Vec::len)
    }

    fn store(&self, tenant: &str, key: String, page: Vec<u8>) {
        let mut pages = self.pages.lock().unwrap();
        let inner = pages.entry(tenant.to_owned()).or_default();
        if let Some(most) = self.per_tenant
            && inner.len() >= most
            && let Some(old) = inner.keys().next().cloned()
        {
            inner.remove(&old);
        }
        inner.insert(key, page);
    }
}

fn render(tenant: &str, path: &str) -> Vec<u8> {
    let mut rng = Rng::new(tenant.len() as u64 * 31 + path.len() as u64);
    let mut page = Vec::with_capacity(2048);
    while page.len() < 2000 {
        page.extend_from_slice(format!("<p>{tenant}/{path} {}</p>", rng.next_u64()).as_bytes());
    }
    page
}

async fn page(
    State(cache): State<Arc<DocCache>>,
    Path((tenant, path)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> String {
    let key = format!("{path}?utm={}", query.get("utm").map_or("", String::as_str));
    if let Some(len) = cache.get(&tenant, &key) {
        return len.to_string();
    }
    let rendered = render(&tenant, &path);
    let len = rendered.len();
    cache.store(&tenant, key, rendered);
    len.to_string()
}

fn main() {
    let args = Args::parse(1000);
    runtime().block_on(async {
        let cache = Arc::new(DocCache {
            pages: Mutex::new(HashMap::new()),
            per_tenant: args.fixed.then_some(64),
        });
        let router = Router::new()
            .route("/{tenant}/docs/{path}", get(page))
            .with_state(Arc::clone(&cache));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let tenant = format!("tenant-{}", rng.below(20));
            let path = format!("guide-{}", rng.below(50));
            let _ = client
                .get(format!("http://{addr}/{tenant}/docs/{path}?utm={n}"))
                .send()
                .await;
        })
        .await;
        let leaked: u64 = if args.fixed {
            0
        } else {
            let pages = cache.pages.lock().unwrap();
            pages
                .values()
                .flat_map(|inner| inner.values())
                .map(|p| p.capacity() as u64 + 64)
                .sum()
        };
        drain(&args, 10, |_| {
            let mut pages = cache.pages.lock().unwrap();
            let tenants: Vec<String> = pages.keys().take(3).cloned().collect();
            for tenant in tenants {
                pages.remove(&tenant);
            }
        })
        .await;
        report(leaked);
    });
}
