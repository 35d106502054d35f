//! `top`, `diff` and `leaks` in a real terminal 100 columns wide (tmux,
//! read back with `capture-pane`): no line is wider than the terminal,
//! and nothing a person needs is cut. Headers and sentences wrap; table
//! rows are cut with `…` only in their last column (the location).

mod tmux;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tmux::{Terminal, shell_quote};

const COLUMNS: usize = 100;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn tmux() -> Option<PathBuf> {
    tools::find(&["tmux"], "-V", "tmux")
}

/// Runs `args` of the `heapsnap` command in a new window `COLUMNS` wide
/// and returns everything it showed once it has finished (see
/// [`Terminal::history`]).
fn run(terminal: &Terminal, args: &[&str]) -> String {
    let program = env!("CARGO_BIN_EXE_heapsnap");
    let mut line = shell_quote(program);
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    // The marker says the command ended; the window stays open to be read.
    terminal.start(
        COLUMNS,
        200,
        &format!("{line} 2>&1; echo '[done]'; sleep 600"),
    );
    terminal.wait_for(
        "the command to finish",
        Duration::from_secs(300),
        Terminal::history,
        |screen| screen.contains("[done]"),
    )
}

/// The command's output through a pipe: full lines, no colour.
fn plain(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_heapsnap"))
        .args(args)
        .output()
        .expect("heapsnap runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `text` with its runs of white space made one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn no_line_wider_than_the_terminal(screen: &str, what: &str) {
    for line in screen.lines() {
        assert!(
            line.chars().count() <= COLUMNS,
            "{what}: a line of {} columns:\n{line}\n\n{screen}",
            line.chars().count()
        );
    }
}

/// The screen of `heapsnap ARGS` in a terminal of its own, checked for
/// lines wider than the terminal; `None` without tmux (outside CI).
fn in_terminal(args: &[&str]) -> Option<String> {
    let terminal = Terminal::new(tmux()?, args[0]);
    let screen = run(&terminal, args);
    no_line_wider_than_the_terminal(&screen, args[0]);
    Some(screen)
}

#[test]
fn top_in_100_columns_keeps_its_header_whole() {
    let snapshot = data("snapshots/quickstart.json");
    let snapshot = snapshot.to_str().unwrap();
    let Some(screen) = in_terminal(&["top", snapshot]) else {
        return;
    };
    // The header's two lines, every word of them: the timestamp, the RSS.
    let full = plain(&["top", snapshot]);
    let header: Vec<&str> = full.lines().take(2).collect();
    assert!(header[1].contains("RSS"), "{full}");
    assert!(
        words(&screen).contains(&words(&header.join(" "))),
        "the header is not whole:\n{screen}\nexpected:\n{}",
        header.join("\n")
    );
}

#[test]
fn leaks_and_diff_in_100_columns_keep_every_sentence_whole() {
    let run = data("snapshots/drain");
    let run = run.to_str().unwrap();
    let Some(screen) = in_terminal(&["leaks", run]) else {
        return;
    };
    let json: serde_json::Value =
        serde_json::from_str(&plain(&["leaks", "--format", "json", run])).unwrap();
    let summary = json["suspects"][0]["summary"].as_str().unwrap();
    assert!(
        words(&screen).contains(&words(summary)),
        "the suspect's sentence is not whole:\n{screen}\nexpected:\n{summary}"
    );
    let heading = plain(&["leaks", run]);
    let heading = heading.lines().next().unwrap();
    assert!(words(&screen).contains(&words(heading)), "{screen}");

    let screen = in_terminal(&["diff", run]).expect("tmux was found a moment ago");
    let full = plain(&["diff", run]);
    for line in full.lines().take(3) {
        assert!(
            words(&screen).contains(&words(line)),
            "{line:?} is not whole:\n{screen}"
        );
    }
}
