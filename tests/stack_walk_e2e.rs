//! The DWARF fallback walk gives the stacks the frame-pointer walk gives,
//! on a real leak: the leaky-server example runs once walking frame
//! pointers and once with `HEAPSNAP_STACK_WALK=backtrace` (the walk a
//! build without frame pointers gets), and the biggest sites of the second
//! run have, frame for frame, stacks the first run recorded too; the leak
//! is named alike.
//!
//! The same binary runs twice, so the same call has the same return
//! addresses and frames in both: any frame lost or added by the fallback
//! (at the profiler's boundary, where the allocator's entry point reaches
//! it by a tail call) shows as a stack the first run never had.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use heapsnap_report::Snapshot;
use serde_json::Value;

/// Runs the example, dumping into `dir`, with `env`.
fn run(dir: &Path, env: &[(&str, &str)]) -> Vec<Snapshot> {
    support::output_ok(
        Command::new(support::example("leaky_server"))
            .args(["--seconds", "6", "--interval-ms", "400", "--no-report"])
            .arg("--dir")
            .arg(dir)
            .env("HEAPSNAP_SAMPLE_INTERVAL", "64KiB")
            .envs(env.iter().copied())
            .env_remove("HEAPSNAP_DIR"),
    );
    support::snapshot_files(dir)
        .iter()
        .map(|f| Snapshot::read_from_path(f).unwrap())
        .collect()
}

/// A stack as its frames read: function and line, innermost first.
type Frames = Vec<(Option<String>, Option<u32>)>;

/// The frames of stack `index`, without the C runtime's at its outer end
/// (`start_thread`, `clone3`, `__libc_start_main`): the frame-pointer walk
/// stops where the C library's frames keep no frame pointer, and DWARF
/// unwinding goes on; that is not the program's.
fn stack(snapshot: &Snapshot, index: u32) -> Frames {
    let mut frames: Frames = snapshot.stacks[index as usize]
        .iter()
        .map(|&id| {
            let frame = &snapshot.frames[id as usize];
            (frame.function.clone(), frame.line)
        })
        .collect();
    while frames
        .last()
        .is_some_and(|(function, _)| !function.as_deref().unwrap_or("").contains("::"))
    {
        frames.pop();
    }
    frames
}

fn first_suspect(dir: &Path) -> (String, String) {
    let output = support::output_ok(
        Command::new(support::heapsnap_bin())
            .args(["leaks", "--format", "json"])
            .arg(dir),
    );
    // Unwinding asked for on a build with frame pointers lacks nothing.
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!said.contains("warning"), "{said}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let first = &report["suspects"][0];
    let text = |key: &str| first[key].as_str().unwrap_or("").to_owned();
    (text("type"), text("function"))
}

#[test]
fn the_fallback_walk_records_the_frame_pointer_walks_stacks() {
    let scratch = support::scratch("stack-walk");
    let (fp_dir, dwarf_dir) = (scratch.join("frame-pointers"), scratch.join("dwarf"));
    let walked = run(&fp_dir, &[]);
    let unwound = run(&dwarf_dir, &[("HEAPSNAP_STACK_WALK", "backtrace")]);
    assert_eq!(walked[0].sampling.stack_walk.as_str(), "frame-pointers");
    assert_eq!(unwound[0].sampling.stack_walk.as_str(), "backtrace");

    let known: HashSet<Frames> = walked
        .iter()
        .flat_map(|s| (0..s.stacks.len() as u32).map(move |i| stack(s, i)))
        .collect();
    let last = unwound.last().unwrap();
    let mut sites: Vec<_> = last.sites.iter().collect();
    sites.sort_by_key(|site| std::cmp::Reverse(site.live_bytes));
    for site in sites.iter().take(8) {
        let frames = stack(last, site.stack);
        assert!(
            frames.first().is_some_and(|f| f.0.is_some()),
            "a bare frame: {frames:?}"
        );
        assert!(
            known.contains(&frames),
            "a stack the frame-pointer walk never recorded ({} bytes): {frames:#?}",
            site.live_bytes
        );
    }

    let named = first_suspect(&fp_dir);
    assert!(named.0.contains("HashMap"), "{named:?}");
    assert_eq!(first_suspect(&dwarf_dir), named);
}
