//! `enforcer status [JAIL] [--flavor basic|short|stats|cymru] [--json]`:
//! fail2ban-client's `status`: the jail list, or one jail's tree.
use std::process::ExitCode;

use super::client::{USAGE, call, fail, print_json};
use crate::{
    cli::{GlobalArgs, StatusArgs},
    control::Request,
};

pub fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = args.flavor.parse::<crate::actions::Flavor>() {
        return Ok(fail(USAGE, e));
    }
    let request = Request::Status {
        jail: args.jail,
        flavor: Some(args.flavor),
    };
    let result = match call(global, &request) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if args.json {
        let value = result.get("value").unwrap_or(&result);
        print_json(value);
    } else {
        crate::outln!("{}", result["text"].as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
