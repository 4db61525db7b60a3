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
            // clap's first paragraph, on one line (a missing argument's name
            // is on the line after "not provided:").
            let text = err.render().to_string();
            let para: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            let msg = para.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("enforcer: {msg} (see --help)");
            ExitCode::from(2)
        }
    }
}
