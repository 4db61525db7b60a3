//! Owns the ignore decision of a jail, in fail2ban's order: `ignorecache`,
//! `ignoreself` (every local address), `ignoreip` (addresses, CIDRs, DNS
//! names resolved at load, `file:/path` lists), then `ignorecommand` (exit 0 =
//! ignore; its tags are passed as shell parameters, never as script text).
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::actions::exec::{DEFAULT_TIMEOUT, run_shell};
use crate::actions::subst::replace_dynamic;

use super::ticket::Ticket;

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("ignoreip: {0:?} is not an address, CIDR or host name")]
    Bad(String),
    #[error("ignoreip: cannot read {0}: {1}")]
    File(String, std::io::Error),
    #[error("ignorecache: {0}")]
    Cache(String),
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

fn mask_v4(a: Ipv4Addr, p: u8) -> u32 {
    if p == 0 {
        0
    } else {
        u32::from(a) & (u32::MAX << (32 - p as u32))
    }
}
fn mask_v6(a: Ipv6Addr, p: u8) -> u128 {
    if p == 0 {
        0
    } else {
        u128::from(a) & (u128::MAX << (128 - p as u32))
    }
}

/// Strips `::ffff:` from IPv4-mapped IPv6 addresses, as fail2ban does.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Net {
    pub fn single(addr: IpAddr) -> Net {
        let addr = canonical(addr);
        Net {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
    pub fn is_single(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }
    /// `ADDR`, `ADDR/LEN` or `IPv4/DOTTED-MASK`; the address is masked.
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let a = a.trim_start_matches('[').trim_end_matches(']');
        let addr = canonical(a.parse::<IpAddr>().ok()?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                Ok(_) => return None,
                Err(_) => {
                    let m: Ipv4Addr = p.parse().ok()?;
                    if !addr.is_ipv4() {
                        return None;
                    }
                    let m = u32::from(m);
                    let n = m.leading_ones();
                    if m.checked_shl(n).unwrap_or(0) != 0 {
                        return None;
                    }
                    n as u8
                }
            },
        };
        let addr = match addr {
            IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(mask_v4(v, prefix))),
            IpAddr::V6(v) => IpAddr::V6(Ipv6Addr::from(mask_v6(v, prefix))),
        };
        Some(Net { addr, prefix })
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(a, self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(a, self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Why a failure was ignored (fail2ban's "Ignore IP by ..." source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    SelfAddress,
    Ip,
    Dns,
    Command,
}

#[derive(Debug)]
struct Cache {
    key: String,
    max_count: usize,
    max_time: Duration,
    map: HashMap<String, (bool, Instant)>,
    order: VecDeque<String>,
}

impl Cache {
    fn get(&mut self, k: &str) -> Option<bool> {
        match self.map.get(k) {
            Some((v, at)) if at.elapsed() <= self.max_time => Some(*v),
            Some(_) => {
                self.map.remove(k);
                None
            }
            None => None,
        }
    }
    fn set(&mut self, k: String, v: bool) {
        if !self.map.contains_key(&k) {
            while self.map.len() >= self.max_count {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(k.clone());
        }
        self.map.insert(k, (v, Instant::now()));
    }
}

/// Parses fail2ban's `ignorecache = key="<ip>", max-count=100, max-time=5m`.
fn parse_cache(spec: &str) -> Result<Cache, IgnoreError> {
    let mut key = None;
    let mut max_count = 100usize;
    let mut max_time = Duration::from_secs(300);
    let mut rest = spec.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| IgnoreError::Cache(format!("{spec:?}: expected NAME=VALUE")))?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, tail) =
            if let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let end = after[1..]
                    .find(q)
                    .ok_or_else(|| IgnoreError::Cache(format!("{spec:?}: unclosed quote")))?;
                (&after[1..1 + end], &after[end + 2..])
            } else {
                match after.find(',') {
                    Some(i) => (after[..i].trim(), &after[i..]),
                    None => (after.trim(), ""),
                }
            };
        match name {
            "key" => key = Some(value.to_string()),
            "max-count" => {
                max_count = value
                    .parse()
                    .map_err(|_| IgnoreError::Cache(format!("max-count {value:?}")))?
            }
            "max-time" => {
                let secs = crate::config::parse_time(value)
                    .ok()
                    .ok_or_else(|| IgnoreError::Cache(format!("max-time {value:?}")))?;
                max_time = Duration::from_secs(secs.max(0) as u64);
            }
            other => return Err(IgnoreError::Cache(format!("unknown option {other:?}"))),
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    let key = key.ok_or_else(|| IgnoreError::Cache(format!("{spec:?}: key is required")))?;
    Ok(Cache {
        key,
        max_count: max_count.max(1),
        max_time,
        map: HashMap::new(),
        order: VecDeque::new(),
    })
}

/// Every address of this host: interface addresses and the loopback nets.
pub fn local_addresses() -> Vec<Net> {
    let mut out = vec![
        Net::parse("127.0.0.0/8").expect("static"),
        Net::single(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a linked list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let sa = (*p).ifa_addr;
                if !sa.is_null() {
                    match (*sa).sa_family as i32 {
                        libc::AF_INET => {
                            let sin = &*(sa as *const libc::sockaddr_in);
                            out.push(Net::single(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                                sin.sin_addr.s_addr,
                            )))));
                        }
                        libc::AF_INET6 => {
                            let sin6 = &*(sa as *const libc::sockaddr_in6);
                            out.push(Net::single(IpAddr::V6(Ipv6Addr::from(
                                sin6.sin6_addr.s6_addr,
                            ))));
                        }
                        _ => {}
                    }
                }
                p = (*p).ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
}

