//! `heapsnap leaks`: over a series of snapshots of one process, which sites
//! grow without bound, what they hold, how fast, and how sure we are.
//!
//! 1. The snapshots of the newest process are taken (a directory may hold
//!    several runs), in the order they were taken.
//! 2. Every site (tag and stack) gets a series of live bytes, one point per
//!    snapshot, with its sampling variance; `trend::fit` gives it a slope,
//!    a confidence and a verdict.
//! 3. Bytes are allocated in one place and kept alive by another: the
//!    contexts of closed connections are built in a connection handler but
//!    leak because a registry's `HashSet` still holds them. Without a heap
//!    graph, two structural signals join sites that leak together, around
//!    each growing collection whose element type names a program type:
//!    - by type: a `HashSet<Arc<ChannelContext>>` holds the sites that
//!      allocate `Arc<ChannelContext>`;
//!    - by construction: a site whose stack passes through the line where
//!      such an element is allocated (`Arc::new(ChannelContext::new(..))`)
//!      was allocated while building it (its buffers, its strings).
//!
//!    Growing sites left over are grouped by the function that allocated
//!    them. Each group's summed series is fitted again; a group that grows
//!    is a suspect, named after the collection that holds the others.
//! 4. Suspects are ranked by growth rate times confidence. The newest
//!    snapshot's live bytes by age add the last piece of evidence: a leak
//!    holds bytes of every age.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::format;
use crate::load::Loaded;
use crate::names;
use crate::trend::{self, Fit, Verdict};
use crate::view::{self, FunctionIds, Location, SiteKey};

/// Options of [`leaks`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Growing groups below this confidence are not suspects, only
    /// possible ones (and do not fail `--fail`).
    pub min_confidence: f64,
    /// Rows of the tables of what is not leaking (0: all).
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_confidence: 0.99,
            limit: 10,
        }
    }
}

/// Why the snapshots cannot be analysed.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// One of the things a suspect holds.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    /// Type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where it is allocated: function.
    pub function: String,
    /// Its tag, if any.
    #[serde(skip)]
    pub tag: Option<String>,
    /// Live bytes in the newest snapshot.
    pub live_bytes: u64,
    /// Live allocations in the newest snapshot.
    pub live_allocs: u64,
    /// Growth over the series.
    pub growth_bytes: i64,
}

/// How old a suspect's live bytes are, in the newest snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Age {
    /// The age compared with, in milliseconds.
    pub older_than_ms: u64,
    /// The fraction of live bytes older than that.
    pub fraction: f64,
    /// The fraction younger than the first age bucket (1 s).
    pub newest_fraction: f64,
}

/// A leak suspect.
#[derive(Clone, Debug, Serialize)]
pub struct Suspect {
    /// 1 for the most likely and fastest.
    pub rank: usize,
    /// Always `growing` for suspects.
    pub verdict: Verdict,
    /// The collection (or type) that grows.
    #[serde(rename = "type")]
    pub ty: String,
    /// The same with full paths.
    pub type_full: String,
    /// Where it is grown: function.
    pub function: String,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Tag of its allocations, if any.
    pub tag: Option<String>,
    /// Live allocations of the holder itself in the newest snapshot: how
    /// many such collections there are (one per call is a clue).
    pub instances: u64,
    /// Live bytes in the newest snapshot (the collection and what it
    /// holds).
    pub live_bytes: u64,
    /// Share of the newest snapshot's live heap.
    pub share: f64,
    /// Growth from the first snapshot to the newest.
    pub growth_bytes: i64,
    /// Growth rate (Theil-Sen slope).
    pub growth_bytes_per_sec: f64,
    /// Its standard error (sampling error and scatter of the points).
    pub growth_bytes_per_sec_stddev: f64,
    /// How sure it keeps growing, 0 to 1.
    pub confidence: f64,
    /// How much of the variation a straight line explains, 0 to 1.
    pub r_squared: f64,
    /// Snapshots behind the series.
    pub points: usize,
    /// Time the series spans, in milliseconds.
    pub window_ms: u64,
    /// Age of its live bytes in the newest snapshot, when known.
    pub age: Option<Age>,
    /// Everything allocated at the same place that grows with it.
    pub holds: Vec<Held>,
    /// The report in one sentence.
    pub summary: String,
    /// Stack of the largest part, function names innermost first.
    pub stack: Vec<String>,
}

/// A site, or a type, that is not a suspect, with its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Trend {
    /// What the series says.
    pub verdict: Verdict,
    /// Type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where (for a type, its largest site).
    pub location: Location,
    /// Live bytes in the newest snapshot.
    pub live_bytes: u64,
    /// Growth from the first snapshot to the newest.
    pub growth_bytes: i64,
    /// Growth rate.
    pub growth_bytes_per_sec: f64,
    /// How sure it keeps growing.
    pub confidence: f64,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Process id.
    pub pid: u32,
    /// Executable.
    pub exe: String,
    /// Snapshots analysed.
    pub snapshots: usize,
    /// Time from the first to the newest, in milliseconds.
    pub window_ms: u64,
    /// When the newest was taken.
    pub taken_at_ms: u64,
    /// Sampling interval of the newest.
    pub interval_bytes: u64,
    /// Live heap in the first and the newest.
    pub live_bytes_first: u64,
    /// Live heap in the newest.
    pub live_bytes_last: u64,
    /// Things to know about this analysis.
    pub notes: Vec<String>,
    /// Suspects: groups that keep growing, at `min_confidence` or above;
    /// best first (empty when there are none).
    pub suspects: Vec<Suspect>,
    /// Groups that grew, but that may have stopped growing: below
    /// `min_confidence` (the sampling error or the last snapshots leave
    /// room for a cache that filled). Best first.
    pub possible: Vec<Suspect>,
    /// Sites that changed but are not suspects, most growth first.
    pub not_leaking: Vec<Trend>,
    /// Every type's verdict, most growth first.
    pub types: Vec<Trend>,
    /// The confidence a suspect needs.
    pub min_confidence: f64,
}

