//! Owns the `logs` table: where each jail stopped reading each file (path,
//! MD5 of the first line, byte offset, as fail2ban stores them) and where it
//! stopped in the journal (fail2ban's `systemd-journal` row: the entry's
//! time in `lastfilepos`; we also keep the journal cursor in `firstlinemd5`,
//! where fail2ban keeps an ISO date it never reads back).
use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

/// The `logs.path` fail2ban uses for a jail's journal position.
pub const JOURNAL_NAME: &str = "systemd-journal";

/// A stored file position: resume at `pos` when the file's first line still
/// hashes to `first_line_md5` (hex MD5 of the first line with its newline;
/// empty when the file had no complete line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    pub first_line_md5: String,
    pub pos: u64,
}

/// A stored journal position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPosition {
    /// The last entry's cursor (absent in a database written by fail2ban).
    pub cursor: Option<String>,
    /// The last entry's time, unix seconds (what fail2ban resumes from).
    pub time: i64,
}

impl Store {
    /// Where `jail` stopped reading `path`, if stored.
    pub fn log_position(&self, jail: &str, path: &str) -> Result<Option<LogPosition>> {
        self.read(|c| {
            c.query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail = ?1 AND path = ?2",
                [jail, path],
                |r| {
                    Ok(LogPosition {
                        first_line_md5: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        pos: r.get::<_, Option<i64>>(1)?.unwrap_or(0).max(0) as u64,
                    })
                },
            )
            .optional()
        })
    }

    /// Records where `jail` stopped reading `path` (registers the jail if needed).
    pub fn set_log_position(&self, jail: &str, path: &str, at: &LogPosition) -> Result<()> {
        let pos = i64::try_from(at.pos).unwrap_or(i64::MAX);
        self.write(|tx| {
            tx.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)", [jail])?;
            tx.execute(
                "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES(?1, ?2, ?3, ?4)",
                params![jail, path, at.first_line_md5, pos],
            )?;
            Ok(())
        })
    }

    /// Every path with a stored position for `jail`.
    pub fn log_paths(&self, jail: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT path FROM logs WHERE jail = ?1 ORDER BY path")?;
            st.query_map([jail], |r| r.get(0))?.collect()
        })
    }

    /// Where `jail` stopped reading the journal, if stored.
    pub fn journal_position(&self, jail: &str) -> Result<Option<JournalPosition>> {
        self.read(|c| {
            c.query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail = ?1 AND path = ?2",
                [jail, JOURNAL_NAME],
                |r| {
                    let cursor: Option<String> = r.get(0)?;
                    Ok(JournalPosition {
                        // fail2ban writes an ISO date here; a cursor has `;`-separated fields.
                        cursor: cursor.filter(|c| c.starts_with("s=") && c.contains(';')),
                        time: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    })
                },
            )
            .optional()
        })
    }

    /// Records where `jail` stopped reading the journal.
    pub fn set_journal_position(&self, jail: &str, at: &JournalPosition) -> Result<()> {
        self.write(|tx| {
            tx.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)", [jail])?;
            tx.execute(
                "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES(?1, ?2, ?3, ?4)",
                params![jail, JOURNAL_NAME, at.cursor, at.time],
            )?;
            Ok(())
        })
    }
}
