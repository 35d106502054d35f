//! One function per command: build the library's options from the
//! arguments, run it, write the report.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use heapsnap_format::quality;
use heapsnap_report::filter::Filter;
use heapsnap_report::render::{self, Format};
use heapsnap_report::symbolize::{self, Symbolizer};
use heapsnap_report::{Loaded, diff, flame, leaks, load, report, top};

use crate::cli::{
    Cli, Command, DiffArgs, FlameBy, FlamegraphArgs, LeaksArgs, LineFormat, PprofArgs, ReportArgs,
    SiteFilter, StatPlan, SymbolizeArgs, Symbols, TopArgs, WatchArgs,
};
use crate::{man, output};

/// How a command ended, when it did not fail.
pub enum Outcome {
    Fine,
    GateTripped,
}

pub fn run(cli: crate::cli::Cli) -> Result<Outcome> {
    let prepare = &mut Prepare::new(cli.symbols)?;
    match cli.command {
        Command::Top(args) => top(args, prepare),
        Command::Flamegraph(args) => flamegraph(args, prepare),
        Command::Diff(args) => diff(args, prepare),
        Command::Leaks(args) => leaks(args, prepare),
        Command::Pprof(args) => pprof(args, prepare),
        Command::Report(args) => report(args, prepare),
        Command::Symbolize(args) => symbolize(args, prepare),
        Command::Stat(args) => stat_lines(&args.plan(), args.format, args.tags),
        Command::Watch(args) => watch(&args),
        Command::Completions { shell } => {
            output::stdout(|out| {
                clap_complete::generate(shell, &mut Cli::command(), "heapsnap", out);
                Ok(())
            })?;
            Ok(Outcome::Fine)
        }
        Command::Man { command } => {
            let page = match command {
                None => man::main_page()?,
                Some(name) => man::command_page(&name)?,
            };
            output::stdout(|out| out.write_all(&page))?;
            Ok(Outcome::Fine)
        }
    }
}

/// `watch`: the dashboard on a terminal; elsewhere (a pipe, a file, a CI
/// log) stat's lines every second.
fn watch(args: &WatchArgs) -> Result<Outcome> {
    use std::io::IsTerminal;
    if !args.dir.is_dir() {
        bail!("{}: not a directory", args.dir.display());
    }
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        crate::dashboard::run(&args.dir, &args.output, args.interval)?;
        return Ok(Outcome::Fine);
    }
    let plan = StatPlan {
        targets: vec![args.dir.to_string_lossy().into_owned()],
        interval: Some(std::time::Duration::from_secs(1)),
        count: None,
    };
    stat_lines(&plan, LineFormat::Text, false)
}

/// `stat`: a line per process per interval until the count is reached or
/// every process has ended; the header again every screenful on a
/// terminal.
fn stat_lines(plan: &StatPlan, format: LineFormat, tags: bool) -> Result<Outcome> {
    use heapsnap_report::live::{self, Live, Row};
    use heapsnap_report::render::stat as lines;
    use std::io::{IsTerminal, Write};

    let mut sources = Vec::new();
    let mut seen = BTreeSet::new();
    for target in &plan.targets {
        for path in live::find(target)? {
            // A process named twice (its pid and its directory) is read once.
            if seen.insert(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())) {
                sources.push(Live::open(&path)?);
            }
        }
    }
    let several = sources.len() > 1;
    let stdout = std::io::stdout();
    let screenful = stdout.is_terminal().then(|| {
        terminal_size::terminal_size().map_or(24, |(_, rows)| usize::from(rows.0).max(6)) - 1
    });
    let mut out = stdout.lock();
    let mut before = vec![None; sources.len()];
    let mut gone = vec![false; sources.len()];
    let mut since_header = None;
    let mut printed = 0;
    loop {
        for (i, source) in sources.iter().enumerate() {
            if gone[i] {
                continue;
            }
            let reading = source.read()?;
            // A process that ended since the line before: said once, not
            // printed again with the figures of its last line.
            let unchanged = before[i]
                .as_ref()
                .is_some_and(|b: &live::Reading| b.counters == reading.counters);
            if reading.stale && unchanged {
                output::note("", &format!("process {} ended", reading.counters.pid));
                gone[i] = true;
                continue;
            }
            let row = Row::new(before[i].as_ref(), &reading);
            gone[i] = reading.stale;
            before[i] = Some(reading);
            if format == LineFormat::Json {
                render::json::line(&row, &mut out)?;
                continue;
            }
            if since_header.is_none_or(|n| screenful.is_some_and(|every| n >= every)) {
                writeln!(out, "{}", lines::header(several))?;
                since_header = Some(0);
            }
            writeln!(out, "{}", lines::line(&row, several))?;
            if tags {
                for tag in &row.tags {
                    writeln!(out, "{}", lines::tag_line(tag, several))?;
                }
            }
            since_header = since_header.map(|n| n + 1);
        }
        out.flush()?;
        printed += 1;
        let (Some(interval), false) = (plan.interval, gone.iter().all(|g| *g)) else {
            break;
        };
        if plan.count.is_some_and(|count| printed >= count) {
            break;
        }
        std::thread::sleep(interval);
    }
    Ok(Outcome::Fine)
}

