//! Naming what a site's memory holds, from its frames, the way a Rust
//! programmer writes it: `HashSet<Arc<ChannelContext>>`, not
//! `<hashbrown::raw::RawTable<(alloc::sync::Arc<app::ChannelContext>, ())>>::reserve_rehash`.
//!
//! Between the allocator and the program's own frame, a stack passes through
//! the collection that allocated: `RawVec<T>` inside `Vec<T>`, `Vec<u8>`
//! inside `String`, `RawTable<(K, V)>` inside `HashMap<K, V>`, a node inside
//! `BTreeMap<K, V>`, `Box<ArcInner<T>>` inside `Arc<T>`. Reading those frames
//! from the innermost outwards, each frame either *refines* the type found
//! so far (the collection that wraps it, or the same one with its element
//! type known) or belongs to something else (`Vec<String>::clone` around the
//! `String` it is cloning), which ends the search.
//!
//! Element types come from the collections, and from their buffers
//! (`RawVec<T>`, `RawTable<T>`) only in frames inlined into a caller: the
//! buffers' out-of-line functions are the same machine code for every
//! element type of the same size, and the linker folds them into one
//! symbol, so `Vec<Box<Session>>::push` (an inlined frame, specific to its
//! caller) can call a `grow_one` named `RawVec<Rc<Session>>`, and
//! `Vec<String>::push` one named `RawVec<Vec<u8>>`.
//!
//! With v0 symbol mangling the frames carry concrete types. With legacy
//! mangling they carry generic parameters (`RawVec<T,A>`), and the type
//! degrades to its kind with an unknown element: `Vec<?>`. With
//! `debug = "line-tables-only"`, names are DWARF's short ones with the
//! generic arguments (`push_back<app::Job, alloc::alloc::Global>`), and the
//! source file says whose method it is (`library/alloc/src/collections/vec_deque/mod.rs`).

use crate::snapshot::Frame;

use crate::names::{self, generics, qualified_self, split_top_level, turbofish};

/// Collections that hold other allocations, and how many of their type
/// arguments are elements (keys and values for maps).
pub const COLLECTIONS: [(&str, usize); 7] = [
    ("Vec", 1),
    ("VecDeque", 1),
    ("BinaryHeap", 1),
    ("HashSet", 1),
    ("BTreeSet", 1),
    ("HashMap", 2),
    ("BTreeMap", 2),
];

/// True for the standard collections that hold other allocations.
pub fn is_collection(type_full: &str) -> bool {
    let (base, _) = names::generics(type_full);
    let base = names::shorten(base);
    COLLECTIONS.iter().any(|(name, _)| *name == base)
}

/// A type as the reporter shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeName {
    /// Paths shortened to their last segment: `HashSet<Arc<ChannelContext>>`.
    pub short: String,
    /// Full paths: `HashSet<alloc::sync::Arc<im::ChannelContext>>`.
    pub full: String,
}

impl TypeName {
    /// The name of a type nothing could be said about.
    pub fn unknown() -> TypeName {
        TypeName {
            short: "?".into(),
            full: "?".into(),
        }
    }

    /// A name given by a tag.
    pub fn tagged(tag: &str) -> TypeName {
        TypeName {
            short: names::shorten(tag),
            full: tag.to_owned(),
        }
    }

    fn of(full: String) -> TypeName {
        TypeName {
            short: names::shorten(&full),
            full,
        }
    }
}

/// An element type; `None` when the frames do not say (legacy mangling).
type Elem = Option<String>;

/// What a frame says about the allocation's type.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    /// `RawVec<T>`: the buffer of a `Vec`, `VecDeque` or `String`.
    RawVec(Elem),
    Vec(Elem),
    String,
    VecDeque(Elem),
    BinaryHeap(Elem),
    /// hashbrown's table of `T`: `(K, V)` for maps, `(K, ())` for sets.
    RawTable(Elem),
    HashMap(Elem, Elem),
    HashSet(Elem),
    /// A B-tree map or one of its nodes.
    BTreeMap(Elem, Elem),
    BTreeSet(Elem),
    Box(Elem),
    Arc(Elem),
    Rc(Elem),
    /// `Box::new_uninit`'s out-of-line part: a box of a type the next
    /// frames may say.
    BoxUninit,
    /// A constructor of a type that is no collection (`<Block<T>>::new`):
    /// a box allocated right inside it is a `Box<Self>`.
    Constructed(String),
}

const PRIMITIVES: [&str; 17] = [
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str",
];

/// An argument that names a type, not a generic parameter: v0 names carry
/// paths (`app::Event`), primitives, tuples, arrays, references; legacy
/// names carry parameters (`T`, `A`, `K`). Default allocator and hasher
/// arguments, which DWARF names spell out, are dropped.
fn concrete(arg: Option<&&str>) -> Elem {
    let arg = arg?.trim();
    let is_type = arg.contains("::")
        || arg.starts_with(['(', '[', '&', '*'])
        || arg.starts_with("dyn ")
        || arg.starts_with("fn(")
        || PRIMITIVES.contains(&arg);
    is_type.then(|| without_defaults(arg))
}

