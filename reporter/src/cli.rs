//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use heapsnap_report::diff::Limit;
use heapsnap_report::flame::Metric;
use heapsnap_report::render::Format;
use heapsnap_report::top::GroupBy;

/// Reads heap snapshots written by the heapsnap profiler: where the memory
/// is, what grew, and which collection is leaking.
///
/// Exit status: 0 fine; 1 a gate tripped (diff --fail-on-growth, leaks
/// --fail); 2 bad usage or bad input.
#[derive(Debug, Parser)]
#[command(name = "heapsnap", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The biggest holders of live memory in one snapshot.
    Top(TopArgs),
    /// Draw live memory as a flamegraph (SVG).
    Flamegraph(FlamegraphArgs),
    /// What grew between two snapshots; optionally fail when it grew too much.
    Diff(DiffArgs),
    /// Leak suspects over a series of snapshots of one process.
    Leaks(LeaksArgs),
}

#[derive(Debug, Args)]
pub struct LeaksArgs {
    /// Snapshot files, or directories of them (the newest process's are
    /// analysed).
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with status 1 when there is a suspect at --min-confidence or
    /// above.
    #[arg(long)]
    pub fail: bool,
    /// The confidence a growing site needs to be a suspect (and to fail
    /// --fail), in percent; below it, it is listed as possibly growing.
    #[arg(long, default_value_t = 99.0, value_parser = percentage)]
    pub min_confidence: f64,
    /// Rows of the tables of what does not leak (0 for all).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

fn percentage(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err("expected a percentage from 0 to 100".into())
    }
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The snapshot (a file, gzipped or not, or - for standard input).
    pub snapshot: String,
    /// What rows are.
    #[arg(long, value_enum, default_value_t = GroupBy::Site)]
    pub by: GroupBy,
    /// How many rows to show (0 for all).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct FlamegraphArgs {
    /// The snapshot (a file, gzipped or not, or - for standard input).
    pub snapshot: String,
    /// Where to write the SVG (- for standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// What frame widths measure.
    #[arg(long, value_enum, default_value_t = Metric::LiveBytes)]
    pub metric: Metric,
    /// Put types at the root instead of the tips.
    #[arg(long, value_enum, default_value_t = FlameBy::Stack)]
    pub by: FlameBy,
    /// The title (default: program, pid and time).
    #[arg(long)]
    pub title: Option<String>,
}

/// Flamegraph layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FlameBy {
    /// Call stacks from the root, types at the tips.
    Stack,
    /// Types at the root, then their call stacks.
    Type,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The base snapshot (before).
    pub base: String,
    /// The new snapshot (after).
    pub new: String,
    /// Exit with status 1 when the live heap grew by more than this: a size
    /// (5MiB) or a percentage of the base heap (10%). With sampled
    /// snapshots, only growth beyond the limit with --confidence counts.
    #[arg(long, value_name = "LIMIT")]
    pub fail_on_growth: Option<Limit>,
    /// Exit with status 1 when any one site grew by more than this (a size,
    /// or a percentage of the base heap).
    #[arg(long, value_name = "LIMIT")]
    pub fail_on_site_growth: Option<Limit>,
    /// How sure a gate must be that the growth exceeds its limit, in percent.
    #[arg(long, default_value_t = 99.99, value_parser = confidence)]
    pub confidence: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a differential flamegraph (SVG) here.
    #[arg(long, value_name = "SVG")]
    pub flamegraph: Option<PathBuf>,
    /// Rows per table (0 for all).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

fn confidence(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if (50.0..=99.9999).contains(&value) {
        Ok(value)
    } else {
        Err("confidence must be between 50 and 99.9999 (percent)".into())
    }
}
