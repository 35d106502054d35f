//! Who holds what grows, read from the heap graph: the profiler records
//! which sampled blocks (and watched buffers) point at which (a snapshot's
//! `refs`), and a collection that holds a growing population is the one
//! whose blocks point at its members. Types and stacks name the holder;
//! they do not choose it.
//!
//! Over the later half of the window, the sites' edges are joined (each
//! edge at the most it was seen in one snapshot). A holding site that is
//! a population (a task per client, each holding its own buffers) is read
//! only where it was sampled: what its read blocks reach stands for what
//! all of them hold, scaled by the share read. The sites that grow are
//! the members; a site is a holder candidate when it accumulates: it
//! grows itself, or its buffers kept reaching new sizes, or it holds more
//! late than early. From each member, the edges are followed backwards
//! through candidates only, and never across an edge into a site of one
//! block (an owner of one object holds no population: above the
//! accumulation point, as Eclipse MAT calls it): a holder is the outermost
//! candidate reaching members (no other candidate reaches it unless it
//! reaches that one back), so the climb stops at the collection, below a
//! state object that owns it, whether that object grows or not. Each member goes to the holder that reaches the most member
//! bytes; a holder reaching no member but itself is no evidence, and its
//! members are left to the rules of `group`.

use std::collections::{HashMap, HashSet};

use heapsnap_format::snapshot::ScanState;

use super::group::Group;
use super::series::{Points, SiteTrend, is_growing};
use super::{HolderEvidence, Pointers};
use crate::load::Loaded;

/// One snapshot's references by (holding, held) site id.
type Refs = HashMap<(usize, usize), Seen>;

/// One snapshot's blocks by site id: how many the scan read, and how many
/// are live (estimated).
type Population = HashMap<usize, (u64, u64)>;

/// What one snapshot saw of one site's blocks pointing at another's.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// Blocks of the held site pointed at.
    held: u64,
    /// Of those, pointed at directly.
    direct: u64,
    /// The held blocks the holding site's pointers reach, estimated: each
    /// found one counted once per chance the scan had of following the
    /// way to it (a thinned scan finds a share).
    reached: f64,
    /// Blocks of the holding site seen pointing.
    holders: u64,
}

/// How many sites a chain from a member to its holder may pass through.
const MAX_DEPTH: usize = 8;

/// One site's blocks pointing at another's: as the snapshot that saw most
/// of the held site saw them, and pooled over the later half.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Edge {
    /// Blocks of the held site pointed at.
    held: u64,
    /// Of those, pointed at directly (not through unsampled memory).
    direct: u64,
    /// The held site's live samples and watched buffers in that snapshot.
    of: u64,
    /// The share of the ways to the held blocks the scan followed in that
    /// snapshot (1 when it followed all; see `Refs`).
    followed: f64,
    /// The share of the holding site's blocks the scan read in that
    /// snapshot, when it is a population seen pointing from several blocks
    /// (1 otherwise: see [`holding_share`]).
    holder_share: f64,
    /// Blocks reached (estimated, see [`Seen`], and scaled up by
    /// [`holding_share`]), summed over the scanned snapshots of the later
    /// half, and the held site's blocks summed over those in which the
    /// holding site had any.
    pooled_reached: f64,
    pooled_of: u64,
}

impl Edge {
    /// True when the edge says the holding site holds the held one: over
    /// the later half it points at most of its blocks (a holder reaches
    /// what it keeps, snapshot after snapshot; a word read next to an
    /// unsampled block, or a bounded cache of some of them, reaches a few,
    /// now and then), and either directly or at two blocks or more in one
    /// snapshot (one block reached through unsampled memory can be a
    /// neighbour's word). What a population of holders reaches counts
    /// scaled by the share of it read ([`holding_share`]).
    fn holds(&self) -> bool {
        self.pooled_reached * 2.0 > self.pooled_of as f64 && (self.direct > 0 || self.held >= 2)
    }

    /// True when the held site was one block wherever the edge was seen:
    /// the holding site owns one object (a state struct its collection, a
    /// box its log), it does not hold a population. The accumulation point
    /// is below such an edge, never above it.
    fn owns_one(&self) -> bool {
        self.of <= 1
    }
}

/// The heap graph of a run, by site (the ids of `SiteTrend`).
#[derive(Debug, Default)]
pub(super) struct Graph {
    /// Edges out of each site.
    out: HashMap<usize, Vec<(usize, Edge)>>,
    /// Sites with an edge into each site.
    into: HashMap<usize, Vec<usize>>,
    /// How the later half's scans went, for the report's notes.
    pub(super) coverage: Coverage,
}

/// How the scans of the snapshots a graph was built from went.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Coverage {
    /// Snapshots scanned (whole or stopped at the time limit).
    pub(super) scanned: usize,
    /// Of those, scans stopped at their time limit.
    pub(super) out_of_time: usize,
    /// Why the newest snapshot not scanned was not; `None` when it carries
    /// no scan at all (written before format version 3).
    pub(super) not_scanned: Option<Option<ScanState>>,
}