/// What every command does to the snapshots it loaded before reading
/// them: name their frames from the debug information given (`--binary`,
/// `--debug-dir`), then say what their build still lacks.
struct Prepare {
    symbolizer: Symbolizer,
    /// True when debug information was given (`--binary`, `--debug-dir`);
    /// without, only the modules' own files on this machine are used,
    /// where their build ids match.
    given: bool,
}

impl Prepare {
    fn new(symbols: Symbols) -> Result<Prepare> {
        let mut options = symbolize::Options::default();
        options.binaries = symbols.binary;
        options.debug_dirs = symbols.debug_dir;
        let given = !options.is_empty();
        let symbolizer = Symbolizer::new(options).context("--binary")?;
        Ok(Prepare { symbolizer, given })
    }

    /// Symbolises `loaded`, saying on standard error what was named from
    /// where and which modules had no debug information; then warns of the
    /// build. How many distinct addresses were named.
    fn apply(&mut self, loaded: &mut [Loaded]) -> usize {
        let mut named = BTreeSet::new();
        let mut sources = BTreeSet::new();
        let mut unmatched = BTreeSet::new();
        for one in loaded.iter_mut() {
            let mut outcome = self.symbolizer.symbolize(&mut one.snapshot);
            if !outcome.named.is_empty() {
                sources.extend(outcome.matched.into_iter().map(|(_, file)| file));
            }
            named.append(&mut outcome.named);
            unmatched.extend(outcome.unmatched);
        }
        symbolize::share_names_within_processes(loaded);
        for why in &unmatched {
            output::note("warning: ", &format!("no debug information for {why}"));
        }
        let named = named.len();
        if named > 0 {
            let sources: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
            output::note(
                "",
                &format!("named {named} addresses from {}", sources.join(", ")),
            );
        }
        warn_of_build(loaded);
        named
    }
}

/// The snapshot `path` names (a directory: its run's newest taken while
/// it served, see [`serving`]), prepared, with `filter` applied.
fn load_newest(path: &str, filter: &SiteFilter, prepare: &mut Prepare) -> Result<Loaded> {
    let mut loaded = if path != "-" && Path::new(path).is_dir() {
        serving(path, prepare)?.pop().context("no snapshot")?
    } else {
        let mut one = load::newest(path)?;
        prepare.apply(std::slice::from_mut(&mut one));
        one
    };
    site_filter(filter)?.apply(&mut loaded);
    Ok(loaded)
}

/// The snapshots of the run in directory `dir` taken while it served (its
/// teardown left out: `leaks::serving_snapshots`), prepared, oldest first;
/// which ones, said on standard error.
fn serving(dir: &str, prepare: &mut Prepare) -> Result<Vec<Loaded>> {
    let mut loaded = load::many(&[dir.to_owned()])?;
    prepare.apply(&mut loaded);
    let (kept, note) = leaks::serving_snapshots(&loaded, None)?;
    let sources: Vec<String> = kept.iter().map(|l| l.source.clone()).collect();
    if let Some(note) = note {
        output::note("", &format!("{dir}: {}", render::sentence::note(&note)));
    }
    if let Some(newest) = sources.last() {
        output::note(
            "",
            &format!("{dir}: the newest snapshot taken while the program served, {newest}"),
        );
    }
    let mut chosen: Vec<Loaded> = loaded
        .into_iter()
        .filter(|l| sources.contains(&l.source))
        .collect();
    chosen.sort_by_key(|l| sources.iter().position(|s| *s == l.source));
    Ok(chosen)
}

/// Says on standard error, once, what the build of the newest of `loaded`
/// lacked and how to fix it (see `heapsnap_format::quality`): a line of
/// what is missing, a line of the fix, where the details are.
fn warn_of_build(loaded: &[Loaded]) {
    let Some((what, fix)) = newest_of(loaded).and_then(|l| quality::short_warning(&l.snapshot))
    else {
        return;
    };
    output::note("warning: ", &what);
    output::note("fix: ", &fix);
    output::note(
        "",
        "why, and builds in CI and Docker: docs/GUIDE.md, \"Build settings\"",
    );
}

/// After a leak report whose verdicts the build weakens (types and
/// places, not only the cost of a sample): the warning again, in a line,
/// where it is read last.
fn warn_of_verdicts(loaded: &[Loaded]) {
    let Some(newest) = newest_of(loaded) else {
        return;
    };
    let weakening: Vec<&str> = quality::shortfalls(&newest.snapshot)
        .into_iter()
        .filter(|s| s.weakens_verdicts())
        .map(|s| s.name())
        .collect();
    if !weakening.is_empty() {
        let text = format!(
            "these verdicts come from a build without {}: holders and places may be unnamed (the fix is above)",
            weakening.join(", ")
        );
        output::note("warning: ", &text);
    }
}

