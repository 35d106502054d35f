//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use heapsnap_report::diff::Limit;
use heapsnap_report::{flame, render, top};

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
    /// Colour in text reports: auto (on a terminal, unless NO_COLOR is set
    /// or TERM is dumb), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub symbols: Symbols,
}

/// Debug information for snapshots of stripped binaries (see `symbolize`).
#[derive(Debug, Default, Args)]
pub struct Symbols {
    /// Name frames from this binary or debug file (the unstripped build, or
    /// what `objcopy --only-keep-debug` made of it); matched to the
    /// snapshot's modules by build id. Repeatable.
    #[arg(long, global = true, value_name = "PATH")]
    pub binary: Vec<PathBuf>,
    /// Name frames from the debug files in this directory, found by build
    /// id as in /usr/lib/debug (.build-id/ab/cdef….debug). Repeatable.
    #[arg(long, global = true, value_name = "DIR")]
    pub debug_dir: Vec<PathBuf>,
}

/// When to colour text reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Which sites a report keeps, by the code their stacks pass through
/// (pprof's -focus and -ignore).
#[derive(Debug, Default, Args)]
pub struct SiteFilter {
    /// Keep only sites whose stack has a frame (function name or source
    /// file) matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub focus: Option<String>,
    /// Leave out sites whose stack has a frame matching this regular
    /// expression.
    #[arg(long, value_name = "REGEX")]
    pub ignore: Option<String>,
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
    /// Write one self-contained HTML page about a run: leak suspects with
    /// charts, an interactive flamegraph, a sortable top table and a diff
    /// between any two snapshots.
    Report(ReportArgs),
    /// Convert a snapshot to a pprof profile (gzipped profile.proto) for
    /// `go tool pprof`, Parca, Pyroscope or Grafana.
    Pprof(PprofArgs),
    /// Name the frames of snapshots taken from a stripped binary, from its
    /// debug information (--binary, --debug-dir), and write them out.
    Symbolize(SymbolizeArgs),
    /// Running figures of live processes, one line per interval, as jstat
    /// and vmstat print them: from the live counters file a program keeps
    /// beside its dumps while it runs (HEAPSNAP_DIR), read without
    /// disturbing it.
    Stat(StatArgs),
    /// Follow a running program's dump directory in a terminal dashboard:
    /// its live heap over time, the leak report and the top sites of the
    /// snapshots so far, refreshed as they arrive. Keys: l leaks, s t f g
    /// top by site, type, function or tag, d diff of the run's first and
    /// newest snapshots, arrows scroll, space freezes,
    /// r writes the HTML report, q quits. Not on a terminal: stat's lines.
    Watch(WatchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): heapsnap(1), with the environment
    /// variables, or one command's with every option, e.g. `heapsnap man
    /// leaks > heapsnap-leaks.1`.
    Man {
        /// The command whose page to print.
        command: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SymbolizeArgs {
    /// Snapshot files, or directories of them.
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// Where to write: a file (or - for standard output) for one snapshot,
    /// a directory for several (created if missing; never an input's own
    /// directory). Files keep their names.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct PprofArgs {
    /// The snapshot: a file (gzipped or not), a directory (its newest
    /// snapshot), or - for standard input.
    pub snapshot: String,
    /// Where to write the profile (- for standard output).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Snapshot files, or directories of them; one run of a process is
    /// reported (the newest with two snapshots or more, or --pid's).
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// Where to write the page (- for standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Report the run of the process with this pid.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The page's title (default: program and pid).
    #[arg(long)]
    pub title: Option<String>,
    /// The confidence a growing site needs to be a suspect, in percent.
    #[arg(long, default_value_t = 99.0, value_parser = percentage)]
    pub min_confidence: f64,
}

#[derive(Debug, Args)]
pub struct LeaksArgs {
    /// Snapshot files, or directories of them. With snapshots of several
    /// runs (a process restarted), each run with two snapshots or more is
    /// analysed, newest first.
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// Analyse only the run of the process with this pid.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with status 1 when there is a suspect at --min-confidence or
    /// above (in any run analysed).
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

/// A percentage (`99`, `99%`) within `range`, or the message `outside`.
fn percent_within(
    text: &str,
    range: std::ops::RangeInclusive<f64>,
    outside: &str,
) -> Result<f64, String> {
    let value = heapsnap_format::units::parse_percent(text)
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(outside.into())
    }
}

fn percentage(text: &str) -> Result<f64, String> {
    percent_within(text, 0.0..=100.0, "expected a percentage from 0 to 100")
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The snapshot: a file (gzipped or not), a directory (its newest
    /// snapshot), or - for standard input.
    pub snapshot: String,
    /// What rows are.
    #[arg(long, value_enum, default_value_t = GroupBy::Site)]
    pub by: GroupBy,
    /// How many rows to show (0 for all).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub filter: SiteFilter,
}

#[derive(Debug, Args)]
pub struct FlamegraphArgs {
    /// The snapshot: a file (gzipped or not), a directory (its newest
    /// snapshot), or - for standard input.
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
    /// Write folded stacks (`frame;frame;[type] weight`, inferno's and
    /// flamegraph.pl's input) instead of an SVG.
    #[arg(long)]
    pub folded: bool,
    /// Keep the allocation machinery (`RawVec::grow_one`, hashbrown's
    /// `reserve_rehash`) between the program's frame and the type at the
    /// tip of each stack.
    #[arg(long)]
    pub allocation_frames: bool,
    #[command(flatten)]
    pub filter: SiteFilter,
}

/// Flamegraph layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FlameBy {
    /// Call stacks from the root, types at the tips.
    Stack,
    /// Types at the root, then their call stacks.
    Type,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The base snapshot (before); or a directory of dumps alone, to
    /// compare the first and the newest snapshots taken while its run
    /// served.
    pub base: String,
    /// The new snapshot (after).
    pub new: Option<String>,
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
    #[command(flatten)]
    pub filter: SiteFilter,
}

fn confidence(text: &str) -> Result<f64, String> {
    percent_within(
        text,
        50.0..=99.9999,
        "confidence must be between 50 and 99.9999 (percent)",
    )
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    heapsnap stat /var/tmp/heap          one line now\n  \
    heapsnap stat 4242 1s                every second, until interrupted\n  \
    heapsnap stat 4242 2s 30             every 2 s, 30 lines\n  \
    heapsnap stat test/heap prod/heap 1s two processes side by side")]
pub struct StatArgs {
    /// What to read: a process id, a dump directory (every running
    /// process's live counters in it) or a live counters file
    /// (heapsnap-PID.live); several side by side. Then, as vmstat takes
    /// them, an interval (1s, 500ms; a plain number is seconds) and a
    /// count of lines: without an interval, one line.
    #[arg(required = true, value_name = "PID|DIR|FILE... [INTERVAL [COUNT]]")]
    pub args: Vec<String>,
    /// Output format: text lines under a header, or one JSON object per
    /// line (with every tag's figures).
    #[arg(long, value_enum, default_value_t = LineFormat::Text)]
    pub format: LineFormat,
    /// Under each process's line, a line per tag (heapsnap::tag): its live
    /// bytes, their change and its bytes allocated a second.
    #[arg(long)]
    pub tags: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The dump directory of the running program (its HEAPSNAP_DIR).
    pub dir: PathBuf,
    /// Where `r` writes the HTML report of what the dashboard has seen.
    #[arg(
        short,
        long,
        value_name = "PATH",
        default_value = "heapsnap-watch.html"
    )]
    pub output: PathBuf,
    /// Ask the running process for a dump this often while the dashboard
    /// runs (at least 1s; its own interval stays for the rest of its life):
    /// a request file beside its dumps, rewritten every second and removed
    /// on quitting.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    heapsnap_format::units::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

/// The targets, interval and count of `stat`'s arguments.
#[derive(Debug, PartialEq)]
pub struct StatPlan {
    pub targets: Vec<String>,
    pub interval: Option<std::time::Duration>,
    pub count: Option<u64>,
}

impl StatArgs {
    /// Reads the trailing interval and count off the targets: the last
    /// argument (after the first) that reads as a duration is the
    /// interval, and a plain number after it the count. A directory or
    /// file of that name is a target.
    pub fn plan(&self) -> StatPlan {
        let is_place = |text: &str| std::path::Path::new(text).exists();
        let duration = |text: &str| {
            (!is_place(text))
                .then(|| heapsnap_format::units::parse_duration(text).ok())
                .flatten()
                .filter(|d| !d.is_zero())
        };
        let count = |text: &str| {
            (!is_place(text))
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        let mut targets = self.args.clone();
        let n = targets.len();
        if n >= 3
            && let (Some(interval), Some(count)) =
                (duration(&targets[n - 2]), count(&targets[n - 1]))
        {
            targets.truncate(n - 2);
            return StatPlan {
                targets,
                interval: Some(interval),
                count: Some(count),
            };
        }
        if n >= 2
            && let Some(interval) = duration(&targets[n - 1])
        {
            targets.truncate(n - 1);
            return StatPlan {
                targets,
                interval: Some(interval),
                count: None,
            };
        }
        StatPlan {
            targets,
            interval: None,
            count: Some(1),
        }
    }
}

/// Formats of commands that print as they go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LineFormat {
    /// Aligned columns under a header.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables.
    Text,
    /// One JSON document.
    Json,
    /// GitHub-flavoured Markdown.
    Markdown,
}

impl From<Format> for render::Format {
    fn from(format: Format) -> render::Format {
        match format {
            Format::Text => render::Format::Text,
            Format::Json => render::Format::Json,
            Format::Markdown => render::Format::Markdown,
        }
    }
}

/// What `top`'s rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// One row per site (stack and tag).
    Site,
    /// One row per type.
    Type,
    /// One row per tag (untagged memory in one row).
    Tag,
    /// One row per location function.
    Function,
}

impl From<GroupBy> for top::GroupBy {
    fn from(by: GroupBy) -> top::GroupBy {
        match by {
            GroupBy::Site => top::GroupBy::Site,
            GroupBy::Type => top::GroupBy::Type,
            GroupBy::Tag => top::GroupBy::Tag,
            GroupBy::Function => top::GroupBy::Function,
        }
    }
}

/// What the width of a flamegraph's frame measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Estimated live bytes.
    LiveBytes,
    /// Estimated live allocations.
    LiveCount,
    /// Estimated bytes allocated since the start, freed or not.
    AllocatedBytes,
}

