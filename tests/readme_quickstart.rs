//! The README's quick start, followed as a newcomer would: a fresh `cargo
//! new` project, the README's `cargo add` line, its two lines of Rust, its
//! build settings, the program run with the README's `HEAPSNAP_DIR`, then
//! the README's `heapsnap leaks`. Every one of those is read out of
//! README.md, so the test fails when the README stops working, not when a
//! copy of it does. The one liberty: `cargo add` is given the checkout's
//! crate (`--path`), not crates.io's.
//!
//! The program is a newcomer's: a registry that never forgets what it
//! remembers (a map of buffers), beside a bounded list of recent requests.

mod support;

use std::process::Command;

use serde_json::Value;

/// The fenced code blocks of `markdown`, with their info strings.
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((info.trim().to_owned(), body.join("\n") + "\n"));
        }
    }
    blocks
}

/// The first block of `lang` whose text contains `needle`.
fn block<'a>(blocks: &'a [(String, String)], lang: &str, needle: &str) -> &'a str {
    blocks
        .iter()
        .find(|(info, body)| info == lang && body.contains(needle))
        .map(|(_, body)| body.as_str())
        .unwrap_or_else(|| panic!("README.md has no {lang} block with {needle:?}"))
}

/// What the README says to set `HEAPSNAP_DIR` to, and the command it says
/// to run on it: "`HEAPSNAP_DIR=/var/tmp/heap` … `heapsnap leaks
/// /var/tmp/heap`".
fn dir_and_command(readme: &str) -> (String, Vec<String>) {
    let mut prose = String::new();
    let mut fenced = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let inline: Vec<&str> = prose.split('`').skip(1).step_by(2).collect();
    let dir = inline
        .iter()
        .find_map(|code| code.strip_prefix("HEAPSNAP_DIR="))
        .expect("the README sets HEAPSNAP_DIR");
    let command = inline
        .iter()
        .find(|code| code.starts_with("heapsnap leaks ") && code.contains(dir))
        .expect("the README runs heapsnap leaks on that directory");
    (
        dir.to_owned(),
        command.split_whitespace().map(str::to_owned).collect(),
    )
}

/// The program's own code, below the README's two lines.
const PROGRAM: &str = r#"
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Connections seen: nothing ever removes one.
struct Registry {
    open: HashMap<u64, Vec<u8>>,
}

impl Registry {
    #[inline(never)]
    fn remember(&mut self, id: u64) {
        self.open.insert(id, vec![id as u8; 2048]);
    }
}

/// The last thousand requests, for a status page.
struct Recent {
    items: VecDeque<String>,
}

impl Recent {
    #[inline(never)]
    fn push(&mut self, request: String) {
        if self.items.len() == 1000 {
            self.items.pop_front();
        }
        self.items.push_back(request);
    }
}

fn main() {
    let mut registry = Registry { open: HashMap::new() };
    let mut recent = Recent { items: VecDeque::new() };
    let started = Instant::now();
    let mut id = 0;
    while started.elapsed() < Duration::from_secs(8) {
        for _ in 0..50 {
            id += 1;
            registry.remember(id);
            recent.push(format!("GET /items/{id}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{} connections remembered", registry.open.len());
}
"#;

fn run(command: &mut Command) -> String {
    let output = support::output_ok(command);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_readme_quick_start_finds_the_leak_in_a_new_project() {
    let root = support::workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = code_blocks(&readme);
    let add = block(&blocks, "sh", "cargo add heapsnap");
    let two_lines = block(&blocks, "rust", "#[global_allocator]");
    let config = block(&blocks, "toml", "# .cargo/config.toml");
    let profile = block(&blocks, "toml", "[profile.release]");
    let (readme_dir, leaks) = dir_and_command(&readme);

    // Outside the checkout: inside it, Cargo would take the project for a
    // package of this workspace and use the workspace's settings, not the
    // ones the README says to write.
    let scratch = std::env::temp_dir().join(format!("heapsnap-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .args(["new", "--quiet", "--vcs", "none", "newcomer"])
        .current_dir(&scratch));
    let project = scratch.join("newcomer");

    // `cargo add heapsnap`, from the checkout.
    let add: Vec<&str> = add
        .lines()
        .find(|l| l.trim_start().starts_with("cargo add heapsnap"))
        .unwrap()
        .split_whitespace()
        .collect();
    run(Command::new(&cargo)
        .args(&add[1..])
        .args(["--path", &root.join("alloc").display().to_string()])
        .current_dir(&project));

    // The two lines, then the program.
    std::fs::write(project.join("src/main.rs"), format!("{two_lines}{PROGRAM}")).unwrap();
    // The build settings, where the README says they go.
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(project.join(".cargo/config.toml"), config).unwrap();
    let mut manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    manifest.push('\n');
    manifest.push_str(profile.trim_start_matches("# Cargo.toml\n"));
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock: the versions its tests already fetched.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();

    let target = root.join("target").join("readme-quickstart");
    run(Command::new(&cargo)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .current_dir(&project));

    // Run with the README's HEAPSNAP_DIR (here in scratch), dumps every
    // second for the 8 s the program lasts.
    let dumps = scratch.join(readme_dir.trim_start_matches('/'));
    let stdout = run(Command::new(target.join("release/newcomer"))
        .env("HEAPSNAP_DIR", &dumps)
        .env("HEAPSNAP_DUMP_INTERVAL", "1s")
        .current_dir(&project));
    assert!(stdout.contains("connections remembered"), "{stdout}");

    // The README's `heapsnap leaks DIR`, as JSON to be read here.
    let leaks: Vec<String> = leaks
        .iter()
        .map(|a| a.replace(&readme_dir, &dumps.display().to_string()))
        .collect();
    let report = run(Command::new(support::heapsnap_bin())
        .args(&leaks[1..])
        .args(["--format", "json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    let suspects = report["suspects"].as_array().unwrap();
    let names_the_leak = |s: &Value| {
        let text = s.to_string();
        text.contains("Registry>::remember")
    };
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        suspects.first().is_some_and(names_the_leak),
        "the first suspect is not the registry's leak: {report:#}"
    );
    assert!(
        !suspects
            .iter()
            .any(|s| s.to_string().contains("Recent>::push") && !names_the_leak(s)),
        "the bounded list is a suspect: {report:#}"
    );
}
