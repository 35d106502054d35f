//! Which sites leak together, and which of them holds the others.
//!
//! Without a heap graph, structural signals join sites that leak together,
//! around each collection whose element type names a program type:
//! - by type: a `HashSet<Arc<ChannelContext>>` holds the sites that
//!   allocate `Arc<ChannelContext>`;
//! - by construction: a site whose stack passes through the line where such
//!   an element is allocated (`Arc::new(ChannelContext::new(..))`) was
//!   allocated while building it (its buffers, its strings);
//! - by place: allocated in the holder's own function, or in one it calls
//!   directly;
//! - by owner: allocated by a method of the element's type.
//!
//! Growing sites left over are grouped by the function that allocated them,
//! and by construction.

use std::collections::{HashMap, HashSet};

use super::HolderEvidence;
use super::holding::pointee;
use super::series::{Call, Points, Retention, SiteTrend};
use crate::trend::Verdict;

/// Sites that leak together, and the collections that may hold them.
pub(super) struct Group<'a> {
    /// The collection the group was formed around, if any.
    pub(super) anchor: Option<&'a SiteTrend>,
    /// Sites that grew: their series add up to the group's.
    pub(super) members: Vec<&'a SiteTrend>,
    /// Collections holding the members' types that did not grow in the
    /// samples (their current buffer was not sampled, only an earlier
    /// one): they name the group, and add nothing to its bytes.
    pub(super) unseen_holders: Vec<&'a SiteTrend>,
    /// What shows that the anchor holds the members, when the heap graph
    /// does (see `graph`); `None` for a group formed by these rules.
    pub(super) evidence: Option<HolderEvidence>,
}

/// Sites that leak together (see the module docs): first around each
/// collection that holds a program type and keeps what it holds, those
/// with the strongest evidence of keeping first, largest growth first
/// among them, then by allocating function and construction. Only sites that grew are members;
/// each joins one group at most.
pub(super) fn groups<'a>(sites: &[&'a SiteTrend]) -> Vec<Group<'a>> {
    let mut order: Vec<&'a SiteTrend> = sites.to_vec();
    order.sort_by(|a, b| {
        b.points
            .growth()
            .total_cmp(&a.points.growth())
            .then_with(|| a.latest.type_full.cmp(&b.latest.type_full))
            .then_with(|| a.latest.location.function.cmp(&b.latest.location.function))
    });
    let index = SiteIndex::new(&order);
    let mut claims = Claims::new(&order);
    // Collections whose samples show they keep what they hold are tried as
    // anchors first, then those whose buffers only reached new sizes (a
    // list rebuilt for each health check does that too, as what it lists
    // grows), each in the order of growth.
    let mut anchors: Vec<usize> = (0..order.len()).collect();
    anchors.sort_by_key(|&i| std::cmp::Reverse(order[i].retention));
    let mut groups: Vec<Group<'a>> = anchors
        .into_iter()
        .filter_map(|anchor| group_around(anchor, &order, &index, &mut claims))
        .collect();
    groups.extend(leftover_groups(&order, &claims.taken));
    groups
}

/// Which sites grouping has used so far.
struct Claims {
    /// The site grew over the series.
    grew: Vec<bool>,
    /// The site is a member of a group (sites that did not grow never are:
    /// they start taken).
    taken: Vec<bool>,
    /// The site names a group as its holder.
    holder: Vec<bool>,
}

impl Claims {
    fn new(order: &[&SiteTrend]) -> Claims {
        let grew: Vec<bool> = order.iter().map(|s| s.points.growth() > 0.0).collect();
        Claims {
            taken: grew.iter().map(|g| !g).collect(),
            holder: vec![false; order.len()],
            grew,
        }
    }
}