impl From<Metric> for flame::Metric {
    fn from(metric: Metric) -> flame::Metric {
        match metric {
            Metric::LiveBytes => flame::Metric::LiveBytes,
            Metric::LiveCount => flame::Metric::LiveCount,
            Metric::AllocatedBytes => flame::Metric::AllocatedBytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn plan(args: &[&str]) -> StatPlan {
        StatArgs {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            format: LineFormat::Text,
            tags: false,
        }
        .plan()
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn stat_reads_interval_and_count_off_the_end_as_vmstat_does() {
        assert_eq!(
            plan(&["4242"]),
            StatPlan {
                targets: strings(&["4242"]),
                interval: None,
                count: Some(1),
            }
        );
        assert_eq!(
            plan(&["4242", "1"]),
            StatPlan {
                targets: strings(&["4242"]),
                interval: Some(Duration::from_secs(1)),
                count: None,
            }
        );
        assert_eq!(
            plan(&["4242", "500ms", "30"]),
            StatPlan {
                targets: strings(&["4242"]),
                interval: Some(Duration::from_millis(500)),
                count: Some(30),
            }
        );
        // Two processes by pid: the interval says where targets end.
        assert_eq!(
            plan(&["11", "12", "2s"]),
            StatPlan {
                targets: strings(&["11", "12"]),
                interval: Some(Duration::from_secs(2)),
                count: None,
            }
        );
        // A zero interval is no interval.
        assert_eq!(plan(&["4242", "0"]).interval, None);
    }

    #[test]
    fn stat_takes_a_directory_named_like_a_number_as_a_target() {
        let dir = tempfile::tempdir().unwrap();
        let numbered = dir.path().join("5");
        std::fs::create_dir(&numbered).unwrap();
        let numbered = numbered.to_str().unwrap();
        assert_eq!(
            plan(&["4242", numbered]).targets,
            strings(&["4242", numbered])
        );
    }
}
