//! Owns ActionInfo: the tags an action command can use for one ban
//! (fail2ban's `Actions.ActionInfo`), each computed lazily on first use and
//! cached for the ban, plus the host-name and reverse-DNS helpers behind
//! `ip-host`, `fq-hostname` and `sh-hostname`.
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::jail::ticket::py_float;
use crate::jail::{BanStore, Found, MergedBans, Ticket};

/// Every tag ActionInfo provides besides `F-*` captures.
pub const TAGS: &[&str] = &[
    "ip",
    "family",
    "ip-rev",
    "ip-host",
    "fid",
    "failures",
    "time",
    "bantime",
    "bancount",
    "matches",
    "restored",
    "raw-ticket",
    "ipmatches",
    "ipjailmatches",
    "ipfailures",
    "ipjailfailures",
    "jail.name",
    "jail.banned",
    "jail.banned_total",
    "jail.found",
    "jail.found_total",
    "fq-hostname",
    "sh-hostname",
    "br",
    "sp",
];

/// What the tags read from the jail.
#[derive(Clone, Copy)]
pub struct JailView<'a> {
    pub name: &'a str,
    pub banned: usize,
    pub banned_total: u64,
    pub found: Found,
    /// The jail's default ban time.
    pub bantime: i64,
    pub store: Option<&'a dyn BanStore>,
}

/// Tags of one ban, computed on demand.
pub struct ActionInfo<'a> {
    ticket: &'a Ticket,
    jail: JailView<'a>,
    overrides: BTreeMap<String, String>,
    cache: RefCell<HashMap<String, Option<String>>>,
}

/// `inet4` / `inet6` for an address.
pub fn family_of(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "inet4" } else { "inet6" }
}

/// fail2ban's `IPAddr.getPTR('')`: reversed octets / nibbles with a trailing dot.
pub fn ptr_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(64);
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s
        }
    }
}

const DNS_TTL: Duration = Duration::from_secs(300);
const DNS_MAX: usize = 1000;

type DnsCache = Mutex<HashMap<IpAddr, (Option<String>, Instant)>>;

