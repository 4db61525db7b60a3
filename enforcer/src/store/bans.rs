//! Owns the ban rows: `bans` (every ban ever made, until purged) and `bips`
//! (the latest ban per address and jail, what restore and ban-time increment
//! read), written and queried the way fail2ban's database does.
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use super::{Result, Store};

/// fail2ban's `outDatedFactor`: a `bips` row is purged only once its ban is
/// this many ban times older than `dbpurgeage`.
const OUTDATED_FACTOR: i64 = 3;

/// One stored ban.
#[derive(Debug, Clone, PartialEq)]
pub struct BanRecord {
    pub jail: String,
    /// The banned id as text (an address, a CIDR, or a filter's F-ID).
    pub ip: String,
    /// Unix seconds when the ban started.
    pub time_of_ban: i64,
    /// Seconds; `-1` is permanent.
    pub bantime: i64,
    /// How many times this id has been banned (bantime.increment).
    pub bancount: u32,
    /// fail2ban's ticket data: `{"matches": [...], "failures": N, ...}`.
    pub data: Value,
}

impl BanRecord {
    /// Unix seconds when the ban ends; `None` when permanent.
    pub fn end(&self) -> Option<i64> {
        (self.bantime >= 0).then(|| self.time_of_ban.saturating_add(self.bantime))
    }

    /// The matched log lines kept with the ban.
    pub fn matches(&self) -> Vec<String> {
        match self.data.get("matches") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    // fail2ban (multi-line filters) stores a match as a list of parts.
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| {
                            p.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| p.to_string())
                        })
                        .collect(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The failure count kept with the ban (1 when absent).
    pub fn failures(&self) -> u64 {
        self.data
            .get("failures")
            .and_then(Value::as_u64)
            .unwrap_or(1)
    }
}

/// What the database knows of an id's past bans (fail2ban's `getBan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanHistory {
    pub bancount: u32,
    pub last_time_of_ban: i64,
    pub bantime: i64,
}

/// Keeps only the last `max` matches (none when `max` is 0), as fail2ban's addBan.
pub(crate) fn trim_matches(data: &Value, max: u32) -> Value {
    let mut data = data.clone();
    if let Value::Object(map) = &mut data {
        if max == 0 {
            map.remove("matches");
        } else if let Some(Value::Array(m)) = map.get_mut("matches") {
            let max = max as usize;
            if m.len() > max {
                m.drain(..m.len() - max);
            }
        }
    }
    data
}

/// Reads a `data` column written by fail2ban (BLOB of UTF-8 JSON) or by us (TEXT).
fn data_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Value> {
    let bytes: &[u8] = match row.get_ref(idx)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => t,
        _ => return Ok(Value::Object(Default::default())),
    };
    Ok(serde_json::from_slice(bytes).unwrap_or_else(|_| {
        serde_json::from_str(&String::from_utf8_lossy(bytes))
            .unwrap_or_else(|_| Value::Object(Default::default()))
    }))
}

pub(super) fn record(row: &Row<'_>) -> rusqlite::Result<BanRecord> {
    Ok(BanRecord {
        jail: row.get(0)?,
        ip: row.get(1)?,
        time_of_ban: row.get(2)?,
        bantime: row.get(3)?,
        bancount: row.get::<_, i64>(4)?.clamp(0, u32::MAX as i64) as u32,
        data: data_col(row, 5)?,
    })
}

impl Store {
    /// Stores a ban (in `bans` and `bips`), committed before returning: once
    /// this is `Ok`, the ban survives a crash. Registers the jail if needed.
    /// Matches are trimmed to `dbmaxmatches`.
    pub fn add_ban(&self, ban: &BanRecord) -> Result<()> {
        let data = trim_matches(&ban.data, self.max_matches()).to_string();
        self.write(|tx| {
            tx.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)", [&ban.jail])?;
            let p = params![ban.jail, ban.ip, ban.time_of_ban, ban.bantime, ban.bancount, data];
            tx.execute(
                "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                p,
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO bips(jail, ip, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                p,
            )?;
            Ok(())
        })
    }