/// The series of one site (or one group of sites).
#[derive(Clone, Default)]
struct Series {
    bytes: Vec<f64>,
    var: Vec<f64>,
    allocs: Vec<f64>,
    /// Live bytes by age in the newest snapshot.
    ages: Vec<f64>,
}

impl Series {
    fn zeros(n: usize) -> Series {
        Series {
            bytes: vec![0.0; n],
            var: vec![0.0; n],
            allocs: vec![0.0; n],
            ages: Vec::new(),
        }
    }

    fn add(&mut self, other: &Series) {
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a += b;
        }
        for (a, b) in self.var.iter_mut().zip(&other.var) {
            *a += b;
        }
        for (a, b) in self.allocs.iter_mut().zip(&other.allocs) {
            *a += b;
        }
        if self.ages.len() < other.ages.len() {
            self.ages.resize(other.ages.len(), 0.0);
        }
        for (a, b) in self.ages.iter_mut().zip(&other.ages) {
            *a += b;
        }
    }

    fn last(&self) -> f64 {
        self.bytes.last().copied().unwrap_or(0.0)
    }

    fn growth(&self) -> f64 {
        self.last() - self.bytes.first().copied().unwrap_or(0.0)
    }
}

/// What the newest snapshot says about a site.
#[derive(Clone)]
struct Latest {
    ty: String,
    type_full: String,
    location: Location,
    tag: Option<String>,
    stack: Vec<String>,
    /// The program's frames outside the location, as (function, line):
    /// where the allocation was made from.
    callers: Vec<(String, Option<u32>)>,
}

/// A site's series and what it is.
struct SiteTrend {
    /// Its index among the sites.
    id: usize,
    series: Series,
    latest: Latest,
    holding: Holding,
    fit: Option<Fit>,
}

/// What a site's type and function say about what it may hold, worked out
/// once per site: grouping compares every site with many others.
#[derive(Clone, Debug, Default)]
struct Holding {
    /// [`program_elements`] of its type.
    elements: Vec<String>,
    is_collection: bool,
    /// Some element is an allocation of its own ([`allocated_apart`]).
    holds_allocations: bool,
    /// The type whose method allocated it, short (`ChannelContext` for
    /// `<im::ChannelContext>::new`).
    method_of: Option<String>,
}

/// Parses each type and function name once, however many sites share it.
#[derive(Default)]
struct HoldingCache {
    by_type: HashMap<String, (Vec<String>, bool, bool)>,
    by_function: HashMap<String, Option<String>>,
}

impl HoldingCache {
    fn holding(&mut self, latest: &Latest) -> Holding {
        let (elements, is_collection, holds_allocations) = self
            .by_type
            .entry(latest.type_full.clone())
            .or_insert_with(|| {
                let elements = program_elements(&latest.type_full);
                let apart = elements.iter().any(|e| allocated_apart(e));
                (elements, is_collection(&latest.type_full), apart)
            })
            .clone();
        let method_of = self
            .by_function
            .entry(latest.location.function.clone())
            .or_insert_with(|| {
                names::qualified_self(&latest.location.function)
                    .map(|(self_ty, _)| names::shorten(self_ty))
            })
            .clone();
        Holding {
            elements,
            is_collection,
            holds_allocations,
            method_of,
        }
    }
}

