//! Reports as GitHub-flavoured Markdown, for CI job summaries
//! (`>> $GITHUB_STEP_SUMMARY`) and pull-request comments.

use std::io::{self, Write};

use super::Align;
use super::sentence;
use super::text::{
    culprits_heading, gate_verdict, heap_line, identity, leaks_heading, possible_heading,
    suspect_stack, top_table,
};
use crate::diff::{self, Change};
use crate::format;
use crate::leaks;
use crate::top;
use heapsnap_format::names;

/// Escapes what Markdown tables would take as syntax.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", cell(text))
}

fn changes(out: &mut dyn Write, changes: &[Change], with_location: bool) -> io::Result<()> {
    if with_location {
        writeln!(
            out,
            "| change | % | before | after | count | type | location |"
        )?;
        writeln!(out, "|---:|---:|---:|---:|---:|---|---|")?;
    } else {
        writeln!(out, "| change | % | before | after | count | type |")?;
        writeln!(out, "|---:|---:|---:|---:|---:|---|")?;
    }
    for c in changes {
        write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            format::signed_bytes(c.delta_bytes),
            format::signed_percent(c.delta_bytes, c.before_bytes),
            format::bytes(c.before_bytes),
            format::bytes(c.after_bytes),
            format::signed_count_about(c.delta_allocs, c.delta_allocs_stddev),
            code(&c.ty)
        )?;
        if with_location {
            write!(out, " {} |", code(&c.location.label()))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Writes a `top` report: the snapshot in a line, the live heap, and the
/// table.
pub fn top(report: &top::Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "### Heap of {}: {} snapshot\n\n{}\n",
        cell(&identity(s)),
        s.trigger,
        cell(&heap_line(s))
    )?;
    if report.rows.is_empty() {
        return writeln!(out, "Nothing live.");
    }
    let (columns, rows) = top_table(report);
    let header: Vec<String> = columns
        .iter()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    let rule: Vec<&str> = columns
        .iter()
        .map(|(_, align)| {
            if *align == Align::Right {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "|{}|", rule.join("|"))?;
    let text_columns: Vec<bool> = columns.iter().map(|(_, a)| *a == Align::Left).collect();
    for cells in rows {
        let cells: Vec<String> = cells
            .iter()
            .zip(&text_columns)
            .map(|(c, text)| if *text { code(c) } else { cell(c) })
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    let hidden = report.total_rows - report.rows.len();
    if hidden > 0 {
        writeln!(
            out,
            "\n{} more (`--limit 0` shows all).",
            format::count(hidden as u64)
        )?;
    }
    Ok(())
}

/// Writes a `diff` report.
pub fn diff(report: &diff::Report, out: &mut dyn Write) -> io::Result<()> {
    let status = match (report.gates.is_empty(), report.failed()) {
        (true, _) => "",
        (false, true) => ": **FAILED**",
        (false, false) => ": passed",
    };
    writeln!(out, "### Heap diff{status}")?;
    writeln!(out)?;
    let sampling = if report.exact {
        "exact".to_owned()
    } else {
        format!("±{}", format::bytes(report.growth_stddev.round() as u64))
    };
    writeln!(out, "| | base | new | change |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(
        out,
        "| live heap | {} | {} | {} ({}, {sampling}) |",
        format::bytes(report.base.live_bytes),
        format::bytes(report.new.live_bytes),
        format::signed_bytes(report.growth_bytes),
        format::signed_percent(report.growth_bytes, report.base.live_bytes)
    )?;
    writeln!(
        out,
        "| live allocations | {} | {} | {} |",
        format::count(report.base.live_allocs),
        format::count(report.new.live_allocs),
        format::signed_count(report.new.live_allocs as i64 - report.base.live_allocs as i64)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Base: {} ({}). New: {} ({}).",
        cell(&report.base.source),
        cell(&identity(&report.base)),
        cell(&report.new.source),
        cell(&identity(&report.new))
    )?;
    for gate in &report.gates {
        writeln!(out)?;
        writeln!(out, "**{}**", cell(&gate_verdict(gate, report)))?;
        if gate.tripped {
            writeln!(out)?;
            writeln!(out, "{}", culprits_heading(gate))?;
            writeln!(out)?;
            for c in &gate.culprits {
                writeln!(
                    out,
                    "- {} {} in {}",
                    format::signed_bytes(c.delta_bytes),
                    code(&c.ty),
                    code(&c.location.label())
                )?;
            }
        }
    }
    writeln!(out)?;
    if report.sites.is_empty() {
        writeln!(out, "No site grew.")?;
    } else {
        writeln!(out, "#### Growth by site")?;
        writeln!(out)?;
        changes(out, &report.sites, true)?;
    }
    if !report.shrunk.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Shrinkage by site")?;
        writeln!(out)?;
        changes(out, &report.shrunk, true)?;
    }
    if !report.types.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Change by type")?;
        writeln!(out)?;
        changes(out, &report.types, false)?;
    }
    Ok(())
}

/// Writes a `leaks` report.
pub fn leaks(report: &leaks::Report, out: &mut dyn Write) -> io::Result<()> {
    let status = if report.has_suspects() {
        "suspects found"
    } else {
        "no suspects"
    };
    writeln!(out, "### Leak check: {status}")?;
    leaks_of_run(report, out)?;
    for earlier in &report.earlier_runs {
        writeln!(out)?;
        writeln!(out, "#### Earlier run")?;
        leaks_of_run(earlier, out)?;
    }
    Ok(())
}

fn leaks_of_run(report: &leaks::Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{}", cell(&leaks_heading(report)))?;
    for note in &report.notes {
        writeln!(out)?;
        writeln!(out, "> {}", cell(&sentence::note(note)))?;
    }
    for s in &report.suspects {
        writeln!(out)?;
        writeln!(out, "**{}. {}**", s.rank, cell(&sentence::suspect(s)))?;
        writeln!(out)?;
        writeln!(
            out,
            "| grows with it | allocated in | live | count | growth |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|")?;
        for h in &s.holds {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&h.ty),
                code(&names::short_function(&h.function)),
                format::bytes(h.live_bytes),
                format::count_about(h.live_allocs, h.live_allocs_stddev),
                format::signed_bytes(h.growth_bytes)
            )?;
        }
        writeln!(out)?;
        writeln!(out, "<details><summary>stack</summary>")?;
        writeln!(out)?;
        for frame in suspect_stack(s) {
            writeln!(out, "- {}", code(frame))?;
        }
        writeln!(out)?;
        writeln!(out, "</details>")?;
    }
    if !report.possible.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### {}", cell(&possible_heading(report)))?;
        writeln!(out)?;
        for s in &report.possible {
            writeln!(out, "- {}", cell(&sentence::suspect(s)))?;
        }
    }
    if !report.types.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### By type")?;
        writeln!(out)?;
        writeln!(out, "| verdict | change | now | type |")?;
        writeln!(out, "|---|---:|---:|---|")?;
        for t in &report.types {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.verdict.word(),
                format::signed_bytes(t.growth_bytes),
                format::bytes(t.live_bytes),
                code(&t.ty)
            )?;
        }
    }
    Ok(())
}
