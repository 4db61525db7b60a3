//! Owns persistence of bans and log positions across restarts.
//!
//! One SQLite file (rusqlite, bundled SQLite) whose tables are fail2ban's
//! version-4 schema (`fail2banDb`, `jails`, `logs`, `bans`, `bips`), so a
//! database written by fail2ban can be read ([`import`]) and ours can be read
//! by fail2ban's tools. The file is opened in WAL mode with
//! `synchronous = FULL`: every method that writes commits before it returns,
//! so a ban reported as stored survives `kill -9` (and power loss) after it.
//!
//! - [`schema`]: creating and checking the schema.
//! - [`bans`]: adding, removing, restoring and counting bans; purging.
//! - [`logs`]: file positions (path, first-line hash, offset) and journal cursors.
//! - [`import`]: copying an existing fail2ban database into ours.
//! - [`banstore`]: [`crate::jail::BanStore`] for the jails.
//! - [`restore`]: reading a jail's current bans back as tickets, in one pass.
//!
//! Errors are [`StoreError`]: I/O problems (disk full, read-only file system,
//! corrupt file) come back as values, never panics.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub mod bans;
pub mod banstore;
pub mod import;
pub mod logs;
pub mod restore;
pub mod schema;

pub use bans::{BanHistory, BanRecord};
pub use import::ImportReport;
pub use logs::{JournalPosition, LogPosition};

/// fail2ban's default `dbpurgeage` (1 day), in seconds.
pub const DEFAULT_PURGE_AGE: i64 = 24 * 60 * 60;
/// fail2ban's default `dbmaxmatches`.
pub const DEFAULT_MAX_MATCHES: u32 = 10;
/// enforcer's default `dbfile`.
pub const DEFAULT_DBFILE: &str = "/var/lib/enforcer/enforcer.sqlite3";

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (this includes disk full, I/O errors, locking).
    #[error("database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// Creating the database's directory failed.
    #[error("database {path}: cannot create directory: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is an SQLite database but not one of fail2ban's layout.
    #[error("database {path}: {what}")]
    Schema { path: String, what: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What `dbfile` says: a path, `:memory:`, or `None` (no persistence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFile {
    Path(PathBuf),
    Memory,
    Disabled,
}

impl DbFile {
    /// Parses the `dbfile` option as fail2ban does: `None` (any case)
    /// disables persistence, `:memory:` keeps it in memory, anything else is a path.
    pub fn parse(value: &str) -> DbFile {
        let v = value.trim();
        if v.eq_ignore_ascii_case("none") || v.is_empty() {
            DbFile::Disabled
        } else if v == ":memory:" {
            DbFile::Memory
        } else {
            DbFile::Path(PathBuf::from(v))
        }
    }
}

/// The ban and position store. `Send + Sync`: one connection behind a mutex
/// (SQLite serialises writers anyway, and the daemon writes rarely).
pub struct Store {
    conn: Mutex<Connection>,
    name: String,
    purge_age: i64,
    max_matches: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("name", &self.name).finish()
    }
}

impl Store {
    /// Opens what `dbfile` names; `Ok(None)` when it is `None`.
    pub fn open_dbfile(dbfile: &DbFile) -> Result<Option<Store>> {
        match dbfile {
            DbFile::Disabled => Ok(None),
            DbFile::Memory => Store::open_in_memory().map(Some),
            DbFile::Path(p) => Store::open(p).map(Some),
        }
    }

    /// Opens (creating when missing, with its directory) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: name.clone(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sqlite(&name, e))?;
        Store::init(conn, name, true)
    }

    /// A database that lives in memory only (`dbfile = :memory:`).
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|e| sqlite(":memory:", e))?;
        Store::init(conn, ":memory:".into(), false)
    }

    fn init(conn: Connection, name: String, wal: bool) -> Result<Store> {
        let e = |err| sqlite(&name, err);
        conn.busy_timeout(Duration::from_secs(5)).map_err(e)?;
        if wal {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(e)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Schema {
                    path: name,
                    what: format!("cannot switch to WAL journal mode (got {mode})"),
                });
            }
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
        schema::ensure(&conn, &name)?;
        Ok(Store {
            conn: Mutex::new(conn),
            name,
            purge_age: DEFAULT_PURGE_AGE,
            max_matches: DEFAULT_MAX_MATCHES,
        })
    }

    /// Sets `dbpurgeage` (seconds): bans older than this are removed by [`Store::purge`].
    pub fn set_purge_age(&mut self, secs: i64) {
        self.purge_age = secs;
    }

    /// Sets `dbmaxmatches`: how many matched lines a stored ban keeps (0 = none).
    pub fn set_max_matches(&mut self, n: u32) {
        self.max_matches = n;
    }

    pub fn purge_age(&self) -> i64 {
        self.purge_age
    }

    pub fn max_matches(&self) -> u32 {
        self.max_matches
    }

    /// The file name (or `:memory:`), for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite(&self.name, e)
    }

    /// Runs `f` in one transaction, committed before returning.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let out = f(&tx).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn).map_err(|e| self.err(e))
    }

    /// Registers a jail (or re-enables it), as fail2ban's `addJail`.
    pub fn add_jail(&self, jail: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)",
                [jail],
            )?;
            if n == 0 {
                tx.execute(
                    "UPDATE jails SET enabled = 1 WHERE name = ?1 AND enabled != 1",
                    [jail],
                )?;
            }
            Ok(())
        })
    }

    /// Marks a jail disabled (its bans stay until purged), as fail2ban's `delJail`.
    pub fn disable_jail(&self, jail: &str) -> Result<()> {
        self.write(|tx| tx.execute("UPDATE jails SET enabled = 0 WHERE name = ?1", [jail]))
            .map(drop)
    }

    /// Names of the jails known to the database, with their enabled flag.
    pub fn jails(&self) -> Result<Vec<(String, bool)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT name, enabled FROM jails ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))
            })?;
            rows.collect()
        })
    }
}

fn sqlite(path: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests;
