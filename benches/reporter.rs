//! Reporter speed on large snapshots: `top`, `flamegraph` and `diff` on
//! snapshots of 100,000 sites, and `leaks` over a series of ten of them,
//! from JSON bytes to finished output, as the command does it.
//!
//! ```text
//! cargo bench --bench reporter
//! ```
//!
//! With `HEAPSNAP_BENCH_SNAPSHOTS=DIR` it also writes the snapshots it uses
//! (`DIR/base.json`, `DIR/new.json` and the series in `DIR/series/`), to
//! time the `heapsnap` binary on them.

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use heapsnap::Snapshot;
use heapsnap::snapshot::{Frame, Site};
use heapsnap_report::load::Loaded;
use heapsnap_report::{diff, flame, leaks, top};

const SITES: usize = 100_000;

/// A snapshot of `SITES` sites with stacks of 20 to 30 frames drawn from
/// realistic frame names (collections with generic arguments, program
/// functions, runtime frames); `growth` scales the live bytes of every
/// seventh site, as a later snapshot of the same program would; `seq`
/// numbers it, a minute after the one before.
fn synthetic(seed: u64, growth: u64, seq: u64) -> Vec<u8> {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut snap = Snapshot::default();
    snap.process.exe = "/srv/app/bin/gateway".into();
    snap.seq = seq;
    snap.uptime_ms = 1_000 + seq * 60_000;
    snap.sampling.interval_bytes = 524_288;
    let runtime = [
        "std::rt::lang_start_internal",
        "main",
        "gateway::main",
        "tokio::runtime::task::raw::poll",
    ];
    let collections = [
        "<alloc::raw_vec::RawVec<gateway::model::Event{}>>::grow_one",
        "<alloc::vec::Vec<gateway::model::Event{}>>::push",
        "<hashbrown::raw::RawTable<(u64, gateway::model::Session{})>>::reserve_rehash",
        "<std::collections::hash::map::HashMap<u64, gateway::model::Session{}>>::insert",
        "<alloc::boxed::Box<gateway::model::Node{}>>::new",
        "alloc::fmt::format::format_inner",
    ];
    let mut names: Vec<String> = runtime.iter().map(|s| s.to_string()).collect();
    for module in 0..200 {
        for function in 0..20 {
            names.push(format!("gateway::module{module}::handler{function}"));
        }
    }
    for (i, pattern) in collections.iter().enumerate() {
        for ty in 0..100 {
            names.push(pattern.replace("{}", &(ty * 7 + i).to_string()));
        }
    }
    for (i, name) in names.iter().enumerate() {
        let mut frame = Frame::default();
        frame.ip = 0x5555_0000_0000 + i as u64 * 16;
        frame.function = Some(name.clone());
        frame.file = Some(format!("/srv/app/src/module{}.rs", i % 200));
        frame.line = Some((i % 900) as u32 + 1);
        snap.frames.push(frame);
    }
    let user_frames = runtime.len()..runtime.len() + 4000;
    let collection_frames = runtime.len() + 4000..names.len();
    for i in 0..SITES {
        let depth = 20 + (next() % 11) as usize;
        let mut stack = Vec::with_capacity(depth);
        let collection = collection_frames.start + (next() as usize % collection_frames.len());
        stack.push(collection as u32);
        while stack.len() < depth - runtime.len() {
            stack.push((user_frames.start + next() as usize % user_frames.len()) as u32);
        }
        stack.extend((0..runtime.len() as u32).rev());
        snap.stacks.push(stack);
        let mut site = Site::default();
        site.stack = i as u32;
        let bytes = 64 + next() % 4_000_000;
        site.live_bytes = if i % 7 == 0 { bytes * growth } else { bytes };
        site.live_allocs = 1 + site.live_bytes / 512;
        site.live_samples = 1 + site.live_bytes / 524_288;
        site.live_bytes_var = (site.live_bytes as f64) * 524_288.0;
        site.allocated_bytes = site.live_bytes * 3;
        site.allocated_allocs = site.live_allocs * 3;
        site.freed_bytes = site.live_bytes * 2;
        site.freed_allocs = site.live_allocs * 2;
        snap.sites.push(site);
    }
    snap.totals.live_bytes = snap.sites.iter().map(|s| s.live_bytes).sum();
    snap.totals.live_allocs = snap.sites.iter().map(|s| s.live_allocs).sum();
    serde_json::to_vec(&snap).unwrap()
}

fn load(bytes: &[u8], source: &str) -> Loaded {
    Loaded {
        source: source.into(),
        snapshot: Snapshot::from_slice(bytes).unwrap(),
    }
}

fn reporter(c: &mut Criterion) {
    let base = synthetic(1, 1, 0);
    let new = synthetic(1, 2, 1);
    let series: Vec<Vec<u8>> = (0..10).map(|i| synthetic(1, 1 + i, i)).collect();
    if let Some(dir) = std::env::var_os("HEAPSNAP_BENCH_SNAPSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("base.json"), &base).unwrap();
        std::fs::write(dir.join("new.json"), &new).unwrap();
        let series_dir = dir.join("series");
        std::fs::create_dir_all(&series_dir).unwrap();
        for (i, snap) in series.iter().enumerate() {
            let name = format!("heapsnap-{:06}-1-interval.json", i + 1);
            std::fs::write(series_dir.join(name), snap).unwrap();
        }
    }
    println!(
        "snapshot of {SITES} sites: {:.1} MiB of JSON",
        base.len() as f64 / (1 << 20) as f64
    );
    let mut group = c.benchmark_group("reporter-100k-sites");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("parse", |b| b.iter(|| black_box(load(&base, "base.json"))));
    group.bench_function("top", |b| {
        b.iter(|| {
            let loaded = load(&base, "base.json");
            let report = top::top(&loaded, &top::Options::default());
            heapsnap_report::render::text::top(&report, &mut io::sink()).unwrap();
        })
    });
    group.bench_function("flamegraph", |b| {
        b.iter(|| {
            let loaded = load(&base, "base.json");
            flame::flamegraph(&loaded, &flame::Options::default(), io::sink()).unwrap();
        })
    });
    group.bench_function("diff", |b| {
        b.iter(|| {
            let (before, after) = (load(&base, "base.json"), load(&new, "new.json"));
            let report = diff::diff(&before, &after, &diff::Options::default());
            heapsnap_report::render::text::diff(&report, &mut io::sink()).unwrap();
        })
    });
    group.bench_function("leaks-10-snapshots", |b| {
        b.iter(|| {
            let loaded: Vec<Loaded> = series.iter().map(|s| load(s, "series.json")).collect();
            let report = leaks::leaks(&loaded, &leaks::Options::default()).unwrap();
            heapsnap_report::render::text::leaks(&report, &mut io::sink()).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, reporter);
criterion_main!(benches);
