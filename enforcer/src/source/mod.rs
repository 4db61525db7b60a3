//! Owns reading logs: files (globs, rotation, resume, inotify or polling)
//! and the systemd journal, handing each line on as a [`Line`] over a
//! bounded channel.
//!
//! - [`backend`]: the jail's `backend` option (`auto`, `pyinotify`,
//!   `polling`, `gamin`, `systemd[journalpath=…, …]`).
//! - [`encoding`]: `logencoding` (auto, UTF-8 with replacement, latin-1).
//! - [`lines`]: splitting bytes into lines with a length cap.
//! - [`follow`]: one followed file: rotation and truncation detection, resume.
//! - [`watch`]: waiting for change: inotify, or polling.
//! - [`files`]: a jail's file source: globs, one reader thread, its channel.
//! - [`journal`]: the journal reader (libsystemd, loaded at run time).
//! - [`setup`]: a jail's configuration and stored positions → its source.
//!
//! Every source runs on its own thread and sends into its own bounded
//! channel: a full channel makes that reader wait (no line is ever dropped)
//! and nobody else, so a slow jail never holds up the readers of other
//! jails. A reader ends when it is stopped ([`SourceHandle::stop`], which
//! also interrupts a wait on a full channel) or its receiver is dropped.
//!
//! Skipping lines older than `findtime` is the consumer's job; [`Line`]
//! carries what it needs: `in_operation` is false while a reader catches up
//! with content that existed at start (fail2ban's `inOperation`), `time`
//! is the journal entry's time, and `origin` is the position to persist
//! (see [`Line::log_position`]) once the line has been processed.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::store::LogPosition;

pub mod backend;
pub mod encoding;
pub mod files;
pub mod follow;
pub mod journal;
pub mod lines;
pub mod setup;
pub mod watch;

pub use backend::{Backend, FileBackend, JournalOptions};
pub use encoding::Encoding;
pub use files::{FileSource, FileSourceConfig};
pub use journal::{JournalSource, JournalSourceConfig};
pub use setup::JailSource;

/// Who a line came from: chosen by whoever starts the source (e.g. the jail's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// Default capacity of a source's channel, in lines.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 1024;
/// Default longest line kept, in bytes; the rest of a longer line is dropped
/// (see [`lines`]).
pub const DEFAULT_MAX_LINE: usize = 32 * 1024;

/// The sending half a source writes into.
pub type LineSender = tokio::sync::mpsc::Sender<Line>;
/// The receiving half a consumer reads (`recv().await` or `blocking_recv()`).
pub type LineReceiver = tokio::sync::mpsc::Receiver<Line>;

/// A bounded channel for one source.
pub fn channel(capacity: usize) -> (LineSender, LineReceiver) {
    tokio::sync::mpsc::channel(capacity.max(1))
}

/// A file being read, shared by the lines read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMark {
    /// The path as matched by the logpath glob.
    pub path: PathBuf,
    /// Hex MD5 of the file's first line with its newline, as fail2ban's
    /// `firstlinemd5`; empty while the file has no complete line.
    pub first_line_md5: String,
}

/// Where a line was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// From a file; `pos` is the byte offset just past the line.
    File { file: Arc<FileMark>, pos: u64 },
    /// From the journal: the entry's cursor.
    Journal { cursor: String },
}

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub source: SourceId,
    /// The line as UTF-8 (decoded per `logencoding`), without its line end.
    pub bytes: Vec<u8>,
    /// The line was longer than the cap and its end was dropped.
    pub truncated: bool,
    /// False while the reader catches up with what existed at start.
    pub in_operation: bool,
    /// The entry's own time (journal), unix seconds; `None` for files, whose
    /// lines carry their date in the text.
    pub time: Option<f64>,
    pub origin: Origin,
}

impl Line {
    /// The file position to store once this line is processed:
    /// (path, first-line hash, offset after the line).
    pub fn log_position(&self) -> Option<(&Path, LogPosition)> {
        match &self.origin {
            Origin::File { file, pos } => Some((
                &file.path,
                LogPosition {
                    first_line_md5: file.first_line_md5.clone(),
                    pos: *pos,
                },
            )),
            Origin::Journal { .. } => None,
        }
    }

