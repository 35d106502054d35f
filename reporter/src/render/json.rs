//! Reports as JSON documents (the report types' `Serialize`).

use std::io::{self, Write};

use serde::Serialize;

/// Writes any report as pretty-printed JSON, ending with a newline.
pub fn write(report: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::from)?;
    writeln!(out)
}