    /// Stores many bans in one transaction (a bulk ban: one commit, not
    /// one per ban), committed before returning, as [`Store::add_ban`].
    pub fn add_bans(&self, bans: &[BanRecord]) -> Result<()> {
        if bans.is_empty() {
            return Ok(());
        }
        let max = self.max_matches();
        self.write(|tx| {
            let mut jail = tx.prepare("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)")?;
            let mut ban = tx.prepare(
                "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut bip = tx.prepare(
                "INSERT OR REPLACE INTO bips(jail, ip, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut last_jail: Option<&str> = None;
            for b in bans {
                if last_jail != Some(b.jail.as_str()) {
                    jail.execute([&b.jail])?;
                    last_jail = Some(&b.jail);
                }
                let data = trim_matches(&b.data, max).to_string();
                let p = params![b.jail, b.ip, b.time_of_ban, b.bantime, b.bancount, data];
                ban.execute(p)?;
                bip.execute(p)?;
            }
            Ok(())
        })
    }

    /// Removes an id's bans in one jail; returns whether it had a current row.
    pub fn remove_ban(&self, jail: &str, ip: &str) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM bips WHERE jail = ?1 AND ip = ?2", [jail, ip])?;
            tx.execute("DELETE FROM bans WHERE jail = ?1 AND ip = ?2", [jail, ip])?;
            Ok(n > 0)
        })
    }

    /// Removes an id's bans in every jail (`unban ADDR`); returns the jails it was in.
    pub fn remove_ip(&self, ip: &str) -> Result<Vec<String>> {
        self.remove_ip_except(ip, &[])
    }

    /// Removes an id's bans in every jail but those of `skip` (whose own
    /// threads store and forget their bans, in order); returns the jails
    /// it was in.
    pub fn remove_ip_except(&self, ip: &str, skip: &[&str]) -> Result<Vec<String>> {
        let not_in = jail_not_in(skip.len());
        let mut args: Vec<&str> = vec![ip];
        args.extend_from_slice(skip);
        self.write(|tx| {
            let jails = {
                let mut st = tx.prepare(&format!(
                    "SELECT jail FROM bips WHERE ip = ? AND {not_in} ORDER BY jail"
                ))?;
                st.query_map(rusqlite::params_from_iter(&args), |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?
            };
            let params = rusqlite::params_from_iter(&args);
            tx.execute(
                &format!("DELETE FROM bips WHERE ip = ? AND {not_in}"),
                params,
            )?;
            let params = rusqlite::params_from_iter(&args);
            tx.execute(
                &format!("DELETE FROM bans WHERE ip = ? AND {not_in}"),
                params,
            )?;
            Ok(jails)
        })
    }

    /// Removes every ban of a jail (`unban --all`, `reload --unban`).
    pub fn remove_jail_bans(&self, jail: &str) -> Result<usize> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM bips WHERE jail = ?1", [jail])?;
            tx.execute("DELETE FROM bans WHERE jail = ?1", [jail])?;
            Ok(n)
        })
    }

    /// Removes every ban of every jail (`unban --all`).
    pub fn remove_all_bans(&self) -> Result<usize> {
        self.remove_all_bans_except(&[])
    }

    /// Removes every ban of every jail but those of `skip`.
    pub fn remove_all_bans_except(&self, skip: &[&str]) -> Result<usize> {
        let (not_in, args) = (jail_not_in(skip.len()), rusqlite::params_from_iter(skip));
        self.write(|tx| {
            let n = tx.execute(&format!("DELETE FROM bips WHERE {not_in}"), args.clone())?;
            tx.execute(&format!("DELETE FROM bans WHERE {not_in}"), args)?;
            Ok(n)
        })
    }

    /// Bans still in force at `now` (one per id and jail, the latest), for
    /// restoring at start with their original end time. `jail = None`: all
    /// jails. `max_bantime` caps a stored ban time (fail2ban's
    /// `correctBanTime`: the jail's longest possible ban; `None` = no cap);
    /// rows of the pre-v3 format (ban time `-2`) get `max_bantime` or 600 s.
    /// Bans that ended under the cap are left out. Matches are trimmed to
    /// `dbmaxmatches`.
    pub fn current_bans(
        &self,
        jail: Option<&str>,
        now: i64,
        max_bantime: Option<i64>,
    ) -> Result<Vec<BanRecord>> {
        let rows = self.current_rows(jail, now)?;
        Ok(self.in_force(rows, now, max_bantime))
    }

    /// As [`Store::current_bans`] for every jail but `skip` (read with the
    /// filter in SQL: the rows of the skipped jails are not decoded).
    pub fn current_bans_except(
        &self,
        skip: &[&str],
        now: i64,
        max_bantime: Option<i64>,
    ) -> Result<Vec<BanRecord>> {
        let rows = self.current_rows_except(skip, now)?;
        Ok(self.in_force(rows, now, max_bantime))
    }

    /// [`Store::current_bans`]'s correction of rows read as stored.
    fn in_force(&self, rows: Vec<BanRecord>, now: i64, max_bantime: Option<i64>) -> Vec<BanRecord> {
        let cap = max_bantime.filter(|c| *c >= 0);
        let max = self.max_matches();
        rows.into_iter()
            .filter_map(|mut b| {
                if b.bantime == -2 {
                    b.bantime = cap.unwrap_or(600);
                } else if let Some(cap) = cap
                    && (b.bantime == -1 || b.bantime > cap)
                {
                    b.bantime = cap;
                }
                if b.end().is_some_and(|end| end <= now) {
                    return None;
                }
                b.data = trim_matches(&b.data, max);
                Some(b)
            })
            .collect()
    }

    /// The `bips` rows in force at `now`, as stored (ban time `-2` kept).
    pub(crate) fn current_rows(&self, jail: Option<&str>, now: i64) -> Result<Vec<BanRecord>> {
        self.read(|c| {
            let sql = "SELECT jail, ip, timeofban, bantime, bancount, data FROM bips \
                       WHERE (?1 IS NULL OR jail = ?1) AND (timeofban + bantime > ?2 OR bantime <= -1) \
                       ORDER BY jail, ip";
            let mut st = c.prepare(sql)?;
            st.query_map(params![jail, now], record)?.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// fail2ban's `getBan`: an id's ban count, last ban time and ban time,
    /// in one jail or (`overall_jails`, bantime.overalljails) summed over all.
    /// `since`: only bans that started after it.
    pub fn ban_history(
        &self,
        ip: &str,
        jail: Option<&str>,
        overall_jails: bool,
        since: Option<i64>,
    ) -> Result<Option<BanHistory>> {
        let jail = if overall_jails { None } else { jail };
        self.read(|c| {
            let sql = if jail.is_some() {
                "SELECT bancount, timeofban, bantime FROM bips WHERE ip = ?1 AND jail = ?2 \
                 AND (?3 IS NULL OR timeofban > ?3)"
            } else {
                "SELECT sum(bancount), max(timeofban), sum(bantime) FROM bips WHERE ip = ?1 \
                 AND (?3 IS NULL OR timeofban > ?3) GROUP BY ip"
            };
            c.query_row(sql, params![ip, jail, since], |r| {
                Ok(BanHistory {
                    bancount: r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                    last_time_of_ban: r.get(1)?,
                    bantime: r.get(2)?,
                })
            })
            .optional()
        })
    }

    /// Every stored ban (the `bans` history), newest first, optionally for
    /// one jail and/or one id.
    pub fn ban_log(&self, jail: Option<&str>, ip: Option<&str>) -> Result<Vec<BanRecord>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT jail, ip, timeofban, bantime, bancount, data FROM bans \
                 WHERE (?1 IS NULL OR jail = ?1) AND (?2 IS NULL OR ip = ?2) \
                 ORDER BY timeofban DESC, rowid DESC",
            )?;
            st.query_map(params![jail, ip], record)?.collect()
        })
    }

    /// fail2ban's hourly purge: drops `bans` older than `dbpurgeage`, `bips`
    /// long out of date (never permanent ones), and disabled jails left empty.
    /// Returns the number of `bans` rows removed.
    pub fn purge(&self, now: i64) -> Result<usize> {
        let cutoff = now - self.purge_age();
        self.write(|tx| {
            let n = tx.execute("DELETE FROM bans WHERE timeofban < ?1", [cutoff])?;
            tx.execute(
                "DELETE FROM bips WHERE timeofban < ?1 AND bantime != -1 AND (timeofban + (bantime * ?2)) < ?1",
                [cutoff, OUTDATED_FACTOR],
            )?;
            tx.execute(
                "DELETE FROM jails WHERE enabled = 0 \
                 AND NOT EXISTS(SELECT * FROM bans WHERE jail = jails.name) \
                 AND NOT EXISTS(SELECT * FROM bips WHERE jail = jails.name)",
                [],
            )?;
            Ok(n)
        })
    }
}

/// `jail NOT IN (?, …)` for `n` jails bound in order (SQLite takes an
/// empty list: every jail).
pub(super) fn jail_not_in(n: usize) -> String {
    format!("jail NOT IN ({})", vec!["?"; n].join(","))
}
