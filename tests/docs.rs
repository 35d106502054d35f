//! What the documentation cites exists: every path it names in backticks
//! (`alloc/tests/fork_dumps.rs`, `benches/walltime.py`) is a file or
//! directory of the repository, and every test or function it names in
//! backticks (`a_directory_is_ordered_by_its_numbers`) is a `fn` of its
//! sources. Docs that outlive the code they describe fail here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files whose words are checked: the docs, the README, the benchmark
/// notes and the changelog, and the manifests' comments.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "README.md",
        "BENCHMARKS.md",
        "CHANGELOG.md",
        "Cargo.toml",
        "alloc/Cargo.toml",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// Every `fn` name of the repository's Rust sources (its targets, benches,
/// examples, fuzz targets), and all their text.
fn functions(root: &Path) -> (BTreeSet<String>, String) {
    fn walk(dir: &Path, out: &mut BTreeSet<String>, all: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != ".git" {
                    walk(&path, out, all);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                all.push_str(&text);
                for (at, _) in text.match_indices("fn ") {
                    let rest = &text[at + 3..];
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    out.insert(rest[..end].to_owned());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut all = String::new();
    walk(root, &mut out, &mut all);
    (out, all)
}

/// The text between backticks, for a Markdown file; for a manifest, its
/// comments' words too (they are not in backticks).
fn cited(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    if path.extension().is_some_and(|e| e == "toml") {
        for line in text.lines() {
            if let Some((_, comment)) = line.split_once('#') {
                out.extend(comment.split_whitespace().map(|w| {
                    w.trim_matches(|c: char| !(c.is_alphanumeric() || "/._-".contains(c)))
                        .to_owned()
                }));
            }
        }
    }
    out
}

/// A repository path: a relative path with a directory the repository has
/// and a file extension of its sources, or one of its top directories.
fn as_path(word: &str) -> Option<&str> {
    let word = word.split([':', ' ']).next()?;
    let tops = [
        "alloc/",
        "format/",
        "reporter/",
        "tests/",
        "benches/",
        "examples/",
        "docs/",
        "fuzz/",
    ];
    let known_top = tops.iter().any(|t| word.starts_with(t));
    let source = [".rs", ".py", ".md", ".toml", ".sh", ".js", ".css", ".html"]
        .iter()
        .any(|e| word.ends_with(e));
    (known_top && source && !word.contains(['*', '<', '{', '$'])).then_some(word)
}

/// A name that reads as code's: snake case, three words or more (a test's
/// name is five or more).
fn as_function(word: &str) -> Option<&str> {
    let word = word.trim_end_matches("()");
    let snake = word
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (snake && word.matches('_').count() >= 2 && !word.starts_with('_')).then_some(word)
}

#[test]
fn every_path_and_function_the_docs_cite_exists() {
    let root = root();
    let (functions, sources) = functions(&root);
    let mut missing = Vec::new();
    for doc in documents(&root) {
        let name = doc.strip_prefix(&root).unwrap().display().to_string();
        for word in cited(&doc) {
            if let Some(path) = as_path(&word) {
                // Paths inside a crate are cited from the crate's root too.
                let exists = root.join(path).exists()
                    || ["alloc", "reporter", "format"]
                        .iter()
                        .any(|krate| root.join(krate).join(path).exists());
                if !exists {
                    missing.push(format!("{name}: path `{path}`"));
                }
            } else if let Some(function) = as_function(&word) {
                // A test's name must be a test; a shorter name (a field, a
                // system call) must be somewhere in the sources, and a JSON
                // field's, however long, as the string its serializer writes.
                let test_like = function.matches('_').count() >= 4;
                let exists = functions.contains(function)
                    || (!test_like && sources.contains(function))
                    || sources.contains(&format!("\"{function}\""));
                if !exists {
                    missing.push(format!("{name}: function `{function}`"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the docs cite what does not exist:\n{}",
        missing.join("\n")
    );
}

/// The guide's tables of environment variables are the ones made from the
/// list in `heapsnap_format::settings`, word for word.
#[test]
fn the_guides_settings_tables_are_made_from_the_list() {
    use heapsnap_format::settings::{ReadBy, markdown_table};
    let guide = std::fs::read_to_string(root().join("docs/GUIDE.md")).unwrap();
    for read_by in [ReadBy::Dumps, ReadBy::Profiler, ReadBy::Command] {
        let table = markdown_table(read_by);
        assert!(
            guide.contains(&table),
            "docs/GUIDE.md lacks the {read_by:?} table as the list makes it:\n{table}"
        );
    }
}

/// The profiler reads exactly the variables the list gives it, and the
/// command those the list gives the command.
#[test]
fn the_settings_list_names_what_the_code_reads() {
    use heapsnap_format::settings::{ReadBy, SETTINGS};
    let names_in = |path: &str| -> BTreeSet<String> {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        text.match_indices("\"HEAPSNAP_")
            .map(|(at, _)| {
                let rest = &text[at + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .unwrap_or(rest.len());
                rest[..end].to_owned()
            })
            .filter(|name| !name.ends_with('_'))
            .collect()
    };
    let listed = |which: &[ReadBy]| -> BTreeSet<String> {
        SETTINGS
            .iter()
            .filter(|s| which.contains(&s.read_by))
            .map(|s| s.name.to_owned())
            .filter(|n| n.starts_with("HEAPSNAP_"))
            .collect()
    };
    assert_eq!(
        names_in("alloc/src/config.rs"),
        listed(&[ReadBy::Dumps, ReadBy::Profiler]),
        "alloc/src/config.rs and the settings list disagree"
    );
    assert_eq!(
        names_in("reporter/src/load.rs"),
        listed(&[ReadBy::Command]),
        "reporter/src/load.rs and the settings list disagree"
    );
}
