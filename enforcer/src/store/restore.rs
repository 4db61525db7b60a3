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
        let max = self.max_matches() as usize;
        let since = forbantime.filter(|f| *f >= 0).map(|f| now - f);
        let mut tickets: Vec<Ticket> = self.read(|c| {
            let mut st = c.prepare(
                "SELECT ip, timeofban, bantime, bancount, data FROM bips \
                 WHERE jail = ?1 AND (timeofban + bantime > ?2 OR bantime <= -1) \
                 AND (?3 IS NULL OR timeofban > ?3)",
            )?;
            let rows = st.query_map(params![jail, now, since], |r| ticket_row(r, max))?;
            rows.collect()
        })?;
        let mut renamed = Vec::new();
        for t in &mut tickets {
            let Some(addr) = t.ip else { continue };
            if !is_canonical(&addr, &t.fid) {
                let new = addr.to_string();
                let old = std::mem::replace(&mut t.fid, new.clone());
                renamed.push((old, new));
            }
        }
        if !renamed.is_empty()
            && let Err(e) = self.rename_targets(jail, &renamed)
        {
            log::error!("[{jail}] database: storing canonical addresses: {e}");
        }
        Ok(tickets)
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
    fn canonical_check_agrees_with_display() {
        for text in [
            "2001:db8:1::1a",
            "2001:db8:1::0:1a",
            "2001:DB8::1",
            "2001:db8::1",
            "2001:db8:0:0:1::1",
            "2001:db8::1:0:0:1",
            "2001:0db8::1",
            "::",
            "::1",
            "1::",
            "0:0:1::",
            "2001:db8:1:2:3:4:5:6",
            "2001:db8:0:1:2:3:4:5",
            "2001:db8::2:3:4:5:6",
            "::ffff:198.18.0.7",
            "::198.18.0.7",
            "198.18.0.7",
        ] {
            let a: std::net::IpAddr = text.parse().unwrap();
            let a = crate::jail::ignore::canonical(a);
            assert_eq!(is_canonical(&a, text), a.to_string() == text, "{text}");
        }
        for i in 0..70_000u32 {
            let a = std::net::IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                (i % 3) as u16,
                0,
                (i >> 16) as u16,
                (i % 5) as u16,
                (i >> 8) as u16 & 0xff,
                i as u16,
            ));
            assert!(is_canonical(&a, &a.to_string()), "{a}");
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

        // Another spelling of an address comes back canonical, and its rows
        // are renamed: an unban by address then finds and deletes them.
        s.add_ban(&rec("sshd", "2001:db8:1::0:1a", 1000, 600))
            .unwrap();
        s.add_ban(&rec("sshd", "::ffff:198.18.0.7", 1000, 600))
            .unwrap();
        let mut got = s.current_tickets("sshd", 1200, None).unwrap();
        got.sort_by(|a, b| a.fid.cmp(&b.fid));
        let ids: Vec<_> = got.iter().map(|t| t.fid.as_str()).collect();
        assert_eq!(
            ids,
            [
                "198.18.0.1",
                "198.18.0.3",
                "198.18.0.4",
                "198.18.0.7",
                "2001:db8:1::1a"
            ]
        );
        assert_eq!(got[3].ip, Some("198.18.0.7".parse().unwrap()));
        assert!(s.remove_ban("sshd", "2001:db8:1::1a").unwrap());
        assert!(s.remove_ban("sshd", "198.18.0.7").unwrap());
        assert!(
            s.ban_log(Some("sshd"), Some("2001:db8:1::0:1a"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.current_tickets("sshd", 1200, None).unwrap().len(), 3);

        let others = s.current_rows_except(&["sshd"], 1200).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].jail, "other");
        assert_eq!(s.current_rows_except(&[], 1200).unwrap().len(), 4);
    }
}
