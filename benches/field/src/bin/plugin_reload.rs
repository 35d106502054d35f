//! A gateway's middleware registry with hot reload. Every configuration
//! push (here every twentieth request) builds a new header-rewrite
//! middleware from its rules and installs it as `Arc<dyn Middleware>`;
//! requests use the newest. The install appends to the registry's
//! `Vec<Arc<dyn Middleware>>` and never drops the old ones. Fixed: the new
//! one replaces the old.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use heapsnap_field::{Args, Rng, drain, load, report, runtime, serve};

trait Middleware: Send + Sync {
    fn rewrite(&self, header: &str) -> Option<&str>;
}

struct HeaderRewrite {
    rules: Vec<(String, String)>,
    by_name: HashMap<String, usize>,
}

impl HeaderRewrite {
    fn compile(version: u64) -> HeaderRewrite {
        let mut rng = Rng::new(version);
        let rules: Vec<(String, String)> = (0..200)
            .map(|i| {
                (
                    format!("x-rule-{i}"),
                    format!("rewritten-{version}-{}", rng.next_u64()),
                )
            })
            .collect();
        let by_name = rules
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        HeaderRewrite { rules, by_name }
    }
}

impl Middleware for HeaderRewrite {
    fn rewrite(&self, header: &str) -> Option<&str> {
        self.by_name.get(header).map(|&i| self.rules[i].1.as_str())
    }
}

struct Registry {
    middlewares: RwLock<Vec<Arc<dyn Middleware>>>,
    fixed: bool,
}

impl Registry {
    fn install(&self, middleware: Arc<dyn Middleware>) {
        let mut all = self.middlewares.write().unwrap();
        if self.fixed {
            all.clear();
        }
        all.push(middleware);
    }

    fn current(&self) -> Option<Arc<dyn Middleware>> {
        self.middlewares.read().unwrap().last().cloned()
    }
}

struct App {
    registry: Registry,
    requests: AtomicU64,
}

async fn proxy(State(app): State<Arc<App>>, Path(header): Path<String>) -> String {
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    if n % 20 == 0 {
        app.registry.install(Arc::new(HeaderRewrite::compile(n)));
    }
    app.registry
        .current()
        .and_then(|m| m.rewrite(&header).map(str::to_owned))
        .unwrap_or_default()
}

fn main() {
    let args = Args::parse(1500);
    runtime().block_on(async {
        let app = Arc::new(App {
            registry: Registry {
                middlewares: RwLock::new(Vec::new()),
                fixed: args.fixed,
            },
            requests: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/proxy/{header}", get(proxy))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, _, mut rng| async move {
            let header = format!("x-rule-{}", rng.below(250));
            let _ = client
                .get(format!("http://{addr}/proxy/{header}"))
                .send()
                .await;
        })
        .await;
        let installed = app.registry.middlewares.read().unwrap().len() as u64;
        let leaked = installed.saturating_sub(1) * 200 * 110;
        drain(&args, 10, |_| {
            let mut all = app.registry.middlewares.write().unwrap();
            let keep = all.len() * 2 / 3;
            all.truncate(keep);
        })
        .await;
        report(leaked);
    });
}
