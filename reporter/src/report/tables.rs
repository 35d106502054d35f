//! The page's top and diff tables, computed by [`top::top`] and
//! [`diff::diff`] exactly as `heapsnap top` and `heapsnap diff` compute
//! them: the page renders these rows and aggregates nothing, so the
//! report and the command line give the same figures and error bars.
//!
//! Bounded: the tables are for at most [`MAX_VIEWS`] snapshots (the first,
//! the newest and evenly spread ones), every pair of them for the diff,
//! [`TABLE_ROWS`] rows each; rows name their place (type, location, tag,
//! stack) by index into one list, shared by every table.

use std::collections::HashMap;

use serde::Serialize;

use crate::diff;
use crate::load::Loaded;
use crate::top::{self, GroupBy};
use crate::view::{self, Location};

/// Snapshots the page's top and diff offer, at most.
pub const MAX_VIEWS: usize = 10;
/// Rows of each table, at most.
pub const TABLE_ROWS: usize = 100;

/// Every table of the page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tables {
    /// The snapshots the tables are for: indices into the report's
    /// snapshots, in the order they were taken.
    pub views: Vec<usize>,
    /// What the rows are.
    pub places: Vec<Place>,
    /// For each of `views`, its top tables.
    pub tops: Vec<Tops>,
    /// For every pair of `views`, the earlier as base, the diff.
    pub diffs: Vec<Diff>,
}

/// What a row is: its type, where it was allocated, its tag and stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Place {
    /// Its type, short.
    #[serde(rename = "type")]
    pub ty: String,
    /// Its type with full paths.
    pub type_full: String,
    /// Where it was allocated.
    pub location: Location,
    /// Its tag, where the table is by site or tag.
    pub tag: Option<String>,
    /// Its stack, innermost first, as indices into the report's `frames`.
    pub stack: Vec<u32>,
}

/// One snapshot's top tables, as `heapsnap top --by …` gives them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tops {
    /// By site.
    pub site: Vec<TopRow>,
    /// By type.
    #[serde(rename = "type")]
    pub ty: Vec<TopRow>,
    /// By function.
    pub function: Vec<TopRow>,
    /// By tag.
    pub tag: Vec<TopRow>,
}

/// A row of a top table: [`top::Row`]'s figures.
#[derive(Clone, Debug, Serialize)]
pub struct TopRow {
    /// Index into `places`.
    pub place: u32,
    /// Estimated live bytes.
    pub live_bytes: u64,
    /// Their sampling error (one σ).
    pub live_bytes_stddev: f64,
    /// Estimated live allocations.
    pub live_allocs: u64,
    /// Share of the snapshot's heap.
    pub share: f64,
    /// Estimated bytes allocated since the start.
    pub allocated_bytes: u64,
    /// Sites in the row.
    pub sites: usize,
}

/// The diff of two snapshots, as `heapsnap diff BASE NEW` gives it.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The base: an index into the report's snapshots.
    pub base: usize,
    /// The new snapshot: likewise.
    pub new: usize,
    /// The live heap's change.
    pub growth_bytes: i64,
    /// Its sampling error (one σ).
    pub growth_stddev: f64,
    /// By site: those that grew, most first, then those that shrank.
    pub sites: Vec<DiffRow>,
    /// By type, most growth first.
    #[serde(rename = "type")]
    pub ty: Vec<DiffRow>,
}

/// A row of a diff: [`diff::Change`]'s figures.
#[derive(Clone, Debug, Serialize)]
pub struct DiffRow {
    /// Index into `places`.
    pub place: u32,
    /// Live bytes in the base.
    pub before_bytes: u64,
    /// Live bytes in the new snapshot.
    pub after_bytes: u64,
    /// The change.
    pub delta_bytes: i64,
    /// Its sampling error (one σ).
    pub delta_stddev: f64,
    /// The change of live allocations.
    pub delta_allocs: i64,
}

