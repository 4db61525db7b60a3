//! The daemon's own log, in fail2ban.log's format, so tools (and a
//! `recidive` jail) written for fail2ban's log read ours unchanged:
//!
//! ```text
//! 2026-11-22 09:08:27,345 fail2ban.actions        [12708]: NOTICE  [sshd] Ban 192.0.2.7
//! ```
//!
//! Target and level come from `fail2ban.conf`, read as fail2ban's
//! `Server.setLogTarget` does: `logtarget` = a file, `STDERR`, `STDOUT`,
//! `SYSOUT` (stdout without the time), `SYSLOG` (to `syslogsocket`, `auto`
//! = /dev/log; facility DAEMON; no time, no padding, NUL-terminated, as
//! Python's SysLogHandler sends it) or `SYSTEMD-JOURNAL` (journald's
//! native socket, the bare message with fail2ban's identifier); options
//! `X[facility=…, datetime=…, padding=…, format=…]`. A target that cannot
//! be opened stops the daemon with the option named. `loglevel` =
//! CRITICAL … DEBUG or a number. Ban and unban lines are NOTICE, as in
//! fail2ban; the logger name follows the room that logged (actions,
//! filter, jail, server). [`reopen`] (SIGUSR1) reopens a log file after
//! logrotate moved it.
use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    os::unix::{
        fs::FileTypeExt as _,
        net::{UnixDatagram, UnixStream},
    },
    path::{Path, PathBuf},
    sync::Mutex,
};

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::logfmt::{Fields, LineFormat, default_format};

const CRITICAL: u8 = 50;
const ERROR: u8 = 40;
const WARNING: u8 = 30;
const NOTICE: u8 = 25;
const INFO: u8 = 20;
const DEBUG: u8 = 10;

/// fail2ban's `syslogsocket = auto` on Linux.
pub const AUTO_SYSLOG_SOCKET: &str = "/dev/log";
/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    Stdout,
    /// `facility` as in syslog(3) (DAEMON = 3).
    Syslog {
        socket: PathBuf,
        facility: u8,
    },
    Journal {
        socket: PathBuf,
    },
    File(PathBuf),
}

/// A parsed `logtarget`: the sink and the line layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub sink: Sink,
    pub format: LineFormat,
}

/// fail2ban's `_as_bool`.
fn as_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "true" | "yes"
    )
}

/// Python's `SysLogHandler.LOG_<NAME>` facilities.
fn facility(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "ntp" => 12,
        "security" => 13,
        "console" => 14,
        "solcron" => 15,
        l => match l.strip_prefix("local").and_then(|n| n.parse::<u8>().ok()) {
            Some(n @ 0..=7) => 16 + n,
            _ => return None,
        },
    })
}

/// `logtarget` (with its `[…]` options) and `syslogsocket` as fail2ban
/// reads them.
pub fn parse_target(spec: &str, syslogsocket: &str) -> Result<Target, String> {
    let spec = spec.trim();
    let (name, opts) = match crate::config::tags::extract_options(spec) {
        Ok((n, o)) if !o.is_empty() => (n, o),
        _ => (spec.to_string(), Vec::new()),
    };
    let opt = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (k, _) in &opts {
        if !["facility", "datetime", "padding", "format"].contains(&k.as_str()) {
            return Err(format!(
                "logtarget {spec:?}: unknown option {k:?} (facility, datetime, padding, format)"
            ));
        }
    }
    let upper = name.to_ascii_uppercase();
    let sink = match upper.as_str() {
        "STDERR" | "INHERITED" => Sink::Stderr,
        "STDOUT" | "SYSOUT" => Sink::Stdout,
        "SYSTEMD-JOURNAL" => Sink::Journal {
            socket: JOURNAL_SOCKET.into(),
        },
        "SYSLOG" => {
            let f = opt("facility").unwrap_or("DAEMON");
            Sink::Syslog {
                socket: match syslogsocket.trim() {
                    "" | "auto" => AUTO_SYSLOG_SOCKET.into(),
                    p => p.into(),
                },
                facility: facility(f)
                    .ok_or_else(|| format!("logtarget {spec:?}: unknown syslog facility {f:?}"))?,
            }
        }
        _ => Sink::File(PathBuf::from(&name)),
    };
    let time = opt("datetime").map_or(!matches!(upper.as_str(), "SYSLOG" | "SYSOUT"), as_bool);
    // Syslog lines are not padded unless asked for (fail2ban keeps this
    // for backwards compatibility).
    let padding = opt("padding").map_or(upper != "SYSLOG", as_bool);
    let format = match opt("format").filter(|f| !f.is_empty()) {
        Some(f) => LineFormat::parse(f).map_err(|e| format!("logtarget {spec:?}: {e}"))?,
        None => default_format(time, padding),
    };
    Ok(Target { sink, format })
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

/// The syslog severity of a record: Python's SysLogHandler maps by level
/// name, and fail2ban adds NOTICE to its map.
fn syslog_severity(l: u8) -> u8 {
    match l {
        CRITICAL.. => 2,
        ERROR..CRITICAL => 3,
        WARNING..ERROR => 4,
        NOTICE..WARNING => 5,
        INFO..NOTICE => 6,
        _ => 7,
    }
}

/// The journal priority of a record: python-systemd's JournalHandler maps
/// by number (up to WARNING is warning, so NOTICE is 4).
fn journal_priority(l: u8) -> u8 {
    match l {
        41.. => 2,
        31..=40 => 3,
        21..=30 => 4,
        11..=20 => 6,
        _ => 7,
    }
}

/// One line in the default file layout, without its newline.
pub fn format_line(now: f64, name: &str, pid: u32, level: u8, msg: &str) -> String {
    default_format(true, true).render(&Fields {
        time: now,
        name,
        pid,
        level: level_name(level),
        levelno: level,
        message: msg,
    })
}

/// A connection to the syslog socket: datagram, or stream when the socket
/// is one (as Python's SysLogHandler falls back).
enum Conn {
    Dgram(UnixDatagram),
    Stream(UnixStream),
}

fn connect(path: &Path) -> std::io::Result<Conn> {
    let d = UnixDatagram::unbound()?;
    match d.connect(path) {
        Ok(()) => Ok(Conn::Dgram(d)),
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            UnixStream::connect(path).map(Conn::Stream)
        }
        Err(e) => Err(e),
    }
}

