//! The `heapsnap` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("heapsnap: no commands yet");
    ExitCode::from(2)
}