impl Graph {
    /// The graph of the later half of `snapshots`; `ids[k][i]` is the site
    /// id of site `i` of snapshot `k`.
    pub(super) fn new(snapshots: &[&Loaded], ids: &[Vec<usize>]) -> Graph {
        let mut graph = Graph::default();
        let mut edges: HashMap<(usize, usize), Edge> = HashMap::new();
        // Each scanned snapshot's blocks by site id (sites merged into one
        // id summed), and its references joined by ids.
        let mut seen_in: Vec<(HashMap<usize, u64>, Population, Refs)> = Vec::new();
        let n = snapshots.len();
        for (loaded, ids) in snapshots.iter().zip(ids).skip(n / 2) {
            let snapshot = &loaded.snapshot;
            let state = snapshot.scan.as_ref().map(|scan| scan.state);
            match state {
                Some(ScanState::Done) => {}
                Some(ScanState::OutOfTime) => graph.coverage.out_of_time += 1,
                _ => {
                    graph.coverage.not_scanned = Some(state);
                    continue;
                }
            }
            graph.coverage.scanned += 1;
            let inner = held_within_their_site(snapshot, ids);
            let mut blocks: HashMap<usize, u64> = HashMap::new();
            let mut population = Population::new();
            for ((site, &id), inner) in snapshot.sites.iter().zip(ids).zip(&inner) {
                if !inner {
                    *blocks.entry(id).or_default() += blocks_of(site);
                }
                let (read, live) = population.entry(id).or_default();
                *read += blocks_of(site);
                *live += site.live_allocs.max(blocks_of(site));
            }
            let mut refs = Refs::new();
            for r in &snapshot.refs {
                let (Some(&from), Some(&to)) = (ids.get(r.from as usize), ids.get(r.to as usize))
                else {
                    continue;
                };
                if from != to && !inner.get(r.to as usize).copied().unwrap_or(false) {
                    let joined = refs.entry((from, to)).or_default();
                    joined.held += r.held;
                    joined.direct += r.direct;
                    joined.reached += r.held as f64 / r.followed;
                    joined.holders += r.holders;
                }
            }
            for (&key, seen) in &refs {
                let of = blocks.get(&key.1).copied().unwrap_or(0).max(seen.held);
                // The snapshot that saw most of the held site says most.
                let edge = edges.entry(key).or_default();
                if (of, seen.held) > (edge.of, edge.held) {
                    (edge.held, edge.direct, edge.of) = (seen.held, seen.direct, of);
                    edge.followed = seen.held as f64 / seen.reached.max(seen.held as f64);
                    edge.holder_share = holding_share(seen, population.get(&key.0));
                }
            }
            seen_in.push((blocks, population, refs));
        }
        for (&(from, to), edge) in &mut edges {
            for (blocks, population, refs) in &seen_in {
                let seen = refs.get(&(from, to)).copied().unwrap_or_default();
                if blocks.get(&from).is_some_and(|&b| b > 0) || seen.held > 0 {
                    let of = blocks.get(&to).copied().unwrap_or(0).max(seen.held);
                    let share = holding_share(&seen, population.get(&from));
                    edge.pooled_of += of;
                    edge.pooled_reached += (seen.reached / share).min(of as f64);
                }
            }
        }
        for ((from, to), edge) in edges {
            if !edge.holds() {
                continue;
            }
            graph.out.entry(from).or_default().push((to, edge));
            graph.into.entry(to).or_default().push(from);
        }
        for list in graph.out.values_mut() {
            list.sort_by_key(|&(to, _)| to);
        }
        for list in graph.into.values_mut() {
            list.sort_unstable();
        }
        graph
    }

    /// Some snapshot of the later half was scanned.
    pub(super) fn scanned(&self) -> bool {
        self.coverage.scanned > 0
    }

    /// The edge from `from` to `to`, if the graph has one.
    fn edge(&self, from: usize, to: usize) -> Option<Edge> {
        let out = self.out.get(&from)?;
        let at = out.binary_search_by_key(&to, |&(to, _)| to).ok()?;
        Some(out[at].1)
    }