impl Conn {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Dgram(d) => d.send(bytes).map(|_| ()),
            Conn::Stream(s) => s.write_all(bytes),
        }
    }
}

/// A socket target must be there at start, as fail2ban checks.
fn check_socket(what: &str, path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        _ => Err(format!(
            "{what} {}: does not exist or is not a socket",
            path.display()
        )),
    }
}

/// The installed logger: one target, one level.
pub struct Logger {
    target: Target,
    level: u8,
    file: Mutex<Option<File>>,
    conn: Mutex<Option<Conn>>,
    pid: u32,
}

impl Logger {
    /// Opens `target` (`logtarget` with its options) at `level`.
    pub fn new(target: &str, level: &str, syslogsocket: &str) -> Result<Logger, String> {
        let level = parse_level(level)?;
        let target = parse_target(target, syslogsocket)?;
        let mut file = None;
        let mut conn = None;
        match &target.sink {
            Sink::File(p) => {
                file = Some(open(p).map_err(|e| format!("logtarget {}: {e}", p.display()))?)
            }
            Sink::Syslog { socket, .. } => {
                check_socket("syslogsocket", socket)?;
                conn = Some(
                    connect(socket)
                        .map_err(|e| format!("syslogsocket {}: {e}", socket.display()))?,
                );
            }
            Sink::Journal { socket } => {
                check_socket("logtarget SYSTEMD-JOURNAL: journal socket", socket)?;
                let d = UnixDatagram::unbound().map_err(|e| e.to_string())?;
                d.connect(socket)
                    .map_err(|e| format!("journal socket {}: {e}", socket.display()))?;
                conn = Some(Conn::Dgram(d));
            }
            Sink::Stderr | Sink::Stdout => {}
        }
        Ok(Logger {
            target,
            level,
            file: Mutex::new(file),
            conn: Mutex::new(conn),
            pid: std::process::id(),
        })
    }

    /// Sends to the socket, reconnecting once (syslogd restarted).
    fn send(&self, socket: &Path, bytes: &[u8]) {
        let Ok(mut c) = self.conn.lock() else { return };
        if let Some(conn) = c.as_mut()
            && conn.send(bytes).is_ok()
        {
            return;
        }
        *c = connect(socket).ok();
        if let Some(conn) = c.as_mut() {
            let _ = conn.send(bytes);
        }
    }
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
        let fields = Fields {
            time: crate::actions::wall_now(),
            name,
            pid: self.pid,
            level: level_name(level),
            levelno: level,
            message: &msg,
        };
        match &self.target.sink {
            Sink::Stderr => eprintln!("{}", self.target.format.render(&fields)),
            Sink::Stdout => println!("{}", self.target.format.render(&fields)),
            Sink::Syslog { socket, facility } => {
                let line = format!(
                    "<{}>{}\0",
                    facility * 8 + syslog_severity(level),
                    self.target.format.render(&fields)
                );
                self.send(socket, line.as_bytes());
            }
            Sink::Journal { socket } => {
                // journald's native protocol: KEY=value lines; the message
                // bare, as fail2ban's JournalHandler sends it.
                let entry = format!(
                    "MESSAGE={msg}\nPRIORITY={}\nSYSLOG_IDENTIFIER=fail2ban\nLOGGER={name}\n",
                    journal_priority(level)
                );
                self.send(socket, entry.as_bytes());
            }
            Sink::File(_) => {
                let line = self.target.format.render(&fields);
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

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Installs the logger (once per process). A target that cannot be opened
/// is an error the daemon refuses to start on.
pub fn init(target: &str, level: &str, syslogsocket: &str) -> Result<(), String> {
    let logger = Logger::new(target, level, syslogsocket)?;
    let level = logger.level;
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
        && let Sink::File(p) = &l.target.sink
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
mod tests;
