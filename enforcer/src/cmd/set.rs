//! `enforcer set JAIL KEY VALUE… [--json]`: changes a running jail
//! (bantime, findtime, maxretry, maxmatches, banip, unbanip, addignoreip,
//! delignoreip); the daemon checks the value and answers with the new one.
use std::process::ExitCode;

use super::client::call_and_print;
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
    Ok(call_and_print(global, &request, args.json))
}
