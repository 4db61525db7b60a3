//! Owns reading bans back at start, the one read that touches every current
//! row (a million on a busy server): a jail's `bips` rows in force become
//! jail tickets in one pass, the `data` JSON decoded straight into the
//! ticket's fields (no intermediate `serde_json::Value` tree, no copy for
//! trimming), and no `ORDER BY` (a sort of every row; restore does not need
//! an order). The rows of jails other than some (the daemon's own bans of
//! jails that are not configured) are read the same way, filtered by SQL.
//!
//! An address is restored in its canonical spelling, as fail2ban's `IPAddr`
//! has it (`2001:db8:1::0:1a` → `2001:db8:1::1a`, `::ffff:198.18.0.7` →
//! `198.18.0.7`), and a row stored in another spelling is renamed to it, so
//! the jail, the maps and the store agree on the id (an unban by address
//! finds the ban and deletes its row; ban counts add up).
use std::{collections::BTreeMap, fmt};

use rusqlite::{Row, params, params_from_iter, types::ValueRef};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{BanRecord, Result, Store};
use crate::jail::Ticket;

/// fail2ban's pre-v3 ban time: "the jail's ban time" (restored with it).
const JAIL_BANTIME: i64 = -2;

/// What a ticket keeps of a row's `data`: matches (the last `max`), the
/// failure count (1 when absent or not a count) and the captured fields
/// (strings as they are, anything else as its JSON text), as
/// [`BanRecord::matches`], [`BanRecord::failures`] and the store's
/// `ticket_of` read them from a decoded value.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TicketData {
    pub matches: Vec<String>,
    pub failures: u64,
    pub fields: BTreeMap<String, String>,
}

/// One match: a string, or fail2ban's list of parts (multi-line filters),
/// joined; anything else as its JSON text.
fn match_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Array(parts) => parts
            .into_iter()
            .map(|p| match p {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => other.to_string(),
    }
}

/// The `matches` array, keeping the last `max` (a seed: the limit travels
/// with it).
struct Matches(usize);

impl<'de> DeserializeSeed<'de> for Matches {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Vec<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Matches {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of matches")
    }
    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Vec<String>, A::Error> {
        let mut out: std::collections::VecDeque<String> = Default::default();
        while let Some(v) = seq.next_element::<Value>()? {
            if self.0 == 0 {
                continue;
            }
            if out.len() == self.0 {
                out.pop_front();
            }
            out.push_back(match_text(v));
        }
        Ok(out.into())
    }
    // Not a list: no matches (as `BanRecord::matches`).
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Vec<String>, A::Error> {
        while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }
}

/// A key of `data`, the two known ones without an allocation.
enum Key {
    Matches,
    Failures,
    Other(String),
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Key, D::Error> {
        struct K;
        impl Visitor<'_> for K {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Key, E> {
                Ok(match s {
                    "matches" => Key::Matches,
                    "failures" => Key::Failures,
                    other => Key::Other(other.to_string()),
                })
            }
        }
        d.deserialize_str(K)
    }
}

/// The whole `data` object, `max` matches kept.
struct DataSeed(usize);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = TicketData;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<TicketData, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DataSeed {
    type Value = TicketData;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<TicketData, A::Error> {
        let mut out = TicketData {
            failures: 1,
            ..TicketData::default()
        };
        while let Some(key) = m.next_key::<Key>()? {
            match key {
                Key::Matches => out.matches = m.next_value_seed(Matches(self.0))?,
                Key::Failures => out.failures = m.next_value::<Value>()?.as_u64().unwrap_or(1),
                Key::Other(key) => {
                    let text = match m.next_value::<Value>()? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    out.fields.insert(key, text);
                }
            }
        }
        Ok(out)
    }
}

/// Decodes a `data` column (fail2ban writes a BLOB of UTF-8 JSON, we write
/// TEXT); anything unreadable is an empty object, as the store reads it.
pub(crate) fn ticket_data(bytes: &[u8], max_matches: usize) -> TicketData {
    let parse = |b: &[u8]| {
        let mut d = serde_json::Deserializer::from_slice(b);
        DataSeed(max_matches)
            .deserialize(&mut d)
            .and_then(|v| d.end().map(|()| v))
    };
    parse(bytes)
        .or_else(|_| parse(String::from_utf8_lossy(bytes).as_bytes()))
        .unwrap_or(TicketData {
            failures: 1,
            ..TicketData::default()
        })
}