/// Type arguments everyone leaves out: the global allocator, the default
/// hasher.
fn is_default_argument(arg: &str) -> bool {
    matches!(
        arg.trim(),
        "alloc::alloc::Global" | "std::hash::random::RandomState"
    )
}

/// `alloc::boxed::Box<app::S, alloc::alloc::Global>` -> `alloc::boxed::Box<app::S>`,
/// inside tuples, arrays and references too.
fn without_defaults(ty: &str) -> String {
    let ty = ty.trim();
    if let Some(inner) = ty.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        let parts: Vec<String> = split_top_level(inner, ',')
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(without_defaults)
            .collect();
        return match parts.len() {
            1 => format!("({},)", parts[0]),
            _ => format!("({})", parts.join(", ")),
        };
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let parts = split_top_level(inner, ';');
        return match parts.as_slice() {
            [element, length] => format!("[{}; {length}]", without_defaults(element)),
            _ => format!("[{}]", without_defaults(inner)),
        };
    }
    for prefix in ["&mut ", "&", "*const ", "*mut "] {
        if let Some(rest) = ty.strip_prefix(prefix) {
            return format!("{prefix}{}", without_defaults(rest));
        }
    }
    let (base, args) = generics(ty);
    if args.is_empty() {
        return ty.to_owned();
    }
    let kept: Vec<String> = args
        .iter()
        .filter(|a| !is_default_argument(a))
        .map(|a| without_defaults(a))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}<{}>", kept.join(", "))
    }
}

/// Element type of a slice or array type `[T]` / `[T; N]`.
fn slice_element(ty: &str) -> Elem {
    let inner = ty.strip_prefix('[')?.strip_suffix(']')?;
    let element = split_top_level(inner, ';');
    concrete(element.first())
}

/// The parts of a tuple type `(A, B)`.
fn tuple_parts(ty: &str) -> Option<Vec<&str>> {
    let inner = ty.strip_prefix('(')?.strip_suffix(')')?;
    Some(split_top_level(inner, ','))
}

/// `ArcInner<T>` and `RcInner<T>` are what `Arc<T>` and `Rc<T>` box, and
/// B-tree nodes what a `BTreeMap` does.
fn boxed(element: Elem) -> Shape {
    if let Some(element) = &element {
        let (base, args) = generics(element);
        match base {
            // `Box::new_uninit` then a write: the box of what is written.
            "core::mem::maybe_uninit::MaybeUninit" => return boxed(concrete(args.first())),
            "alloc::sync::ArcInner" => return Shape::Arc(concrete(args.first())),
            "alloc::rc::RcInner" | "alloc::rc::RcBox" => return Shape::Rc(concrete(args.first())),
            "alloc::collections::btree::node::LeafNode"
            | "alloc::collections::btree::node::InternalNode" => {
                return Shape::BTreeMap(concrete(args.first()), concrete(args.get(1)));
            }
            _ => {}
        }
    }
    Shape::Box(element)
}

/// `vec![a, b]` allocates a `Box<[T; 2]>` through `Box::new_uninit`, then
/// turns it into the `Vec<T>` the program sees.
fn vec_literal(self_ty: &str, function: &str) -> Option<Shape> {
    let (base, args) = generics(self_ty);
    let array = args.first()?;
    let literal = base == "alloc::boxed::Box"
        && array.starts_with('[')
        && array.contains(';')
        && function.ends_with(">::new_uninit");
    literal.then(|| Shape::Vec(slice_element(array)))
}

