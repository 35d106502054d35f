//! `heapsnap::testing`: a scope records exactly what its thread (and the
//! threads and futures entered into it) allocated, sees nothing of other
//! threads' allocations, and names what is still live.

use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use heapsnap::testing::{self, Scope};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// A registry that never forgets.
#[derive(Debug)]
struct Session {
    _id: u64,
    _name: String,
}

// Boxed on purpose: the leak to name is a `Box<Session>`.
#[allow(clippy::vec_box)]
static REGISTRY: Mutex<Vec<Box<Session>>> = Mutex::new(Vec::new());

#[inline(never)]
fn register(id: u64) {
    let session = Box::new(Session {
        _id: id,
        _name: format!("session-{id}"),
    });
    REGISTRY.lock().unwrap().push(session);
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn freed_allocations_are_counted_exactly_and_leave_nothing_live() {
    let scope = Scope::start();
    for i in 0..100u8 {
        black_box(Box::new([i; 32]));
    }
    let live = scope.finish();
    live.assert_none();
    assert_eq!(live.bytes(), 0);
    assert_eq!(live.allocations_made(), 100);
    assert_eq!(live.bytes_allocated(), 3200);
}

#[test]
fn a_leak_is_named_by_type_and_by_the_line_that_made_it() {
    // Warm the registry's own buffer: what is measured is one session.
    REGISTRY.lock().unwrap().reserve(1000);
    let scope = Scope::start();
    let line = line!() + 1;
    register(7);
    let live = scope.finish();
    // The box and its name, exactly.
    assert_eq!(live.count(), 2, "{live}");

    let message = panic_message(|| live.assert_none());
    assert!(message.contains("Box<Session>"), "{message}");
    assert!(message.contains("register"), "{message}");
    assert!(
        message.contains(&format!("tests/scopes.rs:{line}")),
        "the test's own line {line}: {message}"
    );
    let by_box = &live.sites()[0];
    assert_eq!(by_box.count, 1);
}

#[test]
fn parallel_scopes_see_only_their_own_thread() {
    let threads: Vec<_> = (1..=8u64)
        .map(|k| {
            std::thread::spawn(move || {
                let scope = Scope::start();
                let mut kept = Vec::new();
                for _ in 0..k * 50 {
                    kept.push(vec![0u8; 100]);
                    black_box(vec![1u8; 1000]);
                }
                let live = scope.finish();
                drop(kept);
                (k, live)
            })
        })
        .collect();
    for thread in threads {
        let (k, live) = thread.join().unwrap();
        // `kept`'s buffer (it may have grown several times) and k·50 vectors.
        assert_eq!(live.count(), k * 50 + 1, "thread {k}: {live}");
        let vectors: u64 = live
            .sites()
            .iter()
            .filter(|s| s.bytes == s.count * 100)
            .map(|s| s.count)
            .sum();
        assert_eq!(vectors, k * 50, "thread {k}: {live}");
        // Every vector (kept and dropped) and every growth of `kept`.
        assert!(live.allocations_made() >= k * 100, "thread {k}: {live}");
    }
}

#[test]
fn an_entered_thread_counts_in_the_scope() {
    let scope = Scope::start();
    let handle = scope.handle();
    let kept = std::thread::spawn(move || {
        let _in = handle.enter();
        Box::new([7u64; 16])
    })
    .join()
    .unwrap();
    let live = scope.finish();
    assert_eq!(live.count(), 1, "{live}");
    assert_eq!(live.bytes(), 128, "{live}");
    // The box, and what the thread's own machinery allocated meanwhile.
    assert!(live.allocations_made() >= 1);
    assert!(live.bytes_allocated() >= 128);
    drop(kept);
}

#[test]
fn a_future_polled_elsewhere_counts_in_the_scope() {
    let scope = Scope::start();
    let future = scope.handle().in_scope(async { vec![5u32; 64] });
    let kept = std::thread::spawn(move || {
        let mut future = std::pin::pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    })
    .join()
    .unwrap();
    let live = scope.finish();
    // The vector; the future's own box was freed when it was done.
    assert_eq!(live.bytes(), 256, "{live}");
    drop(kept);
}

#[tokio::test(flavor = "current_thread")]
async fn a_current_thread_tokio_test_measures_its_tasks() {
    let scope = Scope::start();
    let task = tokio::spawn(async { vec![1u8; 4096] });
    let value = task.await.unwrap();
    drop(value);
    let leaked = tokio::spawn(async { Box::leak(Box::new([3u8; 777])) })
        .await
        .unwrap();
    let live = scope.finish();
    assert!(
        live.sites().iter().any(|s| s.bytes == 777 && s.count == 1),
        "{live}"
    );
    black_box(leaked);
}

/// A cache filled on first use.
static CACHE: Mutex<Option<Vec<String>>> = Mutex::new(None);

#[inline(never)]
fn cached_lookup(i: usize) -> usize {
    let mut cache = CACHE.lock().unwrap();
    let table = cache.get_or_insert_with(|| (0..50).map(|i| i.to_string()).collect());
    table[i % 50].len()
}

#[test]
fn warming_up_keeps_first_use_caches_out() {
    let cold = testing::measure(|| cached_lookup(3));
    assert!(cold.count() > 0, "the cache's first fill is live: {cold}");
    let warm = testing::measure_after(1, || cached_lookup(4));
    warm.assert_none();
}

#[test]
fn stats_count_what_is_allocated() {
    let before = heapsnap::stats();
    let kept: Vec<Vec<u8>> = (0..2000).map(|_| vec![0u8; 4096]).collect();
    let after = heapsnap::stats();
    // Estimated from samples at the default interval: 8 MiB allocated is
    // about 16 samples, never none.
    assert!(after.allocated_bytes > before.allocated_bytes, "{after:?}");
    assert!(after.allocations > before.allocations, "{after:?}");
    drop(kept);
}