/// The ignore settings of a jail, resolved.
#[derive(Debug)]
pub struct IgnoreList {
    singles: HashSet<IpAddr>,
    nets: Vec<(Net, IgnoreReason)>,
    ignore_self: bool,
    self_addrs: Vec<Net>,
    command: Option<String>,
    cache: Option<Cache>,
    /// Names that did not resolve at load (logged by the caller).
    pub unresolved: Vec<String>,
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
}

impl IgnoreList {
    pub fn new(
        ignoreip: &[String],
        ignoreself: bool,
        command: Option<&str>,
        cache: Option<&str>,
    ) -> Result<IgnoreList, IgnoreError> {
        let mut l = IgnoreList {
            singles: HashSet::new(),
            nets: Vec::new(),
            ignore_self: ignoreself,
            self_addrs: if ignoreself {
                local_addresses()
            } else {
                Vec::new()
            },
            command: command
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from),
            cache: match cache.map(str::trim).filter(|c| !c.is_empty()) {
                Some(c) => Some(parse_cache(c)?),
                None => None,
            },
            unresolved: Vec::new(),
        };
        for entry in ignoreip
            .iter()
            .flat_map(|e| words(e).map(String::from).collect::<Vec<_>>())
        {
            l.add(&entry)?;
        }
        Ok(l)
    }

    /// Adds one `ignoreip` entry.
    pub fn add(&mut self, entry: &str) -> Result<(), IgnoreError> {
        if let Some(path) = entry.strip_prefix("file:") {
            let text = std::fs::read_to_string(Path::new(path))
                .map_err(|e| IgnoreError::File(path.into(), e))?;
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                for w in words(line) {
                    if w.starts_with("file:") {
                        return Err(IgnoreError::Bad(w.into()));
                    }
                    self.add(w)?;
                }
            }
            return Ok(());
        }
        if let Some(net) = Net::parse(entry) {
            if net.is_single() {
                self.singles.insert(net.addr);
            } else {
                self.nets.push((net, IgnoreReason::Ip));
            }
            return Ok(());
        }
        let hostname = entry.len() <= 253
            && entry.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !hostname {
            return Err(IgnoreError::Bad(entry.into()));
        }
        match (entry, 0u16).to_socket_addrs() {
            Ok(addrs) => {
                let mut any = false;
                for a in addrs {
                    any = true;
                    self.nets.push((Net::single(a.ip()), IgnoreReason::Dns));
                }
                if !any {
                    self.unresolved.push(entry.into());
                }
            }
            Err(_) => self.unresolved.push(entry.into()),
        }
        Ok(())
    }

    /// fail2ban's `_inIgnoreIPList`. `lookup` gives tag values for the
    /// ignorecommand and the cache key (the jail passes the ticket's tags).
    pub fn check(
        &mut self,
        ticket: &Ticket,
        lookup: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Option<IgnoreReason> {
        let cache_key = self.cache.as_ref().map(|c| {
            let sc = replace_dynamic(&c.key, lookup);
            format!("{}\0{}", sc.script, sc.args.join("\0"))
        });
        if let (Some(c), Some(k)) = (self.cache.as_mut(), cache_key.as_ref())
            && let Some(v) = c.get(k)
        {
            return v.then_some(IgnoreReason::Command);
        }
        let result = self.check_uncached(ticket, lookup);
        if let (Some(c), Some(k)) = (self.cache.as_mut(), cache_key) {
            c.set(k, result.is_some());
        }
        result
    }

    fn check_uncached(
        &self,
        ticket: &Ticket,
        lookup: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Option<IgnoreReason> {
        if let Some(ip) = ticket.ip.map(canonical) {
            if self.ignore_self && self.self_addrs.iter().any(|n| n.contains(ip)) {
                return Some(IgnoreReason::SelfAddress);
            }
            if self.singles.contains(&ip) {
                return Some(IgnoreReason::Ip);
            }
            if let Some((_, why)) = self.nets.iter().find(|(n, _)| n.contains(ip)) {
                return Some(*why);
            }
        }
        let cmd = self.command.as_ref()?;
        let sc = replace_dynamic(cmd, lookup);
        match run_shell(&sc.script, &sc.args, DEFAULT_TIMEOUT) {
            Ok(o) if o.code == Some(0) => Some(IgnoreReason::Command),
            Ok(o) => {
                if o.code != Some(1) {
                    log::error!("ignorecommand {cmd:?} failed: {o:?}");
                }
                None
            }
            Err(e) => {
                log::error!("ignorecommand {cmd:?}: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tk(ip: &str) -> Ticket {
        Ticket::new(ip, ip.parse().ok(), 0.0)
    }
    fn ip_lookup(t: &Ticket) -> impl FnMut(&str) -> Option<String> + '_ {
        move |tag| (tag == "ip").then(|| t.fid.clone())
    }

    #[test]
    fn nets_parse_and_match() {
        let n = Net::parse("198.18.1.7/24").unwrap();
        assert_eq!(n.to_string(), "198.18.1.0/24");
        assert!(n.contains("198.18.1.200".parse().unwrap()));
        assert!(n.contains("::ffff:198.18.1.3".parse().unwrap()));
        assert!(!n.contains("198.18.2.1".parse().unwrap()));
        assert_eq!(Net::parse("198.18.0.0/255.254.0.0").unwrap().prefix, 15);
        assert!(Net::parse("198.18.0.0/255.0.255.0").is_none());
        assert!(Net::parse("198.18.0.0/33").is_none());
        let v6 = Net::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            Net::parse("0.0.0.0/0")
                .unwrap()
                .contains("198.18.0.1".parse().unwrap())
        );
    }

    #[test]
    fn ignoreip_addresses_cidrs_names_and_files() {
        let dir = std::env::temp_dir().join(format!("enforcer-ign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("list");
        std::fs::write(&f, "# trusted\n198.19.0.0/16 2001:db8:aa::1 # office\n").unwrap();
        let mut l = IgnoreList::new(
            &[format!(
                "198.18.0.1, 198.18.4.0/24 localhost file:{}",
                f.display()
            )],
            false,
            None,
            None,
        )
        .unwrap();
        let mut chk = |s: &str| {
            let t = tk(s);
            l.check(&t, &mut ip_lookup(&t))
        };
        assert_eq!(chk("198.18.0.1"), Some(IgnoreReason::Ip));
        assert_eq!(chk("198.18.4.9"), Some(IgnoreReason::Ip));
        assert_eq!(chk("198.19.200.1"), Some(IgnoreReason::Ip));
        assert_eq!(chk("2001:db8:aa::1"), Some(IgnoreReason::Ip));
        assert_eq!(
            chk("127.0.0.1"),
            Some(IgnoreReason::Dns),
            "localhost resolved at load"
        );
        assert_eq!(chk("198.18.0.2"), None);
        assert!(IgnoreList::new(&["not a host!".into()], false, None, None).is_err());
        assert!(IgnoreList::new(&["file:/nonexistent/x".into()], false, None, None).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn ignoreself_covers_local_addresses() {
        let mut l = IgnoreList::new(&[], true, None, None).unwrap();
        for ip in ["127.0.0.1", "127.3.4.5", "::1"] {
            let t = tk(ip);
            assert_eq!(
                l.check(&t, &mut ip_lookup(&t)),
                Some(IgnoreReason::SelfAddress),
                "{ip}"
            );
        }
        let t = tk("198.18.9.9");
        assert_eq!(l.check(&t, &mut ip_lookup(&t)), None);
    }

    #[test]
    fn ignorecommand_exit_code_and_cache() {
        let dir = std::env::temp_dir().join(format!("enforcer-ignc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls");
        let cmd = format!("echo <ip> >> {}; [ <ip> = 198.18.0.5 ]", log.display());
        let mut l = IgnoreList::new(
            &[],
            false,
            Some(&cmd),
            Some("key=\"<ip>\", max-count=10, max-time=5m"),
        )
        .unwrap();
        for _ in 0..3 {
            let t = tk("198.18.0.5");
            assert_eq!(l.check(&t, &mut ip_lookup(&t)), Some(IgnoreReason::Command));
            let t = tk("198.18.0.6");
            assert_eq!(l.check(&t, &mut ip_lookup(&t)), None);
        }
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(calls, "198.18.0.5\n198.18.0.6\n", "cache answers repeats");
        assert!(IgnoreList::new(&[], false, None, Some("max-count=3")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
