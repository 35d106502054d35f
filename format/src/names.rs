//! Reading demangled Rust names: the type a method belongs to, generic
//! arguments, short forms of paths, and whether a frame is the standard
//! library's or the program's.
//!
//! Names come from `rustc-demangle` (through the `backtrace` crate), in v0
//! form (`<alloc::vec::Vec<app::Event>>::push`), legacy form
//! (`alloc::vec::Vec<T,A>::push`, generic parameters instead of types) or
//! as DWARF names. Nothing here assumes a name is well formed: malformed
//! input gives `None` or the input back, never a panic.

/// Each character of `s` with the bracket depth after it: `<`, `(`, `[`
/// and `{` open, their partners close (never below zero), and the `>` of
/// `->` does neither.
fn depths(s: &str) -> impl Iterator<Item = (usize, char, usize)> + '_ {
    let mut depth = 0usize;
    let mut previous = '\0';
    s.char_indices().map(move |(i, c)| {
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' if previous == '-' => {}
            '>' | ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
        (i, c, depth)
    })
}

/// The characters of `s` outside every bracket (brackets themselves left
/// out), with their indices.
fn top_level(s: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    depths(s)
        .filter(|&(_, c, depth)| {
            depth == 0 && !matches!(c, '<' | '(' | '[' | '{' | '>' | ')' | ']' | '}')
        })
        .map(|(i, c, _)| (i, c))
}

use crate::snapshot::Frame;

/// The index of the bracket that closes the one at `open` (`<`, `(`, `[` or
/// `{`), skipping nested brackets and the `>` of `->`.
fn matching_close(s: &str, open: usize) -> Option<usize> {
    if !s.get(open..)?.starts_with(['<', '(', '[', '{']) {
        return None;
    }
    depths(&s[open..])
        .find(|&(_, _, depth)| depth == 0)
        .map(|(i, _, _)| open + i)
}

/// Splits `s` at each `sep` that is outside all brackets.
pub fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in top_level(s) {
        if c == sep {
            parts.push(s[start..i].trim());
            start = i + c.len_utf8();
        }
    }
    parts.push(s[start..].trim());
    parts
}

/// For a method of a type, `<X>::f` or `<X as Trait>::f`: `X` and the
/// trait, if any.
pub fn qualified_self(function: &str) -> Option<(&str, Option<&str>)> {
    if !function.starts_with('<') {
        return None;
    }
    let close = matching_close(function, 0)?;
    let inner = &function[1..close];
    // ` as ` at the top level separates the type from the trait.
    let split = top_level(inner).find(|&(i, c)| c == ' ' && inner[i..].starts_with(" as "));
    Some(match split {
        Some((i, _)) => (inner[..i].trim(), Some(inner[i + 4..].trim())),
        None => (inner.trim(), None),
    })
}

/// `alloc::vec::Vec<app::Event>` -> (`alloc::vec::Vec`, `[app::Event]`);
/// a type without generic arguments -> (itself, []).
pub fn generics(ty: &str) -> (&str, Vec<&str>) {
    let ty = ty.trim();
    match ty.find('<') {
        Some(open) if !ty.starts_with('<') => match matching_close(ty, open) {
            Some(close) => (&ty[..open], split_top_level(&ty[open + 1..close], ',')),
            None => (ty, Vec::new()),
        },
        _ => (ty, Vec::new()),
    }
}

/// A free function's path and its explicit (turbofish) type arguments:
/// `alloc::vec::from_elem::<u8>` -> (`alloc::vec::from_elem`, [`u8`]).
pub fn turbofish(function: &str) -> (&str, Vec<&str>) {
    match function.rfind("::<") {
        Some(at) if function.ends_with('>') => match matching_close(function, at + 2) {
            Some(close) if close == function.len() - 1 => (
                &function[..at],
                split_top_level(&function[at + 3..close], ','),
            ),
            _ => (function, Vec::new()),
        },
        _ => (function, Vec::new()),
    }
}

