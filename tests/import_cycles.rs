//! No import cycle in any crate of the workspace: every member named in
//! the root `Cargo.toml` (and the root package's own `src/`, if it grows
//! one) is read, and no two of its source files use each other, directly
//! or through others. The allocator and the reporter also check their
//! layers (`alloc/tests/layers.rs`, `reporter/tests/layers.rs`); this test
//! is what covers the crates without layers of their own (`format`, the
//! benches' crates) and any member added later. Between crates, cargo
//! itself forbids cycles.

#[path = "../alloc/tests/common/imports.rs"]
mod imports;

use std::path::{Path, PathBuf};

/// The `src` folder of every workspace member, from the root manifest's
/// `members = [...]` line.
fn member_sources(root: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("the root manifest lists its members");
    let list = &line[line.find('[').unwrap() + 1..line.rfind(']').unwrap()];
    list.split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| root.join(m).join("src"))
        .chain([root.join("src")])
        .filter(|src| src.is_dir())
        .collect()
}

#[test]
fn no_crate_of_the_workspace_has_an_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crates = member_sources(root);
    assert!(
        crates.len() >= 5,
        "found only {} member crates: {crates:?}",
        crates.len()
    );
    let mut found = Vec::new();
    for src in &crates {
        let edges = imports::edges(src);
        for cycle in imports::cycles(src, &edges) {
            found.push(format!("{}: {cycle}", src.display()));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}
