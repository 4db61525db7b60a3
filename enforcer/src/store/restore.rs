//! Owns reading bans back at start, the one read that touches every current
//! row (a million on a busy server): a jail's `bips` rows in force become
//! jail tickets in one pass, the `data` JSON decoded straight into the
//! ticket's fields (no intermediate `serde_json::Value` tree, no copy for
//! trimming), and no `ORDER BY` (a sort of every row; restore does not need
//! an order). The rows of jails other than some (the daemon's own bans of
//! jails that are not configured) are read the same way, filtered by SQL.
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

/// A `bips` row as a restored ticket (ban time `-2` = the jail's).
fn ticket_row(row: &Row<'_>, max_matches: usize) -> rusqlite::Result<Ticket> {
    let ip = match row.get_ref(0)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        _ => row.get::<_, String>(0)?,
    };
    let bantime: i64 = row.get(2)?;
    let data = ticket_data(data_bytes(row, 4)?, max_matches);
    let addr = ip.parse().ok();
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
        let max = self.max_matches() as usize;
        let since = forbantime.filter(|f| *f >= 0).map(|f| now - f);
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT ip, timeofban, bantime, bancount, data FROM bips \
                 WHERE jail = ?1 AND (timeofban + bantime > ?2 OR bantime <= -1) \
                 AND (?3 IS NULL OR timeofban > ?3)",
            )?;
            let rows = st.query_map(params![jail, now, since], |r| ticket_row(r, max))?;
            rows.collect()
        })
    }

    /// The `bips` rows in force at `now` of every jail but `skip`, as
    /// stored (ban time `-2` kept), sorted by jail and id.
    pub fn current_rows_except(&self, skip: &[&str], now: i64) -> Result<Vec<BanRecord>> {
        let holes = vec!["?"; skip.len()].join(",");
        let sql = format!(
            "SELECT jail, ip, timeofban, bantime, bancount, data FROM bips \
             WHERE jail NOT IN ({holes}) AND (timeofban + bantime > ? OR bantime <= -1) \
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
mod tests {
    use super::*;
    use crate::store::banstore::ticket_of;

    /// The one-pass decoder reads `data` exactly as the value-tree path.
    #[test]
    fn data_decodes_as_the_value_path_does() {
        let cases: &[&[u8]] = &[
            br#"{"failures": 1}"#,
            br#"{}"#,
            br#"{"matches": ["a", "b", "c"], "failures": 3, "user": "root"}"#,
            br#"{"matches": [["x", "y"], "z", 5, null], "failures": 2.5, "n": 7, "o": {"k": [1]}}"#,
            br#"{"matches": "not a list", "failures": "x"}"#,
            br#"{"matches": {"a": 1}, "failures": -3}"#,
            br#"[1, 2]"#,
            br#"null"#,
            br#"not json"#,
            b"{\"matches\": [\"caf\xe9\"], \"failures\": 4}",
            br#"{"failures": 1} trailing"#,
        ];
        for &bytes in cases {
            for max in [0u32, 1, 2, 10] {
                let via_value = {
                    let data = serde_json::from_slice(bytes).unwrap_or_else(|_| {
                        serde_json::from_str(&String::from_utf8_lossy(bytes))
                            .unwrap_or_else(|_| Value::Object(Default::default()))
                    });
                    let b = BanRecord {
                        jail: "j".into(),
                        ip: "198.18.0.1".into(),
                        time_of_ban: 0,
                        bantime: 1,
                        bancount: 1,
                        data: crate::store::bans::trim_matches(&data, max),
                    };
                    ticket_of(&b)
                };
                let d = ticket_data(bytes, max as usize);
                let shown = String::from_utf8_lossy(bytes);
                assert_eq!(d.matches, via_value.matches, "{shown} max {max}");
                assert_eq!(d.failures as u32, via_value.failures, "{shown}");
                assert_eq!(d.fields, via_value.data, "{shown}");
            }
        }
    }

    #[test]
    fn current_tickets_read_a_jails_rows_in_force() {
        let s = Store::open_in_memory().unwrap();
        let rec = |jail: &str, ip: &str, t: i64, bt: i64| BanRecord {
            jail: jail.into(),
            ip: ip.into(),
            time_of_ban: t,
            bantime: bt,
            bancount: 2,
            data: serde_json::json!({"matches": ["m1", "m2"], "failures": 4, "user": "u"}),
        };
        s.add_ban(&rec("sshd", "198.18.0.1", 1000, 600)).unwrap();
        s.add_ban(&rec("sshd", "198.18.0.2", 1000, 100)).unwrap();
        s.add_ban(&rec("sshd", "198.18.0.3", 500, -1)).unwrap();
        s.add_ban(&rec("sshd", "198.18.0.4", 1000, -2)).unwrap();
        s.add_ban(&rec("other", "198.18.0.5", 1000, 600)).unwrap();
        let mut got = s.current_tickets("sshd", 1200, None).unwrap();
        got.sort_by(|a, b| a.fid.cmp(&b.fid));
        let ids: Vec<_> = got.iter().map(|t| t.fid.as_str()).collect();
        // .2 ended at 1100; -2 rows (the jail's ban time) are always current.
        assert_eq!(ids, ["198.18.0.1", "198.18.0.3", "198.18.0.4"]);
        let t = &got[0];
        assert_eq!(
            (t.time, t.ban_time, t.ban_count, t.failures, t.retry),
            (1000.0, Some(600), 2, 4, 4)
        );
        assert_eq!(t.ip, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(t.matches, ["m1", "m2"]);
        assert_eq!(t.data.get("user").map(String::as_str), Some("u"));
        assert_eq!(got[2].ban_time, None, "ban time -2 is the jail's");
        // A fixed ban time: only bans that started within it.
        let within = s.current_tickets("sshd", 1200, Some(300)).unwrap();
        assert_eq!(within.len(), 2, "the ban of 500 started too early");

        let others = s.current_rows_except(&["sshd"], 1200).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].jail, "other");
        assert_eq!(s.current_rows_except(&[], 1200).unwrap().len(), 4);
    }
}
