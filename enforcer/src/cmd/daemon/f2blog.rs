//! The daemon's own log, in fail2ban.log's format, so tools (and a
//! `recidive` jail) written for fail2ban's log read ours unchanged:
//!
//! ```text
//! 2026-11-22 09:08:27,345 fail2ban.actions        [12708]: NOTICE  [sshd] Ban 192.0.2.7
//! ```
//!
//! Target and level come from `fail2ban.conf` (`logtarget` = a file,
//! `STDERR`, `STDOUT`, `SYSLOG`, `SYSTEMD-JOURNAL`; `loglevel` = CRITICAL …
//! DEBUG or a number). Ban and unban lines are NOTICE, as in fail2ban; the
//! logger name follows the room that logged (actions, filter, jail, server).
//! [`reopen`] (SIGUSR1) reopens a log file after logrotate moved it.
use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    os::unix::net::UnixDatagram,
    path::PathBuf,
    sync::Mutex,
};

use log::{Level, LevelFilter, Log, Metadata, Record};

const CRITICAL: u8 = 50;
const ERROR: u8 = 40;
const WARNING: u8 = 30;
const NOTICE: u8 = 25;
const INFO: u8 = 20;
const DEBUG: u8 = 10;

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Stdout,
    Syslog,
    File(PathBuf),
}

/// `logtarget` as fail2ban reads it.
pub fn parse_target(s: &str) -> Target {
    match s.trim() {
        t if t.eq_ignore_ascii_case("STDERR") => Target::Stderr,
        t if t.eq_ignore_ascii_case("STDOUT") => Target::Stdout,
        t if t.eq_ignore_ascii_case("SYSLOG") || t.eq_ignore_ascii_case("SYSTEMD-JOURNAL") => {
            Target::Syslog
        }
        t => Target::File(PathBuf::from(t)),
    }
}

/// `loglevel` as fail2ban reads it (names or numbers).
pub fn parse_level(s: &str) -> Result<u8, String> {
    let s = s.trim();
    Ok(match s.to_ascii_uppercase().as_str() {
        "CRITICAL" | "FATAL" => CRITICAL,
        "ERROR" => ERROR,
        "WARNING" | "WARN" => WARNING,
        "NOTICE" => NOTICE,
        "INFO" => INFO,
        "DEBUG" | "TRACEDEBUG" | "HEAVYDEBUG" => DEBUG,
        n => n.parse::<u8>().map_err(|_| {
            format!("loglevel {s:?}: use CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG")
        })?,
    })
}

struct Logger {
    target: Target,
    level: u8,
    file: Mutex<Option<File>>,
    pid: u32,
}

fn level_name(l: u8) -> &'static str {
    match l {
        CRITICAL.. => "CRITICAL",
        ERROR..CRITICAL => "ERROR",
        WARNING..ERROR => "WARNING",
        NOTICE..WARNING => "NOTICE",
        INFO..NOTICE => "INFO",
        _ => "DEBUG",
    }
}

/// Whether `msg` is a ban-side event fail2ban logs as NOTICE
/// (`[jail] Ban X`, `Unban`, `Restore Ban`, `Increase Ban`, `Unban all`).
fn is_ban_event(msg: &str) -> bool {
    let rest = match msg.strip_prefix('[').and_then(|m| m.split_once("] ")) {
        Some((_, rest)) => rest,
        None => msg,
    };
    ["Ban ", "Unban ", "Restore Ban ", "Increase Ban "]
        .iter()
        .any(|p| rest.starts_with(p))
}

/// fail2ban's logger name and level for a record.
pub fn classify(target: &str, level: Level, msg: &str) -> (&'static str, u8) {
    let lvl = match level {
        Level::Error => ERROR,
        Level::Warn => WARNING,
        Level::Info => INFO,
        Level::Debug | Level::Trace => DEBUG,
    };
    if is_ban_event(msg) {
        let lvl = if lvl == INFO { NOTICE } else { lvl };
        return ("fail2ban.actions", lvl);
    }
    let name = if target.contains("::actions") {
        "fail2ban.actions"
    } else if target.contains("::filter") || msg.contains("] Found ") {
        "fail2ban.filter"
    } else if target.contains("::jail") || msg.starts_with("Jail '") {
        "fail2ban.jail"
    } else if target.contains("::source") {
        "fail2ban.filter"
    } else if target.contains("::store") {
        "fail2ban.database"
    } else {
        "fail2ban.server"
    };
    (name, lvl)
}

/// One line, without its newline.
pub fn format_line(now: f64, name: &str, pid: u32, level: u8, msg: &str) -> String {
    let secs = now.floor();
    let ms = ((now - secs) * 1000.0) as u32;
    format!(
        "{},{ms:03} {name:<24}[{pid}]: {:<7} {msg}",
        crate::actions::time2str(secs),
        level_name(level)
    )
}

