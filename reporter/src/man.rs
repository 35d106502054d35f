//! The manual pages: heapsnap(1), made by clap_mangen from the command
//! line's own definitions with the environment variables added (from
//! `heapsnap_format::settings`, the list the docs are checked against),
//! and heapsnap-COMMAND(1) for each command, with every option.

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;
use heapsnap_format::settings::{ReadBy, SETTINGS, plain};
use roff::{Roff, bold, roman};

use crate::cli::Cli;

/// heapsnap(1): synopsis, description, global options, the commands, the
/// environment, and where the commands' own pages are.
pub fn main_page() -> Result<Vec<u8>> {
    let man = Man::new(Cli::command());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    environment().to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// heapsnap-`name`(1): one command's synopsis, description and every
/// option.
pub fn command_page(name: &str) -> Result<Vec<u8>> {
    let mut cli = Cli::command();
    cli.build();
    let command = cli
        .get_subcommands()
        .find(|c| c.get_name() == name)
        .cloned()
        .with_context(|| {
            let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
            format!("no command {name:?}; the commands are {}", names.join(", "))
        })?;
    let mut page = Vec::new();
    Man::new(command).render(&mut page)?;
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    see_also.text([bold("heapsnap"), roman("(1)")]);
    see_also.to_writer(&mut page)?;
    Ok(page)
}

/// The ENVIRONMENT section: what the profiler reads in the program, and
/// what this command reads.
fn environment() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    let groups = [
        (
            ReadBy::Dumps,
            "In the profiled program, at start-up: automatic dumps",
        ),
        (
            ReadBy::Profiler,
            "In the profiled program, at start-up: sampling and snapshots",
        ),
        (ReadBy::Command, "In this command"),
    ];
    for (read_by, heading) in groups {
        roff.control("SS", [heading]);
        for setting in SETTINGS.iter().filter(|s| s.read_by == read_by) {
            roff.control("TP", []);
            roff.text([bold(setting.name)]);
            roff.text([roman(format!(
                "{} (default: {})",
                plain(setting.meaning),
                plain(setting.default)
            ))]);
        }
    }
    roff
}
