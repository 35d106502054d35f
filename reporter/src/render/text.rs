//! Reports as aligned text, for terminals.

use std::io::{self, Write};

use super::{Align, Table};
use crate::diff::{self, Change, Gate};
use crate::flame::sampling;
use crate::format;
use crate::top::{self, GroupBy, Summary};

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
    let approx = if summary.interval_bytes == 1 { "" } else { "~" };
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
    line
}

/// Writes a `top` report.
pub fn top(report: &top::Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "{}: {} snapshot of {}",
        s.source,
        s.trigger,
        identity(s)
    )?;
    writeln!(out, "{}", heap_line(s))?;
    writeln!(out)?;
    if report.rows.is_empty() {
        return writeln!(out, "nothing live");
    }
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
    let mut table = Table::new(&columns);
    for row in &report.rows {
        let mut cells = vec![
            row.rank.to_string(),
            format::bytes(row.live_bytes),
            format::percent(row.share),
            format::count(row.live_allocs),
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
                cells.push(row.location.function.clone());
                cells.push(row.sites.to_string());
                cells.push(row.ty.clone());
            }
        }
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
            format::signed_count(c.delta_allocs),
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
    let what = if gate.name == "growth" {
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
    if gate.name == "growth" {
        "the growth is at:"
    } else {
        "sites over the limit:"
    }
}

/// Writes a `diff` report.
pub fn diff(report: &diff::Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "base: {}: {}",
        report.base.source,
        identity(&report.base)
    )?;
    writeln!(
        out,
        "new:  {}: {}",
        report.new.source,
        identity(&report.new)
    )?;
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
        writeln!(out, "Growth by site:")?;
        change_table(&report.sites, true).write(out, "  ")?;
    }
    if !report.shrunk.is_empty() {
        writeln!(out)?;
        writeln!(out, "Shrinkage by site:")?;
        change_table(&report.shrunk, true).write(out, "  ")?;
    }
    if !report.types.is_empty() {
        writeln!(out)?;
        writeln!(out, "Change by type:")?;
        change_table(&report.types, false).write(out, "  ")?;
    }
    for gate in &report.gates {
        writeln!(out)?;
        writeln!(out, "{}", gate_verdict(gate, report))?;
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