impl Log for Logger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, r: &Record) {
        let msg = r.args().to_string();
        // Messages are single lines: log text is attacker-controlled and
        // must not forge lines of its own.
        let msg = msg.replace(['\n', '\r'], " ");
        let (name, level) = classify(r.target(), r.level(), &msg);
        if level < self.level {
            return;
        }
        let now = crate::actions::wall_now();
        match &self.target {
            Target::Stderr => eprintln!("{}", format_line(now, name, self.pid, level, &msg)),
            Target::Stdout => println!("{}", format_line(now, name, self.pid, level, &msg)),
            Target::Syslog => {
                let prio = match level {
                    CRITICAL.. => 2,
                    ERROR..CRITICAL => 3,
                    WARNING..ERROR => 4,
                    NOTICE..WARNING => 5,
                    INFO..NOTICE => 6,
                    _ => 7,
                };
                // Facility daemon (3).
                let line = format!(
                    "<{}>{name}[{}]: {:<7} {msg}",
                    3 * 8 + prio,
                    self.pid,
                    level_name(level)
                );
                if let Ok(s) = UnixDatagram::unbound() {
                    let _ = s.send_to(line.as_bytes(), "/dev/log");
                }
            }
            Target::File(_) => {
                let line = format_line(now, name, self.pid, level, &msg);
                if let Ok(mut f) = self.file.lock()
                    && let Some(f) = f.as_mut()
                {
                    let _ = writeln!(f, "{line}");
                }
            }
        }
    }

    fn flush(&self) {}
}

static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();

fn open(path: &PathBuf) -> std::io::Result<File> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Installs the logger (once per process). A log file that cannot be
/// opened is an error the daemon refuses to start on.
pub fn init(target: &str, level: &str) -> Result<(), String> {
    let level = parse_level(level)?;
    let target = parse_target(target);
    let file = match &target {
        Target::File(p) => Some(open(p).map_err(|e| format!("logtarget {}: {e}", p.display()))?),
        _ => None,
    };
    let logger = Logger {
        target,
        level,
        file: Mutex::new(file),
        pid: std::process::id(),
    };
    if LOGGER.set(logger).is_ok()
        && let Some(l) = LOGGER.get()
        && log::set_logger(l).is_ok()
    {
        log::set_max_level(if level <= DEBUG {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
    Ok(())
}

/// Reopens the log file (SIGUSR1, after logrotate).
pub fn reopen() {
    if let Some(l) = LOGGER.get()
        && let Target::File(p) = &l.target
    {
        match open(p) {
            Ok(f) => {
                if let Ok(mut g) = l.file.lock() {
                    *g = Some(f);
                }
                log::info!("log file {} reopened", p.display());
            }
            Err(e) => log::error!("reopening {}: {e}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_lines_are_notice_from_actions_in_fail2ban_layout() {
        let (name, lvl) = classify(
            "enforcer::actions::manager",
            Level::Info,
            "[sshd] Ban 198.18.0.7",
        );
        assert_eq!((name, lvl), ("fail2ban.actions", NOTICE));
        let line = format_line(1_000_000.345, name, 12708, lvl, "[sshd] Ban 198.18.0.7");
        let (_, rest) = line.split_at(23);
        assert_eq!(
            rest,
            " fail2ban.actions        [12708]: NOTICE  [sshd] Ban 198.18.0.7"
        );
        assert!(
            line[19..].starts_with(",345") || line[19..].starts_with(",344"),
            "{line}"
        );
        let (name, lvl) = classify(
            "enforcer::cmd::daemon",
            Level::Info,
            "[sshd] Found 198.18.0.7 - 2026-01-01 00:00:00",
        );
        assert_eq!((name, lvl), ("fail2ban.filter", INFO));
        assert_eq!(
            classify("x", Level::Info, "[sshd] Restore Ban 198.18.0.7").1,
            NOTICE
        );
        assert_eq!(
            classify("x", Level::Info, "[sshd] Unban 198.18.0.7").1,
            NOTICE
        );
        assert_eq!(
            classify("x", Level::Info, "Jail 'sshd' started").0,
            "fail2ban.jail"
        );
    }

    #[test]
    fn targets_and_levels_parse_as_fail2ban() {
        assert_eq!(parse_target("STDERR"), Target::Stderr);
        assert_eq!(parse_target("SYSTEMD-JOURNAL"), Target::Syslog);
        assert_eq!(
            parse_target("/var/log/fail2ban.log"),
            Target::File("/var/log/fail2ban.log".into())
        );
        assert_eq!(parse_level("notice"), Ok(NOTICE));
        assert_eq!(parse_level("10"), Ok(10));
        assert!(parse_level("loud").is_err());
    }
}