/// Analyses a series of snapshots.
pub fn leaks(loaded: &[Loaded], options: &Options) -> Result<Report, Error> {
    let (series_of, notes) = newest_process(loaded)?;
    let n = series_of.len();
    let times: Vec<f64> = series_of
        .iter()
        .map(|l| l.snapshot.uptime_ms as f64 / 1000.0)
        .collect();
    let first = &series_of[0].snapshot;
    let newest = &series_of[n - 1].snapshot;
    let mut notes = notes;
    if n < trend::MIN_POINTS_FOR_TREND {
        notes.push(format!(
            "{n} snapshots: growth is measured from the first to the last; whether it would level off takes at least {} to tell",
            trend::MIN_POINTS_FOR_TREND
        ));
    }

    // Every site's series. `site_of[i][k]` is the site of snapshot `i`'s
    // `k`th entry, an index into `sites`.
    let mut ids = FunctionIds::default();
    let mut index: HashMap<SiteKey, usize> = HashMap::new();
    let mut sites: Vec<SiteTrend> = Vec::new();
    let mut site_of: Vec<Vec<usize>> = Vec::with_capacity(n);
    for (i, loaded) in series_of.iter().enumerate() {
        let views = view::sites(&loaded.snapshot);
        let ids = ids.for_snapshot(&loaded.snapshot);
        let mut of_entry = Vec::with_capacity(views.len());
        for view in &views {
            let next = sites.len();
            let at = *index.entry(view.key(ids)).or_insert(next);
            if at == next {
                sites.push(SiteTrend {
                    id: next,
                    series: Series::zeros(n),
                    latest: latest(view),
                    holding: Holding::default(),
                    fit: None,
                });
            }
            of_entry.push(at);
            let entry = &mut sites[at];
            entry.series.bytes[i] += view.site.live_bytes as f64;
            entry.series.var[i] += view.site.live_bytes_var;
            entry.series.allocs[i] += view.site.live_allocs as f64;
            if i == n - 1 {
                entry.latest = latest(view);
                let ages = &view.site.live_bytes_by_age;
                if entry.series.ages.len() < ages.len() {
                    entry.series.ages.resize(ages.len(), 0.0);
                }
                for (a, b) in entry.series.ages.iter_mut().zip(ages) {
                    *a += *b as f64;
                }
            }
        }
        site_of.push(of_entry);
    }
    drop(index);
    let mut holdings = HoldingCache::default();
    for site in &mut sites {
        site.holding = holdings.holding(&site.latest);
        site.fit = trend::fit(&times, &site.series.bytes, &site.series.var);
    }
    drop(holdings);

    // Group sites that leak together, and keep the groups that grow.
    let heap_last = newest.totals.live_bytes.max(1) as f64;
    let window_ms = newest.uptime_ms.saturating_sub(first.uptime_ms);
    let place = |s: &SiteTrend| (s.latest.tag.clone(), s.latest.location.function.clone());
    let all: Vec<&SiteTrend> = sites.iter().collect();
    let growing_groups: Vec<Group<'_>> = groups(&all)
        .into_iter()
        .filter(|group| group.members.iter().any(|m| is_growing(m)))
        .collect();
    let shared = shared_sampling_error(&growing_groups, &sites, &site_of, &series_of, &times);
    let mut suspects: Vec<Suspect> = growing_groups
        .iter()
        .zip(&shared)
        .filter_map(|(group, shared)| {
            suspect(
                group,
                shared,
                &times,
                heap_last,
                window_ms,
                &newest.age_buckets_ms,
            )
        })
        .collect();
    suspects.sort_by(|a, b| {
        let score = |s: &Suspect| s.growth_bytes_per_sec * s.confidence;
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a.function.cmp(&b.function))
    });
    let (mut suspects, mut possible): (Vec<Suspect>, Vec<Suspect>) = suspects
        .into_iter()
        .partition(|s| s.confidence >= options.min_confidence);
    for (list, keeps_growing) in [(&mut suspects, true), (&mut possible, false)] {
        for (i, suspect) in list.iter_mut().enumerate() {
            suspect.rank = i + 1;
            suspect.summary = summary(suspect, keeps_growing);
        }
    }

    // What changed without being a suspect, and every type.
    let in_suspects: HashSet<(Option<String>, String)> = suspects
        .iter()
        .chain(&possible)
        .flat_map(|s| s.holds.iter().map(|h| (h.tag.clone(), h.function.clone())))
        .collect();
    let mut not_leaking: Vec<Trend> = sites
        .iter()
        .filter(|s| !in_suspects.contains(&place(s)))
        .filter_map(|s| trend_row(s.fit.as_ref()?, &s.latest, &s.series))
        .filter(|t| {
            t.verdict != Verdict::Steady || t.growth_bytes.unsigned_abs() as f64 > 0.01 * heap_last
        })
        .collect();
    not_leaking.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
            .then_with(|| a.location.label().cmp(&b.location.label()))
    });
    // Each type's series, and its largest site now.
    let mut by_type: HashMap<String, (Series, &SiteTrend)> = HashMap::new();
    for site in &sites {
        let (series, largest) = by_type
            .entry(site.latest.type_full.clone())
            .or_insert_with(|| (Series::zeros(n), site));
        series.add(&site.series);
        if site.series.last() > largest.series.last() {
            *largest = site;
        }
    }
    let mut types: Vec<Trend> = by_type
        .values()
        .filter_map(|(series, largest)| {
            let latest = &largest.latest;
            let fit = trend::fit(&times, &series.bytes, &series.var)?;
            trend_row(&fit, latest, series)
        })
        .collect();
    types.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
            .then_with(|| a.location.label().cmp(&b.location.label()))
    });
    if options.limit > 0 {
        not_leaking.truncate(options.limit);
        types.truncate(options.limit);
    }

    Ok(Report {
        pid: newest.process.pid,
        exe: newest.process.exe.clone(),
        snapshots: n,
        window_ms,
        taken_at_ms: newest.taken_at_ms,
        interval_bytes: newest.sampling.interval_bytes,
        live_bytes_first: first.totals.live_bytes,
        live_bytes_last: newest.totals.live_bytes,
        notes,
        suspects,
        possible,
        not_leaking,
        types,
        min_confidence: options.min_confidence,
    })
}

/// The snapshots of the newest process, in the order they were taken, and
/// a note when others were left out.
fn newest_process(loaded: &[Loaded]) -> Result<(Vec<&Loaded>, Vec<String>), Error> {
    let mut processes: HashMap<(u32, u64), Vec<&Loaded>> = HashMap::new();
    for l in loaded {
        let p = &l.snapshot.process;
        processes
            .entry((p.pid, p.started_at_ms))
            .or_default()
            .push(l);
    }
    let count = processes.len();
    let Some((_, mut newest)) = processes
        .into_iter()
        .max_by_key(|(key, snaps)| (snaps.iter().map(|s| s.snapshot.taken_at_ms).max(), key.1))
    else {
        return Err(Error("no snapshots given".into()));
    };
    newest.sort_by_key(|l| (l.snapshot.uptime_ms, l.snapshot.seq));
    newest.dedup_by_key(|l| l.snapshot.seq);
    let mut notes = Vec::new();
    if count > 1 {
        let p = &newest[0].snapshot.process;
        notes.push(format!(
            "snapshots of {count} processes given; analysed the newest: pid {} started {} ({} snapshots)",
            p.pid,
            format::timestamp(p.started_at_ms),
            newest.len()
        ));
    }
    if newest.len() < 2 {
        return Err(Error(format!(
            "need at least two snapshots of one process; {} has one",
            newest[0].source
        )));
    }
    if newest[newest.len() - 1].snapshot.uptime_ms <= newest[0].snapshot.uptime_ms {
        return Err(Error(
            "the snapshots were all taken at the same moment".into(),
        ));
    }
    Ok((newest, notes))
}

fn latest(view: &view::SiteView<'_>) -> Latest {
    Latest {
        ty: view.ty.short.clone(),
        type_full: view.ty.full.clone(),
        location: view.location_info(),
        tag: view.site.tag.clone(),
        stack: view.stack_names(),
        callers: view
            .frames()
            .skip(view.library_depth + 1)
            .map(|f| (view::function_name(f), f.line))
            .collect(),
    }
}

