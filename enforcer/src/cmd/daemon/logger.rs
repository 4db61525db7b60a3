//! The daemon's log until the fail2ban-format log arrives: one line per
//! record on stderr, `2026-12-01 18:30:00 INFO  message`. Level from
//! `ENFORCER_LOG` (error, warn, info, debug, trace; default info).
use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let time = crate::cmd::client::format_time(super::bans::now());
        let time = time.trim_end_matches(" UTC");
        let level = match r.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        eprintln!("{time} {level} {}", r.args());
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger once; later calls do nothing.
pub fn init() {
    let level = match std::env::var("ENFORCER_LOG").as_deref() {
        Ok("error") => LevelFilter::Error,
        Ok("warn") => LevelFilter::Warn,
        Ok("debug") => LevelFilter::Debug,
        Ok("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
