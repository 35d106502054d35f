//! The `heapsnap` command: parse the arguments, run one command, map the
//! outcome to an exit status (0 fine, 1 a gate tripped, 2 bad usage or
//! input).

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match commands::run(cli::Cli::parse()) {
        Ok(commands::Outcome::Fine) => ExitCode::SUCCESS,
        Ok(commands::Outcome::GateTripped) => ExitCode::from(1),
        // A reader that went away (`| head`) is not an error.
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("heapsnap: {err:#}");
            ExitCode::from(2)
        }
    }
}