fn dns_cache() -> &'static DnsCache {
    static C: OnceLock<DnsCache> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn getnameinfo(ip: IpAddr) -> Option<String> {
    let sa: socket2_free::Sockaddr = SocketAddr::new(ip, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: sa points to a valid sockaddr of the given length; host is a
    // writable buffer of the given size.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr(),
            sa.len,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string.
    Some(
        unsafe { CStr::from_ptr(host.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Minimal sockaddr storage for getnameinfo (no extra crate).
mod socket2_free {
    use std::net::SocketAddr;
    pub struct Sockaddr {
        storage: libc::sockaddr_storage,
        pub len: libc::socklen_t,
    }
    impl Sockaddr {
        pub fn as_ptr(&self) -> *const libc::sockaddr {
            &self.storage as *const _ as *const libc::sockaddr
        }
    }
    impl From<SocketAddr> for Sockaddr {
        fn from(a: SocketAddr) -> Sockaddr {
            // SAFETY: all-zero is a valid sockaddr_storage.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let len = match a {
                SocketAddr::V4(v4) => {
                    // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                    let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                    std::mem::size_of::<libc::sockaddr_in>()
                }
                SocketAddr::V6(v6) => {
                    // SAFETY: as above, for sockaddr_in6.
                    let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_addr.s6_addr = v6.ip().octets();
                    std::mem::size_of::<libc::sockaddr_in6>()
                }
            };
            Sockaddr {
                storage,
                len: len as libc::socklen_t,
            }
        }
    }
}

/// Reverse DNS of `ip`, cached for 5 minutes (`None`: no name).
pub fn reverse_dns(ip: IpAddr) -> Option<String> {
    if let Ok(c) = dns_cache().lock()
        && let Some((v, at)) = c.get(&ip)
        && at.elapsed() < DNS_TTL
    {
        return v.clone();
    }
    let v = getnameinfo(ip);
    if let Ok(mut c) = dns_cache().lock() {
        if c.len() >= DNS_MAX {
            c.retain(|_, (_, at)| at.elapsed() < DNS_TTL);
            if c.len() >= DNS_MAX {
                c.clear();
            }
        }
        c.insert(ip, (v.clone(), Instant::now()));
    }
    v
}

/// This host's name: fully qualified (`fq-hostname`) or short (`sh-hostname`).
pub fn hostname(fqdn: bool) -> String {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    let (short, fq) = NAMES.get_or_init(|| {
        let mut buf = [0 as libc::c_char; 256];
        // SAFETY: buf is writable for its length; gethostname NUL-terminates on success.
        let short = if unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len() - 1) } == 0 {
            // SAFETY: NUL-terminated by gethostname (buffer end kept zero).
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        };
        let fq = canonical_name(&short).unwrap_or_else(|| short.clone());
        (short, fq)
    });
    if fqdn { fq.clone() } else { short.clone() }
}

fn canonical_name(host: &str) -> Option<String> {
    let c = CString::new(host).ok()?;
    // SAFETY: zeroed addrinfo is a valid hints struct.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: c and hints are valid; res is freed below.
    if unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) } != 0
        || res.is_null()
    {
        return None;
    }
    // SAFETY: res is a valid list from getaddrinfo.
    let name = unsafe {
        let cn = (*res).ai_canonname;
        let v = (!cn.is_null()).then(|| CStr::from_ptr(cn).to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        v
    };
    name.filter(|n| !n.is_empty())
}

impl<'a> ActionInfo<'a> {
    pub fn new(ticket: &'a Ticket, jail: JailView<'a>) -> ActionInfo<'a> {
        ActionInfo {
            ticket,
            jail,
            overrides: BTreeMap::new(),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Sets a tag's value outright (`family` and `time` for start/stop/flush).
    pub fn set(&mut self, tag: &str, value: impl Into<String>) {
        self.overrides.insert(tag.to_string(), value.into());
        self.cache.borrow_mut().remove(tag);
    }

    pub fn ticket(&self) -> &Ticket {
        self.ticket
    }

    /// The address family of this ban (`""` for a non-address id).
    pub fn family(&self) -> String {
        self.get("family").unwrap_or_default()
    }

    /// A tag's value, `None` when it is not an ActionInfo tag.
    pub fn get(&self, tag: &str) -> Option<String> {
        if let Some(v) = self.overrides.get(tag) {
            return Some(v.clone());
        }
        if let Some(v) = self.cache.borrow().get(tag) {
            return v.clone();
        }
        let v = self.compute(tag);
        self.cache.borrow_mut().insert(tag.to_string(), v.clone());
        v
    }

    fn merged(&self, all_jails: bool) -> MergedBans {
        let t = self.ticket;
        let own = || MergedBans {
            failures: t.failures,
            matches: t.matches.clone(),
        };
        let (Some(store), Some(ip)) = (self.jail.store, self.ip()) else {
            return own();
        };
        let jail = (!all_jails).then_some(self.jail.name);
        match store.bans_merged(&ip, jail) {
            Ok(Some(m)) => m,
            Ok(None) => own(),
            Err(e) => {
                log::error!("[{}] merged bans of {ip}: {e}", self.jail.name);
                own()
            }
        }
    }

    fn ip(&self) -> Option<String> {
        Some(match self.ticket.ip {
            Some(ip) => crate::filter::engine::ntoa(ip),
            None => self.ticket.fid.clone(),
        })
    }

    fn compute(&self, tag: &str) -> Option<String> {
        let t = self.ticket;
        let j = &self.jail;
        Some(match tag {
            "ip" => self.ip()?,
            "family" => t.ip.map(family_of).unwrap_or("").to_string(),
            "ip-rev" => t.ip.map(ptr_name).unwrap_or_default(),
            "ip-host" => t.ip.and_then(reverse_dns).unwrap_or_default(),
            "fid" => t.fid.clone(),
            "failures" => t.failures.to_string(),
            "time" => py_float(t.time),
            "bantime" => t.ban_time_or(j.bantime).to_string(),
            "bancount" => t.ban_count.to_string(),
            "matches" => t.matches.join("\n"),
            "restored" => (t.restored as u8).to_string(),
            "raw-ticket" => t.repr(j.bantime),
            "ipmatches" => self.merged(true).matches.join("\n"),
            "ipjailmatches" => self.merged(false).matches.join("\n"),
            "ipfailures" => self.merged(true).failures.to_string(),
            "ipjailfailures" => self.merged(false).failures.to_string(),
            "jail.name" | "name" => j.name.to_string(),
            "jail.banned" => j.banned.to_string(),
            "jail.banned_total" => j.banned_total.to_string(),
            "jail.found" => j.found.current.to_string(),
            "jail.found_total" => j.found.total.to_string(),
            _ => {
                if let Some(field) = tag.strip_prefix("F-") {
                    return t.data.get(&field.to_ascii_lowercase()).cloned();
                }
                return super::subst::extra_tag(tag);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::{BanRecord, StoreError};

    struct Store;
    impl BanStore for Store {
        fn get_ban(&self, _: &str, _: &str, _: bool) -> Result<Option<BanRecord>, StoreError> {
            Ok(None)
        }
        fn add_ban(&self, _: &str, _: &Ticket) -> Result<(), StoreError> {
            Ok(())
        }
        fn del_ban(&self, _: &str, _: Option<&str>) -> Result<(), StoreError> {
            Ok(())
        }
        fn bans_merged(
            &self,
            ip: &str,
            jail: Option<&str>,
        ) -> Result<Option<MergedBans>, StoreError> {
            Ok(Some(MergedBans {
                failures: if jail.is_some() { 7 } else { 11 },
                matches: vec![format!("{ip} in {}", jail.unwrap_or("all"))],
            }))
        }
        fn current_bans(&self, _: &str, _: Option<i64>, _: f64) -> Result<Vec<Ticket>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn ticket(ip: &str) -> Ticket {
        let mut t = Ticket::new(ip, ip.parse().ok(), 1_700_000_000.5);
        t.failures = 3;
        t.ban_count = 2;
        t.matches = vec!["line 1".into(), "line 2".into()];
        t.data.insert("user".into(), "root".into());
        t.data.insert("alt_user".into(), "admin".into());
        t
    }

    fn view<'a>(store: Option<&'a dyn BanStore>) -> JailView<'a> {
        JailView {
            name: "sshd",
            banned: 4,
            banned_total: 9,
            found: Found {
                current: 2,
                total: 30,
            },
            bantime: 600,
            store,
        }
    }

    #[test]
    fn every_tag_has_its_value() {
        let t = ticket("198.18.0.7");
        let store = Store;
        let ai = ActionInfo::new(&t, view(Some(&store)));
        let want: &[(&str, &str)] = &[
            ("ip", "198.18.0.7"),
            ("family", "inet4"),
            ("ip-rev", "7.0.18.198."),
            ("fid", "198.18.0.7"),
            ("failures", "3"),
            ("time", "1700000000.5"),
            ("bantime", "600"),
            ("bancount", "2"),
            ("matches", "line 1\nline 2"),
            ("restored", "0"),
            (
                "raw-ticket",
                "BanTicket: ip=198.18.0.7 time=1700000000.5 bantime=600 bancount=2 #attempts=3 matches=['line 1', 'line 2']",
            ),
            ("ipmatches", "198.18.0.7 in all"),
            ("ipjailmatches", "198.18.0.7 in sshd"),
            ("ipfailures", "11"),
            ("ipjailfailures", "7"),
            ("jail.name", "sshd"),
            ("jail.banned", "4"),
            ("jail.banned_total", "9"),
            ("jail.found", "2"),
            ("jail.found_total", "30"),
            ("F-USER", "root"),
            ("F-ALT_USER", "admin"),
            ("br", "\n"),
            ("sp", " "),
        ];
        for (tag, v) in want {
            assert_eq!(ai.get(tag).as_deref(), Some(*v), "{tag}");
        }
        assert_eq!(ai.get("F-NONE"), None);
        assert_eq!(ai.get("unknown"), None);
        assert!(!ai.get("sh-hostname").unwrap().is_empty());
        assert!(
            ai.get("fq-hostname")
                .unwrap()
                .starts_with(&ai.get("sh-hostname").unwrap())
        );
        // ip-host: reverse DNS of a documentation address has no name here,
        // and the answer is cached.
        let t6 = ticket("127.0.0.1");
        let ai6 = ActionInfo::new(&t6, view(None));
        let h = ai6.get("ip-host").unwrap();
        assert_eq!(ai6.get("ip-host").unwrap(), h);
        // Without a store the merged tags fall back to the ticket.
        assert_eq!(ai6.get("ipfailures").as_deref(), Some("3"));
        assert_eq!(ai6.get("ipjailmatches").as_deref(), Some("line 1\nline 2"));
        for tag in TAGS {
            assert!(ai.get(tag).is_some(), "{tag} is provided");
        }
    }

    #[test]
    fn ipv6_family_and_ptr_and_overrides() {
        let t = ticket("2001:db8::1");
        let mut ai = ActionInfo::new(&t, view(None));
        assert_eq!(ai.family(), "inet6");
        assert_eq!(
            ai.get("ip-rev").unwrap(),
            format!("1.{}8.b.d.0.1.0.0.2.", "0.".repeat(23))
        );
        ai.set("family", "inet4");
        assert_eq!(ai.family(), "inet4");
        let mut t2 = ticket("198.18.0.1");
        t2.ban_time = Some(-1);
        t2.restored = true;
        let ai = ActionInfo::new(&t2, view(None));
        assert_eq!(ai.get("bantime").as_deref(), Some("-1"));
        assert_eq!(ai.get("restored").as_deref(), Some("1"));
    }
}
