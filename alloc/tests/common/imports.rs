//! Reading a crate's imports from its sources, for the layer tests of
//! the allocator (`alloc/tests/layers.rs`) and of the reporter
//! (`reporter/tests/layers.rs`): every `.rs` file with its module path,
//! the module paths each refers to (`crate::`, `super::`, groups
//! included), and the import cycles between files.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path (`record/table.rs`
/// is `["record", "table"]`, `record/mod.rs` is `["record"]`).
pub fn sources(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<String>)>) {
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
pub fn code(text: &str) -> String {
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
pub fn references(code: &str, module: &[String]) -> Vec<Vec<String>> {
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
pub fn file_of<'a>(
    path: &[String],
    files: &'a BTreeMap<Vec<String>, PathBuf>,
) -> Option<&'a PathBuf> {
    (1..=path.len()).rev().find_map(|n| files.get(&path[..n]))
}

/// Which source file uses which (`root` is the crate's `src`), leaving
/// out `mod.rs`/`lib.rs` edges into their own folder (where paths into
/// the folder resolve, not uses).
pub fn edges(root: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut all = Vec::new();
    sources(root, root, &mut all);
    let files: BTreeMap<Vec<String>, PathBuf> =
        all.iter().map(|(p, m)| (m.clone(), p.clone())).collect();
    // What module files re-export (`pub use a::B` in `lib.rs`): a path to
    // `crate::B` is a use of `a`, not of `lib.rs` (a re-export hid the
    // edge it stands for).
    let mut exported: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (path, module) in &all {
        let text = code(&std::fs::read_to_string(path).unwrap());
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("pub use "))
        {
            let line = line.trim_start().trim_start_matches("pub use ");
            let line = if line.starts_with("crate::") || line.starts_with("super::") {
                line.to_owned()
            } else {
                format!("self::{line}")
            };
            let line = line.replacen(
                "self::",
                &format!(
                    "crate::{}",
                    module.iter().map(|m| format!("{m}::")).collect::<String>()
                ),
                1,
            );
            for target in references(&line, module) {
                if let Some(name) = target.last() {
                    let mut alias = module.clone();
                    alias.push(name.clone());
                    exported.insert(alias, target);
                }
            }
        }
    }
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (path, module) in &all {
        let text = code(&std::fs::read_to_string(path).unwrap());
        for target in references(&text, module) {
            let target = (1..=target.len())
                .rev()
                .find_map(|n| exported.get(&target[..n]))
                .cloned()
                .unwrap_or(target);
            if let Some(file) = file_of(&target, &files)
                && file != path
            {
                edges.entry(path.clone()).or_default().insert(file.clone());
            }
        }
    }
    edges
}

/// The import cycles among `edges` (paths shown from `root`).
pub fn cycles(root: &Path, edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<String> {
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
                        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
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
    cycles
}