fn data_bytes<'r>(row: &'r Row<'_>, idx: usize) -> rusqlite::Result<&'r [u8]> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => t,
        _ => b"{}",
    })
}

/// Whether `text` is how `addr` displays (fail2ban's and std's RFC 5952
/// spelling), without formatting: a million addresses are checked at start.
fn is_canonical(addr: &std::net::IpAddr, text: &str) -> bool {
    let a = match addr {
        // A dotted quad that parsed is canonical (std refuses leading
        // zeros); `::ffff:` text gave a V4 address and is not.
        std::net::IpAddr::V4(_) => return !text.contains(':'),
        std::net::IpAddr::V6(a) => a,
    };
    if a.to_ipv4_mapped().is_some() {
        return a.to_string() == text;
    }
    let seg = a.segments();
    // The longest run of two or more zero groups, the first on a tie.
    let (mut run, mut len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        if seg[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < 8 && seg[i] == 0 {
            i += 1;
        }
        if i - start > len && i - start > 1 {
            (run, len) = (start, i - start);
        }
    }
    let mut buf = [0u8; 40];
    let mut n = 0;
    let mut put = |b: u8| {
        buf[n] = b;
        n += 1;
    };
    let group = |g: u16, put: &mut dyn FnMut(u8)| {
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let d = ((g >> shift) & 0xf) as u8;
            if d != 0 || started || shift == 0 {
                started = true;
                put(b"0123456789abcdef"[d as usize]);
            }
        }
    };
    let mut i = 0;
    while i < 8 {
        if i == run {
            put(b':');
            put(b':');
            i += len;
            continue;
        }
        if i > 0 && i != run + len {
            put(b':');
        }
        group(seg[i], &mut put);
        i += 1;
    }
    &buf[..n] == text.as_bytes()
}

/// The rows of jail `?1` in force at `?2` (and begun after `?3` when not
/// NULL), for [`Store::current_tickets_each`] and [`Store::count_current`].
const CURRENT: &str = "FROM bips WHERE jail = ?1 AND (timeofban + bantime > ?2 OR bantime <= -1) \
     AND (?3 IS NULL OR timeofban > ?3)";

/// A `bips` row as a restored ticket (ban time `-2` = the jail's).
fn ticket_row(row: &Row<'_>, max_matches: usize) -> rusqlite::Result<Ticket> {
    let ip = match row.get_ref(0)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        _ => row.get::<_, String>(0)?,
    };
    let bantime: i64 = row.get(2)?;
    let data = ticket_data(data_bytes(row, 4)?, max_matches);
    let addr = ip.parse().ok().map(crate::jail::ignore::canonical);
    let mut t = Ticket::new(ip, addr, row.get::<_, i64>(1)? as f64);
    t.ban_time = (bantime != JAIL_BANTIME).then_some(bantime);
    t.ban_count = row.get::<_, i64>(3)?.clamp(0, u32::MAX as i64) as u32;
    t.matches = data.matches;
    t.failures = data.failures.min(u32::MAX as u64) as u32;
    t.retry = t.failures;
    t.data = data.fields;
    Ok(t)
}

impl Store {
    /// The bans of `jail` in force at `now` as tickets (fail2ban's
    /// `getCurrentBans` for `restoreCurrentBans`): the latest row per id,
    /// matches trimmed to `dbmaxmatches`; `forbantime` (a fixed ban time,
    /// bantime.increment off): only bans that started within it. In row
    /// order, not sorted.
    pub fn current_tickets(
        &self,
        jail: &str,
        now: i64,
        forbantime: Option<i64>,
    ) -> Result<Vec<Ticket>> {
        let mut all = Vec::new();
        self.current_tickets_each(jail, now, forbantime, usize::MAX, &mut |mut c| {
            all.append(&mut c);
            true
        })?;
        Ok(all)
    }

