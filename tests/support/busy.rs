//! What a run on a busy machine can show. A machine busy enough to stall a
//! program's own clients can make its leak slow to a stop before the end
//! ("may have stopped" is then the right report), or leave a bounded part
//! (a cache) still filling at the end (growth that is real within the
//! window). The tests judge the report against what the run did: a run
//! that did not show what the test is about is run again, at most three
//! times.

use std::path::{Path, PathBuf};

use heapsnap_report::symbolize::{Options, Symbolizer};

/// Runs `run` until `check` finds nothing wrong with the directory it
/// returns, at most three times; `what` names the run in messages.
pub fn run_until(
    what: &str,
    mut run: impl FnMut() -> PathBuf,
    check: impl Fn(&Path) -> Option<String>,
) -> PathBuf {
    for attempt in 1..=3 {
        let dir = run();
        let Some(why) = check(&dir) else {
            return dir;
        };
        eprintln!("{what}: {why} (try {attempt}); again");
    }
    panic!("{what}: three runs the busy machine changed");
}

/// The growth rate of the live bytes of sites whose stacks pass through
/// `frame` (every site for `""`): over the whole run, and over its last
/// quarter. Frames are named from `binary` when given (a stripped run's
/// debug file), else from the programs in place.
pub fn rates(dir: &Path, frame: &str, binary: Option<&Path>) -> (f64, f64) {
    let mut loaded = heapsnap_report::load::many(&[dir.display().to_string()]).unwrap();
    let mut options = Options::default();
    options.binaries.extend(binary.map(Path::to_path_buf));
    let mut symbolizer = Symbolizer::new(options).unwrap();
    for one in &mut loaded {
        symbolizer.symbolize(&mut one.snapshot);
    }
    let points: Vec<(u64, f64)> = loaded
        .iter()
        .map(|l| {
            let s = &l.snapshot;
            let bytes: u64 = s
                .sites
                .iter()
                .filter(|site| {
                    frame.is_empty()
                        || s.site_frames(site)
                            .any(|f| f.function.as_deref().is_some_and(|n| n.contains(frame)))
                })
                .map(|site| site.live_bytes)
                .sum();
            (s.uptime_ms, bytes as f64)
        })
        .collect();
    let (first, last) = (points[0], points[points.len() - 1]);
    let interval = loaded
        .last()
        .map_or(0, |l| l.snapshot.sampling.interval_bytes) as f64;
    let three_quarters = first.0 + (last.0 - first.0) * 3 / 4;
    let before = points
        .iter()
        .rfind(|(t, _)| *t <= three_quarters)
        .unwrap_or(&first);
    let overall = (last.1 - first.1) / (last.0 - first.0).max(1) as f64;
    // Growth within two samples is no growth: a flat heap's sampling noise
    // says nothing about filling. (A megabyte at every interval let a
    // cache of 5 MiB still filling at 64 KiB pass for full.)
    let late = (last.1 - before.1 - 2.0 * interval).max(0.0) / (last.0 - before.0).max(1) as f64;
    (overall, late)
}

/// Why a leaking run does not show its leak (the sites through
/// `leak_frame`) going on to the end, if it does not: the leak must go on
/// at least half as fast in the last quarter as over the whole.
pub fn leak_stalled(dir: &Path, leak_frame: &str, binary: Option<&Path>) -> Option<String> {
    let (all, late) = rates(dir, leak_frame, binary);
    (late < all / 2.0)
        .then(|| format!("the leak ran {all:.0} B/ms overall, {late:.0} B/ms in the last quarter"))
}
