//! Reports as JSON documents (the report types' `Serialize`).

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::sentence;
use crate::leaks::{Note, Suspect};

/// The version of the JSON documents' layout, in every document as
/// `schema_version`: raised when a field changes meaning or goes away
/// (new fields do not raise it).
pub const SCHEMA_VERSION: u32 = 1;

/// A record with the layout's version in front.
#[derive(serde::Serialize)]
struct Versioned<'a, T: Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    record: &'a T,
}

impl<'a, T: Serialize> Versioned<'a, T> {
    fn new(record: &'a T) -> Self {
        Versioned {
            schema_version: SCHEMA_VERSION,
            record,
        }
    }
}

/// Writes any report as pretty-printed JSON with its `schema_version`,
/// ending with a newline.
pub fn write(report: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Versioned::new(report)).map_err(io::Error::from)?;
    writeln!(out)
}

/// Writes one record as a line of JSON with its `schema_version` (for
/// commands that print as they go).
pub fn line(record: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Versioned::new(record)).map_err(io::Error::from)?;
    writeln!(out)
}

/// A note as its sentence: the documents' `notes` are for people.
impl Serialize for Note {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&sentence::note(self))
    }
}

/// A suspect with its sentence (`summary`) among its fields.
impl Serialize for Suspect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Every field named, so that a new one cannot be left out unseen.
        let Suspect {
            rank,
            verdict,
            ty,
            type_full,
            function,
            file,
            line,
            unknown,
            tag,
            instances,
            instances_stddev,
            buffer_highs,
            live_bytes,
            share,
            growth_bytes,
            growth_bytes_per_sec,
            growth_bytes_per_sec_stddev,
            recent_growth_bytes_per_sec,
            recent_growth_bytes_per_sec_stddev,
            recent_window_ms,
            confidence,
            r_squared,
            points,
            window_ms,
            age,
            late_born,
            late_died,
            population,
            holds,
            holder_evidence,
            series,
            keeps_growing: _,
            stack,
        } = self;
        let mut out = serializer.serialize_struct("Suspect", 33)?;
        out.serialize_field("rank", rank)?;
        out.serialize_field("verdict", verdict)?;
        out.serialize_field("type", ty)?;
        out.serialize_field("type_full", type_full)?;
        out.serialize_field("function", function)?;
        out.serialize_field("file", file)?;
        out.serialize_field("line", line)?;
        if let Some(unknown) = unknown {
            out.serialize_field("unknown", unknown)?;
        }
        out.serialize_field("tag", tag)?;
        out.serialize_field("instances", instances)?;
        out.serialize_field("instances_stddev", instances_stddev)?;
        out.serialize_field("buffer_highs", buffer_highs)?;
        out.serialize_field("live_bytes", live_bytes)?;
        out.serialize_field("share", share)?;
        out.serialize_field("growth_bytes", growth_bytes)?;
        out.serialize_field("growth_bytes_per_sec", growth_bytes_per_sec)?;
        out.serialize_field("growth_bytes_per_sec_stddev", growth_bytes_per_sec_stddev)?;
        out.serialize_field("recent_growth_bytes_per_sec", recent_growth_bytes_per_sec)?;
        out.serialize_field(
            "recent_growth_bytes_per_sec_stddev",
            recent_growth_bytes_per_sec_stddev,
        )?;
        out.serialize_field("recent_window_ms", recent_window_ms)?;
        out.serialize_field("confidence", confidence)?;
        out.serialize_field("r_squared", r_squared)?;
        out.serialize_field("points", points)?;
        out.serialize_field("window_ms", window_ms)?;
        out.serialize_field("age", age)?;
        out.serialize_field("late_born", late_born)?;
        out.serialize_field("late_died", late_died)?;
        out.serialize_field("population", population)?;
        out.serialize_field("holds", holds)?;
        out.serialize_field("holder_evidence", holder_evidence)?;
        out.serialize_field("summary", &sentence::suspect(self))?;
        out.serialize_field("stack", stack)?;
        out.serialize_field("series", series)?;
        out.end()
    }
}
