//! Owns reading the systemd journal (`backend = systemd[…]`).
//!
//! Entries are read through libsystemd ([`ffi`], loaded at run time) from
//! `journalpath` (a directory), `journalfiles` (globs), a `namespace`, or
//! the local system journal, filtered by `journalmatch` (`+` separates
//! alternatives: fail2ban's OR), and formatted as fail2ban does:
//! `HOST IDENT[PID]: MESSAGE` (kernel lines get `[  seconds]` after the
//! ident; newlines in the message become `\n`), with the entry's time
//! (`_SOURCE_REALTIME_TIMESTAMP`, else the journal's) in [`Line::time`].
//!
//! Start: after the stored cursor when it is still in the journal, else at
//! `since` (the daemon passes `max(stored time, now - findtime)`), else at
//! the end. Each line carries its cursor, for the store.
use std::ffi::c_int;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[cfg(test)]
use super::backend::Backend;
use super::backend::JournalOptions;
use super::{Encoding, Line, LineSender, Origin, Sink, SourceError, SourceHandle, SourceId, Stop};

pub mod ffi;

use ffi::Journal;

/// fail2ban's default flags without path or files: SD_JOURNAL_SYSTEM.
const SD_JOURNAL_SYSTEM: c_int = 4;

/// What a journal source reads and where it starts.
#[derive(Debug, Clone)]
pub struct JournalSourceConfig {
    pub id: SourceId,
    pub name: String,
    pub options: JournalOptions,
    /// `journalmatch` words: `FIELD=value` terms, `+` between alternatives.
    pub matches: Vec<String>,
    pub encoding: Encoding,
    /// The stored cursor (from [`crate::store::Store::journal_position`]).
    pub cursor: Option<String>,
    /// Where to start without a usable cursor, unix seconds; `None`: at the end.
    pub since: Option<f64>,
    /// Longest line kept; longer ones are truncated (see [`super::lines`]).
    pub max_line: usize,
}

impl JournalSourceConfig {
    pub fn new(id: SourceId, name: &str, options: JournalOptions) -> Self {
        JournalSourceConfig {
            id,
            name: name.to_string(),
            options,
            matches: Vec::new(),
            encoding: Encoding::Utf8,
            cursor: None,
            since: None,
            max_line: super::DEFAULT_MAX_LINE,
        }
    }
}

/// The fields of an entry that make its line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entry {
    pub hostname: Option<Vec<u8>>,
    pub identifier: Option<Vec<u8>>,
    pub comm: Option<Vec<u8>>,
    pub syslog_pid: Option<Vec<u8>>,
    pub pid: Option<Vec<u8>>,
    pub messages: Vec<Vec<u8>>,
    pub source_realtime_usec: Option<u64>,
    pub source_monotonic_usec: Option<u64>,
}

impl Entry {
    /// Collects one `FIELD=value` item.
    pub fn add_field(&mut self, item: &[u8]) {
        let Some(eq) = memchr::memchr(b'=', item) else {
            return;
        };
        let (k, v) = (&item[..eq], item[eq + 1..].to_vec());
        let num = |v: &[u8]| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        match k {
            b"_HOSTNAME" => self.hostname = Some(v),
            b"SYSLOG_IDENTIFIER" => self.identifier = Some(v),
            b"_COMM" => self.comm = Some(v),
            b"SYSLOG_PID" => self.syslog_pid = Some(v),
            b"_PID" => self.pid = Some(v),
            b"MESSAGE" => self.messages.push(v),
            b"_SOURCE_REALTIME_TIMESTAMP" => self.source_realtime_usec = num(&v),
            b"_SOURCE_MONOTONIC_TIMESTAMP" => self.source_monotonic_usec = num(&v),
            _ => {}
        }
    }