fn trend_row(fit: &Fit, latest: &Latest, series: &Series) -> Option<Trend> {
    Some(Trend {
        verdict: fit.verdict,
        ty: latest.ty.clone(),
        location: latest.location.clone(),
        live_bytes: series.last().max(0.0).round() as u64,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        confidence: fit.confidence,
    })
}

fn is_growing(site: &SiteTrend) -> bool {
    site.fit
        .as_ref()
        .is_some_and(|f| f.verdict == Verdict::Growing)
}

/// Collections that hold other allocations, and how many of their type
/// arguments are elements (keys and values for maps).
const COLLECTIONS: [(&str, usize); 7] = [
    ("Vec", 1),
    ("VecDeque", 1),
    ("BinaryHeap", 1),
    ("HashSet", 1),
    ("BTreeSet", 1),
    ("HashMap", 2),
    ("BTreeMap", 2),
];

fn is_collection(type_full: &str) -> bool {
    let (base, _) = names::generics(type_full);
    let base = names::shorten(base);
    COLLECTIONS.iter().any(|(name, _)| *name == base)
}

/// The element types of a collection type that name a program type, short,
/// nested collections' elements included:
/// `HashMap<String, HashSet<alloc::sync::Arc<im::Conn>>>` ->
/// `HashSet<Arc<Conn>>`, `Arc<Conn>`. Elements made only of the standard
/// library's types (`String`, `u64`) would tie every growing `String` to
/// every map of strings: left out.
fn program_elements(type_full: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut pending = vec![type_full];
    while let Some(ty) = pending.pop() {
        let (base, args) = names::generics(ty);
        let Some((_, count)) = COLLECTIONS
            .iter()
            .find(|(name, _)| names::shorten(base) == *name)
        else {
            continue;
        };
        for arg in args.into_iter().take(*count) {
            if names::mentions_program_type(arg) && elements.len() < 16 {
                elements.push(names::shorten(arg));
                pending.push(arg);
            }
        }
    }
    elements
}

/// The type a smart pointer points to (`Arc<Conn>` -> `Conn`); any other
/// type itself.
fn pointee(ty: &str) -> &str {
    let (base, args) = names::generics(ty);
    match (base, args.as_slice()) {
        ("Arc" | "Rc" | "Box", [inner]) => inner,
        _ => ty,
    }
}

/// True for element types that are allocations of their own (smart
/// pointers, collections), not values stored inside their collection.
fn allocated_apart(element: &str) -> bool {
    let (base, _) = names::generics(element);
    matches!(base, "Arc" | "Rc" | "Box" | "String")
        || COLLECTIONS.iter().any(|(name, _)| *name == base)
}

/// Sites that leak together, and the collections that may hold them.
struct Group<'a> {
    /// Sites that grew: their series add up to the group's.
    members: Vec<&'a SiteTrend>,
    /// Collections holding the members' types that did not grow in the
    /// samples (their current buffer was not sampled, only an earlier
    /// one): they name the group, and add nothing to its bytes.
    unseen_holders: Vec<&'a SiteTrend>,
}

/// Sites that leak together (see the module docs): first around each
/// collection that holds a program type, largest growth first, then by
/// allocating function and construction. Only sites that grew are members;
/// each joins one group at most.
fn groups<'a>(sites: &[&'a SiteTrend]) -> Vec<Group<'a>> {
    let mut order: Vec<&'a SiteTrend> = sites.to_vec();
    order.sort_by(|a, b| {
        b.series
            .growth()
            .total_cmp(&a.series.growth())
            .then_with(|| a.latest.type_full.cmp(&b.latest.type_full))
            .then_with(|| a.latest.location.function.cmp(&b.latest.location.function))
    });
    let index = SiteIndex::new(&order);
    let grew: Vec<bool> = order.iter().map(|s| s.series.growth() > 0.0).collect();
    // Sites that did not grow never join a group as members.
    let mut taken: Vec<bool> = grew.iter().map(|g| !g).collect();
    let mut claimed_holder = vec![false; order.len()];
    let mut groups = Vec::new();
    for anchor in 0..order.len() {
        let elements = &order[anchor].holding.elements;
        if (grew[anchor] && taken[anchor]) || claimed_holder[anchor] || elements.is_empty() {
            continue;
        }
        // By type, through nested collections: a map of sets of `Arc<T>`
        // holds the sets, which hold the `Arc<T>`s.
        let mut members = Vec::new();
        let mut element_places: HashSet<(&str, Option<u32>)> = HashSet::new();
        for i in SiteIndex::lookup(&index.by_type, elements.iter().map(String::as_str)) {
            if i != anchor && !taken[i] {
                taken[i] = true;
                members.push(order[i]);
                let l = &order[i].latest.location;
                element_places.insert((l.function.as_str(), l.line));
            }
        }
        // A collection of values (`Vec<Op>`) holds no other site: it is
        // no anchor, and may join another group. One of separately
        // allocated elements (`Arc<Program>`) whose elements were not
        // sampled still holds what is allocated where it grows.
        if members.is_empty() && !order[anchor].holding.holds_allocations {
            continue;
        }
        claimed_holder[anchor] = true;
        let mut unseen_holders = Vec::new();
        if grew[anchor] {
            taken[anchor] = true;
            members.insert(0, order[anchor]);
        } else {
            unseen_holders.push(order[anchor]);
        }
        // By construction: allocated while building an element.
        let built = SiteIndex::lookup(&index.by_caller, element_places.iter().copied());
        // Allocated in a holder's function, or in a function it calls
        // directly (the key `bind` builds for the map it inserts into).
        let holder_places: HashSet<(Option<&str>, &str)> = std::iter::once(order[anchor])
            .chain(members.iter().copied())
            .filter(|m| m.holding.is_collection)
            .map(|m| (m.latest.tag.as_deref(), m.latest.location.function.as_str()))
            .collect();
        let inside = SiteIndex::lookup(&index.by_place, holder_places.iter().copied());
        let called = SiteIndex::lookup(&index.by_first_caller, holder_places.iter().copied());
        // By owner: allocated by a method of an element's type
        // (`<ChannelContext>::close` for `Arc<ChannelContext>`s).
        let owned = SiteIndex::lookup(&index.by_method_of, elements.iter().map(|e| pointee(e)));
        let mut joined: Vec<usize> = [built, inside, called, owned].concat();
        joined.sort_unstable();
        joined.dedup();
        for i in joined {
            if !taken[i] {
                taken[i] = true;
                members.push(order[i]);
            }
        }
        // Other collections of the same elements that did not grow.
        let held_types = elements
            .iter()
            .map(String::as_str)
            .chain(members.iter().map(|m| m.latest.ty.as_str()));
        for i in SiteIndex::lookup(&index.by_element, held_types) {
            if !grew[i] && !claimed_holder[i] {
                claimed_holder[i] = true;
                unseen_holders.push(order[i]);
            }
        }
        if members.is_empty() {
            // Nothing grew with it: leave its sites to the others.
            continue;
        }
        groups.push(Group {
            members,
            unseen_holders,
        });
    }
    // The rest: sites of one function, and sites built while allocating
    // another (`Arc::new(Program::compile(..))` holds what `compile`
    // allocated even when no collection holding the `Arc`s was sampled).
    let rest: Vec<usize> = (0..order.len()).filter(|&i| !taken[i]).collect();
    let mut parent: Vec<usize> = (0..rest.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut by_place: HashMap<(Option<String>, &str), usize> = HashMap::new();
    let mut by_line: HashMap<(&str, Option<u32>), usize> = HashMap::new();
    for (r, &i) in rest.iter().enumerate() {
        let l = &order[i].latest;
        let first = *by_place
            .entry((l.tag.clone(), l.location.function.as_str()))
            .or_insert(r);
        let (a, b) = (root(&mut parent, r), root(&mut parent, first));
        parent[a] = b;
        by_line
            .entry((l.location.function.as_str(), l.location.line))
            .or_insert(r);
    }
    for (r, &i) in rest.iter().enumerate() {
        for (function, line) in &order[i].latest.callers {
            if let Some(&under) = by_line.get(&(function.as_str(), *line)) {
                let (a, b) = (root(&mut parent, r), root(&mut parent, under));
                parent[a] = b;
            }
        }
    }
    let mut component_of: HashMap<usize, usize> = HashMap::new();
    let mut components: Vec<Vec<&'a SiteTrend>> = Vec::new();
    for (r, &i) in rest.iter().enumerate() {
        let key = root(&mut parent, r);
        let next = components.len();
        let c = *component_of.entry(key).or_insert(next);
        if c == next {
            components.push(Vec::new());
        }
        components[c].push(order[i]);
    }
    groups.extend(components.into_iter().map(|members| Group {
        members,
        unseen_holders: Vec::new(),
    }));
    groups
}

