//! `heapsnap top`: the biggest holders of live memory in one snapshot, by
//! site, type, tag or function.

use std::collections::HashMap;

use serde::Serialize;

use crate::load::Loaded;
use crate::summary::Summary;
use crate::view::{self, Location, SiteView};

/// What rows are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per site (stack and tag).
    #[default]
    Site,
    /// One row per type.
    Type,
    /// One row per tag (untagged memory in one row).
    Tag,
    /// One row per location function.
    Function,
}

/// Options of [`top`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// What rows are.
    pub by: GroupBy,
    /// How many rows at most (0: all).
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            by: GroupBy::Site,
            limit: 20,
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// 1 for the biggest.
    pub rank: usize,
    /// The type (for `--by tag`, the biggest site's type).
    #[serde(rename = "type")]
    pub ty: String,
    /// The type with full paths.
    pub type_full: String,
    /// Where (for groups, the biggest site's location).
    pub location: Location,
    /// The tag, when rows are sites or tags.
    pub tag: Option<String>,
    /// Estimated live bytes.
    pub live_bytes: u64,
    /// Estimated live allocations.
    pub live_allocs: u64,
    /// Standard deviation of `live_allocs` due to sampling.
    pub live_allocs_stddev: f64,
    /// Share of the live heap.
    pub share: f64,
    /// Standard deviation of `live_bytes` due to sampling.
    pub live_bytes_stddev: f64,
    /// Estimated bytes allocated since the start.
    pub allocated_bytes: u64,
    /// Sites in the row.
    pub sites: usize,
    /// The biggest site's stack, function names innermost first.
    pub stack: Vec<String>,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Heap-wide figures.
    pub summary: Summary,
    /// What rows are.
    pub by: GroupBy,
    /// Rows, most live bytes first.
    pub rows: Vec<Row>,
    /// Rows before `limit` cut them.
    pub total_rows: usize,
}

/// The biggest holders of live memory in a snapshot.
pub fn top(loaded: &Loaded, options: &Options) -> Report {
    let views = view::sites(&loaded.snapshot);
    let total = loaded.snapshot.heap_bytes() as f64;
    let mut groups: Vec<Vec<&SiteView<'_>>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // What a person sees of a site: its tag and its frames' functions,
    // files and lines (two return addresses inside one line are one place).
    let places = view::place_ids(&loaded.snapshot);
    let mut by_place: HashMap<(Option<&str>, Vec<u32>), usize> = HashMap::new();
    for site in &views {
        let key = match options.by {
            GroupBy::Site => {
                let place: Vec<u32> = site
                    .stack
                    .iter()
                    .map(|&i| places.get(i as usize).copied().unwrap_or(u32::MAX))
                    .collect();
                let at = *by_place
                    .entry((site.site.tag.as_deref(), place))
                    .or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                groups[at].push(site);
                continue;
            }
            GroupBy::Type => site.ty.full.clone(),
            GroupBy::Tag => site.site.tag.clone().unwrap_or_default(),
            GroupBy::Function => site
                .location()
                .map_or_else(|| "?".into(), view::function_name),
        };
        let at = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(site);
    }
    let sum = |group: &[&SiteView<'_>], f: fn(&SiteView<'_>) -> u64| {
        group.iter().map(|s| f(s)).sum::<u64>()
    };
    // Rank on numbers; build rows (names, stacks) only for those shown.
    let mut ranked: Vec<(u64, u64, Vec<&SiteView<'_>>)> = groups
        .into_iter()
        .map(|g| {
            (
                sum(&g, |s| s.site.live_bytes),
                sum(&g, |s| s.site.allocated_bytes),
                g,
            )
        })
        .filter(|(live, _, _)| *live > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let total_rows = ranked.len();
    if options.limit > 0 {
        ranked.truncate(options.limit);
    }
    let rows = ranked
        .iter()
        .enumerate()
        .filter_map(|(i, (_, _, group))| row(i + 1, group, options.by, total))
        .collect();
    Report {
        summary: Summary::of(loaded),
        by: options.by,
        rows,
        total_rows,
    }
}

fn row(rank: usize, sites: &[&SiteView<'_>], by: GroupBy, total: f64) -> Option<Row> {
    let biggest = sites.iter().max_by_key(|s| s.site.live_bytes)?;
    let live_bytes: u64 = sites.iter().map(|s| s.site.live_bytes).sum();
    Some(Row {
        rank,
        ty: biggest.ty.short.clone(),
        type_full: biggest.ty.full.clone(),
        location: biggest.location_info(),
        tag: match by {
            GroupBy::Site | GroupBy::Tag => biggest.site.tag.clone(),
            GroupBy::Type | GroupBy::Function => None,
        },
        live_bytes,
        live_allocs: sites.iter().map(|s| s.site.live_allocs).sum(),
        live_allocs_stddev: sites
            .iter()
            .map(|s| s.site.live_allocs_var)
            .sum::<f64>()
            .sqrt(),
        share: live_bytes as f64 / total,
        live_bytes_stddev: sites
            .iter()
            .map(|s| s.site.live_bytes_var)
            .sum::<f64>()
            .sqrt(),
        allocated_bytes: sites.iter().map(|s| s.site.allocated_bytes).sum(),
        sites: sites.len(),
        stack: biggest
            .stack_names()
            .iter()
            .map(|f| f.to_string())
            .collect(),
    })
}
