//! One function per command: build the library's options from the
//! arguments, run it, write the report.

use anyhow::Result;
use heapsnap_report::render::{self, Format};
use heapsnap_report::{diff, flame, leaks, load, top};

use crate::cli::{Command, DiffArgs, FlameBy, FlamegraphArgs, LeaksArgs, PprofArgs, TopArgs};
use crate::output;

/// How a command ended, when it did not fail.
pub enum Outcome {
    Fine,
    GateTripped,
}

pub fn run(cli: crate::cli::Cli) -> Result<Outcome> {
    match cli.command {
        Command::Top(args) => top(args),
        Command::Flamegraph(args) => flamegraph(args),
        Command::Diff(args) => diff(args),
        Command::Leaks(args) => leaks(args),
        Command::Pprof(args) => pprof(args),
    }
}

fn pprof(args: PprofArgs) -> Result<Outcome> {
    let loaded = load::newest(&args.snapshot)?;
    let profile = heapsnap_format::pprof::gzipped(&loaded.snapshot);
    output::file(&args.output, |out| out.write_all(&profile))?;
    Ok(Outcome::Fine)
}

fn top(args: TopArgs) -> Result<Outcome> {
    let loaded = load::newest(&args.snapshot)?;
    let mut options = top::Options::default();
    options.by = args.by.into();
    options.limit = args.limit;
    let report = top::top(&loaded, &options);
    output::stdout(|out| match Format::from(args.format) {
        Format::Json => render::json::write(&report, out),
        Format::Text => render::text::top(&report, out),
        Format::Markdown => render::markdown::top(&report, out),
    })?;
    Ok(Outcome::Fine)
}

fn flamegraph(args: FlamegraphArgs) -> Result<Outcome> {
    let loaded = load::newest(&args.snapshot)?;
    let mut options = flame::Options::default();
    options.metric = args.metric.into();
    options.by_type = args.by == FlameBy::Type;
    options.title = args.title;
    output::file(&args.output, |out| {
        flame::flamegraph(&loaded, &options, out)
    })?;
    Ok(Outcome::Fine)
}

fn diff(args: DiffArgs) -> Result<Outcome> {
    let base = load::one(&args.base)?;
    let new = load::one(&args.new)?;
    let mut options = diff::Options::default();
    options.fail_on_growth = args.fail_on_growth;
    options.fail_on_site_growth = args.fail_on_site_growth;
    options.confidence = args.confidence / 100.0;
    options.limit = args.limit;
    let report = diff::diff(&base, &new, &options);
    if let Some(path) = &args.flamegraph {
        output::file(path, |out| {
            flame::differential(&base, &new, &flame::Options::default(), out)
        })?;
    }
    output::stdout(|out| match Format::from(args.format) {
        Format::Text => render::text::diff(&report, out),
        Format::Json => render::json::write(&report, out),
        Format::Markdown => render::markdown::diff(&report, out),
    })?;
    Ok(if report.failed() {
        Outcome::GateTripped
    } else {
        Outcome::Fine
    })
}

fn leaks(args: LeaksArgs) -> Result<Outcome> {
    let loaded = load::many(&args.snapshots)?;
    let mut options = leaks::Options::default();
    options.min_confidence = args.min_confidence / 100.0;
    options.limit = args.limit;
    options.pid = args.pid;
    let report = leaks::leaks(&loaded, &options)?;
    output::stdout(|out| match Format::from(args.format) {
        Format::Text => render::text::leaks(&report, out),
        Format::Json => render::json::write(&report, out),
        Format::Markdown => render::markdown::leaks(&report, out),
    })?;
    let suspicious = args.fail && report.has_suspects();
    Ok(if suspicious {
        Outcome::GateTripped
    } else {
        Outcome::Fine
    })
}
