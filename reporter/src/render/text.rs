//! Reports as aligned text, for terminals.

use std::io::{self, Write};

use super::style::{self, Paint};
use super::{Align, Table, sentence};
use crate::diff::{self, Change, Gate, GateKind};
use crate::flame::sampling;
use crate::format;
use crate::leaks;
use crate::summary::Summary;
use crate::top::{self, GroupBy};
use heapsnap_format::names;
use heapsnap_format::snapshot::is_exact;

/// `quickstart (pid 20694) at 2026-11-22 02:43:53 UTC, after 72 ms`.
pub(crate) fn identity(summary: &Summary) -> String {
    let program = summary.exe.rsplit('/').next().unwrap_or(&summary.exe);
    format!(
        "{program} (pid {}) at {}, after {}",
        summary.pid,
        format::timestamp(summary.taken_at_ms),
        format::duration_ms(summary.uptime_ms)
    )
}

/// `live heap 45.4 MiB in 391,046 allocations (exact)`, or with `~` and
/// `± 1.2 MiB` when sampled.
pub(crate) fn heap_line(summary: &Summary) -> String {
    let approx = if is_exact(summary.interval_bytes) {
        ""
    } else {
        "~"
    };
    let mut line = format!(
        "live heap {approx}{} in {approx}{} allocations ({}",
        format::bytes(summary.live_bytes),
        format::count(summary.live_allocs),
        sampling(summary.interval_bytes)
    );
    if summary.interval_bytes > 1 {
        line += &format!(
            ", {} samples, ±{}",
            format::count(summary.live_samples),
            format::bytes(summary.live_bytes_stddev.round() as u64)
        );
    }
    line.push(')');
    if let Some(resident) = summary.allocator_resident_bytes {
        line += &format!(" · allocator resident {}", format::bytes(resident));
    }
    if let Some(rss) = summary.rss_bytes {
        line += &format!(" · RSS {}", format::bytes(rss));
    }
    if let Some(limit) = summary.memory_limit_bytes {
        line += &format!(" · limit {}", format::bytes(limit));
    }
    if summary.samples_dropped > 0 {
        line += &format!(
            " · {} samples dropped",
            format::count(summary.samples_dropped)
        );
    }
    if summary.samples_merged > 0 {
        line += &format!(
            " · {} samples of stacks past the site table's cap (HEAPSNAP_MAX_SITES) merged into one site per tag, without a stack",
            format::count(summary.samples_merged)
        );
    }
    // The profiler's own pauses, only when a thread could have felt them.
    let stalled_us = summary
        .capture
        .max_pause_us
        .max(summary.capture.max_wait_us);
    if stalled_us >= NOTABLE_STALL_US {
        line += &format!(
            " · the profiler's locks: held up to {}, a thread waited up to {}",
            format::micros(summary.capture.max_pause_us),
            format::micros(summary.capture.max_wait_us)
        );
    }
    line
}

/// A stall by the profiler's locks worth telling the reader about (µs):
/// below it, no request of a server would notice.
const NOTABLE_STALL_US: u64 = 1000;