/// The shape a type (a method's `Self`) gives, if it is a collection.
fn shape_of_type(ty: &str, trait_path: Option<&str>) -> Option<Shape> {
    let ty = ty.trim();
    let (base, args) = generics(ty);
    let arg = |i: usize| concrete(args.get(i));
    let shape = match base {
        // Buffers: their element types are evidence only inlined (see
        // `shape_of_frame`).
        "alloc::raw_vec::RawVec" | "alloc::raw_vec::RawVecInner" => Shape::RawVec(arg(0)),
        "alloc::vec::Vec" => Shape::Vec(arg(0)),
        "alloc::string::String" => Shape::String,
        "alloc::collections::vec_deque::VecDeque" => Shape::VecDeque(arg(0)),
        "alloc::collections::binary_heap::BinaryHeap" => Shape::BinaryHeap(arg(0)),
        // hashbrown's table, wherever its version keeps it
        // (`hashbrown::raw::inner::RawTable` before 0.15).
        _ if base.starts_with("hashbrown::raw::")
            && (base.ends_with("::RawTable") || base.ends_with("::RawTableInner")) =>
        {
            Shape::RawTable(arg(0))
        }
        "hashbrown::table::HashTable" => Shape::RawTable(arg(0)),
        "hashbrown::map::HashMap" | "std::collections::hash::map::HashMap" => {
            Shape::HashMap(arg(0), arg(1))
        }
        "hashbrown::set::HashSet" | "std::collections::hash::set::HashSet" => {
            Shape::HashSet(arg(0))
        }
        "alloc::collections::btree::map::BTreeMap"
        | "alloc::collections::btree::node::LeafNode"
        | "alloc::collections::btree::node::InternalNode"
        | "alloc::collections::btree::map::entry::VacantEntry" => Shape::BTreeMap(arg(0), arg(1)),
        // NodeRef<BorrowType, K, V, NodeType>
        "alloc::collections::btree::node::NodeRef" => Shape::BTreeMap(arg(1), arg(2)),
        "alloc::collections::btree::set::BTreeSet" => Shape::BTreeSet(arg(0)),
        "alloc::boxed::Box" => boxed(arg(0)),
        "alloc::sync::Arc" => Shape::Arc(arg(0)),
        "alloc::rc::Rc" => Shape::Rc(arg(0)),
        "str" | "&str" => Shape::String,
        _ if base.starts_with('[') => Shape::Vec(slice_element(base)),
        // `vec![x; n]` for a primitive: `<u8 as SpecFromElem>::from_elem`.
        _ if trait_path.is_some_and(|t| t.contains("SpecFromElem")) => {
            Shape::Vec(concrete(Some(&base)))
        }
        _ => return None,
    };
    Some(shape)
}

/// A constructor (`new`, `new_*`, `default`) of a concrete type that is
/// no collection.
fn constructor(self_ty: &str, function: &str, trait_path: Option<&str>) -> Option<Shape> {
    let method = function.rsplit("::").next()?;
    let builds = method == "new" || method.starts_with("new_") || method == "default";
    let concrete = self_ty.contains("::") && trait_path.is_none_or(|t| t.ends_with("Default"));
    (builds && concrete).then(|| Shape::Constructed(without_defaults(self_ty)))
}

/// Which collection's source a file is, for frames with short names.
/// Arguments are the short name's generic arguments (`push<T, A>`: `T`
/// first, as the impl declares them).
fn shape_of_source(file: &str, args: &[&str]) -> Option<Shape> {
    let arg = |i: usize| concrete(args.get(i));
    let path = file.replace('\\', "/");
    let within = |dir: &str| path.contains(dir);
    let shape = if within("/alloc/src/raw_vec") {
        Shape::RawVec(None)
    } else if within("/alloc/src/vec/") || within("/alloc/src/slice.rs") {
        Shape::Vec(arg(0))
    } else if within("/alloc/src/string.rs")
        || within("/alloc/src/fmt.rs")
        || within("/alloc/src/str.rs")
    {
        Shape::String
    } else if within("/alloc/src/collections/vec_deque/") {
        Shape::VecDeque(arg(0))
    } else if within("/alloc/src/collections/binary_heap/") {
        Shape::BinaryHeap(arg(0))
    } else if within("/alloc/src/collections/btree/set") {
        Shape::BTreeSet(arg(0))
    } else if within("/alloc/src/collections/btree/") {
        Shape::BTreeMap(arg(0), arg(1))
    } else if within("/alloc/src/boxed") {
        boxed(arg(0))
    } else if within("/alloc/src/sync.rs") {
        Shape::Arc(arg(0))
    } else if within("/alloc/src/rc.rs") {
        Shape::Rc(arg(0))
    } else if within("/std/src/collections/hash/set.rs")
        || (within("/hashbrown-") && within("/src/set.rs"))
    {
        Shape::HashSet(arg(0))
    } else if within("/std/src/collections/hash/map.rs")
        || (within("/hashbrown-") && within("/src/map.rs"))
    {
        Shape::HashMap(arg(0), arg(1))
    } else if within("/hashbrown-") && within("/src/raw") {
        Shape::RawTable(None)
    } else {
        return None;
    };
    Some(shape)
}

