//! `heapsnap flamegraph`: live memory as a flamegraph, and growth between two
//! snapshots as a differential one, drawn by inferno.
//!
//! Each site becomes one folded stack: its frames from the outermost to the
//! innermost, then its type as the leaf (`[Vec<Event>]`), weighted by live
//! bytes (or live allocations, or bytes allocated since the start). With
//! `by_type`, the type is the root instead, so that each type's memory is
//! one tower.

use std::collections::BTreeMap;
use std::io::{self, Write};

use inferno::flamegraph::{self, color::BasicPalette, color::Palette};
use serde::Serialize;

use crate::format;
use crate::load::Loaded;
use crate::view::{self, SiteView};

/// What the width of a frame measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Estimated live bytes.
    #[default]
    LiveBytes,
    /// Estimated live allocations.
    LiveCount,
    /// Estimated bytes allocated since the start, freed or not.
    AllocatedBytes,
}

impl Metric {
    fn of(self, view: &SiteView<'_>) -> u64 {
        match self {
            Metric::LiveBytes => view.site.live_bytes,
            Metric::LiveCount => view.site.live_allocs,
            Metric::AllocatedBytes => view.site.allocated_bytes,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::LiveBytes | Metric::AllocatedBytes => "bytes",
            Metric::LiveCount => "allocations",
        }
    }

    fn describe(self, n: u64) -> String {
        match self {
            Metric::LiveBytes => format!("{} live", format::bytes(n)),
            Metric::LiveCount => format!("{} live allocations", format::count(n)),
            Metric::AllocatedBytes => format!("{} allocated since start", format::bytes(n)),
        }
    }
}

/// Options of [`flamegraph()`] and [`differential`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// What frame widths measure.
    pub metric: Metric,
    /// Types at the root instead of the leaves.
    pub by_type: bool,
    /// A title instead of the generated one.
    pub title: Option<String>,
    /// Keep the allocation machinery between the program's allocating
    /// frame and the type at the tip (`RawVec::grow_one`, hashbrown's
    /// `reserve_rehash`): by default a stack ends at the program's frame.
    pub library_tip: bool,
}

/// A frame name safe in the folded format, where `;` separates frames
/// (`[u8; 16]` becomes `[u8； 16]`, with a full-width semicolon) and lines
/// end at newlines; cut as every view cuts names (`view::shown`: a name
/// of a megabyte on every stack would be copied into every one).
fn sanitize(name: &str) -> String {
    view::shown(name)
        .replace(';', "；")
        .replace(['\n', '\r'], " ")
}

/// The folded stack of a site: outermost frame first, type last (or first,
/// `by_type`). `names` holds every frame's sanitised name, `library` whether
/// it is the standard library's.
fn folded_stack(
    view: &SiteView<'_>,
    names: &[String],
    library: &[bool],
    options: &Options,
) -> String {
    let by_type = options.by_type;
    let ty = format!("[{}]", sanitize(&view.ty.short));
    let drawn = view.drawn_frames(library, options.library_tip);
    let frames = drawn.iter().filter_map(|&i| names.get(i as usize));
    let mut folded = String::with_capacity(64 * (view.stack.len() + 1));
    let mut push = |part: &str| {
        if !folded.is_empty() {
            folded.push(';');
        }
        folded.push_str(part);
    };
    if by_type {
        push(&ty);
    }
    frames.for_each(|name| push(name));
    if !by_type {
        push(&ty);
    }
    folded
}

/// Folded stacks and their weights, merged, in a stable order.
fn weights(loaded: &Loaded, options: &Options) -> BTreeMap<String, u64> {
    let names: Vec<String> = loaded
        .snapshot
        .frames
        .iter()
        .map(|f| sanitize(&view::function_name(f)))
        .collect();
    // Frames of the standard library and of dependencies (an async
    // runtime's scheduler) at the root are scaffolding every stack shares.
    let library: Vec<bool> = view::outside_program(&loaded.snapshot);
    let mut weights = BTreeMap::new();
    for view in view::sites(&loaded.snapshot) {
        let weight = options.metric.of(&view);
        if weight > 0 {
            *weights
                .entry(folded_stack(&view, &names, &library, options))
                .or_insert(0) += weight;
        }
    }
    weights
}

/// The folded-stack lines of a snapshot (`frame;frame;[type] weight`), the
/// input format of flamegraph tools.
pub fn folded(loaded: &Loaded, options: &Options) -> Vec<String> {
    weights(loaded, options)
        .into_iter()
        .map(|(stack, weight)| format!("{stack} {weight}"))
        .collect()
}

