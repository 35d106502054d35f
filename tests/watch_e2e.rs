//! `heapsnap watch` in a real terminal (tmux, driven with `send-keys` and
//! read back with `capture-pane`), following the leaky server while it
//! runs:
//!
//! - it names the leaking registry while the program still runs, with
//!   the snapshots it says it has read, and `heapsnap leaks` on those same
//!   snapshots names it too;
//! - keys switch the lower pane (top by type, by function, the diff of
//!   the run's first and newest snapshots, back to leaks);
//! - it survives a resize (nothing wider than the new width) and the
//!   program's exit (it says the process ended, and its chart shows the
//!   live heap and RSS against the memory limit);
//! - `--interval` writes a request file beside the dumps while the
//!   process runs, and withdraws it when the process has ended;
//! - `q` and Ctrl-C end it with status 0, and the terminal's modes are
//!   what they were before (`stty -g` before and after).

#[path = "../reporter/tests/tmux/mod.rs"]
mod tmux;
#[path = "../reporter/tests/tools/mod.rs"]
mod tools;

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tmux::{Terminal, shell_quote};

/// Longest the test waits for the screen to show something (the machine
/// may be busy; the program itself runs 16 s).
const PATIENCE: Duration = Duration::from_secs(120);

/// Waits until the screen shows what `done` wants; the screen.
fn wait_for(terminal: &Terminal, what: &str, done: impl Fn(&str) -> bool) -> String {
    terminal.wait_for(what, PATIENCE, Terminal::screen, done)
}