/// The group around the collection `anchor`, if it holds a program type and
/// something grew with it.
fn group_around<'a>(
    anchor: usize,
    order: &[&'a SiteTrend],
    index: &SiteIndex<'_>,
    claims: &mut Claims,
) -> Option<Group<'a>> {
    let elements = &order[anchor].holding.elements;
    // A collection holds what it keeps: one whose samples outlived a
    // snapshot interval or whose buffers kept growing, or one that grew in
    // the samples and was never seen to let go. One built for a health
    // check and dropped again holds nothing.
    let may_hold = |i: usize| {
        order[i].retains() || (claims.grew[i] && order[i].retention != Retention::DiesYoung)
    };
    if (claims.grew[anchor] && claims.taken[anchor])
        || claims.holder[anchor]
        || elements.is_empty()
        || !may_hold(anchor)
        || part_of_a_held_value(order[anchor], anchor, index, may_hold)
    {
        return None;
    }
    // By type, through nested collections: a map of sets of `Arc<T>` holds
    // the sets, which hold the `Arc<T>`s.
    // Where several collections hold the same type, each site goes to the
    // one whose calls it shares most (a session built for the leaking store
    // is not the bounded store's).
    let closest = |i: usize, rivals: &[usize]| {
        let mine = affinity(order[i], order[anchor]);
        rivals
            .iter()
            .filter(|&&r| r != anchor && may_hold(r))
            .all(|&r| affinity(order[i], order[r]) <= mine)
    };
    let mut members = Vec::new();
    let mut element_places: HashSet<(&str, Option<u32>)> = HashSet::new();
    for i in SiteIndex::lookup(&index.by_type, elements.iter().map(String::as_str)) {
        let rivals = index.by_element.get(&*order[i].latest.ty);
        if i != anchor && !claims.taken[i] && closest(i, rivals.map_or(&[], Vec::as_slice)) {
            claims.taken[i] = true;
            members.push(order[i]);
            let l = &order[i].latest.location;
            element_places.insert((&*l.function, l.line));
        }
    }
    // What else joins: allocated while building an element, where the
    // collection grows, by the element type's methods, or beside the
    // collection's own growth (the value built in the function that
    // inserts it). A collection of values with none of that (`Vec<Op>`)
    // holds no other site: it is no anchor, and may join another group.
    // Siblings are the weakest link (a shared caller). One on the same
    // path of calls as the anchor belongs with it (`compile`, called by the
    // `load` that caches the program it builds). Otherwise a collection of
    // program types is a holder of its own, not a sibling, and a site goes
    // to the collection whose calls it shares most (the profile a cache
    // fetches for the request handler is the cache's, not that of the
    // registry the same handler grows).
    // What a method of another program type allocates is that type's
    // (the profile `Profile::fetch` makes for a cache never seen), unless
    // the caller itself made it (the strings the handler moves into the
    // context it registers).
    let on_path = |a: &SiteTrend, b: &SiteTrend| {
        a.latest
            .program_callers
            .contains(&b.latest.location.function)
    };
    let a = order[anchor];
    let caller = a.latest.program_callers.first();
    let related = |i: usize| {
        let site = order[i];
        Some(&site.latest.location.function) == caller
            || site.holding.method_of.as_deref().is_none_or(|owner| {
                a.holding.method_of.as_deref() == Some(owner)
                    || a.holding.elements.iter().any(|e| pointee(e) == owner)
            })
    };
    let beside = siblings(a, order, index).into_iter().filter(|&i| {
        on_path(order[i], a)
            || on_path(a, order[i])
            || (order[i].holding.elements.is_empty()
                && related(i)
                && closest(i, &index.collections))
    });
    let joined = joined(order[anchor], &members, &element_places, index)
        .into_iter()
        .chain(beside)
        .filter(|&i| !claims.taken[i] && i != anchor)
        .filter(|&i| {
            let owner = order[i].holding.method_of.as_deref();
            let rivals = owner.and_then(|o| index.by_pointee.get(o));
            closest(i, rivals.map_or(&[], Vec::as_slice))
        })
        .collect::<Vec<usize>>();
    if members.is_empty() && joined.is_empty() && !order[anchor].holding.holds_allocations {
        return None;
    }
    claims.holder[anchor] = true;
    let mut unseen_holders = Vec::new();
    if claims.grew[anchor] {
        claims.taken[anchor] = true;
        members.insert(0, order[anchor]);
    } else {
        unseen_holders.push(order[anchor]);
    }
    for i in joined {
        if !claims.taken[i] {
            claims.taken[i] = true;
            members.push(order[i]);
        }
    }
    // Other collections of what grew in the group, if they keep what they
    // hold; and those that hold a member collection (the map of the sets
    // that grew): what the sets keep, it keeps. One that did not grow is a
    // holder unseen; one still growing joins the group (the watcher's list
    // of the engines built beside a bigger collection, seen by one sample).
    // A group of the anchor alone has none: a list that grew names no
    // registry of the elements it lists.
    let anchor_id = order[anchor].id;
    let alone = members.iter().all(|m| m.id == anchor_id);
    let held_types = members.iter().filter(|_| !alone).map(|m| &*m.latest.ty);
    let member_collections = members
        .iter()
        .filter(|m| !alone && m.holding.is_collection)
        .map(|m| &*m.latest.ty);
    let holds_a_member = SiteIndex::lookup(&index.by_element, member_collections);
    for i in SiteIndex::lookup(&index.by_element, held_types) {
        let keeps = order[i].retains() || holds_a_member.binary_search(&i).is_ok();
        if claims.holder[i] || !keeps {
            continue;
        }
        if !claims.grew[i] {
            claims.holder[i] = true;
            unseen_holders.push(order[i]);
        } else if !claims.taken[i] && order[i].grows_late() {
            claims.holder[i] = true;
            claims.taken[i] = true;
            members.push(order[i]);
        }
    }
    // Nothing grew with it: its sites are left to the others.
    (!members.is_empty()).then_some(Group {
        anchor: Some(order[anchor]),
        members,
        unseen_holders,
        evidence: None,
    })
}