    /// The journal cursor to store once this line is processed.
    pub fn journal_cursor(&self) -> Option<&str> {
        match &self.origin {
            Origin::Journal { cursor } => Some(cursor),
            Origin::File { .. } => None,
        }
    }

    /// The text, for display (invalid UTF-8 cannot occur after decoding,
    /// but a journal field may carry any bytes).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// Errors setting up a source. Reading errors after start are reported
/// through the `log` crate and retried, never end the daemon.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("backend '{0}': {1}")]
    Backend(String, String),
    #[error("logencoding '{0}' is not supported (use auto, utf-8, latin-1, ascii)")]
    Encoding(String),
    #[error("logpath '{0}': {1}")]
    Glob(String, String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal: {0}")]
    Journal(String),
    #[error("stored positions: {0}")]
    Store(String),
    #[error("cannot start reader thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Where a file present at start is read from (fail2ban's `logpath = FILE tail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// From the beginning (fail2ban's default).
    #[default]
    Head,
    /// From the end: only lines written after start.
    Tail,
}

/// Splits one `logpath` entry into its glob and its `head`/`tail` suffix.
pub fn parse_logpath(entry: &str) -> (String, Start) {
    let e = entry.trim();
    for (suffix, start) in [(" tail", Start::Tail), (" head", Start::Head)] {
        if e.len() > suffix.len() && e.to_ascii_lowercase().ends_with(suffix) {
            return (e[..e.len() - suffix.len()].trim_end().to_string(), start);
        }
    }
    (e.to_string(), Start::Head)
}

/// The stop request shared by a handle and its reader thread.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // A stored permit: a sender that starts waiting later still wakes.
        self.notify.notify_one();
    }
}

/// A reader's end of its channel: sends with backpressure, yet gives up
/// at once when the source is stopped, so a stop never waits for a consumer.
pub(crate) struct Sink {
    tx: LineSender,
    stop: Arc<Stop>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Sink {
    pub(crate) fn new(tx: LineSender, stop: Arc<Stop>) -> Sink {
        Sink { tx, stop, rt: None }
    }

    /// Sends a line, waiting while the channel is full; false when the
    /// receiver is gone or the source was stopped.
    pub(crate) fn send(&mut self, line: Line) -> bool {
        use tokio::sync::mpsc::error::TrySendError;
        let line = match self.tx.try_send(line) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(line)) => line,
        };
        if self.stop.is_set() {
            return false;
        }
        if self.rt.is_none() {
            self.rt = tokio::runtime::Builder::new_current_thread().build().ok();
        }
        let Some(rt) = &self.rt else {
            return self.tx.blocking_send(line).is_ok();
        };
        let (tx, stop) = (&self.tx, &self.stop);
        rt.block_on(async {
            tokio::select! {
                biased;
                _ = stop.notify.notified() => false,
                r = tx.send(line) => r.is_ok(),
            }
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.is_set()
    }
}

/// A running source: stop it, or wait for it to end.
#[derive(Debug)]
pub struct SourceHandle {
    stop: Arc<Stop>,
    waker: Option<watch::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl SourceHandle {
    fn new(stop: Arc<Stop>, waker: Option<watch::Waker>, thread: JoinHandle<()>) -> Self {
        SourceHandle {
            stop,
            waker,
            thread: Some(thread),
        }
    }

    /// Asks the reader to end and waits for it (also when it is waiting on a
    /// full channel: the line it holds is not delivered, and is read again
    /// from the stored position after a restart).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    /// Whether the reader thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    fn stop_and_join(&mut self) {
        self.stop.set();
        if let Some(w) = &self.waker {
            w.wake();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logpath_suffixes() {
        assert_eq!(
            parse_logpath("/var/log/auth.log"),
            ("/var/log/auth.log".into(), Start::Head)
        );
        assert_eq!(
            parse_logpath("/var/log/a*.log tail"),
            ("/var/log/a*.log".into(), Start::Tail)
        );
        assert_eq!(parse_logpath(" /x/y  head "), ("/x/y".into(), Start::Head));
        assert_eq!(parse_logpath("/x/tail"), ("/x/tail".into(), Start::Head));
    }
}