/// Builds the tables of `run`'s snapshots `views`, adding the frames their
/// stacks name to `frames`.
pub(super) fn tables(run: &[&Loaded], views: Vec<usize>, frames: &mut Vec<String>) -> Tables {
    let mut places = Places::new(frames);
    let tops = views
        .iter()
        .map(|&i| {
            let mut table = |by: GroupBy| -> Vec<TopRow> {
                let options = top::Options {
                    by,
                    limit: TABLE_ROWS,
                };
                let report = top::top(run[i], &options);
                report
                    .rows
                    .into_iter()
                    .map(|row| TopRow {
                        place: places.of(row.ty, row.type_full, row.location, row.tag, &row.stack),
                        live_bytes: row.live_bytes,
                        live_bytes_stddev: row.live_bytes_stddev,
                        live_allocs: row.live_allocs,
                        share: row.share,
                        allocated_bytes: row.allocated_bytes,
                        sites: row.sites,
                    })
                    .collect()
            };
            Tops {
                site: table(GroupBy::Site),
                ty: table(GroupBy::Type),
                function: table(GroupBy::Function),
                tag: table(GroupBy::Tag),
            }
        })
        .collect();
    let mut diffs = Vec::new();
    for (k, &base) in views.iter().enumerate() {
        for &new in &views[k + 1..] {
            let options = diff::Options {
                limit: TABLE_ROWS,
                ..diff::Options::default()
            };
            let report = diff::diff(run[base], run[new], &options);
            let mut rows = |changes: Vec<diff::Change>, types: bool| -> Vec<DiffRow> {
                changes
                    .into_iter()
                    .map(|c| {
                        // A type's row names no tag (its sites may differ).
                        let tag = if types { None } else { c.tag };
                        DiffRow {
                            place: places.of(c.ty.clone(), c.ty, c.location, tag, &c.stack),
                            before_bytes: c.before_bytes,
                            after_bytes: c.after_bytes,
                            delta_bytes: c.delta_bytes,
                            delta_stddev: c.delta_stddev,
                            delta_allocs: c.delta_allocs,
                        }
                    })
                    .collect()
            };
            let mut sites = rows(report.sites, false);
            sites.extend(rows(report.shrunk, false));
            diffs.push(Diff {
                base,
                new,
                growth_bytes: report.growth_bytes,
                growth_stddev: report.growth_stddev,
                sites,
                ty: rows(report.types, true),
            });
        }
    }
    Tables {
        views,
        places: places.list,
        tops,
        diffs,
    }
}

/// The places of every table, each once, and the frames their stacks name.
struct Places<'f> {
    list: Vec<Place>,
    index: HashMap<Place, u32>,
    frames: &'f mut Vec<String>,
    frame_index: HashMap<String, u32>,
}

impl<'f> Places<'f> {
    fn new(frames: &'f mut Vec<String>) -> Places<'f> {
        let frame_index = frames
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i as u32))
            .collect();
        Places {
            list: Vec::new(),
            index: HashMap::new(),
            frames,
            frame_index,
        }
    }

    /// The index of the place with these parts.
    fn of(
        &mut self,
        ty: String,
        type_full: String,
        location: Location,
        tag: Option<String>,
        stack: &[String],
    ) -> u32 {
        let stack = stack
            .iter()
            .map(|name| {
                let shown = view::shown(name).into_owned();
                let next = self.frames.len() as u32;
                *self.frame_index.entry(shown.clone()).or_insert_with(|| {
                    self.frames.push(shown);
                    next
                })
            })
            .collect();
        let place = Place {
            ty: view::shown(&ty).into_owned(),
            type_full: view::shown(&type_full).into_owned(),
            location,
            tag,
            stack,
        };
        let next = self.list.len() as u32;
        *self.index.entry(place.clone()).or_insert_with(|| {
            self.list.push(place);
            next
        })
    }
}
