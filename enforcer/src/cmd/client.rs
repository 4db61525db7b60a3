//! What the client subcommands (`ban`, `unban`, `banned`, `stats`) share:
//! talking to the daemon, turning failures into one line and an exit code,
//! and showing times.
//!
//! Exit codes: 0 done; 1 the daemon could not do it (not running, map full,
//! internal error); 2 the input was wrong (checked here before anything is
//! sent, and again by the daemon) or the caller may not use the socket (not
//! root).
use std::{process::ExitCode, time::Duration};

use crate::{
    cli::GlobalArgs,
    control::{Client, ControlError, ErrorKind, Request},
};

/// How long a client waits for the daemon.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code for bad input.
pub const USAGE: u8 = 2;
/// Exit code for a failure of the daemon or the system.
pub const FAILED: u8 = 1;

/// Prints `enforcer: MSG` and returns `code`.
pub fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("enforcer: {msg}");
    ExitCode::from(code)
}

/// Sends one request; a failure is already printed and becomes the exit code.
pub fn call(global: &GlobalArgs, request: &Request) -> Result<serde_json::Value, ExitCode> {
    call_as(global, request)
}

/// [`call`] with the result decoded straight into `T`.
pub fn call_as<T: serde::de::DeserializeOwned>(
    global: &GlobalArgs,
    request: &Request,
) -> Result<T, ExitCode> {
    let result = Client::connect(&global.socket, TIMEOUT).and_then(|mut c| c.request_as(request));
    result.map_err(|e| {
        let code = match &e {
            ControlError::Refused(body) if body.kind == ErrorKind::BadRequest => USAGE,
            ControlError::Denied { .. } => USAGE,
            _ => FAILED,
        };
        fail(code, e)
    })
}

/// Sends `request` and prints the daemon's answer: its `value` as JSON with
/// `--json`, else its `text` as fail2ban-client would print it.
pub fn call_and_print(global: &GlobalArgs, request: &Request, json: bool) -> ExitCode {
    let result = match call(global, request) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if json {
        print_json(&result["value"]);
    } else {
        crate::outln!("{}", result["text"].as_str().unwrap_or_default());
    }
    ExitCode::SUCCESS
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &serde_json::Value) {
    crate::outln!("{value}");
}

/// `2026-12-01 18:30:00 UTC` for unix seconds.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// When a ban ends, for people: `permanent` or the time and how far off.
pub fn format_expiry(expiry: Option<i64>, now: i64) -> String {
    match expiry {
        None => "permanent".into(),
        Some(at) => format!("{} (in {}s)", format_time(at), (at - now).max(0)),
    }
}

/// Howard Hinnant's days-to-civil: proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_796_142_645), "2026-12-01 16:30:45 UTC");
        assert_eq!(format_expiry(None, 0), "permanent");
        assert_eq!(
            format_expiry(Some(100), 40),
            "1970-01-01 00:01:40 UTC (in 60s)"
        );
    }
}