/// True when `site` is a collection of values stored in place (`Vec<Op>`)
/// made by a method of a program type that another collection holds and
/// keeps (`Engine::compile`, and the watcher's `Vec<Arc<Engine>>`): it is
/// part of the value that collection holds, with the value's other parts
/// (made by the same method), not their holder. Collections of pointers
/// (`HashMap<u64, Arc<Conn>>`) hold on their own, whoever made them.
fn part_of_a_held_value(
    site: &SiteTrend,
    at: usize,
    index: &SiteIndex<'_>,
    may_hold: impl Fn(usize) -> bool,
) -> bool {
    if site.holding.holds_allocations {
        return false;
    }
    let Some(owner) = site.holding.method_of.as_deref() else {
        return false;
    };
    index
        .by_pointee
        .get(owner)
        .is_some_and(|holders| holders.iter().any(|&h| h != at && may_hold(h)))
}

/// Sites that join `anchor`'s group besides its elements: allocated while
/// building an element (`element_places`), in a holder's function or one
/// it calls directly (the key `bind` builds for the map it inserts into),
/// or by a method of an element's type (`<ChannelContext>::close` for
/// `Arc<ChannelContext>`s). In grouping order, each once.
fn joined(
    anchor: &SiteTrend,
    members: &[&SiteTrend],
    element_places: &HashSet<(&str, Option<u32>)>,
    index: &SiteIndex<'_>,
) -> Vec<usize> {
    let built = SiteIndex::lookup(&index.by_caller, element_places.iter().copied());
    let holder_places: HashSet<(Option<&str>, &str)> = std::iter::once(anchor)
        .chain(members.iter().copied())
        .filter(|m| m.holding.is_collection)
        .map(|m| (m.latest.tag.as_deref(), &*m.latest.location.function))
        .collect();
    let inside = SiteIndex::lookup(&index.by_place, holder_places.iter().copied());
    let called = SiteIndex::lookup(&index.by_first_caller, holder_places.iter().copied());
    let elements = anchor.holding.elements.iter().map(|e| pointee(e));
    let owned = SiteIndex::lookup(&index.by_method_of, elements);
    let mut joined: Vec<usize> = [built, inside, called, owned].concat();
    joined.sort_unstable();
    joined.dedup();
    joined
}

/// How many functions to compare when telling which collection a site is
/// closest to.
const AFFINITY_DEPTH: usize = 4;

/// How close a site's calls are to a collection's: how many of the
/// functions that made the site (its location, then the program functions
/// that called it, nearest first) also made the collection.
fn affinity(site: &SiteTrend, collection: &SiteTrend) -> usize {
    let chain = |s: &'_ SiteTrend| {
        std::iter::once(s.latest.location.function.clone())
            .chain(s.latest.program_callers.iter().cloned())
            .take(AFFINITY_DEPTH)
            .collect::<Vec<std::rc::Rc<str>>>()
    };
    let theirs = chain(collection);
    chain(site).iter().filter(|f| theirs.contains(f)).count()
}

/// Sites built beside the collection's growth: allocated in the function
/// that called the one growing the collection, or in a function it called
/// directly (the session `Session::new` makes for the function that then
/// inserts it), and what those allocated in functions they called on the
/// way from that caller (the session's strings, made by a helper). Sites that grew and stopped (a
/// cache filled by the same function) are not. For values made elsewhere
/// and moved in (parsed off the network), the structure says nothing else.
fn siblings(anchor: &SiteTrend, order: &[&SiteTrend], index: &SiteIndex<'_>) -> Vec<usize> {
    let Some(caller) = anchor.latest.program_callers.first() else {
        return Vec::new();
    };
    // Only a collection still growing in the later half has siblings: a
    // table loaded once by a function that also starts other work (a
    // dispatcher) was not built beside that work.
    if !anchor.grows_late() {
        return Vec::new();
    }
    let tag = anchor.latest.tag.as_deref();
    let still_growing = |&i: &usize| {
        !matches!(
            order[i].fit.as_ref().map(|f| f.verdict),
            Some(Verdict::Levelled | Verdict::Step | Verdict::Shrinking)
        )
    };
    let near: Vec<usize> = SiteIndex::lookup(&index.by_near_caller, [(tag, &**caller)])
        .into_iter()
        .filter(still_growing)
        .collect();
    let places: HashSet<(Option<&str>, &str)> = near
        .iter()
        .map(|&i| (tag, &*order[i].latest.location.function))
        .collect();
    // Built by those functions on the way from the same caller: `text`
    // called by a `Session::new` that this caller called, not by one that
    // another part's code called.
    let from_caller = |&i: &usize| order[i].latest.program_callers.contains(caller);
    let built = SiteIndex::lookup(&index.by_first_caller, places)
        .into_iter()
        .filter(still_growing)
        .filter(from_caller);
    near.iter().copied().chain(built).collect()
}