    /// The line as fail2ban's `formatJournalEntry` builds it.
    /// `monotonic_usec` is the journal's own, used for kernel lines without
    /// `_SOURCE_MONOTONIC_TIMESTAMP`.
    pub fn format(&self, enc: Encoding, monotonic_usec: u64) -> Vec<u8> {
        let dec = |v: &[u8]| enc.decode(v).into_owned();
        let mut parts: Vec<Vec<u8>> = Vec::new();
        if let Some(h) = self.hostname.as_deref().filter(|h| !h.is_empty()) {
            parts.push(dec(h));
        }
        let ident = self
            .identifier
            .as_deref()
            .filter(|v| !v.is_empty())
            .or(self.comm.as_deref().filter(|v| !v.is_empty()));
        if let Some(id) = ident {
            let mut e = dec(id);
            if let Some(pid) = self
                .syslog_pid
                .as_deref()
                .filter(|v| !v.is_empty())
                .or(self.pid.as_deref().filter(|v| !v.is_empty()))
            {
                e.push(b'[');
                e.extend_from_slice(&format_pid(&dec(pid)));
                e.push(b']');
            }
            e.push(b':');
            let kernel = e == b"kernel:";
            parts.push(e);
            if kernel {
                let m = self.source_monotonic_usec.unwrap_or(monotonic_usec);
                parts.push(format!("[{:12.6}]", m as f64 / 1e6).into_bytes());
            }
        }
        let msg: Vec<Vec<u8>> = self.messages.iter().map(|m| dec(m)).collect();
        parts.push(msg.join(&b' '));
        let line = parts.join(&b' ');
        // fail2ban: logline.replace('\n', '\\n')
        let mut out = Vec::with_capacity(line.len());
        for b in line {
            if b == b'\n' {
                out.extend_from_slice(b"\\n");
            } else {
                out.push(b);
            }
        }
        out
    }
}

/// `[%i]` of Python's `int(v, 0)`, else the text as it is.
fn format_pid(v: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(v);
    let t = s.trim();
    let (neg, body) = t.strip_prefix('-').map_or((false, t), |b| (true, b));
    let parsed = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if body.len() > 1 && body.starts_with('0') {
        None // Python rejects leading zeros in base 0
    } else {
        body.parse::<i64>().ok()
    };
    match parsed {
        Some(n) => (if neg { -n } else { n }).to_string().into_bytes(),
        None => v.to_vec(),
    }
}

fn open(o: &JournalOptions) -> Result<Journal, SourceError> {
    if let Some(p) = &o.path {
        return Journal::open_directory(&p.to_string_lossy(), o.flags.unwrap_or(0));
    }
    if !o.files.is_empty() {
        let mut files: Vec<String> = Vec::new();
        for g in &o.files {
            let paths = glob::glob(g).map_err(|e| SourceError::Glob(g.clone(), e.to_string()))?;
            files.extend(
                paths
                    .filter_map(Result::ok)
                    .map(|p| p.to_string_lossy().into_owned()),
            );
        }
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(SourceError::Journal(format!(
                "journalfiles {:?} match no file",
                o.files
            )));
        }
        return Journal::open_files(&files, o.flags.unwrap_or(0));
    }
    let flags = o.flags.unwrap_or(SD_JOURNAL_SYSTEM);
    match &o.namespace {
        Some(ns) => Journal::open_namespace(ns, flags),
        None => Journal::open_local(flags),
    }
}

/// Adds `journalmatch` words; `+` starts an alternative.
fn add_matches(j: &mut Journal, words: &[String]) -> Result<(), SourceError> {
    let words: Vec<&str> = words.iter().flat_map(|w| w.split_whitespace()).collect();
    if words.is_empty() {
        return Ok(());
    }
    for group in words.split(|w| *w == "+") {
        for m in group {
            if !m.contains('=') {
                return Err(SourceError::Journal(format!(
                    "journalmatch {m:?} is not FIELD=value"
                )));
            }
            j.add_match(m)?;
        }
        j.add_disjunction()?;
    }
    Ok(())
}

