//! The `heapsnap` command: parse the arguments, run one command, map the
//! outcome to an exit status (0 fine, 1 a gate tripped, 2 bad usage or
//! input).

mod cli;
mod commands;
mod dashboard;
mod man;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use heapsnap_report::render::style::{self, Style};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    style::set(terminal_style(cli.color));
    match commands::run(cli) {
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

/// Colour and width for text reports: a terminal's width when standard
/// output is one (full lines into files and pipes); colour as `--color`
/// says, by default on a terminal unless `NO_COLOR` is set (to anything
/// but the empty string) or `TERM` is `dumb`.
fn terminal_style(choice: cli::ColorChoice) -> Style {
    let terminal = std::io::stdout().is_terminal();
    let color = match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => {
            terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let width = terminal
        .then(terminal_size::terminal_size)
        .flatten()
        .map(|(width, _)| usize::from(width.0));
    Style { color, width }
}