/// Every path shortened to its last segment, generic arguments kept:
/// `alloc::sync::Arc<app::Conn>` -> `Arc<Conn>`,
/// `(alloc::string::String, [u8; 16])` -> `(String, [u8; 16])`; a closure
/// keeps the function it is in: `app::db::purge::{closure#0}` ->
/// `purge::{closure#0}` (a spawned task's type names its function).
pub fn shorten(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    let mut segment_start: Option<usize> = None;
    let bytes = ty.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            // Inside an identifier: remember where this segment began.
            if segment_start.is_none() {
                segment_start = Some(out.len());
            }
            out.push(c as char);
            i += 1;
        } else if c == b':' && bytes.get(i + 1) == Some(&b':') && segment_start.is_some() {
            if bytes.get(i + 2) == Some(&b'{') {
                // A closure or other unnamed item (`{closure#0}`): the
                // function it is in names it, and stays.
                out.push_str("::");
                segment_start = None;
            } else if let Some(start) = segment_start {
                // A path continues: drop what came before the `::`.
                out.truncate(start);
            }
            i += 2;
        } else {
            segment_start = None;
            // Copy non-identifier characters whole (they may be multi-byte).
            let ch = ty[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A function's name as people say it, paths shortened:
/// `<im::ips::Ips>::bind` -> `Ips::bind`,
/// `<im::Conn as core::clone::Clone>::clone` -> `<Conn as Clone>::clone`,
/// `im::parts::load::{closure#0}` -> `load::{closure#0}`,
/// `alloc::vec::from_elem::<u8>` -> `from_elem::<u8>`.
pub fn short_function(function: &str) -> String {
    if let Some((self_ty, trait_path)) = qualified_self(function) {
        let rest = matching_close(function, 0).map_or("", |close| &function[close + 1..]);
        let rest = rest.strip_prefix("::").unwrap_or(rest);
        let head = match trait_path {
            None => shorten(self_ty),
            Some(t) => format!("<{} as {}>", shorten(self_ty), shorten(t)),
        };
        return if rest.is_empty() {
            head
        } else {
            format!("{head}::{}", short_rust_path(rest))
        };
    }
    short_rust_path(function)
}

/// A Rust path from its last named segment on (closures and generic
/// arguments after it kept, the arguments shortened).
fn short_rust_path(path: &str) -> String {
    let segments = split_path(path);
    let named = segments
        .iter()
        .rposition(|s| !s.starts_with(['{', '<']))
        .unwrap_or(0);
    segments[named..]
        .iter()
        .map(|segment| match segment.find('<') {
            Some(open) => format!("{}{}", &segment[..open], shorten(&segment[open..])),
            None => (*segment).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("::")
}

/// Splits a path at each `::` outside brackets.
fn split_path(path: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (i, c) in top_level(path) {
        if c == ':' && i >= start && path[i..].starts_with("::") {
            segments.push(&path[start..i]);
            start = i + 2;
        }
    }
    segments.push(&path[start..]);
    segments
}

/// True for DWARF's short names (`push<app::Job, alloc::alloc::Global>`,
/// `fill_vec`), which builds with `debug = "line-tables-only"` give: no
/// path before the generic arguments.
pub fn is_short(function: &str) -> bool {
    if function.starts_with('<') {
        return false;
    }
    match (function.find("::"), function.find('<')) {
        (None, _) => true,
        (Some(path), Some(generic)) => generic < path,
        (Some(_), None) => false,
    }
}

/// True when a type names a type of the program (a path outside the
/// standard library and hashbrown): `alloc::sync::Arc<im::Conn>` does,
/// `alloc::string::String` and `u64` do not.
pub fn mentions_program_type(ty: &str) -> bool {
    ty.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| token.contains("::"))
        .any(|path| !in_library(path))
}

/// Crates whose frames are never a site's location: the standard library,
/// hashbrown (behind `HashMap`), and the profiler.
const LIBRARY_CRATES: [&str; 5] = ["std::", "core::", "alloc::", "hashbrown::", "heapsnap::"];

fn in_library(path: &str) -> bool {
    LIBRARY_CRATES.iter().any(|c| path.starts_with(c))
}

/// Types whose methods the standard library defines: its own, primitives,
/// and slices, arrays, tuples, references and pointers of anything.
fn library_owned(ty: &str) -> bool {
    if ty.starts_with('<') {
        return is_library(ty);
    }
    in_library(ty) || !ty.contains("::") || ty.starts_with(['[', '(', '&', '*'])
}

/// True for frames of the standard library and its collections, judged by
/// name: functions in `std`, `core`, `alloc` and `hashbrown`, methods of
/// their types and of primitives, their traits implemented for them
/// (`<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem`), and C
/// symbols of the runtime (`main`, `__libc_start_main`).
///
/// A trait implementation is the library's only when both the type and the
/// trait are: `<app::Conn as core::clone::Clone>::clone` is usually a
/// derive, the program's code (a blanket implementation such as
/// `ToString`'s is not, which only the frame's file can tell; see
/// `view::is_library_frame`).
pub fn is_library(function: &str) -> bool {
    match qualified_self(function) {
        Some((self_ty, Some(trait_path))) => library_owned(self_ty) && is_library(trait_path),
        Some((self_ty, None)) => library_owned(self_ty),
        // `main`, `__libc_start_main`, `start_thread`: no path, not Rust's.
        None => in_library(function) || !function.contains("::"),
    }
}

/// True for frames of the standard library and its collections.
///
/// A frame whose source is the standard library's
/// (`/rustc/<hash>/library/...`, or its vendored hashbrown) is, whatever its
/// name: blanket implementations such as
/// `<app::Id as alloc::string::ToString>::to_string` live there. Otherwise
/// a full path decides (see [`is_library`]). A short name (DWARF's,
/// in builds with `debug = "line-tables-only"`) with a Rust source file
/// outside the standard library is the program's; with a C source file
/// (glibc's `__libc_start_call_main`) or none at all, it is the runtime's.
pub fn is_library_frame(frame: &Frame) -> bool {
    let file = frame.file.as_deref();
    let std_source = file.is_some_and(|f| f.starts_with("/rustc/") || f.starts_with("/rust/deps/"));
    if std_source {
        return true;
    }
    let Some(function) = frame.function.as_deref() else {
        return true;
    };
    if is_short(function) {
        file.is_none_or(|f| !f.ends_with(".rs") || f.contains("/hashbrown-"))
    } else {
        is_library(function)
    }
}

/// True for frames between a program and the memory it asked for: the
/// allocator's entry points (`__rust_alloc`), a profiler inlined into them
/// (heapsnap's), the allocator interface (`alloc::alloc::alloc`,
/// `Global::allocate`) and the inner allocator. Judged by name, or by
/// source file where names are the short ones of
/// `debug = "line-tables-only"` builds (`alloc`). A stack is trimmed of
/// these at its innermost end: they say nothing of the program.
pub fn is_allocator_frame(frame: &Frame) -> bool {
    const NAMES: [&str; 12] = [
        "heapsnap::",
        "__rustc::",
        "__rust_",
        "__rg_",
        "__rdl_",
        "alloc::alloc::",
        "std::alloc::",
        "core::alloc::",
        "tikv_jemallocator::",
        "backtrace::",
        "_Unwind_",
        "_rjem_",
    ];
    const FILES: [&str; 4] = [
        "/library/alloc/src/alloc.rs",
        "/library/std/src/alloc.rs",
        "/library/core/src/alloc/",
        "/tikv-jemallocator-",
    ];
    let function = frame.function.as_deref().unwrap_or("");
    let name = function.strip_prefix('<').unwrap_or(function);
    let file = frame.file.as_deref().unwrap_or("");
    NAMES.iter().any(|prefix| name.starts_with(prefix))
        || FILES.iter().any(|part| file.contains(part))
}

/// True for frames of the program's dependencies: crates built from the
/// registry (`$CARGO_HOME/registry/src/…/name-version/`) or from git
/// (`$CARGO_HOME/git/checkouts/…`), as their source paths say. A leak is
/// placed in the program's own code, at its first frame outside the
/// standard library and these; the dependencies' frames stay in its stack.
///
/// Code a dependency's macro generated in the program (a derive's
/// `<<Message as Deserialize>::__Visitor as Visitor>::visit_map`) counts as
/// the dependency's too: by convention, macros name their internals with a
/// leading `__`, and the place worth reading is the program's call into
/// the dependency (`Inbox::receive`).
pub fn is_dependency_frame(frame: &Frame) -> bool {
    let from_registry = frame
        .file
        .as_deref()
        .is_some_and(|f| f.contains("/registry/src/") || f.contains("/git/checkouts/"));
    from_registry || frame.function.as_deref().is_some_and(is_macro_generated)
}

/// True for frames outside the program's own code: the standard
/// library's ([`is_library_frame`]) and its dependencies'
/// ([`is_dependency_frame`]). A site's location is its first frame that is
/// not.
pub fn is_outside_program(frame: &Frame) -> bool {
    is_library_frame(frame) || is_dependency_frame(frame)
}

/// The program's own crates, for frames that carry no source path (a build
/// without debug information): the crates whose `main` the runtime called
/// (`app::main`). Empty when no stack reaches `main`.
pub fn program_crates(frames: &[Frame]) -> Vec<String> {
    let mut crates: Vec<String> = frames
        .iter()
        .filter_map(|f| f.function.as_deref())
        .filter_map(|name| name.strip_suffix("::main"))
        .filter(|krate| !krate.is_empty() && !krate.contains([':', '<', ' ']))
        .filter(|krate| !matches!(*krate, "std" | "core" | "alloc"))
        .map(str::to_owned)
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

/// The crate a function belongs to: the first segment of its path (of the
/// type a method is of: `<app::Store>::put` is `app`'s, `<Vec<T> as
/// app::Trait>::f` the standard library's).
pub fn crate_of(function: &str) -> &str {
    let path = function.trim_start_matches('<');
    path.split("::").next().unwrap_or(path)
}

/// [`is_outside_program`], and for a frame without a source path (no debug
/// information), outside when its crate is not one of `program` (see
/// [`program_crates`]; none known: judged by name alone).
pub fn is_outside(frame: &Frame, program: &[String]) -> bool {
    if is_outside_program(frame) {
        return true;
    }
    match (&frame.file, frame.function.as_deref()) {
        (None, Some(function)) if !program.is_empty() => {
            !program.iter().any(|krate| krate == crate_of(function))
        }
        _ => false,
    }
}

/// A source path shortened for reading: the standard library's from
/// `library/`, a registry crate's from its `name-version/` directory, a
/// program's from its `src/`, `examples/`, `tests/` or `benches/`
/// directory.
pub fn short_file_path(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/rustc/")
        && let Some((_, library)) = rest.split_once('/')
    {
        return library;
    }
    if let Some(at) = path.find("/registry/src/") {
        let rest = &path[at + "/registry/src/".len()..];
        // Skip the index directory (`index.crates.io-...`).
        if let Some((_, krate)) = rest.split_once('/') {
            return krate;
        }
    }
    ["/src/", "/examples/", "/tests/", "/benches/"]
        .iter()
        .filter_map(|dir| path.rfind(dir))
        .max()
        .map_or(path, |at| &path[at + 1..])
}

/// A function's name as a plain path: `<alloc::vec::Vec<T>>::push` becomes
/// `alloc::vec::Vec<T>::push`, `<T as Trait>::f` becomes `T::f`; other
/// names stay as they are. (Tools that shorten names by dropping what is
/// between angle brackets would leave `::push` of the qualified form.)
pub fn as_path(function: &str) -> String {
    match (qualified_self(function), matching_close(function, 0)) {
        (Some((self_type, _)), Some(close)) => format!("{self_type}{}", &function[close + 1..]),
        _ => function.to_owned(),
    }
}

/// True when a path has a segment starting with `__` (`__Visitor`,
/// `__deserialize`): a macro's internals.
fn is_macro_generated(function: &str) -> bool {
    function
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word.starts_with("__") && word.len() > 2)
}

/// A frame's function, or its address when it has no name.
pub fn function_name(frame: &Frame) -> String {
    frame
        .function
        .clone()
        .unwrap_or_else(|| format!("{:#x}", frame.ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_paths_the_programs_crates_are_those_of_main() {
        let frame = |function: &str| Frame {
            function: Some(function.to_owned()),
            ..Frame::default()
        };
        let frames = [
            frame("prometheus::vec::MetricVec<T>::with_label_values"),
            frame("label_cardinality::record_request"),
            frame("label_cardinality::main"),
            frame("std::rt::lang_start_internal"),
            frame("<label_cardinality::Metrics>::new"),
        ];
        let program = program_crates(&frames);
        assert_eq!(program, ["label_cardinality"]);
        assert!(is_outside(&frames[0], &program));
        assert!(!is_outside(&frames[1], &program));
        assert!(!is_outside(&frames[4], &program));
        // With a source path, the path decides.
        let mut with_file = frame("prometheus::vec::MetricVec<T>::with_label_values");
        with_file.file = Some("/app/src/vec.rs".into());
        assert!(!is_outside(&with_file, &program));
        assert!(!is_outside(&frames[0], &[]));
    }

    #[test]
    fn qualified_self_types() {
        assert_eq!(
            qualified_self("<alloc::vec::Vec<app::Event>>::push"),
            Some(("alloc::vec::Vec<app::Event>", None))
        );
        assert_eq!(
            qualified_self("<alloc::vec::Vec<u8> as core::clone::Clone>::clone"),
            Some(("alloc::vec::Vec<u8>", Some("core::clone::Clone")))
        );
        assert_eq!(
            qualified_self(
                "<hashbrown::raw::RawTable<(alloc::sync::Arc<app::Conn>, ())>>::reserve_rehash::<hashbrown::map::make_hasher<alloc::sync::Arc<app::Conn>, (), std::hash::random::RandomState>::{closure#0}>"
            ),
            Some((
                "hashbrown::raw::RawTable<(alloc::sync::Arc<app::Conn>, ())>",
                None
            ))
        );
        assert_eq!(
            qualified_self("<alloc::boxed::Box<dyn core::ops::function::Fn(u8) -> u8>>::new"),
            Some((
                "alloc::boxed::Box<dyn core::ops::function::Fn(u8) -> u8>",
                None
            ))
        );
        assert_eq!(qualified_self("app::main"), None);
        assert_eq!(qualified_self("<unbalanced"), None);
    }

    #[test]
    fn generic_arguments() {
        assert_eq!(
            generics("alloc::vec::Vec<app::Event>"),
            ("alloc::vec::Vec", vec!["app::Event"])
        );
        assert_eq!(
            generics("std::collections::hash::map::HashMap<u64, app::Session>"),
            (
                "std::collections::hash::map::HashMap",
                vec!["u64", "app::Session"]
            )
        );
        assert_eq!(
            generics("hashbrown::raw::RawTable<(alloc::sync::Arc<app::Conn>, ())>"),
            (
                "hashbrown::raw::RawTable",
                vec!["(alloc::sync::Arc<app::Conn>, ())"]
            )
        );
        assert_eq!(
            generics("alloc::raw_vec::RawVec<T,A>"),
            ("alloc::raw_vec::RawVec", vec!["T", "A"])
        );
        assert_eq!(
            generics("alloc::string::String"),
            ("alloc::string::String", vec![])
        );
        assert_eq!(
            split_top_level("(a::B<C, D>, ())", ','),
            vec!["(a::B<C, D>, ())"]
        );
        assert_eq!(
            split_top_level("a::B<C, D>, ()", ','),
            vec!["a::B<C, D>", "()"]
        );
    }

    #[test]
    fn turbofish_arguments() {
        assert_eq!(
            turbofish("alloc::vec::from_elem::<u8>"),
            ("alloc::vec::from_elem", vec!["u8"])
        );
        assert_eq!(
            turbofish("alloc::fmt::format"),
            ("alloc::fmt::format", vec![])
        );
    }

    #[test]
    fn program_types() {
        assert!(mentions_program_type("alloc::sync::Arc<im::gateway::Conn>"));
        assert!(mentions_program_type("(u64, app::Session)"));
        assert!(!mentions_program_type("alloc::string::String"));
        assert!(!mentions_program_type("alloc::vec::Vec<u8>"));
        assert!(!mentions_program_type("u64"));
    }

    #[test]
    fn dwarf_short_names() {
        assert_eq!(shorten("alloc::sync::Arc<app::Conn>"), "Arc<Conn>");
        assert_eq!(
            shorten("(alloc::string::String, [u8; 16])"),
            "(String, [u8; 16])"
        );
        assert_eq!(
            shorten(
                "std::collections::hash::set::HashSet<alloc::sync::Arc<im::gateway::ChannelContext>>"
            ),
            "HashSet<Arc<ChannelContext>>"
        );
        assert_eq!(shorten("&'static str"), "&'static str");
        assert_eq!(
            shorten("dyn core::error::Error + core::marker::Send"),
            "dyn Error + Send"
        );
        assert_eq!(shorten("<T as core::clone::Clone>"), "<T as Clone>");
        assert_eq!(shorten("u8"), "u8");
        // A spawned task's type names the function its future comes from.
        assert_eq!(
            shorten(
                "alloc::boxed::Box<tokio::runtime::task::core::Cell<app::db::purge_expired::{closure#0}, alloc::sync::Arc<tokio::runtime::scheduler::current_thread::Handle>>>"
            ),
            "Box<Cell<purge_expired::{closure#0}, Arc<Handle>>>"
        );
        assert_eq!(
            shorten("app::serve::{closure#0}::{closure#1}"),
            "serve::{closure#0}::{closure#1}"
        );
    }

    #[test]
    fn short_function_names() {
        let cases = [
            ("<im::ips::Ips>::bind", "Ips::bind"),
            (
                "<im::gateway::Gateway>::serve::{closure#0}",
                "Gateway::serve::{closure#0}",
            ),
            (
                "<im::Conn as core::clone::Clone>::clone",
                "<Conn as Clone>::clone",
            ),
            (
                "im::parts::load_routes::{closure#0}",
                "load_routes::{closure#0}",
            ),
            ("alloc::vec::from_elem::<u8>", "from_elem::<u8>"),
            ("<alloc::vec::Vec<im::Event>>::push", "Vec<Event>::push"),
            ("main", "main"),
            ("<broken", "<broken"),
        ];
        for (full, short) in cases {
            assert_eq!(short_function(full), short, "{full}");
        }
    }

    #[test]
    fn short_names() {
        assert!(is_short("push<app::Job, alloc::alloc::Global>"));
        assert!(is_short("fill_vec"));
        assert!(!is_short("alloc::fmt::format"));
        assert!(!is_short("alloc::vec::Vec<T,A>::push"));
        assert!(!is_short("<alloc::vec::Vec<app::Job>>::push"));
    }

    #[test]
    fn dependency_frames_are_told_by_their_source() {
        let frame = |file: &str| Frame {
            function: Some("serde_json::de::from_slice".into()),
            file: Some(file.into()),
            ..Frame::default()
        };
        for dependency in [
            "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde_json-1.0.140/src/de.rs",
            "/usr/local/cargo/registry/src/index.crates.io-6f17d22bba15001f/bytes-1.10.1/src/bytes_mut.rs",
            "/home/u/.cargo/git/checkouts/tokio-d4e5a1b0c9/1a2b3c4/tokio/src/runtime/task/core.rs",
        ] {
            assert!(is_dependency_frame(&frame(dependency)), "{dependency}");
        }
        for program in [
            "/srv/app/src/inbox.rs",
            "src/main.rs",
            "/rustc/59807616e1f/library/alloc/src/vec/mod.rs",
        ] {
            assert!(!is_dependency_frame(&frame(program)), "{program}");
        }
        assert!(!is_dependency_frame(&Frame::default()));
        let generated = Frame {
            function: Some("<<app::Message as serde::de::Deserialize>::deserialize::__Visitor as serde::de::Visitor>::visit_map::<_>".into()),
            file: Some("/srv/app/src/inbox.rs".into()),
            ..Frame::default()
        };
        assert!(is_dependency_frame(&generated));
        let own = Frame {
            function: Some("<app::Inbox>::receive".into()),
            file: Some("/srv/app/src/inbox.rs".into()),
            ..Frame::default()
        };
        assert!(!is_dependency_frame(&own));
    }

    #[test]
    fn library_and_program_frames() {
        for library in [
            "alloc::raw_vec::finish_grow::<alloc::alloc::Global>",
            "<alloc::vec::Vec<app::Event>>::push",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem::<alloc::alloc::Global>",
            "<[u8] as alloc::slice::hack::ConvertVec>::to_vec::<alloc::alloc::Global>",
            "<hashbrown::raw::RawTable<(u64, app::Session)>>::reserve_rehash::<_>",
            "std::rt::lang_start_internal",
            "<&str as alloc::string::ToString>::to_string",
            "<u8 as <[_]>::to_vec_in::ConvertVec>::to_vec::<alloc::alloc::Global>",
            "<<alloc::boxed::Box<str> as core::convert::From<&str>>::from as core::ops::function::FnOnce<(&str,)>>::call_once",
            "<[u8]>::to_vec",
            "main",
            "__libc_start_main",
        ] {
            assert!(is_library(library), "{library}");
        }
        for program in [
            "app::main",
            "<app::Conn as core::clone::Clone>::clone",
            "<app::Registry>::bind",
            "app::main::{closure#0}",
            "tokio::runtime::task::raw::poll",
            "heapsnap_report::load",
            "<u8 as app::Encode>::encode",
            "<alloc::vec::Vec<u8> as app::Encode>::encode",
        ] {
            assert!(!is_library(program), "{program}");
        }
    }

    #[test]
    fn qualified_names_as_paths() {
        assert_eq!(
            as_path("<alloc::vec::Vec<app::Event>>::push"),
            "alloc::vec::Vec<app::Event>::push"
        );
        assert_eq!(
            as_path("<alloc::vec::Vec<u8> as core::clone::Clone>::clone"),
            "alloc::vec::Vec<u8>::clone"
        );
        assert_eq!(
            as_path("<fn() -> u8 as app::Call>::call"),
            "fn() -> u8::call"
        );
        assert_eq!(as_path("app::main"), "app::main");
    }

    #[test]
    fn file_paths_are_shortened_to_what_says_where() {
        assert_eq!(
            short_file_path("/rustc/59807616e1f/library/alloc/src/vec/mod.rs"),
            "library/alloc/src/vec/mod.rs"
        );
        assert_eq!(
            short_file_path(
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashbrown-0.15.2/src/raw/mod.rs"
            ),
            "hashbrown-0.15.2/src/raw/mod.rs"
        );
        assert_eq!(short_file_path("/srv/gateway/src/ips.rs"), "src/ips.rs");
        assert_eq!(
            short_file_path("/srv/app/examples/leaky_server.rs"),
            "examples/leaky_server.rs"
        );
        assert_eq!(
            short_file_path("/home/u/app/tests/heap.rs"),
            "tests/heap.rs"
        );
        assert_eq!(
            short_file_path("/home/u/src/app/src/server/mod.rs"),
            "src/server/mod.rs"
        );
        assert_eq!(short_file_path("relative.rs"), "relative.rs");
    }
}
