//! A tmux server of its own, for tests that drive a program in a real
//! terminal: a window of a given size running a script, its screen read
//! back, keys sent, and a wait for what the screen should show. Each test
//! uses part of it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server with its own socket, killed when dropped.
pub struct Terminal {
    tmux: PathBuf,
    socket: String,
}

impl Terminal {
    /// A server for the test `name`, run by the tmux at `tmux`.
    pub fn new(tmux: PathBuf, name: &str) -> Terminal {
        Terminal {
            tmux,
            socket: format!("heapsnap-test-{}-{name}", std::process::id()),
        }
    }

    /// A tmux command talking to this server.
    pub fn tmux(&self) -> Command {
        let mut command = Command::new(&self.tmux);
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    /// Opens the window `main`, `columns` by `rows`, running `script`
    /// under `sh` (with `NO_COLOR` unset).
    pub fn start(&self, columns: usize, rows: usize, script: &str) {
        let status = self
            .tmux()
            .args(["new-session", "-d", "-x", &columns.to_string()])
            .args(["-y", &rows.to_string(), "-s", "main", "sh", "-c", script])
            .env_remove("NO_COLOR")
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
    }

    /// What the window shows now.
    pub fn screen(&self) -> String {
        self.capture(&[])
    }

    /// Everything the window showed, its soft-wrapped lines joined (a line
    /// the program wrote wider than the terminal comes back whole).
    pub fn history(&self) -> String {
        self.capture(&["-J", "-S", "-"])
    }

    fn capture(&self, options: &[&str]) -> String {
        let output = self
            .tmux()
            .args(["capture-pane", "-p"])
            .args(options)
            .args(["-t", "main"])
            .output()
            .expect("tmux capture-pane runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Sends `keys` (tmux's names: `q`, `Enter`, `C-c`) to the window.
    pub fn keys(&self, keys: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "main", keys])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until what `read` returns satisfies `done`, for at most
    /// `patience` (a busy machine is slow: generous, never a measure);
    /// that text.
    pub fn wait_for(
        &self,
        what: &str,
        patience: Duration,
        read: impl Fn(&Terminal) -> String,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let text = read(self);
            if done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < patience,
                "waited for {what}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// `text` quoted for `sh`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