fn quote(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// The number after "snapshots read " on the status line.
fn snapshots_read(screen: &str) -> Option<usize> {
    let after = screen.split("snapshots read ").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn watch_follows_the_leaky_server_in_a_terminal() {
    let Some(tmux) = tools::find(&["tmux"], "-V", "tmux") else {
        return;
    };
    let heapsnap = support::heapsnap_bin();
    let server = support::example("leaky_server");
    let dir = support::scratch("watch");
    let scratch = support::scratch("watch-files");
    // Dumps from the environment, as a deployment sets them, with a
    // memory limit for the chart to draw.
    let mut program = Command::new(server)
        .args(["--seconds", "16", "--no-report"])
        .env("HEAPSNAP_DIR", &dir)
        .env("HEAPSNAP_DUMP_INTERVAL", "500ms")
        .env("HEAPSNAP_MEMORY_LIMIT", "96MiB")
        .env("HEAPSNAP_SAMPLE_INTERVAL", "65536")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let terminal = Terminal::new(tmux, "watch");
    let (before, after, after_second) = (
        scratch.join("stty-before"),
        scratch.join("stty-after"),
        scratch.join("stty-after-second"),
    );
    let watch = format!("{} watch {}", quote(&heapsnap), quote(&dir));
    let script = format!(
        "stty -g > {b}; {watch} --interval 1s; s=$?; stty -g > {a}; echo \"[first ended $s]\"; \
         read go; {watch}; s=$?; stty -g > {a2}; echo \"[second ended $s]\"; sleep 600",
        b = quote(&before),
        a = quote(&after),
        a2 = quote(&after_second),
    );
    terminal.start(100, 40, &script);

    // The suspect, named while the program still runs.
    let registry = "HashMap<String, HashSet<Arc<ChannelContext>>> grown in Ips::bind";
    // First among the suspects: a short window can list it under "may
    // have stopped" first, below a cache still warming.
    let first_suspect = format!("1. {registry}");
    let screen = wait_for(&terminal, "the registry named first", |s| {
        s.contains(&first_suspect)
    });
    assert!(
        program.try_wait().unwrap().is_none(),
        "named only after the program ended:\n{screen}"
    );
    let read = snapshots_read(&screen).expect("a count of snapshots read");
    // `--interval`: a request beside the dumps while the process runs.
    let request = dir.join(format!("heapsnap-{}.interval", program.id()));
    let asked = std::fs::read_to_string(&request).expect("a request file");
    assert_eq!(asked.trim(), "1000ms");
    // The same snapshots, offline.
    let offline_dir = scratch.join("offline");
    std::fs::create_dir_all(&offline_dir).unwrap();
    for file in support::snapshot_files(&dir).iter().take(read) {
        std::fs::copy(file, offline_dir.join(file.file_name().unwrap())).unwrap();
    }
    let offline = Command::new(&heapsnap)
        .args(["leaks", "--format", "json"])
        .arg(&offline_dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    let first = &report["suspects"][0];
    assert_eq!(
        first["function"], "<leaky_server::ips::Ips>::bind",
        "{report}"
    );

    // Views on keys.
    terminal.keys("t");
    wait_for(&terminal, "the top by type", |s| {
        s.contains("top by type (t)")
    });
    terminal.keys("f");
    wait_for(&terminal, "the top by function", |s| {
        s.contains("top by function (f)")
    });
    terminal.keys("d");
    wait_for(&terminal, "the diff", |s| {
        s.contains("diff, first to newest (d)")
    });
    terminal.keys("l");
    wait_for(&terminal, "the leaks again", |s| s.contains("leaks (l)"));
    // The guide's picture of the dashboard: later in the run, the registry
    // still first.
    if let Some(path) = std::env::var_os("HEAPSNAP_SCREENSHOT") {
        let screen = wait_for(&terminal, "16 snapshots read", |s| {
            snapshots_read(s).is_some_and(|n| n >= 16) && s.contains(&first_suspect)
        });
        std::fs::write(path, &screen).unwrap();
    }

    // A narrower terminal: redrawn to it.
    let status = terminal
        .tmux()
        .args(["resize-window", "-t", "main", "-x", "72", "-y", "30"])
        .status()
        .unwrap();
    assert!(status.success());
    let screen = wait_for(&terminal, "a redraw 72 wide", |s| {
        s.lines()
            .any(|l| l.chars().count() == 72 && l.starts_with('┌'))
    });
    for line in screen.lines() {
        assert!(line.chars().count() <= 72, "wider than 72:\n{screen}");
    }

    // The program ends; the dashboard says so and stays, its chart of
    // the heap and RSS against the limit: by then the program's memory is
    // more than half the limit, so the limit's line of dots is drawn.
    assert!(program.wait().unwrap().success());
    let screen = wait_for(&terminal, "the process ended", |s| {
        s.contains("process ended")
    });
    // The status line, cut at 72 columns: "RSS 56.7 MiB (59% of".
    assert!(screen.lines().next().unwrap().contains("% of"), "{screen}");
    let chart: Vec<&str> = screen.lines().skip(2).take(7).collect();
    assert!(
        chart[0].contains(" and RSS (") && chart[0].contains("limit 96.0 MiB"),
        "{screen}"
    );
    // The limit's line of dots: the top row, labelled with the limit, or
    // the row it falls in when the heap passed it (a fast machine's run
    // outgrows 96 MiB in its 16 s, and the axis then tops at the heap).
    assert!(
        chart.iter().any(|line| line.contains("│•••")),
        "no line at the limit:\n{screen}"
    );
    assert!(!request.exists(), "the request outlived the process");

    terminal.keys("q");
    let screen = wait_for(&terminal, "the first to end", |s| {
        s.contains("[first ended")
    });
    assert!(screen.contains("[first ended 0]"), "{screen}");
    assert!(
        !screen.contains('┌'),
        "the dashboard stayed on screen:\n{screen}"
    );
    // The second starts when told: its screen would hide the first's end.
    terminal.keys("Enter");
    wait_for(&terminal, "the second to start", |s| {
        s.contains("leaks (l)")
    });
    terminal.keys("C-c");
    let screen = wait_for(&terminal, "the second to end", |s| {
        s.contains("[second ended")
    });
    assert!(screen.contains("[second ended 0]"), "{screen}");
    let modes = |path: &Path| std::fs::read_to_string(path).unwrap();
    assert_eq!(modes(&before), modes(&after), "terminal modes after q");
    assert_eq!(modes(&before), modes(&after_second), "after Ctrl-C");
}