/// The columns and cells of a `top` report's table, for text and Markdown.
pub(super) fn top_table(report: &top::Report) -> (Vec<(&'static str, Align)>, Vec<Vec<String>>) {
    let (label, rest): (&str, [&str; 2]) = match report.by {
        GroupBy::Site => ("TYPE", ["", "LOCATION"]),
        GroupBy::Type => ("TYPE", ["SITES", "LARGEST SITE"]),
        GroupBy::Tag => ("TAG", ["SITES", "LARGEST TYPE"]),
        GroupBy::Function => ("FUNCTION", ["SITES", "LARGEST TYPE"]),
    };
    let mut columns = vec![
        ("#", Align::Right),
        ("LIVE", Align::Right),
        ("SHARE", Align::Right),
        ("COUNT", Align::Right),
        ("ALLOCATED", Align::Right),
        (label, Align::Left),
    ];
    if report.by != GroupBy::Site {
        columns.push((rest[0], Align::Right));
    }
    columns.push((rest[1], Align::Left));
    let rows = report
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.rank.to_string(),
                format::bytes(row.live_bytes),
                format::percent(row.share),
                format::count_about(row.live_allocs, row.live_allocs_stddev),
                format::bytes(row.allocated_bytes),
            ];
            match report.by {
                GroupBy::Site => {
                    cells.push(row.ty.clone());
                    cells.push(row.location.label());
                }
                GroupBy::Type => {
                    cells.push(row.ty.clone());
                    cells.push(row.sites.to_string());
                    cells.push(row.location.label());
                }
                GroupBy::Tag => {
                    cells.push(row.tag.clone().unwrap_or_else(|| "(untagged)".into()));
                    cells.push(row.sites.to_string());
                    cells.push(row.ty.clone());
                }
                GroupBy::Function => {
                    cells.push(row.location.function.to_string());
                    cells.push(row.sites.to_string());
                    cells.push(row.ty.clone());
                }
            }
            cells
        })
        .collect();
    (columns, rows)
}

/// Writes a `top` report.
pub fn top(report: &top::Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let title = format!("{}: {} snapshot of {}", s.source, s.trigger, identity(s));
    // Headers wrap: a timestamp or an RSS cut short is a figure lost.
    lines(out, &style::wrap(&title, "", "  "))?;
    lines(out, &style::wrap(&heap_line(s), "", "  "))?;
    writeln!(out)?;
    if report.rows.is_empty() {
        return writeln!(out, "nothing live");
    }
    let (columns, rows) = top_table(report);
    let mut table = Table::new(&columns);
    for cells in rows {
        table.row(cells);
    }
    table.write(out, "")?;
    let hidden = report.total_rows - report.rows.len();
    if hidden > 0 {
        writeln!(
            out,
            "({} more; --limit 0 shows all)",
            format::count(hidden as u64)
        )?;
    }
    Ok(())
}

fn change_table(changes: &[Change], with_location: bool) -> Table {
    let mut columns = vec![
        ("CHANGE", Align::Right),
        ("%", Align::Right),
        ("BEFORE", Align::Right),
        ("AFTER", Align::Right),
        ("COUNT", Align::Right),
        ("TYPE", Align::Left),
    ];
    if with_location {
        columns.push(("LOCATION", Align::Left));
    }
    let mut table = Table::new(&columns);
    for c in changes {
        let mut cells = vec![
            format::signed_bytes(c.delta_bytes),
            format::signed_percent(c.delta_bytes, c.before_bytes),
            format::bytes(c.before_bytes),
            format::bytes(c.after_bytes),
            format::signed_count_about(c.delta_allocs, c.delta_allocs_stddev),
            c.ty.clone(),
        ];
        if with_location {
            cells.push(c.location.label());
        }
        table.row(cells);
    }
    table
}

/// A gate's verdict in one line.
pub(crate) fn gate_verdict(gate: &Gate, report: &diff::Report) -> String {
    let confidence = format!("{}%", report.confidence * 100.0);
    let what = if gate.kind == GateKind::Growth {
        "live heap growth"
    } else {
        "growth of any one site"
    };
    let verdict = if gate.tripped { "FAILED" } else { "passed" };
    let margin = if report.exact {
        "exact snapshots".to_owned()
    } else {
        format!(
            "sampled: with {confidence} confidence the growth is at least {}",
            format::signed_bytes(gate.growth_lower_bound)
        )
    };
    format!(
        "{verdict}: {what} {} against a limit of {} ({margin})",
        format::signed_bytes(gate.growth_bytes),
        gate.limit
    )
}

/// What a tripped gate's culprits are called.
pub(crate) fn culprits_heading(gate: &Gate) -> &'static str {
    if gate.kind == GateKind::Growth {
        "the growth is at:"
    } else {
        "sites over the limit:"
    }
}