/// The newest snapshot of `loaded`.
fn newest_of(loaded: &[Loaded]) -> Option<&Loaded> {
    loaded.iter().max_by_key(|l| l.snapshot.taken_at_ms)
}

/// Writes each snapshot of `args`, its frames named (see [`Prepare`]).
fn symbolize(args: SymbolizeArgs, prepare: &mut Prepare) -> Result<Outcome> {
    if !prepare.given {
        bail!("symbolize needs debug information: --binary PATH or --debug-dir DIR");
    }
    let mut loaded = load::many(&args.snapshots)?;
    if prepare.apply(&mut loaded) == 0 {
        bail!(
            "no frame could be named: the debug information given does not match \
             the snapshots' modules (see the warnings above)"
        );
    }
    let single = loaded.len() == 1 && !args.output.is_dir();
    if single {
        return write_snapshot(&args.output, &loaded[0]).map(|()| Outcome::Fine);
    }
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Every name is checked before anything is written.
    let mut targets = Vec::new();
    for one in &loaded {
        let name = match Path::new(&one.source).file_name() {
            Some(name) if one.source != "-" => name.to_owned(),
            _ => "stdin.json".into(),
        };
        let target = dir.join(&name);
        if same_file(&target, Path::new(&one.source)) {
            bail!(
                "{}: would replace the snapshot it was read from; write elsewhere",
                target.display()
            );
        }
        if targets.contains(&target) {
            bail!("{}: two snapshots of this name", target.display());
        }
        targets.push(target);
    }
    for (target, one) in targets.iter().zip(&loaded) {
        write_snapshot(target, one)?;
    }
    Ok(Outcome::Fine)
}

/// True when `a` and `b` name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    canonical(a).is_some_and(|a| Some(a) == canonical(b))
}

/// Writes `loaded` to `path` as JSON, gzip-compressed when the name ends
/// in `.gz`.
fn write_snapshot(path: &Path, loaded: &Loaded) -> Result<()> {
    output::file(path, |out| {
        loaded
            .snapshot
            .write_named(path, out)
            .map_err(std::io::Error::other)
    })
}

fn site_filter(filter: &SiteFilter) -> Result<Filter> {
    Filter::new(filter.focus.as_deref(), filter.ignore.as_deref())
        .context("--focus or --ignore is not a regular expression")
}

fn pprof(args: PprofArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let loaded = load_newest(&args.snapshot, &SiteFilter::default(), prepare)?;
    let profile = heapsnap_format::pprof::gzipped(&loaded.snapshot);
    output::file(&args.output, |out| out.write_all(&profile))?;
    Ok(Outcome::Fine)
}

fn report(args: ReportArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let mut loaded = load::many(&args.snapshots)?;
    prepare.apply(&mut loaded);
    let mut options = report::Options::default();
    options.pid = args.pid;
    options.title = args.title;
    options.leaks.min_confidence = args.min_confidence / 100.0;
    options.leaks.limit = 0;
    let report = report::report(&loaded, &options)?;
    output::file(&args.output, |out| render::html::write(&report, out))?;
    Ok(Outcome::Fine)
}

fn top(args: TopArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let loaded = load_newest(&args.snapshot, &args.filter, prepare)?;
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

fn flamegraph(args: FlamegraphArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let loaded = load_newest(&args.snapshot, &args.filter, prepare)?;
    let mut options = flame::Options::default();
    options.metric = args.metric.into();
    options.by_type = args.by == FlameBy::Type;
    options.title = args.title;
    options.library_tip = args.allocation_frames;
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

fn diff(args: DiffArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let filter = site_filter(&args.filter)?;
    let [mut base, mut new] = match &args.new {
        Some(new) => {
            let mut both = [load::one(&args.base)?, load::one(new)?];
            prepare.apply(&mut both);
            both
        }
        // A directory alone: the first and the newest snapshots of its run
        // taken while it served.
        None if args.base != "-" && Path::new(&args.base).is_dir() => {
            let mut run = serving(&args.base, prepare)?;
            if run.len() < 2 {
                bail!("{}: needs two snapshots of one run to compare", args.base);
            }
            let new = run.pop().context("no snapshot")?;
            let base = run.swap_remove(0);
            output::note(
                "",
                &format!(
                    "{}: comparing {} with {}",
                    args.base, base.source, new.source
                ),
            );
            [base, new]
        }
        None => bail!("diff needs two snapshots (BASE NEW), or a directory of one run"),
    };
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

fn leaks(args: LeaksArgs, prepare: &mut Prepare) -> Result<Outcome> {
    let mut loaded = load::many(&args.snapshots)?;
    prepare.apply(&mut loaded);
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
    warn_of_verdicts(&loaded);
    let suspicious = args.fail && report.has_suspects();
    Ok(if suspicious {
        Outcome::GateTripped
    } else {
        Outcome::Fine
    })
}