/// Positions the journal for the first `next_entry()`; returns the cursor to skip.
fn seek_start(j: &mut Journal, cfg: &JournalSourceConfig) -> Result<Option<String>, SourceError> {
    if let Some(c) = &cfg.cursor
        && j.seek_cursor(c).is_ok()
    {
        return Ok(Some(c.clone()));
    }
    match cfg.since {
        Some(t) => j.seek_realtime_usec((t.max(0.0) * 1e6) as u64)?,
        None => {
            j.seek_tail()?;
            // Step onto the last entry so `next_entry()` returns only new ones.
            j.previous_entry()?;
        }
    }
    Ok(None)
}

/// Starts journal readers.
pub struct JournalSource;

impl JournalSource {
    /// Opens the journal (errors are returned here, before any line) and
    /// starts the reader thread.
    pub fn spawn(cfg: JournalSourceConfig, tx: LineSender) -> Result<SourceHandle, SourceError> {
        let stop = Arc::new(Stop::default());
        let stop2 = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let t = std::thread::Builder::new()
            .name(format!("journal-{}", cfg.name))
            .spawn(move || {
                // sd_journal objects stay in the thread that opened them.
                let setup = (|| {
                    let mut j = open(&cfg.options)?;
                    j.set_data_threshold(cfg.max_line.max(1));
                    add_matches(&mut j, &cfg.matches)?;
                    let skip = seek_start(&mut j, &cfg)?;
                    Ok::<_, SourceError>((j, skip))
                })();
                match setup {
                    Ok((j, skip)) => {
                        let _ = ready_tx.send(Ok(()));
                        run(j, skip, &cfg, Sink::new(tx, stop2));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(SourceError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SourceHandle::new(stop, None, t)),
            Ok(Err(e)) => {
                let _ = t.join();
                Err(e)
            }
            Err(_) => Err(SourceError::Journal(
                "reader thread ended during setup".into(),
            )),
        }
    }
}

fn run(mut j: Journal, mut skip: Option<String>, cfg: &JournalSourceConfig, mut sink: Sink) {
    let started = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut in_operation = cfg.since.is_none() && cfg.cursor.is_none();
    while !sink.stopped() {
        match read_entry(&mut j, cfg, &mut skip) {
            Ok(Some((bytes, truncated, time, cursor))) => {
                if !in_operation && time >= started - 1.0 {
                    in_operation = true;
                }
                let line = Line {
                    source: cfg.id,
                    bytes,
                    truncated,
                    in_operation,
                    time: Some(time),
                    origin: Origin::Journal { cursor },
                };
                if !sink.send(line) {
                    return;
                }
            }
            Ok(None) => {
                in_operation = true;
                if sink.is_closed() {
                    return;
                }
                if let Err(e) = j.wait(250_000) {
                    log::warn!("[{}] journal: {e}", cfg.name);
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
            Err(e) => {
                log::error!("[{}] reading the journal: {e}", cfg.name);
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

type Read = (Vec<u8>, bool, f64, String);

fn read_entry(
    j: &mut Journal,
    cfg: &JournalSourceConfig,
    skip: &mut Option<String>,
) -> Result<Option<Read>, SourceError> {
    loop {
        if !j.next_entry()? {
            return Ok(None);
        }
        if let Some(c) = skip.take()
            && j.test_cursor(&c)
        {
            continue; // the stored entry itself was processed before
        }
        let mut e = Entry::default();
        j.for_each_field(|f| e.add_field(f))?;
        let mono = j.monotonic_usec().unwrap_or(0);
        let usec = match e.source_realtime_usec {
            Some(t) => t,
            None => j.realtime_usec()?,
        };
        let mut bytes = e.format(cfg.encoding, mono);
        let truncated = bytes.len() > cfg.max_line;
        if truncated {
            let mut end = cfg.max_line;
            while end > 0 && bytes[end] & 0xc0 == 0x80 {
                end -= 1;
            }
            bytes.truncate(end);
        }
        return Ok(Some((bytes, truncated, usec as f64 / 1e6, j.cursor()?)));
    }
}

#[cfg(test)]
mod tests;