/// What one frame says about the allocation's type.
fn shape_of_frame(frame: &Frame) -> Option<Shape> {
    let function = frame.function.as_deref()?;
    // Short DWARF names (`push<app::Job, alloc::alloc::Global>`): the file
    // tells whose method it is.
    if names::is_short(function) {
        let (_, args) = generics(function);
        if let Some(shape) = frame
            .file
            .as_deref()
            .and_then(|file| shape_of_source(file, &args))
        {
            return Some(shape);
        }
    }
    if let Some((self_ty, trait_path)) = qualified_self(function) {
        let shape = vec_literal(self_ty, function)
            .or_else(|| shape_of_type(self_ty, trait_path))
            .or_else(|| constructor(self_ty, function, trait_path));
        return shape.map(|shape| out_of_line(shape, frame));
    }
    let (path, args) = turbofish(function);
    match path {
        "alloc::boxed::box_new_uninit" => return Some(Shape::BoxUninit),
        "alloc::vec::from_elem" => return Some(Shape::Vec(concrete(args.first()))),
        "alloc::fmt::format" | "alloc::fmt::format::format_inner" => return Some(Shape::String),
        _ => {}
    }
    // Legacy names of inherent methods: `alloc::vec::Vec<T,A>::push`,
    // `alloc::string::String::with_capacity`,
    // `alloc::str::<impl str>::to_owned`.
    let (owner, _method) = path.rsplit_once("::")?;
    if owner.ends_with("<impl str>") {
        return Some(Shape::String);
    }
    shape_of_type(owner, None).map(|shape| out_of_line(shape, frame))
}

/// A buffer's element type is evidence only in a frame inlined into its
/// caller: an out-of-line buffer function is the same machine code for
/// every element of the same size, which the linker folds into one symbol
/// (see the module docs), while an inlined frame is named in the function
/// it was inlined into (hashbrown's `RawTable<(K, V)>::reserve` inside
/// `DashMap<K, V>::_entry`, where no `HashMap` frame says the pair).
fn out_of_line(shape: Shape, frame: &Frame) -> Shape {
    match shape {
        Shape::RawVec(_) if !frame.inlined => Shape::RawVec(None),
        Shape::RawTable(_) if !frame.inlined => Shape::RawTable(None),
        shape => shape,
    }
}

fn compatible(a: &Elem, b: &Elem) -> bool {
    a.is_none() || b.is_none() || a == b
}

fn either(a: &Elem, b: &Elem) -> Elem {
    a.clone().or_else(|| b.clone())
}

/// The tuple `(K, V)` a table of a map holds, or `(K, ())` of a set.
fn pair(table: &Elem) -> Option<(Elem, Elem)> {
    let parts = tuple_parts(table.as_deref()?)?;
    match parts.as_slice() {
        [k, v] => Some((concrete(Some(k)), Some(v.to_string()))),
        _ => None,
    }
}

const SET_VALUE: &str = "alloc::collections::btree::set_val::SetValZST";

/// `current` found so far, `outer` the next frame's shape: the refined
/// shape, or `None` when `outer` is about something else.
fn refine(current: &Shape, outer: &Shape) -> Option<Shape> {
    use Shape::*;
    let unit = |v: &Elem| v.as_deref().is_none_or(|v| v == "()");
    let refined = match (current, outer) {
        (RawVec(t), RawVec(u)) if compatible(t, u) => RawVec(either(u, t)),
        // A buffer yields to the collection around it (see the module docs).
        (RawVec(t), Vec(u)) => Vec(either(u, t)),
        (Vec(t), Vec(u)) if compatible(t, u) => Vec(either(u, t)),
        (RawVec(t), VecDeque(u)) => VecDeque(either(u, t)),
        (VecDeque(t), VecDeque(u)) if compatible(t, u) => VecDeque(either(u, t)),
        (RawVec(t) | Vec(t) | BinaryHeap(t), BinaryHeap(u)) if compatible(t, u) => {
            BinaryHeap(either(u, t))
        }
        (RawVec(_), String) => String,
        (Vec(t), String) if t.as_deref().is_none_or(|t| t == "u8") => String,
        (String, String) => String,
        (RawTable(t), RawTable(u)) if compatible(t, u) => RawTable(either(u, t)),
        (RawTable(t), HashMap(k, v)) => match pair(t) {
            Some((tk, tv)) if compatible(&tk, k) && compatible(&tv, v) => {
                HashMap(either(k, &tk), either(v, &tv))
            }
            _ => HashMap(k.clone(), v.clone()),
        },
        (RawTable(t), HashSet(k)) => match pair(t) {
            Some((tk, _)) if compatible(&tk, k) => HashSet(either(k, &tk)),
            _ => HashSet(k.clone()),
        },
        (HashMap(k, v), HashMap(k2, v2)) if compatible(k, k2) && compatible(v, v2) => {
            HashMap(either(k2, k), either(v2, v))
        }
        // hashbrown's `HashSet<K>` is a `HashMap<K, ()>`.
        (HashMap(k, v), HashSet(k2)) if compatible(k, k2) && unit(v) => HashSet(either(k2, k)),
        (HashSet(k), HashSet(k2)) if compatible(k, k2) => HashSet(either(k2, k)),
        (BTreeMap(k, v), BTreeMap(k2, v2)) if compatible(k, k2) && compatible(v, v2) => {
            BTreeMap(either(k2, k), either(v2, v))
        }
        // `BTreeSet<K>` is a `BTreeMap<K, SetValZST>`.
        (BTreeMap(k, v), BTreeSet(k2))
            if compatible(k, k2) && v.as_deref().is_none_or(|v| v == SET_VALUE) =>
        {
            BTreeSet(either(k2, k))
        }
        (BTreeSet(k), BTreeSet(k2)) if compatible(k, k2) => BTreeSet(either(k2, k)),
        (Box(t), Box(u)) if compatible(t, u) => Box(either(u, t)),
        // A box of unknown content (legacy names) inside a smart pointer or
        // a B-tree is theirs.
        (Box(None), Arc(_) | Rc(_) | BTreeMap(..) | BTreeSet(_)) => outer.clone(),
        (Arc(t), Arc(u)) if compatible(t, u) => Arc(either(u, t)),
        (Rc(t), Rc(u)) if compatible(t, u) => Rc(either(u, t)),
        _ => return None,
    };
    Some(refined)
}