/// Writes a `diff` report.
pub fn diff(report: &diff::Report, out: &mut dyn Write) -> io::Result<()> {
    let base = format!("{}: {}", report.base.source, identity(&report.base));
    lines(out, &style::wrap(&base, "base: ", "      "))?;
    let new = format!("{}: {}", report.new.source, identity(&report.new));
    lines(out, &style::wrap(&new, "new:  ", "      "))?;
    let noise = if report.exact {
        " (exact)".to_owned()
    } else {
        format!(
            " (±{} sampling error)",
            format::bytes(report.growth_stddev.round() as u64)
        )
    };
    writeln!(
        out,
        "live heap {} -> {}: {} ({}){noise}",
        format::bytes(report.base.live_bytes),
        format::bytes(report.new.live_bytes),
        format::signed_bytes(report.growth_bytes),
        format::signed_percent(report.growth_bytes, report.base.live_bytes)
    )?;
    writeln!(out)?;
    if report.sites.is_empty() {
        writeln!(out, "No site grew.")?;
    } else {
        writeln!(out, "{}", style::paint("Growth by site:", Paint::Heading))?;
        change_table(&report.sites, true).write(out, "  ")?;
    }
    if !report.shrunk.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style::paint("Shrinkage by site:", Paint::Heading)
        )?;
        change_table(&report.shrunk, true).write(out, "  ")?;
    }
    if !report.types.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style::paint("Change by type:", Paint::Heading))?;
        change_table(&report.types, false).write(out, "  ")?;
    }
    for gate in &report.gates {
        writeln!(out)?;
        let paint = if gate.tripped {
            Paint::Bad
        } else {
            Paint::Good
        };
        writeln!(out, "{}", style::paint(&gate_verdict(gate, report), paint))?;
        if gate.tripped {
            writeln!(out, "  {}", culprits_heading(gate))?;
            for c in &gate.culprits {
                writeln!(
                    out,
                    "    {:>12}  {} in {}",
                    format::signed_bytes(c.delta_bytes),
                    c.ty,
                    c.location.label()
                )?;
            }
        }
    }
    Ok(())
}

/// The frames of a suspect's stack worth reading: from its location
/// outwards, without the runtime's frames at the root.
pub(crate) fn suspect_stack(suspect: &leaks::Suspect) -> Vec<&str> {
    let from = suspect
        .stack
        .iter()
        .position(|f| *f == suspect.function)
        .unwrap_or(0);
    let mut frames: Vec<&str> = suspect.stack[from..]
        .iter()
        .map(String::as_str)
        .take_while(|f| !f.starts_with("std::rt::") && !f.starts_with("std::sys::backtrace::"))
        .filter(|f| !names::is_library(f))
        .collect();
    // The program's `main` is the root worth showing.
    if let Some(main) = frames.iter().position(|f| f.ends_with("::main")) {
        frames.truncate(main + 1);
    }
    frames.truncate(MAX_STACK);
    frames
}

/// Frames of a suspect's stack shown.
const MAX_STACK: usize = 16;

/// The heading of the groups that grew but may have stopped.
pub(crate) fn possible_heading(report: &leaks::Report) -> String {
    format!(
        "Grew, but may have stopped (below {} confidence)",
        format::percent(report.min_confidence)
    )
}

/// `leaky_server (pid 1234): 40 snapshots over 20.1 s, sampled every 512.0 KiB`.
pub(crate) fn leaks_heading(report: &leaks::Report) -> String {
    let program = report.exe.rsplit('/').next().unwrap_or(&report.exe);
    format!(
        "{program} (pid {}): {} snapshots over {}, {}; live heap {} -> {}",
        report.pid,
        report.snapshots,
        format::duration_ms(report.window_ms),
        sampling(report.interval_bytes),
        format::bytes(report.live_bytes_first),
        format::bytes(report.live_bytes_last)
    )
}

