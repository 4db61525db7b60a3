//! `enforcer ping`: whether the daemon answers (`Server replied: pong`).
use std::process::ExitCode;

use super::client::{call, print_json};
use crate::{
    cli::{GlobalArgs, JsonArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: JsonArgs) -> anyhow::Result<ExitCode> {
    let result = match call(global, &Request::Ping {}) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result);
    } else {
        crate::outln!("Server replied: {}", result.as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