fn elem(e: &Elem) -> &str {
    e.as_deref().unwrap_or("?")
}

/// The type a shape names, with full paths.
fn full_name(shape: &Shape) -> String {
    use Shape::*;
    match shape {
        RawVec(t) | Vec(t) => format!("Vec<{}>", elem(t)),
        String => "String".into(),
        VecDeque(t) => format!("VecDeque<{}>", elem(t)),
        BinaryHeap(t) => format!("BinaryHeap<{}>", elem(t)),
        RawTable(t) => match pair(t) {
            Some((k, v)) if v.as_deref() == Some("()") => format!("HashSet<{}>", elem(&k)),
            Some((k, v)) => format!("HashMap<{}, {}>", elem(&k), elem(&v)),
            None if t.is_none() => "HashMap<?, ?>".into(),
            None => format!("HashTable<{}>", elem(t)),
        },
        HashMap(k, v) => format!("HashMap<{}, {}>", elem(k), elem(v)),
        HashSet(k) => format!("HashSet<{}>", elem(k)),
        BTreeMap(k, v) if v.as_deref() == Some(SET_VALUE) => format!("BTreeSet<{}>", elem(k)),
        BTreeMap(k, v) => format!("BTreeMap<{}, {}>", elem(k), elem(v)),
        BTreeSet(k) => format!("BTreeSet<{}>", elem(k)),
        Box(t) => format!("Box<{}>", elem(t)),
        Arc(t) => format!("Arc<{}>", elem(t)),
        Rc(t) => format!("Rc<{}>", elem(t)),
        BoxUninit => "Box<?>".into(),
        Constructed(_) => "?".into(),
    }
}

/// Infers the type of a site's memory from its frames, innermost first, up
/// to (not including) the site's location: the innermost frame of the
/// program itself.
pub fn infer<'a>(library_frames: impl IntoIterator<Item = &'a Frame>) -> TypeName {
    combine(
        library_frames
            .into_iter()
            .enumerate()
            .map(|(i, frame)| at_depth(i, frame, shape_of_frame(frame))),
    )
}

/// A frame's shape at depth `i` of a stack: a constructor that allocated
/// itself, inlined (so debug information would have shown any collection
/// it called), is memory of its type (tokio's `Block<T>::new` calls the
/// allocator for the block); elsewhere a constructor only names a box
/// allocated right inside it (see `combine`).
fn at_depth(i: usize, frame: &Frame, shape: Option<Shape>) -> Option<Shape> {
    match shape {
        Some(Shape::Constructed(ty)) if i == 0 && frame.inlined => Some(Shape::Box(Some(ty))),
        shape => shape,
    }
}

/// Type inference over one snapshot, which reads each distinct frame once
/// however many stacks share it.
#[derive(Debug)]
pub struct Inference<'a> {
    frames: &'a [Frame],
    shapes: Vec<std::cell::OnceCell<Option<Shape>>>,
}

