//! `enforcer set JAIL KEY VALUE… [--json]`: changes a running jail
//! (bantime, findtime, maxretry, maxmatches, banip, unbanip, addignoreip,
//! delignoreip); the daemon checks the value and answers with the new one.
use std::process::ExitCode;

use super::client::{call, print_json};
use crate::{
    cli::{GlobalArgs, SetArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: SetArgs) -> anyhow::Result<ExitCode> {
    let request = Request::Set {
        jail: args.jail,
        key: args.key,
        values: args.values,
    };
    let result = match call(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        print_json(&result["value"]);
    } else {
        println!("{}", result["text"].as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
