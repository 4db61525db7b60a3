//! Owns tickets and the failure manager: fail2ban's `FailTicket`/`BanTicket`
//! data and `FailManager` counting (per failure id, findtime with fail2ban's
//! rate rescaling, maxretry, maxmatches, purge of entries older than findtime).
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Far end of a permanent ban, as fail2ban's `Ticket.MAX_TIME`.
pub const MAX_TIME: f64 = 0x7FFF_FFFF_FFFF_u64 as f64;

/// One failure id's tickets: the failure side (retry/attempts/matches) and,
/// once banned, the ban side (ban time, ban count, restored flag).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The failure id (F-ID, or the host/address).
    pub fid: String,
    /// The address when the id is (or the failure carried) an IP address.
    pub ip: Option<IpAddr>,
    /// Time of the last failure; for a ban, the time the ban started.
    pub time: f64,
    /// Start of the window the retry count is estimated for.
    pub first_time: f64,
    /// Retry count (possibly rescaled, or raised for known bad addresses).
    pub retry: u32,
    /// Number of real failures seen (fail2ban's `failures` data).
    pub failures: u32,
    /// Log lines, newest last, truncated to maxmatches.
    pub matches: Vec<String>,
    /// Captured fields, lower-case names without the `F-` prefix (`user`, ...).
    pub data: BTreeMap<String, String>,
    /// Ban time in seconds when decided for this ticket (-1 = permanent).
    pub ban_time: Option<i64>,
    /// How many times this id was banned before (incremented on each ban).
    pub ban_count: u32,
    /// The ban was restored from the store after a restart.
    pub restored: bool,
}

impl Ticket {
    /// A fresh ticket as the filter builds it: no attempts counted yet.
    pub fn new(fid: impl Into<String>, ip: Option<IpAddr>, time: f64) -> Ticket {
        Ticket {
            fid: fid.into(),
            ip,
            time,
            first_time: time,
            retry: 0,
            failures: 0,
            matches: Vec::new(),
            data: BTreeMap::new(),
            ban_time: None,
            ban_count: 0,
            restored: false,
        }
    }

    /// A ban ticket for a manual ban (`fail2ban-client set JAIL banip`).
    pub fn manual(fid: impl Into<String>, ip: Option<IpAddr>, time: f64) -> Ticket {
        let mut t = Ticket::new(fid, ip, time);
        t.retry = 1;
        t
    }

    /// The ban time, or `default` when none was decided for this ticket.
    pub fn ban_time_or(&self, default: i64) -> i64 {
        self.ban_time.unwrap_or(default)
    }

    /// End of the ban (`MAX_TIME` for permanent bans).
    pub fn end_of_ban(&self, default_bantime: i64) -> f64 {
        match self.ban_time_or(default_bantime) {
            -1 => MAX_TIME,
            bt => self.time + bt as f64,
        }
    }

    /// fail2ban's `FailTicket.adjustTime`: when the span since the first
    /// failure exceeds findtime, the retry count is re-estimated from the rate
    /// over the known interval and the window start moves to `time - findtime`.
    pub fn adjust_time(&mut self, time: f64, max_time: i64) {
        if time > self.time {
            let max_time = max_time as f64;
            if self.first_time < time - max_time {
                let rate = self.retry as f64 / (time - self.first_time);
                // Python 3 round(): half to even.
                self.retry = (rate * max_time).round_ties_even().max(0.0) as u32;
                self.first_time = time - max_time;
            }
            self.time = time;
        }
    }

    /// fail2ban's `FailTicket.inc`.
    fn inc(&mut self, matches: Option<&[String]>, attempt: u32, count: u32) {
        self.retry += count;
        self.failures += attempt;
        if let Some(m) = matches {
            self.matches.extend(m.iter().cloned());
        }
    }

    /// fail2ban's `FailTicket.setRetry`.
    fn set_retry(&mut self, value: u32) {
        self.retry = value;
        if self.failures == 0 {
            self.failures = 1;
        }
        if value == 0 {
            self.failures = 0;
            self.matches.clear();
        }
    }

    /// fail2ban's `repr(ticket)` (the `raw-ticket` tag).
    pub fn repr(&self, default_bantime: i64) -> String {
        let matches: Vec<String> = self.matches.iter().map(|m| py_repr(m)).collect();
        format!(
            "BanTicket: ip={} time={} bantime={} bancount={} #attempts={} matches=[{}]",
            self.fid,
            py_float(self.time),
            self.ban_time_or(default_bantime),
            self.ban_count,
            self.failures,
            matches.join(", ")
        )
    }
}

