//! Writing reports: as aligned text for terminals, JSON for programs,
//! Markdown for CI job summaries and pull-request comments, and one HTML
//! page (`heapsnap report`) for people with a browser.
//!
//! Layer rule: presentation sits on top. It reads the reports the analyses
//! return; the analyses (`top`, `diff`, `leaks`, `flame`) never call it,
//! and return data, not sentences.

pub mod html;
pub mod json;
pub mod markdown;
pub mod sentence;
pub mod stat;
pub mod style;
pub mod text;

use std::io::{self, Write};

use serde::Serialize;

/// An output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned tables.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// GitHub-flavoured Markdown.
    Markdown,
}

/// Column alignment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A text table with aligned columns; the last column is not padded.
pub(crate) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
    /// Each row's first cell's colour (a verdict's), if it has one.
    paints: Vec<Option<style::Paint>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
            paints: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.painted_row(cells, None);
    }

    /// A row whose first cell is painted `paint` (when colour is on).
    pub(crate) fn painted_row(&mut self, cells: Vec<String>, paint: Option<style::Paint>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
        self.paints.push(paint);
    }

    /// Writes the table: a header, then the rows, each line fitted to the
    /// terminal and the header and painted first cells painted (see
    /// `style`).
    pub(crate) fn write(&self, out: &mut dyn Write, indent: &str) -> io::Result<()> {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().map(|r| r[i].chars().count());
                cells.chain([self.columns[i].0.len()]).max().unwrap_or(0)
            })
            .collect();
        // The line, and where its first cell starts (in characters).
        let line = |cells: Vec<&str>| -> (String, usize) {
            let mut text = String::from(indent);
            let first_at = text.chars().count();
            for (i, cell) in cells.iter().enumerate() {
                let last = i + 1 == cells.len();
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    text.push_str("  ");
                }
                match (self.columns[i].1, last) {
                    (Align::Right, _) => {
                        text.push_str(&" ".repeat(pad));
                        text.push_str(cell);
                    }
                    (Align::Left, true) => text.push_str(cell),
                    (Align::Left, false) => {
                        text.push_str(cell);
                        text.push_str(&" ".repeat(pad));
                    }
                }
            }
            (style::fit(text.trim_end()), first_at)
        };
        let (header, _) = line(self.columns.iter().map(|c| c.0).collect());
        let body = header.trim_start();
        let lead = &header[..header.len() - body.len()];
        writeln!(out, "{lead}{}", style::paint(body, style::Paint::Heading))?;
        for (row, paint) in self.rows.iter().zip(&self.paints) {
            let (text, at) = line(row.iter().map(String::as_str).collect());
            let painted = paint.and_then(|paint| {
                let cell = row.first()?.as_str();
                let start = text.char_indices().nth(at)?.0;
                text[start..].starts_with(cell).then(|| {
                    let end = start + cell.len();
                    format!(
                        "{}{}{}",
                        &text[..start],
                        style::paint(cell, paint),
                        &text[end..]
                    )
                })
            });
            writeln!(out, "{}", painted.unwrap_or(text))?;
        }
        Ok(())
    }
}