    /// How many rows [`Store::current_tickets`] would read (a count, not a
    /// read: what a restore sizes its books and its map writes by).
    pub fn count_current(&self, jail: &str, now: i64, forbantime: Option<i64>) -> Result<usize> {
        let since = forbantime.filter(|f| *f >= 0).map(|f| now - f);
        self.read(|c| {
            c.query_row(
                &format!("SELECT count(*) {CURRENT}"),
                params![jail, now, since],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n.max(0) as usize)
    }

    /// [`Store::current_tickets`] handed to `each` by the `chunk` as the
    /// rows are read, so that a restore puts the first bans in force while
    /// the store still reads the rest (`each` returning false stops the
    /// read). Ids stored in another spelling than their address's
    /// canonical one are renamed once the read is done.
    pub fn current_tickets_each(
        &self,
        jail: &str,
        now: i64,
        forbantime: Option<i64>,
        chunk: usize,
        each: &mut dyn FnMut(Vec<Ticket>) -> bool,
    ) -> Result<()> {
        let max = self.max_matches() as usize;
        let since = forbantime.filter(|f| *f >= 0).map(|f| now - f);
        let chunk = chunk.max(1);
        let mut renamed = Vec::new();
        let mut canonical = |tickets: &mut Vec<Ticket>| {
            for t in tickets {
                let Some(addr) = t.ip else { continue };
                if !is_canonical(&addr, &t.fid) {
                    let new = addr.to_string();
                    let old = std::mem::replace(&mut t.fid, new.clone());
                    renamed.push((old, new));
                }
            }
        };
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT ip, timeofban, bantime, bancount, data {CURRENT}"
            ))?;
            let mut rows = st.query(params![jail, now, since])?;
            let mut batch = Vec::new();
            while let Some(r) = rows.next()? {
                batch.push(ticket_row(r, max)?);
                if batch.len() == chunk {
                    canonical(&mut batch);
                    if !each(std::mem::take(&mut batch)) {
                        return Ok(());
                    }
                }
            }
            if !batch.is_empty() {
                canonical(&mut batch);
                each(batch);
            }
            Ok(())
        })?;
        if !renamed.is_empty()
            && let Err(e) = self.rename_targets(jail, &renamed)
        {
            log::error!("[{jail}] database: storing canonical addresses: {e}");
        }
        Ok(())
    }

    /// Renames stored ids of `jail` (`(old, new)` pairs) in `bips` and
    /// `bans`, in one commit; a current row already under the new id
    /// gives way to the renamed one (both are the same address).
    pub fn rename_targets(&self, jail: &str, renamed: &[(String, String)]) -> Result<()> {
        self.write(|tx| {
            let mut bip =
                tx.prepare("UPDATE OR REPLACE bips SET ip = ?3 WHERE jail = ?1 AND ip = ?2")?;
            let mut ban = tx.prepare("UPDATE bans SET ip = ?3 WHERE jail = ?1 AND ip = ?2")?;
            for (old, new) in renamed {
                bip.execute(params![jail, old, new])?;
                ban.execute(params![jail, old, new])?;
            }
            Ok(())
        })
    }

    /// The `bips` rows in force at `now` of every jail but `skip`, as
    /// stored (ban time `-2` kept), sorted by jail and id.
    pub fn current_rows_except(&self, skip: &[&str], now: i64) -> Result<Vec<BanRecord>> {
        let not_in = super::bans::jail_not_in(skip.len());
        let sql = format!(
            "SELECT jail, ip, timeofban, bantime, bancount, data FROM bips \
             WHERE {not_in} AND (timeofban + bantime > ? OR bantime <= -1) \
             ORDER BY jail, ip"
        );
        let mut args: Vec<rusqlite::types::Value> = skip
            .iter()
            .map(|s| rusqlite::types::Value::Text(s.to_string()))
            .collect();
        args.push(rusqlite::types::Value::Integer(now));
        self.read(|c| {
            let mut st = c.prepare(&sql)?;
            st.query_map(params_from_iter(args), super::bans::record)?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests;
