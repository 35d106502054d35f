//! What a run on a busy machine can show. A machine busy enough to stall a
//! program's own clients can make its leak slow to a stop before the end
//! ("may have stopped" is then the right report), or leave a bounded part
//! (a cache) still filling at the end (growth that is real within the
//! window). The tests judge the report against what the run did: a run
//! that did not show what the test is about is run again, at most three
//! times.

use std::path::Path;

use heapsnap_report::load::Loaded;
use heapsnap_report::symbolize::{Options, Symbolizer};

/// Runs `run` until `check` finds nothing wrong with what it returns, at
/// most three times; `what` names the run in messages.
pub fn run_until<T>(
    what: &str,
    mut run: impl FnMut() -> T,
    check: impl Fn(&T) -> Option<String>,
) -> T {
    for attempt in 1..=3 {
        let ran = run();
        let Some(why) = check(&ran) else {
            return ran;
        };
        eprintln!("{what}: {why} (try {attempt}); again");
    }
    panic!("{what}: three runs the busy machine changed");
}

/// The snapshots a run left, their frames named: loaded once, asked about
/// any part of the run.
pub struct Run {
    loaded: Vec<Loaded>,
}

impl Run {
    /// Loads the snapshots in `dir`, naming frames from `binary` when given
    /// (a stripped run's debug file), else from the programs in place.
    pub fn load(dir: &Path, binary: Option<&Path>) -> Run {
        let mut loaded = heapsnap_report::load::many(&[dir.display().to_string()]).unwrap();
        let mut options = Options::default();
        options.binaries.extend(binary.map(Path::to_path_buf));
        let mut symbolizer = Symbolizer::new(options).unwrap();
        for one in &mut loaded {
            symbolizer.symbolize(&mut one.snapshot);
        }
        Run { loaded }
    }

    /// The growth rate of the live bytes of sites whose stacks pass through
    /// `frame` (every site for `""`), in bytes per millisecond: over the
    /// whole run, and over its last quarter beyond two sampling intervals
    /// (a flat heap's sampling noise says nothing about filling; a
    /// megabyte at every interval let a cache of 5 MiB still filling at
    /// 64 KiB pass for full).
    pub fn rates(&self, frame: &str) -> (f64, f64) {
        let points: Vec<(u64, f64)> = self
            .loaded
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
        let interval = self
            .loaded
            .last()
            .map_or(0, |l| l.snapshot.sampling.interval_bytes) as f64;
        let three_quarters = first.0 + (last.0 - first.0) * 3 / 4;
        let before = points
            .iter()
            .rfind(|(t, _)| *t <= three_quarters)
            .unwrap_or(&first);
        let overall = (last.1 - first.1) / (last.0 - first.0).max(1) as f64;
        let late =
            (last.1 - before.1 - 2.0 * interval).max(0.0) / (last.0 - before.0).max(1) as f64;
        (overall, late)
    }

    /// Why the run left too few snapshots to judge, if it did: fewer than
    /// `least` (dumps wait for the dump thread, which a machine busy enough
    /// starves; the analysis needs ten or more to name a leak of a few
    /// dozen intervals, docs/LEAKS.md).
    pub fn too_few_snapshots(&self, least: usize) -> Option<String> {
        (self.loaded.len() < least).then(|| {
            format!(
                "it left {} snapshots, fewer than {least}",
                self.loaded.len()
            )
        })
    }

    /// Why the leak (the sites through `leak_frame`) does not go on to the
    /// end, if it does not: it must go on at least half as fast in the last
    /// quarter as over the whole.
    pub fn leak_stalled(&self, leak_frame: &str) -> Option<String> {
        let (all, late) = self.rates(leak_frame);
        (late < all / 2.0).then(|| {
            format!("the leak ran {all:.0} B/ms overall, {late:.0} B/ms in the last quarter")
        })
    }
}