fn trend_table(trends: &[leaks::Trend], window_ms: u64, with_location: bool) -> Table {
    let mut columns = vec![
        ("VERDICT", Align::Left),
        ("CHANGE", Align::Right),
        ("NOW", Align::Right),
        ("RATE", Align::Right),
        ("TYPE", Align::Left),
    ];
    if with_location {
        columns.push(("LOCATION", Align::Left));
    }
    let mut table = Table::new(&columns);
    for t in trends {
        let mut cells = vec![
            t.verdict.word().to_owned(),
            format::signed_bytes(t.growth_bytes),
            format::bytes(t.live_bytes),
            format::byte_rate(t.growth_bytes_per_sec, window_ms),
            t.ty.clone(),
        ];
        if with_location {
            cells.push(t.location.label());
        }
        table.painted_row(cells, style::verdict_paint(t.verdict));
    }
    table
}

/// Writes a `leaks` report: the newest run's, then each earlier run's.
pub fn leaks(report: &leaks::Report, out: &mut dyn Write) -> io::Result<()> {
    leaks_of_run(report, out)?;
    for earlier in &report.earlier_runs {
        writeln!(out)?;
        writeln!(out, "{}", style::paint("Earlier run:", Paint::Heading))?;
        leaks_of_run(earlier, out)?;
    }
    Ok(())
}

fn leaks_of_run(report: &leaks::Report, out: &mut dyn Write) -> io::Result<()> {
    lines(out, &style::wrap(&leaks_heading(report), "", "  "))?;
    for note in &report.notes {
        lines(out, &style::wrap(&sentence::note(note), "note: ", "      "))?;
    }
    writeln!(out)?;
    if report.suspects.is_empty() {
        let none = format!(
            "No leak suspects: nothing keeps growing with {} confidence or more.",
            format::percent(report.min_confidence)
        );
        writeln!(out, "{}", style::paint(&none, Paint::Good))?;
    } else {
        writeln!(out, "{}", style::paint("Leak suspects:", Paint::Bad))?;
        for s in &report.suspects {
            writeln!(out)?;
            let rank = format!("{}. ", s.rank);
            lines(out, &style::wrap(&sentence::suspect(s), &rank, "   "))?;
            writeln!(out, "   what grows with it:")?;
            let mut table = Table::new(&[
                ("LIVE", Align::Right),
                ("COUNT", Align::Right),
                ("TYPE", Align::Left),
                ("ALLOCATED IN", Align::Left),
            ]);
            for h in &s.holds {
                table.row(vec![
                    format::bytes(h.live_bytes),
                    format::count_about(h.live_allocs, h.live_allocs_stddev),
                    h.ty.clone(),
                    names::short_function(&h.function),
                ]);
            }
            table.write(out, "     ")?;
            writeln!(out, "   stack:")?;
            for frame in suspect_stack(s) {
                writeln!(out, "{}", style::fit(&format!("     {frame}")))?;
            }
        }
    }
    if !report.possible.is_empty() {
        writeln!(out)?;
        let heading = format!("{}:", possible_heading(report));
        writeln!(out, "{}", style::paint(&heading, Paint::Warn))?;
        for s in &report.possible {
            lines(out, &style::wrap(&sentence::suspect(s), "  - ", "    "))?;
        }
    }
    if !report.not_leaking.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style::paint("Changed, not leaking:", Paint::Heading)
        )?;
        trend_table(&report.not_leaking, report.window_ms, true).write(out, "  ")?;
    }
    if !report.types.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style::paint("By type:", Paint::Heading))?;
        trend_table(&report.types, report.window_ms, false).write(out, "  ")?;
    }
    Ok(())
}

/// Writes `text`'s lines.
fn lines(out: &mut dyn Write, text: &[String]) -> io::Result<()> {
    for line in text {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