impl From<&crate::filter::Failure> for Ticket {
    /// The ticket fail2ban's filter builds for a failure (`FailTicket(ip,
    /// time, data)`): no attempts counted yet; captures become data.
    fn from(f: &crate::filter::Failure) -> Ticket {
        let mut t = Ticket::new(f.fid.clone(), f.addr.map(super::ignore::canonical), f.time);
        t.matches = f.matches.iter().map(|m| m.to_string()).collect();
        t.data = f.fields.to_map();
        t
    }
}

/// Python's `repr()` of a str, enough for log lines (quotes and escapes).
pub fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c)
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Python's `str(float)` for times: integral values print with `.0`.
pub fn py_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// fail2ban's `FailManager`: failure tickets per id, within findtime.
#[derive(Debug)]
pub struct FailManager {
    list: HashMap<String, Ticket>,
    max_retry: u32,
    max_time: i64,
    max_matches: u32,
    total: u64,
}

impl FailManager {
    pub fn new(max_retry: u32, findtime: i64, max_matches: u32) -> FailManager {
        FailManager {
            list: HashMap::new(),
            max_retry,
            max_time: findtime,
            max_matches,
            total: 0,
        }
    }

    pub fn max_retry(&self) -> u32 {
        self.max_retry
    }
    pub fn set_max_retry(&mut self, v: u32) {
        self.max_retry = v;
    }
    pub fn findtime(&self) -> i64 {
        self.max_time
    }
    pub fn set_findtime(&mut self, v: i64) {
        self.max_time = v;
    }
    pub fn max_matches(&self) -> u32 {
        self.max_matches
    }
    pub fn set_max_matches(&mut self, v: u32) {
        self.max_matches = v;
    }
    /// Ids currently failing (`Currently failed`).
    pub fn size(&self) -> usize {
        self.list.len()
    }
    /// Failures seen since start (`Total failed`).
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn set_total(&mut self, v: u64) {
        self.total = v;
    }
    pub fn get(&self, fid: &str) -> Option<&Ticket> {
        self.list.get(fid)
    }

    /// fail2ban's `addFailure`: merges `ticket` into the id's entry (or
    /// creates it) and returns the id's retry count. `count` is how many
    /// attempts this adds; `observed` marks re-adds from the ban-time
    /// observer, which never create an entry.
    pub fn add_failure(&mut self, ticket: Ticket, count: u32, observed: bool) -> u32 {
        let max_matches = self.max_matches as usize;
        let max_time = self.max_time;
        let retry = match self.list.get_mut(&ticket.fid) {
            Some(data) => {
                let matches = (max_matches > 0).then_some(ticket.matches.as_slice());
                let attempt = if ticket.failures == 0 {
                    1
                } else {
                    ticket.failures
                };
                data.adjust_time(ticket.time, max_time);
                data.inc(matches, attempt, count);
                if max_matches > 0 {
                    if data.matches.len() > max_matches {
                        let cut = data.matches.len() - max_matches;
                        data.matches.drain(..cut);
                    }
                } else {
                    data.matches.clear();
                }
                for (k, v) in ticket.data {
                    data.data.insert(k, v);
                }
                data.retry
            }
            None => {
                if observed {
                    return ticket.retry;
                }
                let mut data = ticket;
                // FailTicket(): retry starts as the data's failures (0 for a
                // filter ticket), and an explicit count above that wins.
                data.retry = data.failures;
                if count > data.failures {
                    data.set_retry(count);
                }
                if max_matches == 0 {
                    data.matches.clear();
                } else if data.matches.len() > max_matches {
                    let cut = data.matches.len() - max_matches;
                    data.matches.drain(..cut);
                }
                let r = data.retry;
                self.list.insert(data.fid.clone(), data);
                r
            }
        };
        self.total += 1;
        retry
    }

    /// fail2ban's `cleanup`: drops every id whose last failure is at or before
    /// `now - findtime`.
    pub fn cleanup(&mut self, now: f64) {
        let limit = now - self.max_time as f64;
        self.list.retain(|_, t| t.time > limit);
    }

    pub fn del_failure(&mut self, fid: &str) {
        self.list.remove(fid);
    }

    /// fail2ban's `toBan`: removes and returns a ticket that reached maxretry
    /// (`fid` first when given and present, else any).
    pub fn to_ban(&mut self, fid: Option<&str>) -> Option<Ticket> {
        let key = match fid {
            Some(f) if self.list.contains_key(f) => {
                if self.list[f].retry >= self.max_retry {
                    Some(f.to_string())
                } else {
                    None
                }
            }
            _ => self
                .list
                .iter()
                .find(|(_, t)| t.retry >= self.max_retry)
                .map(|(k, _)| k.clone()),
        };
        key.and_then(|k| self.list.remove(&k))
    }
}
