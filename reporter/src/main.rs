//! The `heapsnap` command: parse the arguments, run one command, map the
//! outcome to an exit status (0 fine, 1 a gate tripped, 2 bad usage or
//! input).

mod cli;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use heapsnap_report::render::{self, Format};
use heapsnap_report::{diff, flame, leaks, load, top};

use cli::{Cli, Command, FlameBy};

/// How a command ended, when it did not fail.
enum Outcome {
    Fine,
    GateTripped,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Fine) => ExitCode::SUCCESS,
        Ok(Outcome::GateTripped) => ExitCode::from(1),
        // A reader that went away (`| head`) is not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("heapsnap: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Top(args) => {
            let loaded = load::one(&args.snapshot)?;
            let mut options = top::Options::default();
            options.by = args.by;
            options.limit = args.limit;
            let report = top::top(&loaded, &options);
            write_stdout(|out| match args.format {
                Format::Json => render::json::write(&report, out),
                Format::Text | Format::Markdown => render::text::top(&report, out),
            })?;
            Ok(Outcome::Fine)
        }
        Command::Flamegraph(args) => {
            let loaded = load::one(&args.snapshot)?;
            let mut options = flame::Options::default();
            options.metric = args.metric;
            options.by_type = args.by == FlameBy::Type;
            options.title = args.title;
            write_file(&args.output, |out| {
                flame::flamegraph(&loaded, &options, out)
            })?;
            Ok(Outcome::Fine)
        }
        Command::Diff(args) => {
            let base = load::one(&args.base)?;
            let new = load::one(&args.new)?;
            let mut options = diff::Options::default();
            options.fail_on_growth = args.fail_on_growth;
            options.fail_on_site_growth = args.fail_on_site_growth;
            options.confidence = args.confidence / 100.0;
            options.limit = args.limit;
            let report = diff::diff(&base, &new, &options);
            if let Some(path) = &args.flamegraph {
                write_file(path, |out| {
                    flame::differential(&base, &new, &flame::Options::default(), out)
                })?;
            }
            write_stdout(|out| match args.format {
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
        Command::Leaks(args) => {
            let loaded = load::many(&args.snapshots)?;
            let mut options = leaks::Options::default();
            options.min_confidence = args.min_confidence / 100.0;
            options.limit = args.limit;
            let report = leaks::leaks(&loaded, &options)?;
            write_stdout(|out| match args.format {
                Format::Text => render::text::leaks(&report, out),
                Format::Json => render::json::write(&report, out),
                Format::Markdown => render::markdown::leaks(&report, out),
            })?;
            let suspicious = args.fail && !report.suspects.is_empty();
            Ok(if suspicious {
                Outcome::GateTripped
            } else {
                Outcome::Fine
            })
        }
    }
}

fn write_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .context("writing to standard output")
}

/// Writes `path` (or standard output for `-`), through a temporary file so
/// that a failure leaves whatever was there before.
fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    if path == Path::new("-") {
        return write_stdout(write);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = File::create(&temp)
        .and_then(|file| {
            let mut out = BufWriter::new(file);
            write(&mut out)?;
            out.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
