//! One function per command: build the library's options from the
//! arguments, run it, write the report.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use heapsnap_report::filter::Filter;
use heapsnap_report::render::{self, Format};
use heapsnap_report::{Loaded, diff, flame, leaks, load, report, top};

use crate::cli::{
    Cli, Command, DiffArgs, FlameBy, FlamegraphArgs, LeaksArgs, PprofArgs, ReportArgs, SiteFilter,
    TopArgs,
};
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
        Command::Report(args) => report(args),
        Command::Completions { shell } => {
            output::stdout(|out| {
                clap_complete::generate(shell, &mut Cli::command(), "heapsnap", out);
                Ok(())
            })?;
            Ok(Outcome::Fine)
        }
        Command::Man => {
            output::stdout(|out| clap_mangen::Man::new(Cli::command()).render(out))?;
            Ok(Outcome::Fine)
        }
    }
}

/// The snapshot `path` names (a directory: its newest, said on standard
/// error), with `filter` applied.
fn load_newest(path: &str, filter: &SiteFilter) -> Result<Loaded> {
    let mut loaded = load::newest(path)?;
    if path != "-" && Path::new(path).is_dir() {
        eprintln!("heapsnap: {path}: the newest snapshot, {}", loaded.source);
    }
    warn_of_build(std::slice::from_ref(&loaded));
    site_filter(filter)?.apply(&mut loaded);
    Ok(loaded)
}

/// Says on standard error, once, what the build of the newest of `loaded`
/// lacked and how to fix it (see `heapsnap_format::quality`).
fn warn_of_build(loaded: &[Loaded]) {
    let newest = loaded.iter().max_by_key(|l| l.snapshot.taken_at_ms);
    if let Some(warning) = newest.and_then(|l| heapsnap_format::quality::warning(&l.snapshot)) {
        eprintln!("heapsnap: warning: {warning}");
    }
}

fn site_filter(filter: &SiteFilter) -> Result<Filter> {
    Filter::new(filter.focus.as_deref(), filter.ignore.as_deref())
        .context("--focus or --ignore is not a regular expression")
}

fn pprof(args: PprofArgs) -> Result<Outcome> {
    let loaded = load_newest(&args.snapshot, &SiteFilter::default())?;
    let profile = heapsnap_format::pprof::gzipped(&loaded.snapshot);
    output::file(&args.output, |out| out.write_all(&profile))?;
    Ok(Outcome::Fine)
}

fn report(args: ReportArgs) -> Result<Outcome> {
    let loaded = load::many(&args.snapshots)?;
    warn_of_build(&loaded);
    let mut options = report::Options::default();
    options.pid = args.pid;
    options.title = args.title;
    options.leaks.min_confidence = args.min_confidence / 100.0;
    options.leaks.limit = 0;
    let report = report::report(&loaded, &options)?;
    output::file(&args.output, |out| render::html::write(&report, out))?;
    Ok(Outcome::Fine)
}

fn top(args: TopArgs) -> Result<Outcome> {
    let loaded = load_newest(&args.snapshot, &args.filter)?;
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
    let loaded = load_newest(&args.snapshot, &args.filter)?;
    let mut options = flame::Options::default();
    options.metric = args.metric.into();
    options.by_type = args.by == FlameBy::Type;
    options.title = args.title;
    output::file(&args.output, |out| {
        if args.folded {
            flame::folded(&loaded, &options)
                .iter()
                .try_for_each(|line| writeln!(out, "{line}"))
        } else {
            flame::flamegraph(&loaded, &options, out)
        }
    })?;
    Ok(Outcome::Fine)
}

fn diff(args: DiffArgs) -> Result<Outcome> {
    let filter = site_filter(&args.filter)?;
    let mut base = load::one(&args.base)?;
    let mut new = load::one(&args.new)?;
    warn_of_build(std::slice::from_ref(&new));
    filter.apply(&mut base);
    filter.apply(&mut new);
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
    warn_of_build(&loaded);
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
