//! The allocator's layers, checked on its sources: each module calls only
//! modules of its own layer or of layers below it, and no two source files
//! use each other, directly or through others (no import cycle).
//!
//! Layers, top to bottom: the entry points (`src/*.rs`), `dump/`,
//! `snapshot/`, `record/`, `sys/`. A reference is a path starting with
//! `crate::` (in a `use` or in code) or `super::`; test modules at the
//! bottom of a file (`#[cfg(test)]`) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["dump", "snapshot", "record", "sys"];

/// 0 for the entry points, then 1.. in the order of [`LAYERS`].
fn layer(module: &[String]) -> usize {
    module
        .first()
        .and_then(|first| LAYERS.iter().position(|l| l == first))
        .map_or(0, |i| i + 1)
}

fn layer_name(layer: usize) -> &'static str {
    match layer {
        0 => "entry points",
        n => LAYERS[n - 1],
    }
}

/// Every `.rs` file under `dir`, with its module path (`record/table.rs`
/// is `["record", "table"]`, `record/mod.rs` is `["record"]`).
fn sources(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<String>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            out.push((path, module));
        }
    }
}

/// The source without comments and without the test module at its end.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d, e}}` (the text after `crate::` or `super::`) into
/// its paths; stops at the end of the path.
fn expand(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut prefix = Vec::new();
    // `super::{a, b}`: a group right after the prefix.
    if let Some(group) = text.strip_prefix('{') {
        let close = matching(group);
        return split_top(&group[..close])
            .into_iter()
            .flat_map(|part| expand(part.trim()))
            .map(|mut path| {
                if path.first().map(String::as_str) == Some("self") {
                    path.remove(0);
                }
                path
            })
            .collect();
    }
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if !word.is_empty() {
            prefix.push(word.to_owned());
        }
        if let Some(after) = after.strip_prefix("::") {
            if let Some(group) = after.strip_prefix('{') {
                let close = matching(group);
                for part in split_top(&group[..close]) {
                    for mut tail in expand(part.trim()) {
                        let mut path = prefix.clone();
                        if tail.first().map(String::as_str) == Some("self") {
                            tail.remove(0);
                        }
                        path.append(&mut tail);
                        paths.push(path);
                    }
                }
                return paths;
            }
            rest = after;
            continue;
        }
        paths.push(prefix);
        return paths;
    }
}

/// The index of the `}` closing a group whose `{` was just before `text`.
fn matching(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The module paths `code` refers to, absolute (from the crate root).
fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        found.extend(expand(&code[at + "crate::".len()..]));
    }
    // `super::` from `record/table.rs` (module `record::table`) is `record`;
    // from `record/mod.rs` (module `record`), the crate root.
    let parent = &module[..module.len().saturating_sub(1)];
    for (at, _) in code.match_indices("super::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        for tail in expand(&code[at + "super::".len()..]) {
            let mut path = parent.to_vec();
            path.extend(tail);
            found.push(path);
        }
    }
    found
}

/// The source file a module path lands in: the longest prefix that is a
/// file of the crate.
fn file_of<'a>(path: &[String], files: &'a BTreeMap<Vec<String>, PathBuf>) -> Option<&'a PathBuf> {
    (1..=path.len()).rev().find_map(|n| files.get(&path[..n]))
}

#[test]
fn no_module_calls_a_layer_above_its_own_and_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&root, &root, &mut all);
    let files: BTreeMap<Vec<String>, PathBuf> =
        all.iter().map(|(p, m)| (m.clone(), p.clone())).collect();
    assert!(files.len() > 20, "found only {} source files", files.len());

    let mut violations = Vec::new();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (path, module) in &all {
        let text = code(&std::fs::read_to_string(path).unwrap());
        for target in references(&text, module) {
            if target.is_empty() {
                continue;
            }
            let (from, to) = (layer(module), layer(&target));
            if to < from {
                violations.push(format!(
                    "{} ({}) uses crate::{} ({})",
                    path.strip_prefix(&root).unwrap().display(),
                    layer_name(from),
                    target.join("::"),
                    layer_name(to)
                ));
            }
            if let Some(file) = file_of(&target, &files)
                && file != path
            {
                edges.entry(path.clone()).or_default().insert(file.clone());
            }
        }
    }
    assert!(
        violations.is_empty(),
        "calls upwards:\n{}",
        violations.join("\n")
    );

    // A cycle is a file that reaches itself. Module files (`mod.rs`) that
    // only declare and re-export their folder's modules are where paths into
    // the folder resolve, not users of those modules: their edges to their
    // own folder are left out.
    let within_own_folder = |from: &PathBuf, to: &PathBuf| {
        (from.ends_with("mod.rs") || from.ends_with("lib.rs"))
            && to.starts_with(from.parent().unwrap())
    };
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut stack: Vec<(PathBuf, Vec<PathBuf>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if within_own_folder(&at, next) {
                    continue;
                }
                if next == start {
                    let names: Vec<String> = trail
                        .iter()
                        .chain([next])
                        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
                        .collect();
                    cycles.push(names.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_reference_scanner_reads_nested_groups() {
    let module = vec!["snapshot".to_owned(), "capture".to_owned()];
    let found = references(
        "use crate::record::{self, sites::{Site, SiteTotals}, thread};\nuse super::memory;\nlet x = crate::sys::monotonic_ns();\nuse super::{graph, symbolize::{self, Cache}};",
        &module,
    );
    let names: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        names,
        [
            "record",
            "record::sites::Site",
            "record::sites::SiteTotals",
            "record::thread",
            "sys::monotonic_ns",
            "snapshot::memory",
            "snapshot::graph",
            "snapshot::symbolize",
            "snapshot::symbolize::Cache",
        ]
    );
}

/// `docs/ARCHITECTURE.md`'s lock table names every lock the `fork` handlers
/// take, in their order: the list in `fork.rs` is the one source.
#[test]
fn the_lock_table_of_the_docs_is_the_fork_handlers_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fork = std::fs::read_to_string(root.join("src/fork.rs")).unwrap();
    let mut in_code: Vec<&str> = fork
        .split("f(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    in_code.dedup();
    assert!(
        in_code.len() >= 10,
        "the list in fork.rs was not found: {in_code:?}"
    );
    let docs = std::fs::read_to_string(root.join("../docs/ARCHITECTURE.md")).unwrap();
    let table = docs
        .split("## Locks")
        .nth(1)
        .expect("ARCHITECTURE.md has a Locks section");
    let in_docs: Vec<&str> = table
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    assert_eq!(in_docs, in_code, "docs/ARCHITECTURE.md's lock table");
}
