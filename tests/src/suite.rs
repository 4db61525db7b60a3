//! The reliability suite's bookkeeping (issue 7): every scenario reports
//! what it did in one line — payloads tried, faults injected, bans lost —
//! on stderr and, when `ENFORCER_SUITE_REPORT` names a file (set by
//! `cargo xtask test` and `cargo xtask soak`), appended there so the task
//! can print the totals. The long forms under `cargo xtask soak` reuse the
//! same scenarios with larger counts read by [`count`].
use std::io::Write;

/// One scenario's tally.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub payloads: u64,
    pub faults: u64,
    pub bans_lost: u64,
}

/// Prints `suite: NAME payloads=P faults=F bans_lost=L` and appends it to
/// `$ENFORCER_SUITE_REPORT` when set.
pub fn report(name: &str, t: Tally) {
    let line = format!(
        "suite: {name} payloads={} faults={} bans_lost={}",
        t.payloads, t.faults, t.bans_lost
    );
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("ENFORCER_SUITE_REPORT") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Ok(mut f) = file {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `ENFORCER_SOAK_{NAME}` as a number (set by `cargo xtask soak`), else
/// `default` (the short form `cargo xtask test` runs).
pub fn count(name: &str, default: u64) -> u64 {
    std::env::var(format!("ENFORCER_SOAK_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
