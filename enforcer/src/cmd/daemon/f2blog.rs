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
        let sink = |t: &str| parse_target(t, "auto").map(|t| t.sink);
        assert_eq!(sink("STDERR"), Ok(Sink::Stderr));
        assert_eq!(sink("sysout"), Ok(Sink::Stdout));
        assert_eq!(
            sink("SYSTEMD-JOURNAL"),
            Ok(Sink::Journal {
                socket: JOURNAL_SOCKET.into()
            })
        );
        assert_eq!(
            sink("SYSLOG"),
            Ok(Sink::Syslog {
                socket: "/dev/log".into(),
                facility: 3
            })
        );
        assert_eq!(
            parse_target("SYSLOG[facility=local3]", "/run/x.sock").map(|t| t.sink),
            Ok(Sink::Syslog {
                socket: "/run/x.sock".into(),
                facility: 19
            })
        );
        assert_eq!(
            sink("/var/log/fail2ban.log"),
            Ok(Sink::File("/var/log/fail2ban.log".into()))
        );
        // Layouts: the time except for SYSLOG and SYSOUT, padding except
        // for SYSLOG; both as options.
        let fmt = |t: &str| parse_target(t, "auto").unwrap().format;
        assert_eq!(fmt("STDOUT"), default_format(true, true));
        assert_eq!(fmt("SYSOUT"), default_format(false, true));
        assert_eq!(fmt("SYSLOG"), default_format(false, false));
        assert_eq!(fmt("SYSLOG[padding=1]"), default_format(false, true));
        assert_eq!(fmt("STDERR[datetime=off]"), default_format(false, true));
        assert_eq!(
            fmt("STDERR[format=\"%(levelname)s %(message)s\"]"),
            LineFormat::parse("%(levelname)s %(message)s").unwrap()
        );
        for bad in [
            "SYSLOG[facility=loud]",
            "STDERR[colour=yes]",
            "STDERR[format=\"%(thread)X\"]",
        ] {
            assert!(parse_target(bad, "auto").is_err(), "{bad}");
        }
        assert_eq!(parse_level("notice"), Ok(NOTICE));
        assert_eq!(parse_level("10"), Ok(10));
        assert!(parse_level("loud").is_err());
    }

    fn record_to(logger: &Logger, target: &str, level: Level, msg: &str) {
        logger.log(
            &Record::builder()
                .target(target)
                .level(level)
                .args(format_args!("{msg}"))
                .build(),
        );
    }

    /// A socket the test owns, as syslogd's /dev/log or journald's.
    fn listener(dir: &Path) -> (PathBuf, UnixDatagram) {
        let path = dir.join("log.sock");
        let s = UnixDatagram::bind(&path).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (path, s)
    }

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).expect("a datagram");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("enf-f2blog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn syslog_datagrams_are_pythons_syslog_handler_format() {
        let dir = scratch("syslog");
        let (path, sock) = listener(&dir);
        let pid = std::process::id();
        let l = Logger::new("SYSLOG", "INFO", path.to_str().unwrap()).unwrap();
        record_to(
            &l,
            "enforcer::actions",
            Level::Info,
            "[sshd] Ban 198.18.0.7",
        );
        // facility daemon (3) * 8 + notice (5), as fail2ban maps NOTICE.
        assert_eq!(
            recv(&sock),
            format!("<29>fail2ban.actions[{pid}]: NOTICE [sshd] Ban 198.18.0.7\0")
        );
        record_to(&l, "enforcer::jail", Level::Info, "Jail 'sshd'\nstarted");
        assert_eq!(
            recv(&sock),
            format!("<30>fail2ban.jail[{pid}]: INFO Jail 'sshd' started\0")
        );
        record_to(&l, "enforcer::x", Level::Debug, "below the level");
        record_to(&l, "enforcer::x", Level::Error, "boom");
        assert_eq!(
            recv(&sock),
            format!("<27>fail2ban.server[{pid}]: ERROR boom\0")
        );
        let l = Logger::new("SYSLOG[facility=AUTH]", "INFO", path.to_str().unwrap()).unwrap();
        record_to(
            &l,
            "enforcer::actions",
            Level::Info,
            "[sshd] Unban 198.18.0.7",
        );
        assert_eq!(
            recv(&sock),
            format!("<37>fail2ban.actions[{pid}]: NOTICE [sshd] Unban 198.18.0.7\0")
        );
        let missing = dir.join("nosuch.sock");
        let e = Logger::new("SYSLOG", "INFO", missing.to_str().unwrap())
            .err()
            .expect("no socket, no start");
        assert!(
            e.contains("syslogsocket") && e.contains("nosuch.sock"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn journal_entries_carry_the_bare_message_and_priority() {
        let dir = scratch("journal");
        let (path, sock) = listener(&dir);
        let mut l = Logger::new("STDERR", "INFO", "auto").unwrap();
        l.target.sink = Sink::Journal {
            socket: path.clone(),
        };
        record_to(
            &l,
            "enforcer::actions",
            Level::Info,
            "[sshd] Ban 198.18.0.7",
        );
        assert_eq!(
            recv(&sock),
            "MESSAGE=[sshd] Ban 198.18.0.7\nPRIORITY=4\nSYSLOG_IDENTIFIER=fail2ban\n\
             LOGGER=fail2ban.actions\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