/// The sites no collection claimed, grouped: sites of one call of a
/// function, and sites built while allocating another
/// (`Arc::new(Program::compile(..))` holds what `compile` allocated even
/// when no collection holding the `Arc`s was sampled).
///
/// A call is the function with the line that called it: a helper called
/// from two parts of a program (a `text` formatting the routes of a table
/// loaded once and the profiles of a cache) says nothing of their fates,
/// and joining by the function alone made one group of both.
fn leftover_groups<'a>(order: &[&'a SiteTrend], taken: &[bool]) -> Vec<Group<'a>> {
    let rest: Vec<usize> = (0..order.len()).filter(|&i| !taken[i]).collect();
    let mut sets = DisjointSets::new(rest.len());
    let mut by_call: HashMap<Call<'_>, usize> = HashMap::new();
    let mut by_line: HashMap<(&str, Option<u32>), usize> = HashMap::new();
    for (r, &i) in rest.iter().enumerate() {
        let l = &order[i].latest;
        let first = *by_call.entry(l.call()).or_insert(r);
        sets.join(r, first);
        by_line
            .entry((&*l.location.function, l.location.line))
            .or_insert(r);
    }
    for (r, &i) in rest.iter().enumerate() {
        for (function, line) in &order[i].latest.callers {
            if let Some(&under) = by_line.get(&(&**function, *line)) {
                sets.join(r, under);
            }
        }
    }
    let mut component_of: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (r, &i) in rest.iter().enumerate() {
        let next = groups.len();
        let g = *component_of.entry(sets.root(r)).or_insert(next);
        if g == next {
            groups.push(Group {
                anchor: None,
                members: Vec::new(),
                unseen_holders: Vec::new(),
                evidence: None,
            });
        }
        groups[g].members.push(order[i]);
    }
    groups
}

/// Disjoint sets of `0..n` (union-find with path halving).
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Puts `a`'s set into `b`'s.
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        self.parent[a] = b;
    }
}