/// Sites (by position in the grouping order) under the keys grouping looks
/// them up by, so that finding what joins a group costs what joins it, not
/// a pass over every site.
struct SiteIndex<'a> {
    /// By short type.
    by_type: HashMap<&'a str, Vec<usize>>,
    /// By each (function, line) among its callers.
    by_caller: HashMap<(&'a str, Option<u32>), Vec<usize>>,
    /// By (tag, allocating function).
    by_place: HashMap<(Option<&'a str>, &'a str), Vec<usize>>,
    /// By (tag, the function that called the allocating one).
    by_first_caller: HashMap<(Option<&'a str>, &'a str), Vec<usize>>,
    /// By the type whose method allocated it.
    by_method_of: HashMap<&'a str, Vec<usize>>,
    /// By each program element type its type holds.
    by_element: HashMap<&'a str, Vec<usize>>,
}

impl<'a> SiteIndex<'a> {
    fn new(order: &[&'a SiteTrend]) -> Self {
        let mut index = SiteIndex {
            by_type: HashMap::new(),
            by_caller: HashMap::new(),
            by_place: HashMap::new(),
            by_first_caller: HashMap::new(),
            by_method_of: HashMap::new(),
            by_element: HashMap::new(),
        };
        for (i, site) in order.iter().enumerate() {
            let l = &site.latest;
            let tag = l.tag.as_deref();
            index.by_type.entry(l.ty.as_str()).or_default().push(i);
            for (function, line) in &l.callers {
                let list = index
                    .by_caller
                    .entry((function.as_str(), *line))
                    .or_default();
                // A recursive stack passes the same line more than once.
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            let place = (tag, l.location.function.as_str());
            index.by_place.entry(place).or_default().push(i);
            if let Some((caller, _)) = l.callers.first() {
                let key = (tag, caller.as_str());
                index.by_first_caller.entry(key).or_default().push(i);
            }
            if let Some(owner) = &site.holding.method_of {
                index
                    .by_method_of
                    .entry(owner.as_str())
                    .or_default()
                    .push(i);
            }
            for element in &site.holding.elements {
                let list = index.by_element.entry(element.as_str()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        index
    }

    /// The sites under any of `keys`, in grouping order, each once.
    fn lookup<K: Eq + std::hash::Hash>(
        map: &HashMap<K, Vec<usize>>,
        keys: impl IntoIterator<Item = K>,
    ) -> Vec<usize> {
        let mut found: Vec<usize> = keys
            .into_iter()
            .filter_map(|key| map.get(&key))
            .flatten()
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// The member that holds the others, and is not held by another member:
/// a collection that holds other members (the outermost: the map, not the
/// sets in it); failing that, the object the others were built inside (the
/// `Arc<Program>` that owns what `compile` allocated); failing that, the
/// largest collection, or the largest member.
fn holder<'a>(group: &Group<'a>) -> Option<&'a SiteTrend> {
    let members = &group.members;
    let candidates: Vec<&SiteTrend> = members
        .iter()
        .chain(&group.unseen_holders)
        .copied()
        .collect();
    let member_types: HashSet<&str> = members.iter().map(|m| m.latest.ty.as_str()).collect();
    let held_types: HashSet<&str> = candidates
        .iter()
        .flat_map(|c| c.holding.elements.iter().map(String::as_str))
        .collect();
    let built_at: HashSet<(&str, Option<u32>)> = members
        .iter()
        .flat_map(|m| m.latest.callers.iter().map(|(f, line)| (f.as_str(), *line)))
        .collect();
    let rank = |m: &SiteTrend| {
        let holds = m
            .holding
            .elements
            .iter()
            .any(|e| member_types.contains(e.as_str()));
        let place = (m.latest.location.function.as_str(), m.latest.location.line);
        (
            holds,
            m.holding.holds_allocations,
            built_at.contains(&place),
            m.holding.is_collection,
        )
    };
    candidates
        .iter()
        .filter(|m| !held_types.contains(m.latest.ty.as_str()))
        .map(|m| (rank(m), *m))
        .max_by(|(rank_a, a), (rank_b, b)| {
            rank_a
                .cmp(rank_b)
                .then(a.series.last().total_cmp(&b.series.last()))
        })
        .map(|(_, m)| m)
        .or_else(|| members.first().copied())
}

/// The suspect a group makes, if its summed series grows.
fn suspect(
    group: &Group<'_>,
    shared: &[Vec<f64>],
    times: &[f64],
    heap_last: f64,
    window_ms: u64,
    age_bounds: &[u64],
) -> Option<Suspect> {
    let members = &group.members;
    let n = times.len();
    let mut series = Series::zeros(n);
    for member in members {
        series.add(&member.series);
    }
    let fit = trend::fit_shared(times, &series.bytes, shared)?;
    if fit.verdict != Verdict::Growing {
        return None;
    }
    let holder = holder(group)?;
    // What it holds, merged by type and function, largest first.
    let mut holds: Vec<Held> = Vec::new();
    let mut held_at: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    for member in members {
        let l = &member.latest;
        let key = (
            l.ty.as_str(),
            l.location.function.as_str(),
            l.tag.as_deref(),
        );
        let at = *held_at.entry(key).or_insert(holds.len());
        if at == holds.len() {
            holds.push(Held {
                ty: l.ty.clone(),
                function: l.location.function.clone(),
                tag: l.tag.clone(),
                live_bytes: 0,
                live_allocs: 0,
                growth_bytes: 0,
            });
        }
        let held = &mut holds[at];
        held.live_bytes += member.series.last().max(0.0).round() as u64;
        held.live_allocs += member
            .series
            .allocs
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(0.0)
            .round() as u64;
        held.growth_bytes += member.series.growth().round() as i64;
    }
    holds.sort_by(|a, b| {
        b.live_bytes
            .cmp(&a.live_bytes)
            .then_with(|| a.ty.cmp(&b.ty))
    });
    let latest = &holder.latest;
    let live_bytes = series.last().max(0.0).round() as u64;
    Some(Suspect {
        rank: 0,
        verdict: fit.verdict,
        ty: latest.ty.clone(),
        type_full: latest.type_full.clone(),
        function: latest.location.function.clone(),
        file: latest.location.file.clone(),
        line: latest.location.line,
        tag: latest.tag.clone(),
        instances: holder
            .series
            .allocs
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(0.0)
            .round() as u64,
        live_bytes,
        share: live_bytes as f64 / heap_last,
        growth_bytes: series.growth().round() as i64,
        growth_bytes_per_sec: fit.slope,
        growth_bytes_per_sec_stddev: fit.slope_stddev,
        confidence: fit.confidence,
        r_squared: fit.r_squared,
        points: fit.points,
        window_ms,
        age: age(&series.ages, age_bounds, window_ms),
        holds,
        summary: String::new(),
        stack: latest.stack.clone(),
    })
}

/// For each group, the covariance of the sampling errors of its summed
/// series at every pair of snapshots. A sampled allocation carries its
/// error into every snapshot it is live in, so two snapshots share the
/// error of the allocations live in both: those of the later snapshot
/// older than the time between them, read from its live bytes by age
/// (uniform within an age bucket), with their share of its variance.
fn shared_sampling_error(
    groups: &[Group<'_>],
    sites: &[SiteTrend],
    site_of: &[Vec<usize>],
    snapshots: &[&Loaded],
    times: &[f64],
) -> Vec<Vec<Vec<f64>>> {
    let n = times.len();
    // Which group each site belongs to.
    let mut group_of: Vec<Option<usize>> = vec![None; sites.len()];
    for (g, group) in groups.iter().enumerate() {
        for member in &group.members {
            group_of[member.id] = Some(g);
        }
    }
    // Each group's live bytes by age, and variance, in each snapshot.
    let mut ages: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; groups.len()];
    let mut var: Vec<Vec<f64>> = vec![vec![0.0; n]; groups.len()];
    for (i, loaded) in snapshots.iter().enumerate() {
        for (entry, &site) in loaded.snapshot.sites.iter().zip(&site_of[i]) {
            let Some(g) = group_of[site] else { continue };
            var[g][i] += entry.live_bytes_var;
            let into = &mut ages[g][i];
            if into.len() < entry.live_bytes_by_age.len() {
                into.resize(entry.live_bytes_by_age.len(), 0.0);
            }
            for (a, b) in into.iter_mut().zip(&entry.live_bytes_by_age) {
                *a += *b as f64;
            }
        }
    }
    (0..groups.len())
        .map(|g| {
            let mut shared = vec![vec![0.0; n]; n];
            for j in 0..n {
                let bounds = &snapshots[j].snapshot.age_buckets_ms;
                shared[j][j] = var[g][j];
                for i in 0..j {
                    let age_ms = ((times[j] - times[i]) * 1000.0).max(0.0);
                    let older = share_older_than(&ages[g][j], bounds, age_ms);
                    let c = (var[g][j] * older).min(var[g][i]);
                    shared[i][j] = c;
                    shared[j][i] = c;
                }
            }
            shared
        })
        .collect()
}

/// The share of `ages` (bytes by age bucket, bounds in milliseconds, a last
/// bucket for everything older) older than `age_ms`.
fn share_older_than(ages: &[f64], bounds: &[u64], age_ms: f64) -> f64 {
    let total: f64 = ages.iter().sum();
    if total <= 0.0 || ages.len() != bounds.len() + 1 {
        return 0.0;
    }
    let mut older = 0.0;
    for (k, bytes) in ages.iter().enumerate() {
        let low = if k == 0 { 0.0 } else { bounds[k - 1] as f64 };
        let high = bounds.get(k).map_or(f64::INFINITY, |&b| b as f64);
        if age_ms <= low {
            older += bytes;
        } else if age_ms < high {
            older += bytes * (high - age_ms) / (high - low);
        }
    }
    older / total
}

/// The share of live bytes older than a quarter of the window (rounded
/// down to an age bucket bound): about three quarters for a leak that grew
/// evenly over the window.
fn age(ages: &[f64], bounds: &[u64], window_ms: u64) -> Option<Age> {
    let total: f64 = ages.iter().sum();
    if total <= 0.0 || ages.len() != bounds.len() + 1 {
        return None;
    }
    let cut = bounds.iter().rposition(|&b| b <= window_ms / 4)?;
    let older: f64 = ages[cut + 1..].iter().sum();
    Some(Age {
        older_than_ms: bounds[cut],
        fraction: older / total,
        newest_fraction: ages[0] / total,
    })
}

/// A rate in the unit that reads best for the window.
pub(crate) fn rate(bytes_per_sec: f64, window_ms: u64) -> (f64, &'static str) {
    match window_ms {
        0..120_000 => (bytes_per_sec, "s"),
        120_000..7_200_000 => (bytes_per_sec * 60.0, "min"),
        _ => (bytes_per_sec * 3600.0, "h"),
    }
}

/// The suspect in one sentence. `keeps_growing`: the confidence reached
/// the threshold (else the sentence says growth may have stopped).
fn summary(s: &Suspect, keeps_growing: bool) -> String {
    let (rate, unit) = rate(s.growth_bytes_per_sec, s.window_ms);
    let (error, _) = self::rate(s.growth_bytes_per_sec_stddev, s.window_ms);
    let place = match (&s.file, s.line) {
        (Some(file), Some(line)) => format!(" ({file}:{line})"),
        _ => String::new(),
    };
    let function = names::short_function(&s.function);
    let size = format!(
        "{} ({} of heap)",
        format::bytes(s.live_bytes),
        format::percent(s.share)
    );
    let mut text = if is_collection(&s.type_full) {
        let instances = match s.instances {
            0 | 1 => String::new(),
            n => format!(", {} of them,", format::count(n)),
        };
        format!(
            "{} grown in {function}{place}{instances} holds {size}",
            s.ty
        )
    } else {
        format!("{} allocated in {function}{place}: {size} live", s.ty)
    };
    let rate = format!(
        "{}/{unit} ± {}",
        format::bytes(rate.max(0.0).round() as u64),
        format::bytes(error.round() as u64)
    );
    let window = format::duration_ms(s.window_ms);
    if s.points < trend::MIN_POINTS_FOR_TREND {
        text += &format!(
            "; grew {} from the first snapshot to the last, {window} apart ({rate}), a two-point growth: whether it keeps growing cannot be told",
            format::signed_bytes(s.growth_bytes)
        );
    } else if keeps_growing {
        text += &format!(", growing {rate} for the whole {window}");
    } else {
        text += &format!("; grew {rate} over {window}, but may have stopped");
    }
    if let Some(age) = &s.age {
        text += &format!(
            "; {} of its live bytes are older than {}",
            format::percent(age.fraction),
            format::duration_ms(age.older_than_ms)
        );
    }
    let claim = if s.points < trend::MIN_POINTS_FOR_TREND {
        "it grew"
    } else {
        "it keeps growing"
    };
    text += &format!(" ({} sure {claim})", confidence(s.confidence));
    text
}

/// A confidence for people: never "100%" (`>99.9%`).
pub(crate) fn confidence(p: f64) -> String {
    if p > 0.999 {
        ">99.9%".into()
    } else {
        format::percent(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    /// A site of type `type_full` allocated at `function:line`, called from
    /// `callers` (innermost first), whose live bytes follow `bytes`.
    fn site(
        id: usize,
        type_full: &str,
        function: &str,
        line: u32,
        callers: &[(&str, u32)],
        bytes: &[f64],
    ) -> SiteTrend {
        let n = bytes.len();
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let series = Series {
            bytes: bytes.to_vec(),
            var: vec![0.0; n],
            allocs: bytes.iter().map(|b| b / 1024.0).collect(),
            ages: Vec::new(),
        };
        let latest = Latest {
            ty: names::shorten(type_full),
            type_full: type_full.to_owned(),
            location: Location {
                function: function.to_owned(),
                file: Some("src/app.rs".to_owned()),
                line: Some(line),
            },
            tag: None,
            stack: vec![function.to_owned()],
            callers: callers
                .iter()
                .map(|(f, l)| ((*f).to_owned(), Some(*l)))
                .collect(),
        };
        SiteTrend {
            id,
            fit: trend::fit(&t, &series.bytes, &series.var),
            series,
            holding: HoldingCache::default().holding(&latest),
            latest,
        }
    }

    fn linear(n: usize, per_point: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 * per_point).collect()
    }

    fn flat(n: usize, level: f64) -> Vec<f64> {
        vec![level; n]
    }

    #[test]
    fn nested_collections_name_every_program_element() {
        let map = "HashMap<alloc::string::String, std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>";
        assert_eq!(program_elements(map), ["HashSet<Arc<Conn>>", "Arc<Conn>"]);
        assert_eq!(program_elements("alloc::vec::Vec<app::Op>"), ["Op"]);
        assert!(program_elements("alloc::vec::Vec<alloc::string::String>").is_empty());
        assert!(program_elements("alloc::sync::Arc<app::Conn>").is_empty());
        assert_eq!(pointee("Arc<Conn>"), "Conn");
        assert_eq!(pointee("HashSet<Arc<Conn>>"), "HashSet<Arc<Conn>>");
    }

    #[test]
    fn a_registry_holds_its_elements_and_what_they_were_built_with() {
        let n = 12;
        let sites = [
            // The outer map's buffer: small and steady in the samples.
            site(
                0,
                "HashMap<alloc::string::String, std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>",
                "<app::Ips>::bind",
                20,
                &[("<app::Gateway>::handle", 60)],
                &flat(n, MIB),
            ),
            site(
                1,
                "std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>",
                "<app::Ips>::bind",
                20,
                &[("<app::Gateway>::handle", 60)],
                &linear(n, 0.1 * MIB),
            ),
            site(
                2,
                "alloc::sync::Arc<app::Conn>",
                "<app::Gateway>::handle",
                55,
                &[],
                &linear(n, MIB),
            ),
            // Built inside `Arc::new(Conn::new(..))` at handle:55.
            site(
                3,
                "alloc::vec::Vec<u8>",
                "<app::Conn>::new",
                30,
                &[("<app::Gateway>::handle", 55)],
                &linear(n, 4.0 * MIB),
            ),
            // Allocated by a method of the element type.
            site(
                4,
                "alloc::string::String",
                "<app::Conn>::close",
                40,
                &[("<app::Gateway>::handle", 70)],
                &linear(n, 0.05 * MIB),
            ),
            // The key `bind` builds, in a function it calls.
            site(
                5,
                "alloc::string::String",
                "<app::Conn>::addr",
                44,
                &[("<app::Ips>::bind", 19)],
                &linear(n, 0.05 * MIB),
            ),
            // A cache filled elsewhere during `handle`: not part of it.
            site(
                6,
                "alloc::string::String",
                "<app::Profile>::fetch",
                12,
                &[("<app::Cache>::get", 8), ("<app::Gateway>::handle", 58)],
                &linear(n, 0.2 * MIB),
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let registry = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 2))
            .expect("a group holds the Arc<Conn>s");
        let mut ids: Vec<usize> = registry.members.iter().map(|m| m.id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [1, 2, 3, 4, 5],
            "the steady map names the group, adding no bytes"
        );
        assert_eq!(
            registry
                .unseen_holders
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            [0]
        );
        // The outermost collection holds the others.
        assert_eq!(holder(registry).map(|h| h.id), Some(0));
        let cache = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 6))
            .unwrap();
        assert_eq!(cache.members.len(), 1);
    }

    #[test]
    fn without_a_collection_the_constructed_object_holds_what_was_built_in_it() {
        let n = 12;
        let sites = [
            site(
                0,
                "alloc::sync::Arc<app::Program>",
                "<app::Loader>::load",
                81,
                &[],
                &linear(n, 0.1 * MIB),
            ),
            site(
                1,
                "alloc::vec::Vec<app::Op>",
                "app::compile",
                62,
                &[("<app::Loader>::load", 81)],
                &linear(n, 2.0 * MIB),
            ),
            site(
                2,
                "alloc::string::String",
                "app::compile",
                70,
                &[("<app::Loader>::load", 81)],
                &linear(n, 0.3 * MIB),
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        assert_eq!(
            groups.len(),
            1,
            "a Vec of values anchors nothing; construction joins them"
        );
        assert_eq!(holder(&groups[0]).map(|h| h.id), Some(0));
    }

    #[test]
    fn a_cache_seen_once_still_holds_what_grows_where_it_grows() {
        let n = 12;
        let sites = [
            // Sampled once, early, then freed when it grew: no live bytes.
            site(
                0,
                "std::collections::hash::map::HashMap<alloc::string::String, alloc::sync::Arc<app::Program>>",
                "<app::Loader>::load",
                82,
                &[],
                &[
                    0.0,
                    0.3 * MIB,
                    0.3 * MIB,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                ],
            ),
            // Compiled from `load`; no `Arc<Program>` was sampled.
            site(
                1,
                "alloc::vec::Vec<app::Op>",
                "app::compile",
                62,
                &[("<app::Loader>::load", 81)],
                &linear(n, 2.0 * MIB),
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].members.iter().map(|m| m.id).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(holder(&groups[0]).map(|h| h.id), Some(0));
    }

    #[test]
    fn shared_error_comes_from_bytes_old_enough_to_be_in_both_snapshots() {
        let bounds = [1_000, 2_000, 5_000];
        // 1 MiB younger than 1 s, 1 MiB 1-2 s old, 2 MiB 2-5 s old.
        let ages = [MIB, MIB, 2.0 * MIB, 0.0];
        assert_eq!(share_older_than(&ages, &bounds, 0.0), 1.0);
        assert_eq!(share_older_than(&ages, &bounds, 1_000.0), 0.75);
        assert!((share_older_than(&ages, &bounds, 1_500.0) - 0.625).abs() < 1e-12);
        assert_eq!(share_older_than(&ages, &bounds, 5_000.0), 0.0);
        assert_eq!(share_older_than(&[0.0; 4], &bounds, 10.0), 0.0);
    }

    #[test]
    fn rates_read_in_the_unit_of_the_window() {
        assert_eq!(rate(1024.0, 60_000), (1024.0, "s"));
        assert_eq!(rate(1024.0, 600_000), (61_440.0, "min"));
        assert_eq!(rate(1.0, 86_400_000), (3600.0, "h"));
        assert_eq!(confidence(0.9999), ">99.9%");
        assert_eq!(confidence(0.95), "95.0%");
    }
}
