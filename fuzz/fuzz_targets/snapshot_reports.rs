//! Every report on arbitrary input, as the `heapsnap` command reads it
//! (JSON or gzip, bounded): load, name what can be named (as every command
//! does first), for some inputs share one long name among every stack, then top, flamegraphs, diff, leaks, pprof and the HTML
//! report with every renderer. Errors are fine; panics are findings.
#![no_main]

use heapsnap_report::symbolize::{Options, Symbolizer};
use heapsnap_report::{Loaded, diff, flame, leaks, load, render, report, top};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut case) = load::from_reader("case", data) else {
        return;
    };
    if let Ok(mut symbolizer) = Symbolizer::new(Options::default()) {
        symbolizer.symbolize(&mut case.snapshot);
    }
    // One input in seven: a long name shared by every stack (a reader that
    // copied names per site once took gigabytes for a small file).
    if data.len() % 7 == 0 && !case.snapshot.frames.is_empty() {
        case.snapshot.frames[0].function = Some("n".repeat(64 << 10));
        for stack in &mut case.snapshot.stacks {
            stack.push(0);
        }
    }
    let mut out = Vec::new();
    let _ = heapsnap_format::pprof::gzipped(&case.snapshot);
    for by in [
        top::GroupBy::Site,
        top::GroupBy::Type,
        top::GroupBy::Tag,
        top::GroupBy::Function,
    ] {
        let mut options = top::Options::default();
        options.by = by;
        let report = top::top(&case, &options);
        let _ = render::text::top(&report, &mut out);
        let _ = render::json::write(&report, &mut out);
    }
    let options = flame::Options::default();
    let _ = flame::flamegraph(&case, &options, &mut out);
    let _ = flame::differential(&case, &case, &options, &mut out);
    let report = diff::diff(&case, &case, &diff::Options::default());
    let _ = render::text::diff(&report, &mut out);
    let _ = render::markdown::diff(&report, &mut out);
    let twice = [
        Loaded {
            source: "a".into(),
            snapshot: case.snapshot.clone(),
        },
        case,
    ];
    if let Ok(report) = leaks::leaks(&twice, &leaks::Options::default()) {
        let _ = render::text::leaks(&report, &mut out);
        let _ = render::markdown::leaks(&report, &mut out);
    }
    if let Ok(page) = report::report(&twice, &report::Options::default()) {
        let _ = render::html::write(&page, &mut out);
    }
});
