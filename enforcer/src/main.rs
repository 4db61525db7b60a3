//! The `enforcer` binary: parse flags, hand over to the command, map errors to
//! exit codes. Everything else lives in the library.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = enforcer::cli::Cli::parse();
    match enforcer::cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("enforcer: {err:#}");
            ExitCode::from(2)
        }
    }
}
