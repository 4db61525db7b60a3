//! Owns the SQL schema: fail2ban's version 4, created when missing and
//! checked when present.
use rusqlite::Connection;

use super::{Result, StoreError, sqlite};

/// The schema version written to `fail2banDb`, fail2ban's current one.
pub const VERSION: i64 = 4;

/// fail2ban's v4 tables and indices (same names, columns and constraints).
pub const CREATE: &str = "
CREATE TABLE IF NOT EXISTS fail2banDb(version INTEGER);
CREATE TABLE IF NOT EXISTS jails(
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS jails_name ON jails(name);
CREATE TABLE IF NOT EXISTS logs(
    jail TEXT NOT NULL,
    path TEXT,
    firstlinemd5 TEXT,
    lastfilepos INTEGER DEFAULT 0,
    FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE,
    UNIQUE(jail, path),
    UNIQUE(jail, path, firstlinemd5));
CREATE INDEX IF NOT EXISTS logs_path ON logs(path);
CREATE INDEX IF NOT EXISTS logs_jail_path ON logs(jail, path);
CREATE TABLE IF NOT EXISTS bans(
    jail TEXT NOT NULL,
    ip TEXT,
    timeofban INTEGER NOT NULL,
    bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL default 1,
    data JSON,
    FOREIGN KEY(jail) REFERENCES jails(name));
CREATE INDEX IF NOT EXISTS bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX IF NOT EXISTS bans_jail_ip ON bans(jail, ip);
CREATE INDEX IF NOT EXISTS bans_ip ON bans(ip);
CREATE TABLE IF NOT EXISTS bips(
    ip TEXT NOT NULL,
    jail TEXT NOT NULL,
    timeofban INTEGER NOT NULL,
    bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL default 1,
    data JSON,
    PRIMARY KEY(ip, jail),
    FOREIGN KEY(jail) REFERENCES jails(name));
CREATE INDEX IF NOT EXISTS bips_timeofban ON bips(timeofban);
CREATE INDEX IF NOT EXISTS bips_ip ON bips(ip);
";

/// Creates the schema in an empty database, or checks an existing one is v4.
pub fn ensure(conn: &Connection, name: &str) -> Result<()> {
    match version(conn, name)? {
        None => {
            conn.execute_batch(&format!(
                "BEGIN; {CREATE} INSERT INTO fail2banDb(version) \
                 SELECT {VERSION} WHERE NOT EXISTS (SELECT 1 FROM fail2banDb LIMIT 1); COMMIT;"
            ))
            .map_err(|e| sqlite(name, e))?;
            Ok(())
        }
        Some(VERSION) => Ok(()),
        Some(v) => Err(StoreError::Schema {
            path: name.to_string(),
            what: format!(
                "schema version {v}, expected {VERSION}; import it with \
                 `enforcer import-fail2ban-db` into a new file instead"
            ),
        }),
    }
}

/// The version recorded in `fail2banDb`, or `None` for a database without it.
pub fn version(conn: &Connection, name: &str) -> Result<Option<i64>> {
    let has: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='fail2banDb'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| sqlite(name, e))?
        > 0;
    if !has {
        return Ok(None);
    }
    let v: Option<i64> = conn
        .query_row("SELECT version FROM fail2banDb LIMIT 1", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(|e| sqlite(name, e))?;
    Ok(v)
}

/// Whether `table` exists.
pub fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
