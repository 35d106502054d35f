//! Two async leaks in a tokio service, and how heapsnap names them:
//!
//! - a task spawned per request that never finishes (it waits on a channel
//!   whose sender the service keeps): each keeps its future, and the
//!   buffer it holds, alive. The task's memory reads as
//!   `Box<Cell<watch_session::{closure#0}, …>>`: the async function it runs.
//! - a cache filled by a background job that is never trimmed. The job is
//!   a future wrapped in `heapsnap::tagged("cache-refresh", …)`: what it
//!   allocates carries the tag on whichever worker thread polls it.
//!
//! ```text
//! cargo run --release --example async_tasks [-- OUT_DIR]
//! heapsnap top target/heapsnap-demo/async-tasks --by type
//! heapsnap top target/heapsnap-demo/async-tasks --by tag
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// Waits for the session's end, which the service never signals.
async fn watch_session(id: u64, ended: oneshot::Receiver<()>) {
    let history = vec![id as u8; 2048];
    let _ = ended.await;
    drop(history);
}

/// Refreshes the cache forever, never trimming it.
async fn refresh_cache(cache: Arc<Mutex<Vec<String>>>) {
    for round in 0u64.. {
        let entries: Vec<String> = (0..50).map(|i| format!("entry-{round}-{i}")).collect();
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(entries);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/heapsnap-demo/async-tasks".to_owned());
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let senders = runtime.block_on(async {
        let cache = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(heapsnap::tagged("cache-refresh", refresh_cache(cache)));
        let mut senders = Vec::new();
        for id in 0..4_000 {
            let (ended, wait) = oneshot::channel();
            // The leak: the sender is kept, so the task never ends.
            senders.push(ended);
            tokio::spawn(watch_session(id, wait));
            if id % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        senders
    });
    let path = heapsnap::dump_to_dir(&dir).map_err(std::io::Error::other)?;
    println!(
        "{} tasks waiting; snapshot: {}",
        senders.len(),
        path.display()
    );
    Ok(())
}