    /// The sites `from` reaches through sites `within` accepts, itself
    /// included.
    fn reach(&self, from: usize, within: &impl Fn(usize) -> bool) -> HashSet<usize> {
        let mut seen = HashSet::from([from]);
        let mut frontier = vec![from];
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for site in frontier {
                for &(to, _) in self.out.get(&site).into_iter().flatten() {
                    if within(to) && seen.insert(to) {
                        next.push(to);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        seen
    }
}

/// Which of a snapshot's sites are held by another part of their own site
/// id: one function's allocations of one type are one site to the
/// analysis, and a map of maps built in one function, or a B-tree whose
/// root node points at the other nodes, holds part of its own site. Those
/// parts are reached through the rest, so an edge into the site is weighed
/// by the parts reached from outside it (a channel's blocks point at each
/// message's root node, not at the nodes below it). A site whose every
/// part is held by another (a cycle) keeps them all.
fn held_within_their_site(
    snapshot: &heapsnap_format::snapshot::Snapshot,
    ids: &[usize],
) -> Vec<bool> {
    let blocks = |i: u32| snapshot.sites.get(i as usize).map_or(0, blocks_of);
    let mut inner = vec![false; snapshot.sites.len()];
    for r in &snapshot.refs {
        let same_id = r.from != r.to
            && ids.get(r.from as usize).is_some()
            && ids.get(r.from as usize) == ids.get(r.to as usize);
        let reached = r.held as f64 / r.followed;
        if same_id
            && reached * 2.0 > blocks(r.to) as f64
            && let Some(flag) = inner.get_mut(r.to as usize)
        {
            *flag = true;
        }
    }
    // Every site id keeps at least one part of its own.
    let outer: HashSet<usize> = ids
        .iter()
        .zip(&inner)
        .enumerate()
        .filter(|&(i, (_, &held))| !held && blocks(i as u32) > 0)
        .map(|(_, (&id, _))| id)
        .collect();
    for (flag, id) in inner.iter_mut().zip(ids) {
        *flag &= outer.contains(id);
    }
    inner
}

/// The share of a holding site's blocks that the scan read, by which what
/// they were seen reaching is scaled up, given the site's blocks read and
/// live (estimated) in one snapshot. A population of holders, each holding
/// its own few members (a task its buffers, a channel block its messages),
/// is sampled like any other site: the few of its blocks sampled reach the
/// few members they hold, and the rest reach theirs unseen. A holder seen
/// pointing from one block is judged on what that block reaches (1): one
/// word of one block scaled up by a population is no evidence.
fn holding_share(seen: &Seen, population: Option<&(u64, u64)>) -> f64 {
    match population {
        Some(&(read, live)) if seen.holders >= 2 && read > 0 && live > read => {
            read as f64 / live as f64
        }
        _ => 1.0,
    }
}

/// A site's blocks the scan reads: its live samples and watched buffers.
fn blocks_of(site: &heapsnap_format::snapshot::Site) -> u64 {
    site.live_samples + site.watched
}

/// A site that may hold a growing population: it grows, or keeps taking
/// in more.
fn accumulates(site: &SiteTrend) -> bool {
    is_growing(site) || site.grows_late() || site.retention == super::series::Retention::Highs
}

/// The groups the heap graph shows: each holder with the growing sites it
/// reaches. `sites` are indexed by their ids. Returns the groups and
/// which sites they took (the rest are for the rules of `group`).
pub(super) fn groups<'a>(sites: &[&'a SiteTrend], graph: &Graph) -> (Vec<Group<'a>>, Vec<bool>) {
    let mut taken = vec![false; sites.len()];
    if graph.out.is_empty() {
        return (Vec::new(), taken);
    }
    let by_id = |id: usize| sites.get(id).copied().filter(|s| s.id == id);
    let candidate = |id: usize| by_id(id).is_some_and(accumulates);
    let members: Vec<usize> = sites
        .iter()
        .filter(|s| is_growing(s) && s.points.last().is_some_and(|p| p.samples > 0.0))
        .map(|s| s.id)
        .collect();
    let member_set: HashSet<usize> = members.iter().copied().collect();
    // A site pointing at several blocks of a growing site holds a growing
    // population, whether its own bytes grew or not: a hash table's buffer
    // doubles rarely, and between doublings its bytes are flat (what it
    // retains grows, as Eclipse MAT reads an accumulation point).
    let holds_growing = |parent: usize, site: usize| {
        member_set.contains(&site) && graph.edge(parent, site).is_some_and(|e| e.held >= 2)
    };
    // Every candidate above a member, and the member itself.
    let mut involved: HashSet<usize> = HashSet::new();
    for &member in &members {
        let mut frontier = vec![member];
        involved.insert(member);
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for site in frontier {
                for &parent in graph.into.get(&site).into_iter().flatten() {
                    let owns_one = graph.edge(parent, site).is_some_and(|e| e.owns_one());
                    let holds = candidate(parent) || holds_growing(parent, site);
                    if !owns_one && holds && involved.insert(parent) {
                        next.push(parent);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    }
    let within = |id: usize| involved.contains(&id);
    let mut ordered: Vec<usize> = involved.iter().copied().collect();
    ordered.sort_unstable();
    let reach: HashMap<usize, HashSet<usize>> = ordered
        .iter()
        .map(|&id| (id, graph.reach(id, &within)))
        .collect();
    // The outermost: reached by no other unless it reaches that one too.
    let holders: Vec<usize> = ordered
        .iter()
        .copied()
        .filter(|&h| {
            ordered.iter().all(|&other| {
                other == h || !reach[&other].contains(&h) || reach[&h].contains(&other)
            })
        })
        .collect();
    let bytes = |id: usize| by_id(id).map_or(0.0, |s| s.points.last_bytes().max(0.0));
    let weight = |h: usize| -> f64 {
        reach[&h]
            .iter()
            .filter(|m| member_set.contains(m))
            .map(|&m| bytes(m))
            .sum()
    };
    // Each member to the holder reaching the most member bytes; among
    // holders of one cycle, the one with the most direct evidence.
    let mut assigned: HashMap<usize, Vec<usize>> = HashMap::new();
    for &member in &members {
        let best = holders
            .iter()
            .copied()
            .filter(|h| reach[h].contains(&member) && reach[h].len() > 1)
            .max_by(|&a, &b| {
                weight(a)
                    .total_cmp(&weight(b))
                    .then_with(|| {
                        evidence_of(graph, a, &reach[&a], &member_set, sites)
                            .cmp_key()
                            .cmp(&evidence_of(graph, b, &reach[&b], &member_set, sites).cmp_key())
                    })
                    .then(b.cmp(&a))
            });
        if let Some(holder) = best {
            assigned.entry(holder).or_default().push(member);
        }
    }
    let mut groups = Vec::new();
    let mut holders_used: Vec<usize> = assigned.keys().copied().collect();
    holders_used.sort_unstable();
    for holder in holders_used {
        let mut ids = assigned.remove(&holder).unwrap_or_default();
        ids.sort_by(|&a, &b| bytes(b).total_cmp(&bytes(a)).then(a.cmp(&b)));
        let Some(anchor) = by_id(holder) else {
            continue;
        };
        let pointers = evidence_of(graph, holder, &reach[&holder], &member_set, sites);
        for &id in &ids {
            taken[id] = true;
        }
        taken[holder] = true;
        let members: Vec<&SiteTrend> = ids.iter().filter_map(|&id| by_id(id)).collect();
        let unseen_holders = if member_set.contains(&holder) {
            Vec::new()
        } else {
            vec![anchor]
        };
        groups.push(Group {
            anchor: Some(anchor),
            members,
            unseen_holders,
            evidence: Some(HolderEvidence::Pointers(pointers)),
        });
    }
    // Sites that grew and that no reference reached join a group whose
    // collections hold their type (an `Arc<Conn>` no sampled table was
    // seen pointing at, beside the `HashSet<Arc<Conn>>`s that were), or
    // one of whose members was allocated by the same call (the name
    // `String` a connection's constructor made beside its buffer, which
    // the references reached): the holder stays the one the references
    // chose.
    for site in sites {
        if taken[site.id] || site.points.growth() <= 0.0 {
            continue;
        }
        let holds_it = |group: &Group<'_>| {
            group
                .anchor
                .into_iter()
                .chain(group.members.iter().copied())
                .any(|c| c.holding.elements.iter().any(|e| **e == *site.latest.ty))
                || group
                    .members
                    .iter()
                    .any(|m| m.latest.call() == site.latest.call())
        };
        if let Some(group) = groups.iter_mut().find(|g| holds_it(g)) {
            group.members.push(site);
            taken[site.id] = true;
        }
    }
    (groups, taken)
}

/// What the holder's blocks point at: of the members it points at itself
/// (not through another site), the one with the most bytes; failing that
/// (every member reached through another site), the site it points at on
/// the way.
fn evidence_of(
    graph: &Graph,
    holder: usize,
    reach: &HashSet<usize>,
    members: &HashSet<usize>,
    sites: &[&SiteTrend],
) -> Pointers {
    let outs = graph.out.get(&holder).map_or(&[][..], Vec::as_slice);
    let bytes = |id: usize| {
        sites
            .get(id)
            .map_or(0.0, |s| s.points.last_bytes().max(0.0))
    };
    let pick = outs
        .iter()
        .filter(|(to, _)| members.contains(to) && reach.contains(to))
        .max_by(|a, b| bytes(a.0).total_cmp(&bytes(b.0)).then(b.0.cmp(&a.0)))
        .or_else(|| {
            outs.iter()
                .filter(|(to, _)| reach.contains(to))
                .max_by(|a, b| a.1.held.cmp(&b.1.held).then(b.0.cmp(&a.0)))
        });
    let Some(&(to, edge)) = pick else {
        return Pointers {
            followed: 1.0,
            holder_share: 1.0,
            ..Pointers::default()
        };
    };
    let held = sites.get(to).copied();
    Pointers {
        ty: held.map(|s| s.latest.ty.to_string()).unwrap_or_default(),
        function: held
            .map(|s| s.latest.location.function.to_string())
            .unwrap_or_default(),
        held: edge.held,
        of: edge.of.max(edge.held),
        through_unsampled: edge.direct == 0,
        followed: edge.followed,
        holder_share: edge.holder_share,
        members_reached: reach
            .iter()
            .filter(|m| members.contains(m) && **m != holder)
            .count(),
    }
}

impl Pointers {
    /// Orders evidence: more held, then more of them direct.
    fn cmp_key(&self) -> (u64, bool) {
        (self.held, !self.through_unsampled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::series::Retention;
    use crate::leaks::tests::{MIB, flat, linear, site};
    use heapsnap_format::snapshot::{Ref, Scan, Snapshot};

    fn graph(edges: &[(usize, usize, u64, u64)]) -> Graph {
        let mut graph = Graph {
            coverage: Coverage {
                scanned: 2,
                ..Coverage::default()
            },
            ..Graph::default()
        };
        for &(from, to, held, direct) in edges {
            let edge = Edge {
                held,
                direct,
                of: held + 2,
                followed: 1.0,
                holder_share: 1.0,
                pooled_reached: held as f64,
                pooled_of: held + 2,
            };
            graph.out.entry(from).or_default().push((to, edge));
            graph.into.entry(to).or_default().push(from);
        }
        for list in graph.out.values_mut() {
            list.sort_by_key(|&(to, _)| to);
        }
        graph
    }

    /// A log kept in a box kept in a list of parts (each one block, the
    /// list taking in a part late): the log's buffer holds the entries,
    /// not the list that owns the box that owns the log.
    #[test]
    fn the_climb_stops_at_an_owner_of_one_object() {
        let mut parts = site(
            0,
            "Vec<Box<dyn Any + Send>>",
            "app::main",
            1,
            &[],
            &flat(12, 0.001 * MIB),
        );
        parts.retention = Retention::Highs;
        parts.late_high = true;
        // Made after the first snapshot: it took in more late, as a holder
        // does.
        let mut log = site(
            1,
            "Box<app::Log>",
            "app::Log::new",
            2,
            &[],
            &flat(12, 0.0001 * MIB),
        );
        log.late_high = true;
        let mut buffer = site(2, "Vec<String>", "app::Log::push", 3, &[], &flat(12, 0.0));
        buffer.retention = Retention::Highs;
        buffer.late_high = true;
        let entries = site(3, "String", "app::Log::push", 4, &[], &linear(12, MIB));
        let sites = [&parts, &log, &buffer, &entries];
        let mut graph = graph(&[(0, 1, 1, 1), (1, 2, 1, 1), (2, 3, 40, 40)]);
        for (from, to) in [(0, 1), (1, 2)] {
            for edge in graph.out.get_mut(&from).into_iter().flatten() {
                if edge.0 == to {
                    edge.1.of = 1;
                }
            }
        }
        let (groups, taken) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].anchor.map(|a| a.id), Some(2));
        assert_eq!(taken, [false, false, true, true]);
    }

    /// A session map's table (growing) points at the bodies (growing); a
    /// bounded cache of other bodies, and the state object that holds the
    /// map (neither growing), are no holders.
    #[test]
    fn the_table_that_points_at_the_growing_bodies_holds_them() {
        let table = site(
            0,
            "hashbrown::map::HashMap<u64, alloc::vec::Vec<u8>>",
            "app::SessionStore::open",
            20,
            &[],
            &linear(12, 0.1 * MIB),
        );
        let bodies = site(
            1,
            "alloc::vec::Vec<u8>",
            "app::read_request_body",
            30,
            &[("app::open", 40)],
            &linear(12, MIB),
        );
        let cache = site(
            2,
            "alloc::collections::VecDeque<alloc::vec::Vec<u8>>",
            "app::Recent::remember",
            50,
            &[],
            &flat(12, 0.2 * MIB),
        );
        let state = site(
            3,
            "app::State",
            "app::main",
            60,
            &[],
            &flat(12, 0.001 * MIB),
        );
        let sites = [&table, &bodies, &cache, &state];
        let graph = graph(&[(0, 1, 31, 31), (3, 0, 1, 1), (2, 1, 2, 2)]);
        let (groups, taken) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        let group = &groups[0];
        assert_eq!(group.anchor.map(|a| a.id), Some(0));
        let ids: Vec<usize> = group.members.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 0]);
        assert_eq!(taken, [true, true, false, false]);
        let Some(HolderEvidence::Pointers(p)) = &group.evidence else {
            panic!("no evidence")
        };
        assert_eq!((p.held, p.of, p.through_unsampled), (31, 33, false));
        assert_eq!(p.ty, "Vec<u8>");
    }

    /// A registry's table, one block whose size last doubled before the
    /// window's later half (flat bytes, no new highs), points at most of
    /// the growing contexts: it holds them. A state object pointing at one
    /// block of a growing site holds no population of it.
    #[test]
    fn a_table_that_did_not_grow_in_the_window_still_holds_what_grows() {
        let mut table = site(
            0,
            "HashMap<String, HashSet<Arc<app::Conn>>>",
            "app::Ips::bind",
            20,
            &[],
            &flat(12, 1.3 * MIB),
        );
        table.retention = Retention::Samples;
        let contexts = site(
            1,
            "alloc::vec::Vec<u8>",
            "app::Conn::new",
            30,
            &[],
            &linear(12, MIB),
        );
        let state = site(
            2,
            "app::State",
            "app::main",
            40,
            &[],
            &flat(12, 0.001 * MIB),
        );
        let sites = [&table, &contexts, &state];
        let graph = graph(&[(0, 1, 88, 0), (2, 1, 1, 1)]);
        let (groups, taken) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].anchor.map(|a| a.id), Some(0));
        assert_eq!(taken, [true, true, false]);
    }

    /// A list of closures whose buffer is only watched (no bytes of its
    /// own, its highs doubling) reaches the contexts' maps and buffers
    /// through unsampled memory: it holds both.
    #[test]
    fn a_watched_list_holds_what_its_closures_reach() {
        let mut list = site(
            0,
            "alloc::vec::Vec<(u64, alloc::boxed::Box<dyn Fn>)>",
            "app::EventBus::subscribe",
            20,
            &[],
            &flat(12, 0.0),
        );
        list.retention = Retention::Highs;
        list.late_high = true;
        let maps = site(
            1,
            "hashbrown::map::HashMap<String, String>",
            "app::context",
            30,
            &[],
            &linear(12, 0.5 * MIB),
        );
        let trace = site(
            2,
            "alloc::vec::Vec<u8>",
            "app::context",
            31,
            &[],
            &linear(12, MIB),
        );
        let sites = [&list, &maps, &trace];
        let graph = graph(&[(0, 1, 20, 0), (0, 2, 40, 0)]);
        let (groups, _) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].anchor.map(|a| a.id), Some(0));
        assert_eq!(groups[0].unseen_holders.len(), 1, "the list adds no bytes");
        let Some(HolderEvidence::Pointers(p)) = &groups[0].evidence else {
            panic!()
        };
        assert!(p.through_unsampled);
        assert_eq!(p.ty, "Vec<u8>");
        assert_eq!(p.members_reached, 2);
    }

    /// Nested: the outer map (growing) points at inner sets (growing), which
    /// point at the contexts: the outer map holds all of them.
    #[test]
    fn the_outermost_growing_collection_holds_the_nested_ones() {
        let outer = site(
            0,
            "HashMap<String, HashSet<Arc<app::Conn>>>",
            "app::Ips::bind",
            20,
            &[],
            &linear(12, 0.1 * MIB),
        );
        let inner = site(
            1,
            "HashSet<Arc<app::Conn>>",
            "app::Ips::bind",
            21,
            &[],
            &linear(12, 0.2 * MIB),
        );
        let conns = site(
            2,
            "Arc<app::Conn>",
            "app::Gateway::handle",
            30,
            &[],
            &linear(12, MIB),
        );
        let sites = [&outer, &inner, &conns];
        let graph = graph(&[(0, 1, 5, 5), (1, 2, 30, 30)]);
        let (groups, _) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].anchor.map(|a| a.id), Some(0));
        assert_eq!(groups[0].members.len(), 3);
    }

    /// Two leaks that do not point at each other are two groups; a growing
    /// site no edge reaches is left to the rules.
    #[test]
    fn unrelated_populations_are_separate_and_unseen_ones_are_left() {
        let a = site(0, "Vec<app::A>", "app::a", 1, &[], &linear(12, 0.1 * MIB));
        let a_items = site(1, "Vec<u8>", "app::make_a", 2, &[], &linear(12, MIB));
        let b = site(2, "Vec<app::B>", "app::b", 3, &[], &linear(12, 0.1 * MIB));
        let b_items = site(3, "String", "app::make_b", 4, &[], &linear(12, 0.5 * MIB));
        let lone = site(4, "Vec<u64>", "app::lone", 5, &[], &linear(12, MIB));
        let sites = [&a, &a_items, &b, &b_items, &lone];
        let graph = graph(&[(0, 1, 9, 9), (2, 3, 7, 7)]);
        let (groups, taken) = groups(&sites, &graph);
        let anchors: Vec<usize> = groups
            .iter()
            .filter_map(|g| g.anchor.map(|a| a.id))
            .collect();
        assert_eq!(anchors, [0, 2]);
        assert_eq!(taken, [true, true, true, true, false]);
    }

    /// A steady object that points at a growing collection (the state that
    /// owns the registry) is above the accumulation point: not the holder.
    /// Growing sites no edge reaches join the group whose collections
    /// hold their type.
    #[test]
    fn what_the_holders_type_holds_joins_it_without_an_edge() {
        let map = site(
            0,
            "HashMap<String, HashSet<alloc::sync::Arc<app::Conn>>>",
            "app::Ips::bind",
            20,
            &[],
            &linear(12, 0.1 * MIB),
        );
        let buffers = site(
            1,
            "alloc::vec::Vec<u8>",
            "app::Conn::new",
            30,
            &[],
            &linear(12, MIB),
        );
        let conns = site(
            2,
            "alloc::sync::Arc<app::Conn>",
            "app::Gateway::handle",
            40,
            &[],
            &linear(12, 0.3 * MIB),
        );
        let sites = [&map, &buffers, &conns];
        let graph = graph(&[(0, 1, 25, 0)]);
        let (groups, taken) = groups(&sites, &graph);
        assert_eq!(groups.len(), 1);
        let ids: Vec<usize> = groups[0].members.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 0, 2]);
        assert_eq!(taken, [true, true, true]);
    }

    /// A constructor's other part (the name `String` beside the buffer),
    /// growing but reached by no reference, joins the group of the part
    /// the references reached: the same call allocated both.
    #[test]
    fn a_part_allocated_by_the_same_call_joins_the_group() {
        let registry = site(
            0,
            "HashMap<String, Arc<app::Conn>>",
            "app::Registry::add",
            20,
            &[],
            &flat(12, 1.3 * MIB),
        );
        let buffers = site(
            1,
            "alloc::vec::Vec<u8>",
            "app::Conn::new",
            30,
            &[("app::accept", 9)],
            &linear(12, MIB),
        );
        let names = site(
            2,
            "alloc::string::String",
            "app::Conn::new",
            31,
            &[("app::accept", 9)],
            &linear(12, 0.1 * MIB),
        );
        let elsewhere = site(
            3,
            "alloc::string::String",
            "app::Conn::new",
            31,
            &[("app::replay", 70)],
            &linear(12, 0.1 * MIB),
        );
        let sites = [&registry, &buffers, &names, &elsewhere];
        let (groups, taken) = groups(&sites, &graph(&[(0, 1, 40, 0)]));
        assert_eq!(groups.len(), 1);
        let ids: Vec<usize> = groups[0].members.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(taken, [true, true, true, false]);
    }

    /// Evidence is weighed over the later half: three of four blocks in
    /// one snapshot, one of three in the others, is a word now and then,
    /// not a holder.
    #[test]
    fn a_holder_reaches_most_of_the_blocks_over_the_later_half() {
        let now_and_then = Edge {
            held: 3,
            direct: 0,
            of: 4,
            followed: 1.0,
            holder_share: 1.0,
            pooled_reached: 8.0,
            pooled_of: 22,
        };
        assert!(!now_and_then.holds());
        let keeps = Edge {
            pooled_reached: 15.0,
            ..now_and_then
        };
        assert!(keeps.holds());
        // One block through unsampled memory is no evidence, however often.
        let one = Edge {
            held: 1,
            direct: 0,
            of: 1,
            followed: 1.0,
            holder_share: 1.0,
            pooled_reached: 9.0,
            pooled_of: 9,
        };
        assert!(!one.holds());
    }

    /// Two scanned snapshots of sites with `samples` live samples each
    /// (each sample one block), and `refs` between them.
    fn scanned_sites(samples: &[u64], refs: Vec<Ref>) -> [Loaded; 2] {
        let whole: Vec<(u64, u64)> = samples.iter().map(|&n| (n, n)).collect();
        scanned_populations(&whole, refs)
    }

    /// Two scanned snapshots of sites with (live samples, live blocks
    /// estimated) each, and `refs` between them.
    fn scanned_populations(sites: &[(u64, u64)], refs: Vec<Ref>) -> [Loaded; 2] {
        let base = include_str!("../../tests/data/snapshots/quickstart.json");
        let mut snapshot: Snapshot = serde_json::from_str(base).unwrap();
        let site = snapshot.sites[0].clone();
        snapshot.sites = sites
            .iter()
            .map(|&(live_samples, live_allocs)| {
                let mut site = site.clone();
                (site.live_samples, site.live_allocs) = (live_samples, live_allocs);
                site
            })
            .collect();
        snapshot.refs = refs;
        let mut scan = Scan::default();
        scan.state = ScanState::Done;
        snapshot.scan = Some(scan);
        let loaded = |snapshot| Loaded {
            source: "scanned.json".into(),
            snapshot,
        };
        [loaded(snapshot.clone()), loaded(snapshot)]
    }

    /// Two scanned snapshots of a holding site (one block) and a held one
    /// (100 blocks), `held` of them found through unsampled memory at the
    /// chance `followed`.
    fn scanned(held: u64, followed: f64) -> [Loaded; 2] {
        let mut r = Ref::default();
        (r.from, r.to, r.holders, r.held, r.followed) = (0, 1, 1, held, followed);
        scanned_sites(&[1, 100], vec![r])
    }

    /// The graph says how the scans of the later half went: how many ran,
    /// how many stopped at their time limit, and why the newest one that
    /// did not run did not (none recorded in files before version 3).
    #[test]
    fn the_graph_says_how_the_later_halfs_scans_went() {
        let with = |states: &[Option<ScanState>]| {
            let [base, _] = scanned_sites(&[1, 100], Vec::new());
            let loaded: Vec<Loaded> = states
                .iter()
                .map(|state| {
                    let mut one = Loaded {
                        source: base.source.clone(),
                        snapshot: base.snapshot.clone(),
                    };
                    one.snapshot.scan = state.map(|state| {
                        let mut scan = Scan::default();
                        scan.state = state;
                        scan
                    });
                    one
                })
                .collect();
            let all: Vec<&Loaded> = loaded.iter().collect();
            Graph::new(&all, &vec![vec![0, 1]; states.len()]).coverage
        };
        let (done, late) = (Some(ScanState::Done), Some(ScanState::OutOfTime));
        // The earlier half (refused) is not judged.
        let refused = Some(ScanState::Refused);
        assert_eq!(
            with(&[refused, refused, late, done]),
            Coverage {
                scanned: 2,
                out_of_time: 1,
                not_scanned: None,
            }
        );
        assert_eq!(
            with(&[done, done, refused, Some(ScanState::Off)]),
            Coverage {
                scanned: 0,
                out_of_time: 0,
                not_scanned: Some(Some(ScanState::Off)),
            }
        );
        assert_eq!(with(&[None, None]).not_scanned, Some(None));
    }

    /// A scan over its budget follows a share of the unsampled places: a
    /// holder whose pointers were followed 40% of the time and found 45 of
    /// 100 members reaches them all; a site found pointing at 27 of 100
    /// with every way followed does not hold them.
    #[test]
    fn a_thinned_scan_counts_what_it_could_not_follow() {
        let edge = |held, followed| {
            let [a, b] = scanned(held, followed);
            Graph::new(&[&a, &b], &[vec![0, 1], vec![0, 1]]).edge(0, 1)
        };
        // The share followed is the scan's, not what the cap leaves of it.
        let thinned = edge(45, 0.4).expect("a thinned holder holds");
        assert!(
            (thinned.followed - 0.4).abs() < 1e-9,
            "{}",
            thinned.followed
        );
        assert!(edge(45, 1.0).is_none());
        assert!(edge(27, 1.0).is_none());
        assert!(edge(60, 1.0).is_some());
    }

    /// Tasks, each holding its own buffer, sampled one in a hundred: the
    /// ten sampled tasks reach five of the hundred sampled buffers (a task
    /// and its buffer are sampled apart). Scaled by the share of the tasks
    /// read, they hold them all. The same five reached from one block, or
    /// from a site whose every block was read, are no holding.
    #[test]
    fn a_population_of_holders_holds_what_its_sampled_blocks_reach() {
        let edge = |holders: u64, tasks_live: u64| {
            let mut r = Ref::default();
            (r.from, r.to, r.holders, r.held, r.direct) = (0, 1, holders, 5, 5);
            let [a, b] = scanned_populations(&[(10, tasks_live), (100, 100)], vec![r]);
            Graph::new(&[&a, &b], &[vec![0, 1], vec![0, 1]]).edge(0, 1)
        };
        let tasks = edge(5, 1000).expect("the tasks hold their buffers");
        assert!((tasks.holder_share - 0.01).abs() < 1e-9, "{tasks:?}");
        assert!(edge(1, 1000).is_none(), "one block is not a population");
        assert!(edge(5, 10).is_none(), "every task was read");
    }

    /// A channel's blocks point at each message's root node; each root
    /// node points at a nested map's node, allocated by the same function
    /// (one site id, two sites of the snapshot). The blocks reach the
    /// nested nodes through the roots: they hold the whole site, though
    /// they point at half its blocks. Without the roots' edge, half is
    /// not most.
    #[test]
    fn a_site_holding_part_of_itself_is_reached_through_that_part() {
        let edge = |nested_held_by_roots: bool| {
            let mut into_roots = Ref::default();
            (into_roots.from, into_roots.to, into_roots.holders) = (0, 1, 10);
            (into_roots.held, into_roots.direct) = (98, 98);
            let mut into_nested = into_roots.clone();
            (into_nested.from, into_nested.to, into_nested.holders) = (1, 2, 98);
            let mut refs = vec![into_roots];
            if nested_held_by_roots {
                refs.push(into_nested);
            }
            let [a, b] = scanned_sites(&[10, 100, 100], refs);
            // Sites 1 and 2 are one id: one function's nodes.
            Graph::new(&[&a, &b], &[vec![0, 1, 1], vec![0, 1, 1]]).edge(0, 1)
        };
        let through_roots = edge(true).expect("the blocks hold the nodes");
        assert_eq!((through_roots.held, through_roots.of), (98, 100));
        assert!(edge(false).is_none(), "98 of 200 is not most");
    }

    #[test]
    fn the_climb_stops_below_what_does_not_grow() {
        let state = site(
            0,
            "Arc<app::AppState>",
            "app::main",
            1,
            &[],
            &flat(12, 0.01 * MIB),
        );
        let registry = site(
            1,
            "HashMap<u64, Arc<app::Conn>>",
            "app::Registry::add",
            2,
            &[],
            &linear(12, 0.2 * MIB),
        );
        let conns = site(2, "Arc<app::Conn>", "app::accept", 3, &[], &linear(12, MIB));
        let sites = [&state, &registry, &conns];
        let graph = graph(&[(0, 1, 1, 1), (1, 2, 40, 40)]);
        let (groups, taken) = groups(&sites, &graph);
        assert_eq!(groups[0].anchor.map(|a| a.id), Some(1));
        assert!(!taken[0]);
    }
}
