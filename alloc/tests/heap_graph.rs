//! The heap graph on a real heap: a map's table points at the buffers it
//! holds; a list of boxed closures reaches, through memory that was never
//! sampled, the buffers its closures' contexts hold; and a scan turned off
//! says so.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use heapsnap::snapshot::{Ref, ScanState, Snapshot};

#[global_allocator]
static GLOBAL: heapsnap::Profiler<heapsnap::Jemalloc> = heapsnap::Profiler::new(heapsnap::Jemalloc);

/// One test at a time: they change the sampling interval.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Its frame is on the stack of what it allocates: an optimised build
/// would end it in a tail call (its frame gone) but for `black_box`.
#[inline(never)]
fn make_body(i: u64) -> Vec<u8> {
    // Never zero: `vec![0; n]` allocates zeroed memory, through another stack.
    std::hint::black_box(vec![(i % 250 + 1) as u8; 100 + (i as usize % 7)])
}

#[inline(never)]
fn fill_map(map: &mut HashMap<u64, Vec<u8>>, n: u64) {
    for i in 0..n {
        map.insert(i, make_body(i));
    }
}

/// The index of the one site whose stack passes through `function`, and
/// whose innermost frames mention `also` (a type, a collection method).
fn site_index(snap: &Snapshot, function: &str, also: &str) -> usize {
    let found: Vec<usize> = (0..snap.sites.len())
        .filter(|&i| {
            let names: Vec<&str> = snap
                .site_frames(&snap.sites[i])
                .filter_map(|f| f.function.as_deref())
                .collect();
            names.iter().any(|n| n.contains(function)) && names.iter().any(|n| n.contains(also))
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no site through {function} and {also} in {} sites",
        snap.sites.len()
    );
    // The largest, when inlining split one place in two.
    *found
        .iter()
        .max_by_key(|&&i| snap.sites[i].live_bytes)
        .unwrap()
}

fn edge(snap: &Snapshot, from: usize, to: usize) -> Option<&Ref> {
    snap.refs
        .iter()
        .find(|r| r.from as usize == from && r.to as usize == to)
}

#[test]
fn a_map_points_at_every_buffer_it_holds() {
    let _serial = serial();
    heapsnap::set_sample_interval(1);
    let mut map = HashMap::new();
    fill_map(&mut map, 1000);
    let snap = heapsnap::snapshot();
    heapsnap::set_sample_interval(heapsnap::DEFAULT_SAMPLE_INTERVAL);
    let scan = snap
        .scan
        .as_ref()
        .expect("the snapshot says what the scan covered");
    assert_eq!(scan.state, ScanState::Done, "{scan:?}");
    let table = site_index(&snap, "fill_map", "reserve_rehash");
    let bodies = site_index(&snap, "make_body", "make_body");
    let held = edge(&snap, table, bodies).unwrap_or_else(|| {
        panic!(
            "no edge from the table to the bodies; refs: {:?}",
            snap.refs
        )
    });
    // Exact mode: every body is a block, and the table points at each.
    assert_eq!(held.held, 1000, "{held:?}");
    assert_eq!(held.direct, 1000);
    assert_eq!(held.holders, 1, "one table");
    // Nothing points from the bodies (bytes) at the table.
    assert!(edge(&snap, bodies, table).is_none());
    drop(map);
}

struct Context {
    _name: String,
    payload: Vec<u8>,
}

type Handler = Box<dyn Fn(u64) -> usize + Send + Sync>;

/// As `make_body`: no tail call.
#[inline(never)]
fn make_payload(i: usize) -> Vec<u8> {
    std::hint::black_box(vec![i as u8; 64 << 10])
}

#[inline(never)]
fn subscribe(list: &mut Vec<Handler>, i: usize) {
    let context = Arc::new(Context {
        _name: format!("request-{i}"),
        payload: make_payload(i),
    });
    list.push(Box::new(move |event| {
        context.payload.len() + event as usize
    }));
}

/// Sampled at 256 KiB: the boxes and the `ArcInner`s are small and almost
/// never sampled; the list's buffer is watched (a new largest each time it
/// grows) and the 64 KiB payloads are sampled about one in five. The list
/// reaches the sampled payloads through a box and an `ArcInner`.
#[test]
fn a_list_of_closures_reaches_what_their_contexts_hold() {
    let _serial = serial();
    heapsnap::set_sample_interval(256 << 10);
    let mut list: Vec<Handler> = Vec::new();
    for i in 0..600 {
        subscribe(&mut list, i);
    }
    let snap = heapsnap::snapshot();
    heapsnap::set_sample_interval(heapsnap::DEFAULT_SAMPLE_INTERVAL);
    let scan = snap.scan.as_ref().unwrap();
    assert_eq!(scan.state, ScanState::Done, "{scan:?}");
    assert!(scan.watched > 0, "the list's buffer is watched: {scan:?}");
    assert!(scan.chased > 0, "{scan:?}");
    let holder = site_index(&snap, "subscribe", "grow");
    let payloads = site_index(&snap, "make_payload", "make_payload");
    assert!(snap.sites[holder].watched > 0);
    let sampled = snap.sites[payloads].live_samples;
    assert!(sampled > 30, "only {sampled} payloads sampled");
    let reached = edge(&snap, holder, payloads)
        .unwrap_or_else(|| panic!("the list reaches no payload; refs: {:?}", snap.refs));
    assert_eq!(reached.direct, 0, "through unsampled memory only");
    // Each payload is held by one closure of the list.
    assert!(
        reached.held * 10 >= sampled * 9,
        "reached {} of {sampled} sampled payloads",
        reached.held
    );
    let answer: usize = list.iter().map(|handler| handler(1)).sum();
    assert_eq!(answer, 600 * ((64 << 10) + 1));
}

#[test]
fn a_scan_turned_off_says_so() {
    let _serial = serial();
    // A child process: the setting is read once, at start-up.
    if std::env::var_os("HEAPSNAP_SCAN").is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_scan_turned_off_says_so", "--nocapture"])
            .env("HEAPSNAP_SCAN", "off")
            .status()
            .unwrap();
        assert!(status.success());
        return;
    }
    heapsnap::set_sample_interval(1);
    let mut map = HashMap::new();
    fill_map(&mut map, 10);
    let snap = heapsnap::snapshot();
    assert_eq!(snap.scan.as_ref().map(|s| s.state), Some(ScanState::Off));
    assert!(snap.refs.is_empty());
    drop(map);
}
