//! The reporter's layers, checked on its sources: the analysis (every
//! module but `render/` and the command's own `main`, `commands`, `cli`,
//! `output`) never uses `render`, where sentences, tables and colours
//! live; and no two source files use each other, directly or through
//! others (no import cycle).

#[path = "../../alloc/tests/common/imports.rs"]
mod imports;

use std::path::Path;

use imports::{code, references, sources};

/// The modules that present: they may use `render`.
const PRESENTATION: [&str; 7] = [
    "render",
    "main",
    "commands",
    "cli",
    "output",
    "lib",
    "dashboard",
];

#[test]
fn the_analysis_never_renders_and_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&root, &root, &mut all);
    assert!(all.len() > 20, "found only {} source files", all.len());
    let mut renders = Vec::new();
    for (path, module) in &all {
        if module.is_empty() || PRESENTATION.contains(&module[0].as_str()) {
            continue;
        }
        let text = code(&std::fs::read_to_string(path).unwrap());
        if references(&text, module)
            .iter()
            .any(|target| target.first().map(String::as_str) == Some("render"))
        {
            renders.push(path.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    assert!(
        renders.is_empty(),
        "analysis modules that render: {renders:?}"
    );
    let cycles = imports::cycles(&root, &imports::edges(&root));
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
