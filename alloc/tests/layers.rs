//! The allocator's layers, checked on its sources: each module calls only
//! modules of its own layer or of layers below it, and no two source files
//! use each other, directly or through others (no import cycle).
//!
//! Layers, top to bottom: the entry points (`src/*.rs`), `dump/`,
//! `snapshot/`, `record/`, `sys/`. A reference is a path starting with
//! `crate::` (in a `use` or in code) or `super::`; test modules at the
//! bottom of a file (`#[cfg(test)]`) and comments are left out.

#[path = "common/imports.rs"]
mod imports;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imports::{code, references, sources};

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

#[test]
fn no_module_calls_a_layer_above_its_own_and_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&root, &root, &mut all);
    let files: BTreeMap<Vec<String>, PathBuf> =
        all.iter().map(|(p, m)| (m.clone(), p.clone())).collect();
    assert!(files.len() > 20, "found only {} source files", files.len());

    let mut violations = Vec::new();
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
        }
    }
    assert!(
        violations.is_empty(),
        "calls upwards:\n{}",
        violations.join("\n")
    );

    let cycles = imports::cycles(&root, &imports::edges(&root));
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