fn inferno_options<'a>(title: String, subtitle: String, metric: Metric) -> flamegraph::Options<'a> {
    let mut options = flamegraph::Options::default();
    options.title = title;
    options.subtitle = Some(subtitle);
    options.colors = Palette::Basic(BasicPalette::Mem);
    options.count_name = metric.unit().to_owned();
    options.name_type = "Frame:".to_owned();
    // Colours from frame names, not at random: the same input draws the
    // same picture.
    options.deterministic = true;
    // The folded lines come from a BTreeMap: already in the order inferno
    // would sort them into.
    options.no_sort = true;
    options
}

fn program_name(loaded: &Loaded) -> String {
    let exe = &loaded.snapshot.process.exe;
    exe.rsplit('/').next().unwrap_or(exe).to_owned()
}

/// Draws a snapshot's live memory as an SVG flamegraph.
pub fn flamegraph(loaded: &Loaded, options: &Options, writer: impl Write) -> io::Result<()> {
    let lines = folded(loaded, options);
    let s = &loaded.snapshot;
    let title = options.title.clone().unwrap_or_else(|| {
        format!(
            "Heap of {} (pid {}) at {}",
            program_name(loaded),
            s.process.pid,
            format::timestamp(s.taken_at_ms)
        )
    });
    let total: u64 = weights(loaded, options).values().sum();
    let subtitle = format!(
        "{}, {} after {} ({})",
        options.metric.describe(total),
        if options.by_type {
            "types at the root"
        } else {
            "types at the tips"
        },
        format::duration_ms(s.uptime_ms),
        sampling(s.sampling.interval_bytes),
    );
    let mut inferno = inferno_options(title, subtitle, options.metric);
    if lines.is_empty() {
        return empty(&mut inferno, writer);
    }
    flamegraph::from_lines(&mut inferno, lines.iter().map(String::as_str), writer)
}

/// Draws the change from `base` to `new` as a differential flamegraph:
/// frame widths are `new`'s, colours the change (red grew, blue shrank).
/// Sites are matched by their function names, so the snapshots may come from
/// different builds.
pub fn differential(
    base: &Loaded,
    new: &Loaded,
    options: &Options,
    writer: impl Write,
) -> io::Result<()> {
    let before = weights(base, options);
    let after = weights(new, options);
    let mut stacks: Vec<&String> = before.keys().chain(after.keys()).collect();
    stacks.sort();
    stacks.dedup();
    let lines: Vec<String> = stacks
        .into_iter()
        .map(|stack| {
            let b = before.get(stack).copied().unwrap_or(0);
            let a = after.get(stack).copied().unwrap_or(0);
            format!("{stack} {b} {a}")
        })
        .collect();
    let title = options.title.clone().unwrap_or_else(|| {
        format!(
            "Heap growth of {}: {} to {}",
            program_name(new),
            base.source,
            new.source
        )
    });
    let (b, a): (u64, u64) = (before.values().sum(), after.values().sum());
    let subtitle = format!(
        "{} then {}: {}; red grew, blue shrank",
        options.metric.describe(b),
        options.metric.describe(a),
        if options.metric == Metric::LiveCount {
            format::signed_count(a as i64 - b as i64)
        } else {
            format::signed_bytes(a as i64 - b as i64)
        }
    );
    let mut inferno = inferno_options(title, subtitle, options.metric);
    // Widths are the new snapshot's: with nothing live in it there is
    // nothing to draw.
    if lines.is_empty() || a == 0 {
        return empty(&mut inferno, writer);
    }
    flamegraph::from_lines(&mut inferno, lines.iter().map(String::as_str), writer)
}

/// inferno draws "no stack counts found" for no input; say why instead.
fn empty(inferno: &mut flamegraph::Options<'_>, writer: impl Write) -> io::Result<()> {
    inferno.subtitle = Some("nothing live in this snapshot".into());
    flamegraph::from_lines(inferno, ["[empty] 1"], writer)
}

/// `exact` or `sampled every 512.0 KiB`.
pub(crate) fn sampling(interval: u64) -> String {
    match interval {
        0 => "sampling off".into(),
        1 => "exact".into(),
        n => format!("sampled every {}", format::bytes(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_are_safe_in_folded_stacks() {
        assert_eq!(
            sanitize("<[u8; 16] as Clone>::clone"),
            "<[u8； 16] as Clone>::clone"
        );
        assert_eq!(sanitize("a\nb"), "a b");
    }
}
