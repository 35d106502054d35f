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
//!   program's exit (it says the process ended);
//! - `--interval` writes a request file beside the dumps while the
//!   process runs, and withdraws it when the process has ended;
//! - `q` and Ctrl-C end it with status 0, and the terminal's modes are
//!   what they were before (`stty -g` before and after).

#[path = "../reporter/tests/tools/mod.rs"]
mod tools;

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest the test waits for the screen to show something (the machine
/// may be busy; the program itself runs 16 s).
const PATIENCE: Duration = Duration::from_secs(120);

/// A tmux server of its own, killed when dropped.
struct Terminal {
    tmux: PathBuf,
    socket: String,
}

impl Terminal {
    fn tmux(&self) -> Command {
        let mut command = Command::new(&self.tmux);
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    fn capture(&self) -> String {
        let output = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "main"])
            .output()
            .expect("tmux capture-pane runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "main", keys])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until the screen satisfies `done`; the screen.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.capture();
            if done(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
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
    let mut program = Command::new(server)
        .args(["--seconds", "16", "--interval-ms", "500", "--no-report"])
        .args(["--dir", &dir.display().to_string()])
        .env("HEAPSNAP_SAMPLE_INTERVAL", "65536")
        .env_remove("HEAPSNAP_DIR")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let terminal = Terminal {
        tmux,
        socket: format!("heapsnap-watch-{}", std::process::id()),
    };
    let (before, after, after_second) = (
        scratch.join("stty-before"),
        scratch.join("stty-after"),
        scratch.join("stty-after-second"),
    );
    let watch = format!("{} watch {}", quote(&heapsnap), quote(&dir));
    let script = format!(
        "stty -g > {b}; {watch} --interval 1s; echo \"[first ended $?]\"; stty -g > {a}; \
         read go; {watch}; echo \"[second ended $?]\"; stty -g > {a2}; sleep 600",
        b = quote(&before),
        a = quote(&after),
        a2 = quote(&after_second),
    );
    let status = terminal
        .tmux()
        .args(["new-session", "-d", "-x", "100", "-y", "40", "-s", "main"])
        .args(["sh", "-c", &script])
        .status()
        .expect("tmux runs");
    assert!(status.success());

    // The suspect, named while the program still runs.
    let registry = "HashMap<String, HashSet<Arc<ChannelContext>>> grown in Ips::bind";
    let screen = terminal.wait_for("the registry named", |s| s.contains(registry));
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
    terminal.wait_for("the top by type", |s| s.contains("top by type (t)"));
    terminal.keys("f");
    terminal.wait_for("the top by function", |s| s.contains("top by function (f)"));
    terminal.keys("d");
    terminal.wait_for("the diff", |s| s.contains("diff, first to newest (d)"));
    terminal.keys("l");
    terminal.wait_for("the leaks again", |s| s.contains("leaks (l)"));

    // A narrower terminal: redrawn to it.
    let status = terminal
        .tmux()
        .args(["resize-window", "-t", "main", "-x", "72", "-y", "30"])
        .status()
        .unwrap();
    assert!(status.success());
    let screen = terminal.wait_for("a redraw 72 wide", |s| {
        s.lines()
            .any(|l| l.chars().count() == 72 && l.starts_with('┌'))
    });
    for line in screen.lines() {
        assert!(line.chars().count() <= 72, "wider than 72:\n{screen}");
    }

    // The program ends; the dashboard says so and stays.
    assert!(program.wait().unwrap().success());
    terminal.wait_for("the process ended", |s| s.contains("process ended"));
    assert!(!request.exists(), "the request outlived the process");

    terminal.keys("q");
    let screen = terminal.wait_for("the first to end", |s| s.contains("[first ended"));
    assert!(screen.contains("[first ended 0]"), "{screen}");
    assert!(
        !screen.contains('┌'),
        "the dashboard stayed on screen:\n{screen}"
    );
    // The second starts when told: its screen would hide the first's end.
    terminal.keys("Enter");
    terminal.wait_for("the second to start", |s| s.contains("leaks (l)"));
    terminal.keys("C-c");
    let screen = terminal.wait_for("the second to end", |s| s.contains("[second ended"));
    assert!(screen.contains("[second ended 0]"), "{screen}");
    let modes = |path: &Path| std::fs::read_to_string(path).unwrap();
    assert_eq!(modes(&before), modes(&after), "terminal modes after q");
    assert_eq!(modes(&before), modes(&after_second), "after Ctrl-C");
}
