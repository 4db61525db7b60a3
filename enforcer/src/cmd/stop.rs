//! `enforcer stop`: the daemon stops gracefully; the XDP program stays
//! attached and its maps pinned, so bans stay enforced.
use std::process::ExitCode;

use super::client::{call, print_json};
use crate::{
    cli::{GlobalArgs, JsonArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: JsonArgs) -> anyhow::Result<ExitCode> {
    let result = match call(global, &Request::Stop {}) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
    } else {
        crate::outln!("Shutdown successful");
    }
    Ok(ExitCode::SUCCESS)
}