/// How many of a site's program callers count as near for siblings: the
/// function that called its location.
const NEAR: usize = 1;

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
    /// By the type each program element points to (`Conn` for
    /// `Arc<Conn>`).
    by_pointee: HashMap<&'a str, Vec<usize>>,
    /// By (tag, each of the first program functions that called it, and
    /// its own function).
    by_near_caller: HashMap<(Option<&'a str>, &'a str), Vec<usize>>,
    /// The collections of program types, in grouping order.
    collections: Vec<usize>,
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
            by_pointee: HashMap::new(),
            by_near_caller: HashMap::new(),
            collections: Vec::new(),
        };
        for (i, site) in order.iter().enumerate() {
            let l = &site.latest;
            let tag = l.tag.as_deref();
            index.by_type.entry(&*l.ty).or_default().push(i);
            for (function, line) in &l.callers {
                let list = index.by_caller.entry((&**function, *line)).or_default();
                // A recursive stack passes the same line more than once.
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            let place = (tag, &*l.location.function);
            index.by_place.entry(place).or_default().push(i);
            if let Some((caller, _)) = l.callers.first() {
                let key = (tag, &**caller);
                index.by_first_caller.entry(key).or_default().push(i);
            }
            if let Some(owner) = &site.holding.method_of {
                index
                    .by_method_of
                    .entry(owner.as_str())
                    .or_default()
                    .push(i);
            }
            if !site.holding.elements.is_empty() {
                index.collections.push(i);
            }
            for element in &site.holding.elements {
                for (map, key) in [
                    (&mut index.by_element, element.as_str()),
                    (&mut index.by_pointee, pointee(element)),
                ] {
                    let list = map.entry(key).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            let near = std::iter::once(&*l.location.function)
                .chain(l.program_callers.iter().take(NEAR).map(|f| &**f));
            for function in near {
                let list = index.by_near_caller.entry((tag, function)).or_default();
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
/// sets in it, nor a list of what the sets hold); failing that, one the
/// scan saw pointing into the heap; failing that, the object the others were built inside (the
/// `Arc<Program>` that owns what `compile` allocated); failing that, the
/// largest collection, or the largest member.
pub(super) fn holder<'a>(group: &Group<'a>) -> Option<&'a SiteTrend> {
    if group.evidence.is_some() {
        return group.anchor;
    }
    let members = &group.members;
    let candidates: Vec<&SiteTrend> = members
        .iter()
        .chain(&group.unseen_holders)
        .copied()
        .collect();
    let member_types: HashSet<&str> = members.iter().map(|m| &*m.latest.ty).collect();
    let held_types: HashSet<&str> = candidates
        .iter()
        .flat_map(|c| c.holding.elements.iter().map(String::as_str))
        .collect();
    let built_at: HashSet<(&str, Option<u32>)> = members
        .iter()
        .flat_map(|m| m.latest.callers.iter().map(|(f, line)| (&**f, *line)))
        .collect();
    let anchor = group.anchor;
    // Where the anchor itself was allocated from: an object made there holds
    // the anchor (`Arc::new(Program::compile())` holds the `Vec<Op>` that
    // `compile` grew).
    let anchor_built_in: HashSet<(&str, Option<u32>)> = anchor
        .map(|a| {
            a.latest
                .callers
                .iter()
                .map(|(f, line)| (&**f, *line))
                .collect()
        })
        .unwrap_or_default();
    // Member collections that hold other members: whoever holds one of
    // them is outermost (the map of the sets of `Arc`s, not a list of the
    // same `Arc`s made beside it).
    let member_holders: HashSet<&str> = members
        .iter()
        .filter(|m| {
            m.holding
                .elements
                .iter()
                .any(|e| member_types.contains(e.as_str()))
        })
        .map(|m| &*m.latest.ty)
        .collect();
    let rank = |m: &SiteTrend| {
        let holds_any = |types: &HashSet<&str>| {
            m.holding
                .elements
                .iter()
                .any(|e| types.contains(e.as_str()))
        };
        let place = (&*m.latest.location.function, m.latest.location.line);
        (
            holds_any(&member_types),
            holds_any(&member_holders),
            // The scan saw its blocks point into the heap: of members no
            // edge ties together (a task and the buffers it owns, each
            // sampled apart), one with pointers can hold the others, and
            // one without (a buffer of bytes) holds nothing.
            m.points_out,
            anchor_built_in.contains(&place),
            // A collection that takes in more grows with it (its buffer
            // reallocated, or freed for a larger one): of two holding the
            // members, one seen growing late holds them rather than one
            // whose only sample sat still (the shared engine's filled
            // cache against the caches of the engines built per call).
            holds_any(&member_types) && m.grows_late(),
            anchor.is_some_and(|a| a.id == m.id),
            built_at.contains(&place),
            m.retention,
            m.holding.holds_allocations,
            m.holding.is_collection,
        )
    };
    candidates
        .iter()
        .filter(|m| !held_types.contains(&*m.latest.ty))
        .map(|m| (rank(m), *m))
        .max_by(|(rank_a, a), (rank_b, b)| {
            rank_a
                .cmp(rank_b)
                .then(a.points.last_bytes().total_cmp(&b.points.last_bytes()))
        })
        .map(|(_, m)| m)
        .or_else(|| members.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::tests::{MIB, flat, linear, site};

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

    /// A helper that formats text for two unrelated parts (the routes of a
    /// table loaded once, the profiles of a cache still filling) is two
    /// calls, not one place: its sites stay with their callers' groups.
    #[test]
    fn a_helper_called_from_two_parts_does_not_join_them() {
        let n = 12;
        let step: Vec<f64> = (0..n)
            .map(|i| if i < 9 { 0.0 } else { 8.0 * MIB })
            .collect();
        let sites = [
            site(
                0,
                "alloc::vec::Vec<app::Route>",
                "app::load_routes",
                30,
                &[],
                &step,
            ),
            site(
                1,
                "alloc::string::String",
                "app::text",
                112,
                &[
                    ("app::load_routes::{closure#0}", 25),
                    ("app::load_routes", 30),
                ],
                &step,
            ),
            site(
                2,
                "alloc::string::String",
                "app::text",
                112,
                &[
                    ("<app::Profile>::fetch", 27),
                    ("app::cache::{closure#0}", 40),
                ],
                &linear(n, 0.2 * MIB),
            ),
            site(
                3,
                "alloc::sync::Arc<app::Profile>",
                "app::cache::{closure#0}",
                40,
                &[],
                &linear(n, 0.5 * MIB),
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let with = |id: usize| {
            let group = groups
                .iter()
                .find(|g| g.members.iter().any(|m| m.id == id))
                .unwrap();
            let mut ids: Vec<usize> = group.members.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(with(1), [0, 1], "the routes' text is not the cache's");
        assert_eq!(with(2), [2, 3], "the cache's text is built for it");
    }

    /// Two stores of sessions by value, one leaking and one bounded (which
    /// filled early), each inserting from its own function: each store
    /// holds the sessions built by its own caller, and the leaking one is
    /// named after its map although no site allocates a `Session`.
    #[test]
    fn a_map_of_structs_by_value_holds_what_its_caller_built() {
        let n = 12;
        let mut filled = linear(n, MIB);
        filled.iter_mut().skip(4).for_each(|b| *b = 4.0 * MIB);
        let sites = [
            site(
                0,
                "std::collections::hash::map::HashMap<u64, app::Session>",
                "<app::Store>::insert",
                10,
                &[("app::serve", 40)],
                &linear(n, 0.2 * MIB),
            ),
            site(
                1,
                "alloc::vec::Vec<u8>",
                "<app::Session>::new",
                22,
                &[("app::serve", 39)],
                &linear(n, 2.0 * MIB),
            ),
            site(
                2,
                "std::collections::hash::map::HashMap<u64, app::Session>",
                "<app::Bounded>::put",
                30,
                &[("app::recent", 70)],
                &{
                    let mut b = linear(n, 0.1 * MIB);
                    b.iter_mut().skip(4).for_each(|b| *b = 0.4 * MIB);
                    b
                },
            ),
            site(
                3,
                "alloc::vec::Vec<u8>",
                "<app::Session>::new",
                22,
                &[("app::recent", 69)],
                &filled,
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let leaking = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 1))
            .expect("a group holds the leaking sessions");
        let mut ids: Vec<usize> = leaking.members.iter().map(|m| m.id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [0, 1],
            "the bounded store's sessions are not the leak's"
        );
        assert_eq!(holder(leaking).map(|h| h.id), Some(0));
    }

    /// Under load a cache can warm for the whole window, beside a leaking
    /// registry grown by the same request handler: what the cache fetches
    /// (a method of another type, seen or not) and what a history keeps
    /// are theirs, not siblings of the registry, and the history is a
    /// holder of its own. (The leaky server's e2e test hit this on a busy
    /// machine.)
    #[test]
    fn siblings_go_to_the_collection_they_are_closest_to() {
        let n = 12;
        let sites = [
            site(
                0,
                "std::collections::hash::map::HashMap<alloc::string::String, std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>",
                "<app::Registry>::bind",
                20,
                &[("app::handle", 50), ("app::serve", 80)],
                &linear(n, 0.5 * MIB),
            ),
            site(
                1,
                "alloc::sync::Arc<app::Conn>",
                "app::handle",
                48,
                &[("app::serve", 80)],
                &linear(n, 4.0 * MIB),
            ),
            site(
                2,
                "std::collections::hash::map::HashMap<u64, alloc::sync::Arc<app::Profile>>",
                "<app::Cache>::get",
                30,
                &[("app::handle", 52), ("app::serve", 80)],
                &linear(n, 0.2 * MIB),
            ),
            site(
                3,
                "alloc::string::String",
                "<app::Profile>::fetch",
                12,
                &[
                    ("<app::Cache>::get", 31),
                    ("app::handle", 52),
                    ("app::serve", 80),
                ],
                &linear(n, 1.0 * MIB),
            ),
            site(
                4,
                "std::collections::vec_deque::VecDeque<app::Message>",
                "<app::History>::record",
                60,
                &[
                    ("app::deliver", 70),
                    ("app::handle", 54),
                    ("app::serve", 80),
                ],
                &linear(n, 0.3 * MIB),
            ),
            site(
                5,
                "alloc::string::String",
                "app::deliver",
                68,
                &[("app::handle", 54), ("app::serve", 80)],
                &linear(n, 0.5 * MIB),
            ),
        ];
        // With the cache's own map seen, and without it (never sampled):
        // the profile is a method of another type's making either way.
        for without in [None, Some(2)] {
            let all: Vec<&SiteTrend> = sites.iter().filter(|s| Some(s.id) != without).collect();
            let groups = groups(&all);
            let registry = groups
                .iter()
                .find(|g| g.members.iter().any(|m| m.id == 1))
                .expect("a group holds the connections");
            let mut ids: Vec<usize> = registry.members.iter().map(|m| m.id).collect();
            ids.sort();
            assert_eq!(
                ids,
                [0, 1],
                "only the registry and its connections ({without:?} left out)"
            );
            assert_eq!(holder(registry).map(|h| h.id), Some(0));
        }
    }

    /// A list of the registry's element type built for a health check and
    /// dropped at once never outlives a snapshot: it names nothing, and the
    /// registry holds the elements.
    #[test]
    fn a_collection_that_keeps_nothing_is_no_holder() {
        let n = 12;
        let mut transient = site(
            0,
            "alloc::vec::Vec<alloc::sync::Arc<app::Conn>>",
            "<app::Registry>::heartbeat",
            90,
            &[("app::health", 12)],
            &linear(n, 0.5 * MIB),
        );
        transient.retention = Retention::DiesYoung;
        let sites = [
            transient,
            site(
                1,
                "alloc::sync::Arc<app::Conn>",
                "app::accept",
                20,
                &[],
                &linear(n, 0.3 * MIB),
            ),
            site(
                2,
                "std::collections::hash::map::HashMap<alloc::string::String, alloc::sync::Arc<app::Conn>>",
                "<app::Registry>::bind",
                30,
                &[("app::accept", 21)],
                &linear(n, 0.1 * MIB),
            ),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let registry = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 1))
            .unwrap();
        assert_eq!(holder(registry).map(|h| h.id), Some(2));
        assert!(registry.members.iter().all(|m| m.id != 0));
    }

    /// A registry's sites, with `retention` in this order: a health check's
    /// list of its connections (0, the type `list`), the connections (1,
    /// growing), the sets that hold them (2, growing) and the map of the
    /// sets (3, the type `map`). The group of the connections, and its
    /// holder.
    fn registry_holder(
        list: &str,
        map: &str,
        retention: [Retention; 4],
    ) -> (Vec<usize>, Option<usize>) {
        let n = 12;
        let mut sites = [
            site(
                0,
                list,
                "<app::Registry>::heartbeat",
                90,
                &[("app::health", 12)],
                &flat(n, 0.0),
            ),
            site(
                1,
                "alloc::sync::Arc<app::Conn>",
                "app::accept",
                20,
                &[],
                &linear(n, 0.3 * MIB),
            ),
            site(
                2,
                "std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>",
                "<app::Registry>::bind",
                31,
                &[("app::accept", 21)],
                &linear(n, 0.1 * MIB),
            ),
            site(
                3,
                map,
                "<app::Registry>::bind",
                30,
                &[("app::accept", 21)],
                &flat(n, 0.0),
            ),
        ];
        for (site, retention) in sites.iter_mut().zip(retention) {
            site.retention = retention;
        }
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let registry = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 1))
            .unwrap();
        let members = registry.members.iter().map(|m| m.id).collect();
        (members, holder(registry).map(|h| h.id))
    }

    /// The registry's sets grow (their tables freed as they grow, so no
    /// sample of them is old) inside a small map never seen to keep
    /// anything, beside a health check's list of the same elements whose
    /// buffers reach new sizes as the registry grows (rebuilt each time):
    /// the elements go to the sets, whose calls they share, and the map
    /// that holds the sets names the group.
    #[test]
    fn the_map_of_sets_that_keep_is_the_holder_not_a_list_rebuilt_as_they_grow() {
        let (members, holder) = registry_holder(
            "alloc::vec::Vec<alloc::sync::Arc<app::Conn>>",
            "std::collections::hash::map::HashMap<alloc::string::String, std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>",
            [
                Retention::Highs,
                Retention::None,
                Retention::None,
                Retention::None,
            ],
        );
        assert_eq!(holder, Some(3));
        assert!(!members.contains(&0));
    }

    /// Seen in a scenario run: the sets grew, the map that holds them and a
    /// health check's list of the same `Arc`s were both sampled, neither
    /// grew; the map, which holds the sets, is named, not the list. (Type
    /// names as the profiler writes them: the map sorts before the list,
    /// so that a tie went to the list.)
    #[test]
    fn a_list_of_what_the_sets_hold_does_not_outrank_the_map_of_the_sets() {
        use Retention::{Highs, Samples};
        let (_, holder) = registry_holder(
            "Vec<alloc::sync::Arc<app::Conn>>",
            "HashMap<alloc::string::String, std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>",
            [Highs, Samples, Samples, Samples],
        );
        assert_eq!(holder, Some(3));
    }

    /// The instance-per-call incident: each engine's program is the largest
    /// collection and is grouped first, with the `Arc<Engine>`s built
    /// beside it; the watcher's list of those engines, seen by one sample
    /// and still reaching new sizes, holds them all and names the group.
    /// The watcher's `Vec<Arc<Engine>>`, its live bytes `points`, known by
    /// `retention` and with buffers that reached a new size late.
    fn watcher_list(id: usize, points: &[f64], retention: Retention) -> SiteTrend {
        let mut list = site(
            id,
            "alloc::vec::Vec<alloc::sync::Arc<app::Engine>>",
            "<app::Watcher>::watch",
            63,
            &[("app::handle", 73)],
            points,
        );
        list.retention = retention;
        list.late_high = true;
        list
    }

    #[test]
    fn a_growing_list_of_the_groups_instances_joins_it_and_holds_it() {
        let n = 12;
        let mut program = site(
            0,
            "alloc::vec::Vec<app::Op>",
            "<app::Engine>::compile",
            30,
            &[("app::handle", 71)],
            &linear(n, 8.0 * MIB),
        );
        program.retention = Retention::Samples;
        let mut engine = site(
            1,
            "alloc::sync::Arc<app::Engine>",
            "app::handle",
            71,
            &[],
            &linear(n, 3.0 * MIB),
        );
        engine.retention = Retention::Samples;
        let mut points = flat(n, 0.0);
        points[n - 1] = 0.6 * MIB;
        let list = watcher_list(2, &points, Retention::Samples);
        let sites = [program, engine, list];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let leak = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 1))
            .unwrap();
        assert!(leak.members.iter().any(|m| m.id == 2), "the list is apart");
        assert_eq!(holder(leak).map(|h| h.id), Some(2));
    }

    /// The watcher's list never sampled (a few KiB), seen only by its
    /// buffers doubling; the engines' programs and symbol tables, made by
    /// `Engine::compile`, sampled: the list holds them. The program vector,
    /// made by the same method as the table beside it, used to anchor a
    /// group of its own and take the table, leaving the list nothing.
    #[test]
    fn the_parts_of_a_held_value_go_to_its_holder_seen_only_by_highs() {
        let n = 12;
        let part = |id, type_full: &str, line, mib| {
            let mut part = site(
                id,
                type_full,
                "<app::Engine>::compile",
                line,
                &[("app::handle", 70)],
                &linear(n, mib * MIB),
            );
            part.retention = Retention::Samples;
            part
        };
        let program = part(0, "alloc::vec::Vec<app::Op>", 40, 8.0);
        let symbols = part(
            1,
            "std::collections::hash::map::HashMap<alloc::string::String, u32>",
            41,
            1.0,
        );
        let list = watcher_list(2, &flat(n, 0.0), Retention::Highs);
        let sites = [program, symbols, list];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let leak = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 0))
            .unwrap();
        assert!(leak.members.iter().any(|m| m.id == 1), "the table is apart");
        assert_eq!(holder(leak).map(|h| h.id), Some(2));
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

    /// An engine shared by every export fills its code cache once, early;
    /// an engine built per report call, each with a cache, leaks. Both
    /// caches are maps of `Arc<Program>` made in one function; the shared
    /// one was sampled at the start and sat still, the per-call ones were
    /// sampled late. The growing one holds what grows, not the one that
    /// sat still (whose stack leads to the wrong service).
    #[test]
    fn of_two_collections_holding_the_members_the_one_growing_late_holds_them() {
        let n = 12;
        let cache = "std::collections::hash::map::HashMap<alloc::string::String, alloc::sync::Arc<app::Program>>";
        let with = |mut site: SiteTrend| {
            site.retention = Retention::Samples;
            site
        };
        let mut late = flat(n, 0.0);
        for point in &mut late[7..] {
            *point = 0.5 * MIB;
        }
        let sites = [
            with(site(
                0,
                cache,
                "<app::Loader>::load",
                83,
                &[("<app::Engine>::eval", 10), ("app::export", 20)],
                &flat(n, 0.5 * MIB),
            )),
            with(site(
                1,
                cache,
                "<app::Loader>::load",
                83,
                &[("<app::Engine>::eval", 10), ("app::render", 30)],
                &late,
            )),
            with(site(
                2,
                "alloc::sync::Arc<app::Program>",
                "<app::Loader>::load",
                81,
                &[("<app::Engine>::eval", 10), ("app::render", 30)],
                &linear(n, 1.0 * MIB),
            )),
            with(site(
                3,
                "alloc::vec::Vec<app::Op>",
                "app::compile",
                62,
                &[
                    ("<app::Loader>::load", 81),
                    ("<app::Engine>::eval", 10),
                    ("app::render", 30),
                ],
                &linear(n, 8.0 * MIB),
            )),
        ];
        let all: Vec<&SiteTrend> = sites.iter().collect();
        let groups = groups(&all);
        let leak = groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.id == 2))
            .unwrap();
        assert_eq!(holder(leak).map(|h| h.id), Some(1));
    }

    /// A task per client, each owning a buffer, both allocated in the
    /// handler that spawns it; no edge ties them (each is sampled apart).
    /// The buffers are larger, but only the tasks were seen pointing into
    /// the heap: the tasks hold the buffers. Unscanned, the larger stays.
    #[test]
    fn of_parts_no_edge_ties_the_one_pointing_into_the_heap_holds_them() {
        let n = 12;
        let parts = |tasks_point_out| {
            let mut task = site(
                0,
                "alloc::boxed::Box<tokio::runtime::task::core::Cell<app::forward::{closure#0}>>",
                "app::subscribe::{closure#0}",
                73,
                &[("app::serve", 20)],
                &linear(n, MIB),
            );
            task.points_out = tasks_point_out;
            let buffer = site(
                1,
                "alloc::vec::Vec<u8>",
                "app::subscribe::{closure#0}",
                71,
                &[("app::serve", 20)],
                &linear(n, 6.0 * MIB),
            );
            [task, buffer]
        };
        for (scanned, holder_id) in [(true, 0), (false, 1)] {
            let sites = parts(scanned);
            let all: Vec<&SiteTrend> = sites.iter().collect();
            let groups = groups(&all);
            assert_eq!(groups.len(), 1);
            assert_eq!(holder(&groups[0]).map(|h| h.id), Some(holder_id));
        }
    }
}
