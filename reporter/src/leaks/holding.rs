//! What a site's type and allocating function say about what it may
//! hold: the program types among its collection's elements (nested
//! collections included), whether those are allocations of their own, and
//! the type whose method allocated it. Worked out once per type and
//! function, for the grouping rules (`group`) and the suspects.

use std::collections::HashMap;

use heapsnap_format::names;
use heapsnap_format::types::{COLLECTIONS, is_collection};

/// What a site's type and function say about what it may hold, worked out
/// once per site: grouping compares every site with many others.
#[derive(Clone, Debug, Default)]
pub(super) struct Holding {
    /// [`program_elements`] of its type.
    pub(super) elements: Vec<String>,
    pub(super) is_collection: bool,
    /// Some element is an allocation of its own ([`allocated_apart`]).
    pub(super) holds_allocations: bool,
    /// The type whose method allocated it, short (`ChannelContext` for
    /// `<im::ChannelContext>::new`).
    pub(super) method_of: Option<String>,
}

/// Parses each type and function name once, however many sites share it.
#[derive(Default)]
pub(super) struct HoldingCache {
    by_type: HashMap<String, (Vec<String>, bool, bool)>,
    by_function: HashMap<String, Option<String>>,
}

impl HoldingCache {
    /// What a site of type `type_full` allocated in `function` holds.
    pub(super) fn holding(&mut self, type_full: &str, function: &str) -> Holding {
        let (elements, is_collection, holds_allocations) = self
            .by_type
            .entry(type_full.to_owned())
            .or_insert_with(|| {
                let elements = program_elements(type_full);
                let apart = elements.iter().any(|e| allocated_apart(e));
                (elements, is_collection(type_full), apart)
            })
            .clone();
        let method_of = self
            .by_function
            .entry(function.to_owned())
            .or_insert_with(|| {
                names::qualified_self(function).map(|(self_ty, _)| names::shorten(self_ty))
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

/// The element types of a collection type that name a program type, short,
/// nested collections' elements included:
/// `HashMap<String, HashSet<alloc::sync::Arc<im::Conn>>>` ->
/// `HashSet<Arc<Conn>>`, `Arc<Conn>`. Elements made only of the standard
/// library's types (`String`, `u64`) would tie every growing `String` to
/// every map of strings: left out.
pub(super) fn program_elements(type_full: &str) -> Vec<String> {
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
pub(super) fn pointee(ty: &str) -> &str {
    let (base, args) = names::generics(ty);
    match (base, args.as_slice()) {
        ("Arc" | "Rc" | "Box", [inner]) => inner,
        _ => ty,
    }
}

/// True for element types that are allocations of their own (smart
/// pointers, collections), not values stored inside their collection.
pub(super) fn allocated_apart(element: &str) -> bool {
    let (base, _) = names::generics(element);
    matches!(base, "Arc" | "Rc" | "Box" | "String")
        || COLLECTIONS.iter().any(|(name, _)| *name == base)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
