//! `heapsnap watch` ends however it is ended and leaves the terminal as
//! it found it (tmux; `stty -g` before and after): a panic (the debug
//! build's `!` key) and the terminating signals `kill` and `timeout` send.
//! The keys `q` and Ctrl-C are checked with the live program in the
//! workspace's `tests/watch_e2e.rs`.

mod tmux;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tmux::{Terminal, shell_quote};

const PATIENCE: Duration = Duration::from_secs(120);

/// A recorded run to watch: no process keeps live counters there.
fn run_dir() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshots/drain");
    shell_quote(&dir.display().to_string())
}

/// Starts `heapsnap watch` in a terminal of its own, the terminal's modes
/// saved before and after in `scratch`; waits for the dashboard; returns
/// the terminal and the two files of modes.
fn watch(name: &str, scratch: &Path) -> Option<(Terminal, PathBuf, PathBuf)> {
    let terminal = Terminal::new(tools::find(&["tmux"], "-V", "tmux")?, name);
    let (before, after) = (scratch.join("before"), scratch.join("after"));
    let pid = scratch.join("pid");
    // `exec` so that the pid written is the dashboard's; the modes are
    // saved before the end is said, so that the test reads them whole.
    let script = format!(
        "stty -g > {before}; sh -c 'echo $$ > {pid}; exec \"$0\" watch \"$1\"' {heapsnap} {dir}; \
         status=$?; stty -g > {after}; echo \"[ended $status]\"; sleep 600",
        before = shell_quote(&before.display().to_string()),
        after = shell_quote(&after.display().to_string()),
        pid = shell_quote(&pid.display().to_string()),
        heapsnap = shell_quote(env!("CARGO_BIN_EXE_heapsnap")),
        dir = run_dir(),
    );
    terminal.start(100, 40, &script);
    terminal.wait_for("the dashboard", PATIENCE, Terminal::screen, |s| {
        s.contains("leaks (l)")
    });
    Some((terminal, before, after))
}

/// Waits for the dashboard to end; its exit status and the screen.
fn ended(terminal: &Terminal) -> (String, String) {
    let screen = terminal.wait_for("the dashboard to end", PATIENCE, Terminal::screen, |s| {
        s.contains("[ended ")
    });
    let status = screen
        .split("[ended ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_default()
        .to_owned();
    (status, screen)
}

fn assert_restored(before: &Path, after: &Path, screen: &str) {
    let modes = |path: &Path| std::fs::read_to_string(path).unwrap();
    assert_eq!(modes(before), modes(after), "terminal modes:\n{screen}");
    // The alternate screen is left: the dashboard's frame is gone.
    assert!(
        !screen.contains('┌'),
        "the dashboard stayed on screen:\n{screen}"
    );
}

#[test]
fn a_panic_leaves_the_terminal_as_it_was() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((terminal, before, after)) = watch("panic", scratch.path()) else {
        return;
    };
    terminal.keys("!");
    let (status, screen) = ended(&terminal);
    assert_eq!(status, "101", "a panic's status:\n{screen}");
    assert!(screen.contains("a deliberate panic"), "{screen}");
    assert_restored(&before, &after, &screen);
}

#[test]
fn a_terminating_signal_leaves_the_terminal_as_it_was() {
    for (signal, name) in [(15, "TERM"), (1, "HUP")] {
        let scratch = tempfile::tempdir().unwrap();
        let Some((terminal, before, after)) = watch(name, scratch.path()) else {
            return;
        };
        let pid = std::fs::read_to_string(scratch.path().join("pid")).unwrap();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), pid.trim()])
            .status()
            .unwrap();
        assert!(sent.success());
        let (status, screen) = ended(&terminal);
        // Ended by the signal, as the shell reports it (128 + its number).
        assert_eq!(status, (128 + signal).to_string(), "{screen}");
        assert_restored(&before, &after, &screen);
    }
}

/// The terminal closes under it (tmux's server killed: the session hangs
/// up): it ends, rather than spinning on a terminal that reads as
/// readable forever (crossterm-rs/crossterm#793).
#[test]
fn a_terminal_that_goes_away_ends_it() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((terminal, _, _)) = watch("gone", scratch.path()) else {
        return;
    };
    let pid = std::fs::read_to_string(scratch.path().join("pid")).unwrap();
    let proc = Path::new("/proc").join(pid.trim());
    drop(terminal);
    let started = std::time::Instant::now();
    // Gone, or a zombie its parent has yet to reap.
    let ended = || {
        std::fs::read_to_string(proc.join("stat")).map_or(true, |stat| {
            stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'))
        })
    };
    while !ended() {
        if started.elapsed() > PATIENCE {
            // Not left spinning for the rest of the suite.
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            panic!("still running after its terminal went away");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
