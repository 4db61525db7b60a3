//! The `enforcer` binary: parse flags, hand over to the command, map errors to
//! exit codes. Everything else lives in the library.
use std::process::ExitCode;

use clap::{Parser, error::ErrorKind};

fn main() -> ExitCode {
    let cli = match enforcer::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match enforcer::cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("enforcer: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Help and version print as clap does; a real usage error is one line
/// (clap's first) and exit code 2.
fn usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
        _ => {
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("enforcer: {first} (see --help)");
            ExitCode::from(2)
        }
    }
}