impl<'a> Inference<'a> {
    /// Inference over `frames`, a snapshot's frame table.
    pub fn new(frames: &'a [Frame]) -> Inference<'a> {
        Inference {
            frames,
            shapes: (0..frames.len())
                .map(|_| std::cell::OnceCell::new())
                .collect(),
        }
    }

    /// [`infer`] for a stack given as indices into the frame table.
    pub fn infer(&self, library_stack: &[u32]) -> TypeName {
        combine(library_stack.iter().enumerate().map(|(depth, &i)| {
            let i = i as usize;
            let frame = self.frames.get(i)?;
            let shape = self
                .shapes
                .get(i)?
                .get_or_init(|| shape_of_frame(frame))
                .clone();
            at_depth(depth, frame, shape)
        }))
    }
}

/// Reads shapes from the innermost frame outwards (see the module docs).
fn combine(shapes: impl Iterator<Item = Option<Shape>>) -> TypeName {
    let mut found: Option<Shape> = None;
    for shape in shapes {
        let Some(shape) = shape else {
            continue;
        };
        // A constructor names only a box allocated right inside it; an
        // untyped box yields to whatever the next frames say.
        match (&found, &shape) {
            (Some(Shape::BoxUninit), Shape::Constructed(ty)) => {
                found = Some(Shape::Box(Some(ty.clone())));
                continue;
            }
            (_, Shape::Constructed(_)) => continue,
            (Some(_), Shape::BoxUninit) => continue,
            (Some(Shape::BoxUninit), _) => {
                found = Some(shape);
                continue;
            }
            _ => {}
        }
        found = match &found {
            None => Some(shape),
            Some(current) => match refine(current, &shape) {
                Some(refined) => Some(refined),
                None => break,
            },
        };
    }
    found.map_or_else(TypeName::unknown, |shape| TypeName::of(full_name(&shape)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(lines: &[&str]) -> Vec<Frame> {
        lines
            .iter()
            .map(|line| {
                let (function, file) = line.split_once('\t').unwrap_or((line, ""));
                Frame {
                    function: Some(function.to_owned()),
                    file: (!file.is_empty() && file != "?").then(|| format!("/rustc/0123/{file}")),
                    ..Frame::default()
                }
            })
            .collect()
    }

    fn short(lines: &[&str]) -> String {
        infer(&frames(lines)).short
    }

    /// The short type of `stack` with its frames marked inlined or not,
    /// innermost first (frames past `inlined` unmarked).
    fn short_inlined(stack: &mut [Frame], inlined: &[bool]) -> String {
        for (i, frame) in stack.iter_mut().enumerate() {
            frame.inlined = inlined.get(i).copied().unwrap_or(false);
        }
        infer(&*stack).short
    }

    #[test]
    fn vec_push() {
        assert_eq!(
            short(&[
                "<alloc::raw_vec::RawVecInner>::finish_grow",
                "<alloc::raw_vec::RawVec<app::Event>>::grow_one",
                "<alloc::vec::Vec<app::Event>>::push",
            ]),
            "Vec<Event>"
        );
    }

    #[test]
    fn a_string_inside_a_vec_clone_is_a_string() {
        assert_eq!(
            short(&[
                "<alloc::raw_vec::RawVec<u8>>::with_capacity_in",
                "<alloc::vec::Vec<u8> as core::clone::Clone>::clone",
                "<alloc::string::String as core::clone::Clone>::clone",
                "<alloc::vec::Vec<alloc::string::String> as core::clone::Clone>::clone",
            ]),
            "String"
        );
    }

    #[test]
    fn hash_set_of_arcs() {
        assert_eq!(
            infer(&frames(&[
                "<hashbrown::raw::RawTableInner>::fallible_with_capacity::<alloc::alloc::Global>",
                "<hashbrown::raw::RawTable<(alloc::sync::Arc<app::Conn>, ())>>::reserve_rehash::<x>",
                "<hashbrown::map::HashMap<alloc::sync::Arc<app::Conn>, (), std::hash::random::RandomState>>::insert",
                "<hashbrown::set::HashSet<alloc::sync::Arc<app::Conn>, std::hash::random::RandomState>>::insert",
                "<std::collections::hash::set::HashSet<alloc::sync::Arc<app::Conn>>>::insert",
            ]))
            .full,
            "HashSet<alloc::sync::Arc<app::Conn>>"
        );
    }

    #[test]
    fn arc_new_is_an_arc() {
        assert_eq!(
            short(&[
                "alloc::boxed::box_new_uninit",
                "<alloc::boxed::Box<alloc::sync::ArcInner<app::Conn>>>::new",
                "<alloc::sync::Arc<app::Conn>>::new",
            ]),
            "Arc<Conn>"
        );
    }

    /// A box allocated right inside a constructor of a type that is no
    /// collection is that type's box (a channel's block, a task's cell);
    /// a constructor above anything else says nothing.
    #[test]
    fn a_box_made_in_a_constructor_is_a_box_of_its_type() {
        assert_eq!(
            short(&[
                "alloc::boxed::box_new_uninit",
                "<tokio::sync::mpsc::block::Block<app::Notice>>::new",
            ]),
            "Box<Block<Notice>>"
        );
        assert_eq!(
            short(&[
                "<alloc::raw_vec::RawVec<u8>>::grow_one",
                "<alloc::vec::Vec<u8>>::push",
                "<app::Parser>::new",
            ]),
            "Vec<u8>"
        );
        assert_eq!(short(&["<app::Parser>::new"]), "?");
    }

    #[test]
    fn folded_buffer_symbols_do_not_decide_the_element() {
        assert_eq!(
            short(&[
                "<alloc::raw_vec::RawVec<alloc::rc::Rc<app::Session>>>::grow_one",
                "<alloc::vec::Vec<alloc::boxed::Box<app::Session>>>::push",
            ]),
            "Vec<Box<Session>>"
        );
        assert_eq!(
            short(&[
                "<alloc::raw_vec::RawVec<alloc::vec::Vec<u8>>>::grow_one",
                "alloc::vec::Vec<T,A>::push"
            ]),
            "Vec<?>"
        );
    }

    /// dashmap 6 keeps its shards as hashbrown tables (0.14's
    /// `raw::inner` path) with no `HashMap` frame: the pair comes from the
    /// table's frames inlined into `DashMap::_entry`, not from the
    /// out-of-line `reserve_rehash`, which the linker may fold.
    #[test]
    fn a_table_inlined_into_its_caller_names_its_pair() {
        let table = "hashbrown::raw::inner::RawTable<(alloc::string::String, dashmap::util::SharedValue<app::Bucket>)>";
        let mut stack = frames(&[
            "<hashbrown::raw::inner::RawTableInner>::reserve_rehash_inner::<hashbrown::raw::inner::alloc::inner::Global>",
            &format!("<{table}>::reserve_rehash::<x>"),
            &format!("<{table}>::reserve::<x>"),
            &format!("<{table}>::find_or_find_insert_slot::<x>"),
            "<dashmap::DashMap<alloc::string::String, app::Bucket> as dashmap::t::Map<alloc::string::String, app::Bucket, std::hash::random::RandomState>>::_entry",
        ]);
        assert_eq!(
            short_inlined(&mut stack, &[true, false, true, true, false]),
            "HashMap<String, SharedValue<Bucket>>"
        );
        // Out of line only, the table's symbol says its kind, not its pair.
        assert_eq!(short_inlined(&mut stack, &[]), "HashMap<?, ?>");
    }

    #[test]
    fn an_inlined_buffer_frame_names_its_element() {
        let mut stack = frames(&[
            "<alloc::raw_vec::RawVecInner>::try_allocate_in",
            "<alloc::raw_vec::RawVec<app::Job>>::with_capacity_in",
        ]);
        assert_eq!(short_inlined(&mut stack, &[false, true]), "Vec<Job>");
        assert_eq!(short_inlined(&mut stack, &[]), "Vec<?>");
    }

    /// tokio's channel block is allocated by its constructor itself: with
    /// inline frames, that is memory of the block; without them (a plain
    /// build), the constructor may have called an inlined collection, and
    /// names nothing.
    #[test]
    fn a_constructor_that_allocates_itself_names_its_type() {
        let mut stack = frames(&[
            "<tokio::sync::mpsc::block::Block<serde_json::value::Value>>::new",
            "<tokio::sync::mpsc::block::Block<serde_json::value::Value>>::grow",
            "<tokio::sync::mpsc::list::Tx<serde_json::value::Value>>::push",
        ]);
        assert_eq!(short_inlined(&mut stack, &[true]), "Box<Block<Value>>");
        let table = Inference::new(&stack);
        assert_eq!(table.infer(&[0, 1, 2]).short, "Box<Block<Value>>");
        assert_eq!(short_inlined(&mut stack, &[]), "?");
        // Outside the innermost frame a constructor names no buffer.
        let vec_in_new = frames(&[
            "<alloc::raw_vec::RawVec<u8>>::grow_one",
            "<app::Parser>::new",
        ]);
        assert_eq!(infer(&vec_in_new).short, "Vec<?>");
    }

    #[test]
    fn legacy_names_keep_the_kind() {
        assert_eq!(
            short(&[
                "alloc::raw_vec::RawVec<T,A>::grow_one",
                "alloc::vec::Vec<T,A>::push"
            ]),
            "Vec<?>"
        );
        assert_eq!(
            short(&["hashbrown::raw::RawTable<T,A>::reserve_rehash"]),
            "HashMap<?, ?>"
        );
        assert_eq!(
            short(&["alloc::boxed::Box<T>::new", "alloc::sync::Arc<T>::new"]),
            "Arc<?>"
        );
        assert_eq!(short(&["alloc::string::String::with_capacity"]), "String");
    }

    #[test]
    fn vec_literals_and_uninit_boxes_read_as_what_they_become() {
        assert_eq!(
            short(&[
                "alloc::boxed::box_new_uninit",
                "<alloc::boxed::Box<[alloc::string::String; 2]>>::new_uninit",
            ]),
            "Vec<String>"
        );
        assert_eq!(
            short(&[
                "alloc::boxed::box_new_uninit",
                "<alloc::boxed::Box<core::mem::maybe_uninit::MaybeUninit<bytes::bytes_mut::Shared>>>::new_uninit",
            ]),
            "Box<Shared>"
        );
        assert_eq!(
            short(&["<alloc::boxed::Box<[u8; 16]>>::new"]),
            "Box<[u8; 16]>"
        );
    }

    #[test]
    fn default_arguments_are_dropped() {
        assert_eq!(
            without_defaults("alloc::boxed::Box<app::S, alloc::alloc::Global>"),
            "alloc::boxed::Box<app::S>"
        );
        assert_eq!(
            without_defaults(
                "(alloc::rc::Rc<app::S, alloc::alloc::Global>, [alloc::vec::Vec<u8, alloc::alloc::Global>; 4])"
            ),
            "(alloc::rc::Rc<app::S>, [alloc::vec::Vec<u8>; 4])"
        );
        assert_eq!(
            without_defaults("&alloc::vec::Vec<u8, alloc::alloc::Global>"),
            "&alloc::vec::Vec<u8>"
        );
        assert_eq!(without_defaults("(u64,)"), "(u64,)");
    }

    #[test]
    fn nothing_known() {
        assert_eq!(
            short(&["alloc::raw_vec::finish_grow::<alloc::alloc::Global>"]),
            "?"
        );
        assert_eq!(short(&[]), "?");
    }

    /// Stacks captured from real builds (`tests/data/types/capture.sh`):
    /// `## fill_x` headers, then function names innermost first, the last
    /// one the `fill_x` function itself (the location).
    fn captured(text: &str) -> Vec<(&str, Vec<&str>)> {
        text.split("\n\n")
            .filter_map(|block| {
                let mut lines = block.lines();
                let fill = lines.next()?.strip_prefix("## ")?;
                let frames: Vec<&str> = lines.collect();
                Some((fill, frames[..frames.len().checked_sub(1)?].to_vec()))
            })
            .collect()
    }

    /// Every captured stack of each `fill_*` function must name one of the
    /// expected types, and every expected type must be named.
    fn check_build(text: &str, expected: &[(&str, &[&str])]) {
        let stacks = captured(text);
        assert!(stacks.len() >= expected.len(), "{} stacks", stacks.len());
        let mut seen = std::collections::HashSet::new();
        for (fill, frames) in &stacks {
            let (_, types) = expected
                .iter()
                .find(|(name, _)| name == fill)
                .unwrap_or_else(|| panic!("no expectation for {fill}"));
            let name = infer(&self::frames(frames)).short;
            assert!(
                types.contains(&name.as_str()),
                "{fill}: {name} not in {types:?}\n{frames:#?}"
            );
            seen.insert((*fill, name));
        }
        for (fill, types) in expected {
            for ty in *types {
                assert!(
                    seen.contains(&(*fill, ty.to_string())),
                    "{fill}: {ty} never inferred"
                );
            }
        }
    }

    /// What each fill function of the capture program grows, with every
    /// type argument known.
    const CONCRETE_TYPES: &[(&str, &[&str])] = &[
        ("fill_binary_heap", &["BinaryHeap<Job>"]),
        ("fill_boxes", &["Vec<Box<Session>>", "Box<Session>"]),
        ("fill_btree_map", &["BTreeMap<u64, Job>"]),
        ("fill_btree_set", &["BTreeSet<u64>"]),
        ("fill_hash_map", &["HashMap<u64, Session>"]),
        ("fill_hash_set", &["HashSet<Arc<Session>>", "Arc<Session>"]),
        ("fill_rcs", &["Vec<Rc<Session>>", "Rc<Session>"]),
        ("fill_strings", &["Vec<String>", "String"]),
        ("fill_vec", &["Vec<Job>"]),
        ("fill_vec_deque", &["VecDeque<Job>"]),
    ];

    #[test]
    fn v0_builds_name_concrete_types() {
        check_build(include_str!("../tests/data/types/v0.txt"), CONCRETE_TYPES);
    }

    #[test]
    fn legacy_builds_name_the_collection_kinds() {
        check_build(
            include_str!("../tests/data/types/legacy.txt"),
            &[
                ("fill_binary_heap", &["BinaryHeap<?>"]),
                ("fill_boxes", &["Vec<?>", "Box<?>"]),
                ("fill_btree_map", &["BTreeMap<?, ?>"]),
                ("fill_btree_set", &["BTreeSet<?>"]),
                ("fill_hash_map", &["HashMap<?, ?>"]),
                ("fill_hash_set", &["HashSet<?>", "Arc<?>"]),
                ("fill_rcs", &["Vec<?>", "Rc<?>"]),
                ("fill_strings", &["Vec<?>", "String"]),
                ("fill_vec", &["Vec<?>"]),
                ("fill_vec_deque", &["VecDeque<?>"]),
            ],
        );
    }

    #[test]
    fn line_tables_only_builds_name_types_from_short_names_and_files() {
        check_build(
            include_str!("../tests/data/types/line-tables-only.txt"),
            CONCRETE_TYPES,
        );
    }
}
