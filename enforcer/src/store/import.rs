//! Owns `import-fail2ban-db`: copying an existing fail2ban database (schema
//! v2 to v4) into ours, so an installation's bans and log positions carry
//! over. The source is opened read-only and never changed. Importing twice
//! adds nothing new: history rows are deduplicated on (jail, ip, time), and a
//! current ban replaces ours only when it is not older.
use std::path::Path;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, params};

use super::schema::{table_exists, version};
use super::{Result, Store, StoreError, sqlite};

/// What an import copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub jails: usize,
    /// `bans` (history) rows added.
    pub bans: usize,
    /// `bips` (latest ban per id and jail) rows added or updated.
    pub current: usize,
    /// `logs` (file and journal positions) rows copied.
    pub logs: usize,
}

type Row6 = (String, Option<String>, i64, i64, i64, SqlValue);
type LogRow = (String, Option<String>, Option<String>, Option<i64>);

fn read_rows(src: &Connection, sql: &str) -> rusqlite::Result<Vec<Row6>> {
    let mut st = src.prepare(sql)?;
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?
    .collect()
}

impl Store {
    /// Copies jails, bans and log positions from fail2ban's database at `path`.
    pub fn import_fail2ban_db(&self, path: &Path) -> Result<ImportReport> {
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(StoreError::Schema {
                path: name,
                what: "no such file".into(),
            });
        }
        let src = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| sqlite(&name, e))?;
        let e = |err| sqlite(&name, err);
        let v = version(&src, &name)?.ok_or_else(|| StoreError::Schema {
            path: name.clone(),
            what: "not a fail2ban database (no fail2banDb table)".into(),
        })?;
        if !(1..=4).contains(&v) {
            return Err(StoreError::Schema {
                path: name,
                what: format!("unsupported fail2ban schema version {v}"),
            });
        }
        let jails: Vec<(String, i64)> = if table_exists(&src, "jails").map_err(e)? {
            let mut st = src.prepare("SELECT name, enabled FROM jails").map_err(e)?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .map_err(e)?
        } else {
            Vec::new()
        };
        let has_bantime = v >= 3;
        let bans = if table_exists(&src, "bans").map_err(e)? {
            let sql = if has_bantime {
                "SELECT jail, ip, timeofban, bantime, bancount, data FROM bans"
            } else {
                "SELECT jail, ip, timeofban, -2, 1, data FROM bans"
            };
            read_rows(&src, sql).map_err(e)?
        } else {
            Vec::new()
        };
        let bips = if table_exists(&src, "bips").map_err(e)? {
            read_rows(
                &src,
                "SELECT jail, ip, timeofban, bantime, bancount, data FROM bips",
            )
            .map_err(e)?
        } else {
            // Before v4, the latest row of each (ip, jail) in `bans` is the current one.
            let mut latest: std::collections::BTreeMap<(String, Option<String>), Row6> =
                Default::default();
            for b in &bans {
                let key = (b.0.clone(), b.1.clone());
                if latest.get(&key).is_none_or(|o| o.2 <= b.2) {
                    latest.insert(key, b.clone());
                }
            }
            latest.into_values().collect()
        };
        let logs: Vec<LogRow> = if table_exists(&src, "logs").map_err(e)? {
            let mut st = src
                .prepare("SELECT jail, path, firstlinemd5, lastfilepos FROM logs")
                .map_err(e)?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|r| r.collect())
                .map_err(e)?
        } else {
            Vec::new()
        };
        drop(src);

        self.write(|tx| {
            let mut report = ImportReport::default();
            let mut known = |tx: &rusqlite::Transaction<'_>, jail: &str, enabled: i64| -> rusqlite::Result<()> {
                if tx.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, ?2)", params![jail, enabled])? > 0 {
                    report.jails += 1;
                }
                Ok(())
            };
            for (jail, enabled) in &jails {
                known(tx, jail, *enabled)?;
            }
            for (jail, ..) in bans.iter().chain(bips.iter()) {
                known(tx, jail, 0)?;
            }
            for (jail, ..) in &logs {
                known(tx, jail, 0)?;
            }
            for (jail, ip, t, bt, bc, data) in &bans {
                report.bans += tx.execute(
                    "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS \
                     (SELECT 1 FROM bans WHERE jail = ?1 AND ip IS ?2 AND timeofban = ?3)",
                    params![jail, ip, t, bt, bc, data],
                )?;
            }
            for (jail, ip, t, bt, bc, data) in &bips {
                let Some(ip) = ip else { continue };
                report.current += tx.execute(
                    "INSERT INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT(ip, jail) DO UPDATE SET timeofban = excluded.timeofban, \
                     bantime = excluded.bantime, bancount = excluded.bancount, data = excluded.data \
                     WHERE excluded.timeofban >= bips.timeofban",
                    params![ip, jail, t, bt, bc, data],
                )?;
            }
            for (jail, path, md5, pos) in &logs {
                report.logs += tx.execute(
                    "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES(?1, ?2, ?3, ?4)",
                    params![jail, path, md5, pos.unwrap_or(0)],
                )?;
            }
            Ok(report)
        })
    }
}
