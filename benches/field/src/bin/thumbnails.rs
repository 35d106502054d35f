//! A thumbnail service keeps rendered thumbnails in an `lru::LruCache`
//! keyed by the full image URL, created with `LruCache::unbounded()`
//! during a refactor that meant to add the bound later. URLs carry signed,
//! expiring query strings, so the same image arrives under new keys all
//! day. Fixed: `LruCache::new(512)`.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use heapsnap_field::{Args, Rng, drain, load, report, runtime, serve};
use lru::LruCache;

struct Thumbnails {
    cache: Mutex<LruCache<String, Bytes>>,
}

impl Thumbnails {
    fn insert(&self, url: String, thumbnail: Bytes) {
        self.cache.lock().unwrap().put(url, thumbnail);
    }

    fn get(&self, url: &str) -> Option<Bytes> {
        self.cache.lock().unwrap().get(url).cloned()
    }
}

fn render_thumbnail(url: &str) -> Bytes {
    let mut rng = Rng::new(url.len() as u64);
    let pixels: Vec<u8> = (0..2304)
        .map(|_| (rng.next_u64() % 255 + 1) as u8)
        .collect();
    Bytes::from(pixels)
}

async fn thumbnail(
    State(thumbs): State<Arc<Thumbnails>>,
    Path((image, signature)): Path<(u64, String)>,
) -> Bytes {
    let url = format!("https://cdn.example.com/images/{image}.jpg?sig={signature}");
    if let Some(hit) = thumbs.get(&url) {
        return hit;
    }
    let rendered = render_thumbnail(&url);
    thumbs.insert(url, rendered.clone());
    rendered
}

fn main() {
    let args = Args::parse(1000);
    runtime().block_on(async {
        let cache = if args.fixed {
            LruCache::new(NonZeroUsize::new(512).unwrap())
        } else {
            LruCache::unbounded()
        };
        let thumbs = Arc::new(Thumbnails {
            cache: Mutex::new(cache),
        });
        let router = Router::new()
            .route("/thumb/{image}/{signature}", get(thumbnail))
            .with_state(Arc::clone(&thumbs));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let image = rng.below(200);
            let _ = client
                .get(format!("http://{addr}/thumb/{image}/s{n:x}"))
                .send()
                .await;
        })
        .await;
        let leaked = if args.fixed {
            0
        } else {
            thumbs.cache.lock().unwrap().len() as u64 * 2500
        };
        drain(&args, 10, |_| {
            let mut cache = thumbs.cache.lock().unwrap();
            for _ in 0..cache.len() / 3 + 1 {
                cache.pop_lru();
            }
        })
        .await;
        report(leaked);
    });
}
