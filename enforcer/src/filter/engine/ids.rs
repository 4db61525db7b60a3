//! Owns the last step of a match: its failure ids (F-ID, ip4, ip6, dns,
//! resolved when `usedns = yes`) and the [`Failure`] the jail receives.
use std::fmt::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use crate::filter::dns::Resolver;
use crate::filter::fields::{Fields, Names, Special};
use crate::filter::multiline::FailData;
use crate::filter::{Failure, FilterOptions, UseDns};

/// A match's failure ids (text, address), their strings kept from match
/// to match.
#[derive(Default)]
pub(super) struct IdList {
    items: Vec<(String, Option<IpAddr>)>,
    len: usize,
}

impl IdList {
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    pub(super) fn as_slice(&self) -> &[(String, Option<IpAddr>)] {
        &self.items[..self.len]
    }

    /// The next id's place (last match's strings, if any).
    fn next(&mut self) -> &mut (String, Option<IpAddr>) {
        if self.len == self.items.len() {
            self.items.push((String::new(), None));
        }
        self.len += 1;
        &mut self.items[self.len - 1]
    }

    fn push(&mut self, id: (String, Option<IpAddr>)) {
        *self.next() = id;
    }
}

/// What turns a match's groups into failure ids.
pub(super) struct Ids {
    name: String,
    /// A host name is the id as it is.
    raw_default: bool,
    resolver: Option<Resolver>,
    dns_warned: bool,
}

impl Ids {
    pub(super) fn new(name: &str, opts: &FilterOptions) -> Ids {
        Ids {
            name: name.to_string(),
            raw_default: opts.raw_host || opts.usedns == UseDns::Raw,
            resolver: (opts.usedns == UseDns::Yes && !opts.raw_host).then(Resolver::default),
            dns_warned: false,
        }
    }

    /// The failure ids of a match into `out`; false: pending, no id yet.
    pub(super) fn of(
        &mut self,
        fd: &mut FailData,
        sp: &Special,
        has_mlfid: bool,
        out: &mut IdList,
    ) -> bool {
        let g = &fd.g;
        let fid = g.get(sp.fid);
        let (ip, raw) = if let Some(v) = g.get(sp.ip4) {
            (Some(v), true)
        } else if let Some(v) = g.get(sp.ip6) {
            (Some(v), true)
        } else if let Some(v) = g.get(sp.dns) {
            (Some(v), self.raw_default)
        } else {
            if fid.is_none() && !has_mlfid {
                // fail2ban raises "No group found" here and skips the regex.
                return false;
            }
            (fid, true)
        };
        let Some(ip) = ip else {
            Arc::make_mut(&mut fd.g).set(sp.mlfpending, "1");
            return false;
        };
        if raw {
            match fid {
                Some(f) if f != ip => {
                    out.push(normalize(f));
                    fd.ip = Some(normalize(ip).0);
                }
                _ => normalize_into(ip, out.next()),
            }
            return true;
        }
        if let Some(a) = parse_ip(trim(ip)) {
            canonical_into(trim(ip), a, out.next());
            return true;
        }
        match self.resolver.as_mut() {
            Some(r) => {
                for a in r.resolve(ip).into_iter().map(unmap) {
                    out.push((a.to_string(), Some(a)));
                }
            }
            None => {
                if !self.dns_warned {
                    self.dns_warned = true;
                    log::warn!(
                        "filter {}: host name {ip:?} not resolved (usedns is not 'yes'); such failures are dropped",
                        self.name
                    );
                }
            }
        }
        true
    }
}

fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// `text` as an address (what `str::parse` gives; dotted quads and
/// IPv6 groups without the general parser).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let b = text.as_bytes();
    if let Some(o) = quad(b) {
        return Some(IpAddr::V4(o.into()));
    }
    if let Some(g) = hex_groups(b) {
        return Some(IpAddr::V6(g.into()));
    }
    text.parse().ok()
}

/// IPv6 groups as the parser takes them (1-4 hex digits each, eight, or
/// fewer around one `::` that stands for at least one zero group), else
/// None (the parser then decides: a dotted quad at the end, say). Only
/// what the parser takes is taken here, with the same value.
fn hex_groups(b: &[u8]) -> Option<[u16; 8]> {
    let (mut head, mut tail) = ([0u16; 8], [0u16; 8]);
    let (mut hn, mut tn) = (0usize, 0usize);
    let mut gap = false;
    let mut i = 0;
    if b.starts_with(b"::") {
        gap = true;
        i = 2;
    }
    while i < b.len() {
        let start = i;
        let mut v = 0u16;
        while i < b.len() && i - start < 4 {
            let Some(d) = char::from(b[i]).to_digit(16) else {
                break;
            };
            v = v << 4 | d as u16;
            i += 1;
        }
        if i == start {
            return None;
        }
        let (groups, n) = match gap {
            false => (&mut head, &mut hn),
            true => (&mut tail, &mut tn),
        };
        *groups.get_mut(*n)? = v;
        *n += 1;
        if i == b.len() {
            break;
        }
        // a separator, not a fifth digit or a dot
        if b[i] != b':' || i + 1 == b.len() {
            return None;
        }
        i += 1;
        if b[i] == b':' {
            if gap {
                return None;
            }
            gap = true;
            i += 1;
        }
    }
    let n = hn + tn;
    if (gap && n > 7) || (!gap && n != 8) {
        return None;
    }
    let mut out = [0u16; 8];
    out[..hn].copy_from_slice(&head[..hn]);
    out[8 - tn..].copy_from_slice(&tail[..tn]);
    Some(out)
}

/// A dotted quad as the IPv4 parser takes it (1-3 digits, no leading
/// zero, at most 255), else None (the parser then decides).
fn quad(b: &[u8]) -> Option<[u8; 4]> {
    let mut o = [0u8; 4];
    let mut parts = b.split(|&c| c == b'.');
    for x in &mut o {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let mut v = 0u16;
        for &c in p {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(c - b'0');
        }
        *x = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(o)
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == '[' || c == ']')
}

/// An address parsed from `text`, as text in canonical form (the IPv4
/// parser takes only the canonical form: that text needs no formatting).
/// Into `out`, whose string is reused for an IPv4 address.
fn canonical_into(text: &str, a: IpAddr, out: &mut (String, Option<IpAddr>)) {
    if a.is_ipv4() {
        out.0.clear();
        out.0.push_str(text);
        out.1 = Some(a);
        return;
    }
    let a = unmap(a);
    out.0.clear();
    match a {
        IpAddr::V6(v6) => v6_text_into(v6, &mut out.0),
        IpAddr::V4(_) => {
            let _ = write!(out.0, "{a}");
        }
    }
    out.1 = Some(a);
}

/// An address as fail2ban writes it (`IPAddr.ntoa`: glibc's `inet_ntop`),
/// the text of a failure id and of an action's `<ip>`.
pub fn ntoa(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut s = String::new();
            v6_text_into(v6, &mut s);
            s
        }
    }
}

/// An IPv6 address as glibc's `inet_ntop` writes it, onto `out`: as its
/// `Display` does (RFC 5952: lower-case hex, the first longest run of two
/// or more zero groups as `::`), but an IPv4-compatible one as `::a.b.c.d`.
fn v6_text_into(a: Ipv6Addr, out: &mut String) {
    if a.to_ipv4_mapped().is_some() {
        let _ = write!(out, "{a}");
        return;
    }
    let seg = a.segments();
    let (mut best, mut best_len, mut cur, mut cur_len) = (0, 0, 0, 0);
    for (i, &g) in seg.iter().enumerate() {
        if g == 0 {
            if cur_len == 0 {
                cur = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                (best, best_len) = (cur, cur_len);
            }
        } else {
            cur_len = 0;
        }
    }
    fn groups(out: &mut String, gs: &[u16]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (j, &g) in gs.iter().enumerate() {
            if j > 0 {
                out.push(':');
            }
            let mut started = false;
            for shift in [12, 8, 4, 0] {
                let d = (g >> shift) & 0xf;
                if d != 0 || started || shift == 0 {
                    started = true;
                    out.push(char::from(HEX[usize::from(d)]));
                }
            }
        }
    }
    if best == 0 && best_len == 6 {
        // glibc's inet_ntop (fail2ban's IPAddr.ntoa) writes an
        // IPv4-compatible address (::a.b.c.d, not ::1) with a dotted quad
        let [.., a, b, c, d] = a.octets();
        let _ = write!(out, "::{a}.{b}.{c}.{d}");
    } else if best_len > 1 {
        groups(out, &seg[..best]);
        out.push_str("::");
        groups(out, &seg[best + best_len..]);
    } else {
        groups(out, &seg);
    }
}

/// fail2ban's `IPAddr(text)`: an address in canonical form, else the text.
fn normalize(s: &str) -> (String, Option<IpAddr>) {
    let mut id = (String::new(), None);
    normalize_into(s, &mut id);
    id
}

/// [`normalize`] into `out` (its string reused).
fn normalize_into(s: &str, out: &mut (String, Option<IpAddr>)) {
    match parse_ip(trim(s)) {
        Some(a) => canonical_into(trim(s), a, out),
        None => {
            out.0.clear();
            out.0.push_str(s);
            out.1 = None;
        }
    }
}

pub(super) fn make_failure(
    names: &Arc<Names>,
    regex: usize,
    id: &(String, Option<IpAddr>),
    fd: &FailData,
    time: f64,
) -> Failure {
    let mut f = Failure {
        fid: String::new(),
        host: None,
        addr: None,
        time,
        fields: Fields::new(names.clone(), fd.g.clone()),
        users: Vec::new(),
        matches: Vec::new(),
        nofail: false,
        regex,
    };
    fill_failure(&mut f, names, regex, id, fd, time);
    f
}

/// The [`Failure`] of id `id`, into `f` (its buffers reused: `enforcer
/// regex` keeps a line's failures for the next one).
pub(super) fn fill_failure(
    f: &mut Failure,
    names: &Arc<Names>,
    regex: usize,
    (fid, addr): &(String, Option<IpAddr>),
    fd: &FailData,
    time: f64,
) {
    let sp = &names.sp;
    f.fid.clone_from(fid);
    match [sp.ip4, sp.ip6, sp.dns].iter().find_map(|&k| fd.g.get(k)) {
        Some(h) => match &mut f.host {
            Some(old) => {
                old.clear();
                old.push_str(h);
            }
            None => f.host = Some(h.to_string()),
        },
        None => f.host = None,
    }
    f.addr = addr.or_else(|| {
        let ip = trim(fd.ip.as_deref()?);
        parse_ip(ip).map(unmap)
    });
    f.time = time;
    f.fields.set(names, &fd.g);
    match &fd.users {
        Some(u) => {
            f.users.clone_from(u);
            f.users.sort();
        }
        None => f.users.clear(),
    }
    match &fd.matches {
        Some(m) => f.matches.clone_from(m),
        None => f.matches.clear(),
    }
    f.nofail = fd.g.truthy(sp.nofail);
    f.regex = regex;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical_without_formatting_ipv4() {
        for (text, id) in [
            ("192.0.2.1", "192.0.2.1"),
            ("[192.0.2.1]", "192.0.2.1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("2001:DB8:0:0::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("192.0.2.01", "192.0.2.01"),
            ("host.example", "host.example"),
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("256.1.1.1", "256.1.1.1"),
            ("1.2.3", "1.2.3"),
            ("1.2.3.4.5", "1.2.3.4.5"),
            ("1.2.3.", "1.2.3."),
            ("1..3.4", "1..3.4"),
            ("+1.2.3.4", "+1.2.3.4"),
        ] {
            let (got, addr) = normalize(text);
            assert_eq!(got, id, "{text}");
            if let Some(a) = addr {
                assert_eq!(a.to_string(), got, "{text}");
            }
            assert_eq!(parse_ip(trim(text)), trim(text).parse().ok(), "{text}");
        }
    }

    #[test]
    fn dotted_quads_parse_as_the_parser_does() {
        // dot-separated runs of digits (3 to 5 runs of 0 to 4, now and
        // then a stray byte): every shape of part comes up, and std's
        // parser is the judge
        let mut next = xorshift(0x0005_eed0_f1a4);
        let digits = b"0123456789001225";
        let mut valid = 0;
        for _ in 0..200_000 {
            let mut t = String::new();
            for k in 0..3 + next() % 3 {
                if k > 0 {
                    t.push('.');
                }
                for _ in 0..next() % 5 {
                    t.push(char::from(digits[(next() % digits.len() as u64) as usize]));
                }
            }
            if next().is_multiple_of(8) {
                t.insert((next() % (t.len() as u64 + 1)) as usize, 'x');
            }
            let want = t.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets());
            assert_eq!(quad(t.as_bytes()), want, "{t}");
            valid += usize::from(want.is_some());
        }
        assert!(valid > 1000, "only {valid} addresses among the strings");
        for t in [
            "0.0.0.0",
            "255.255.255.255",
            "01.2.3.4",
            "1.2.3.04",
            "256.0.0.1",
            "1.2.3.4.",
        ] {
            let want = t.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets());
            assert_eq!(quad(t.as_bytes()), want, "{t}");
        }
    }

    fn v6_text(a: Ipv6Addr) -> String {
        let mut s = String::new();
        v6_text_into(a, &mut s);
        s
    }

    /// A fixed pseudo-random sequence (the same cases on every run).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// What the groups parser takes, the standard parser takes alike, and
    /// it takes the usual forms itself.
    #[test]
    fn ipv6_groups_parse_as_the_parser_does() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        const ALPHABET: &[u8] = b"0123456789abcdefABCDEFg:::..";
        let mut taken = 0;
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| char::from(ALPHABET[(next() % ALPHABET.len() as u64) as usize]))
                .collect();
            let std: Option<Ipv6Addr> = text.parse().ok();
            if let Some(g) = hex_groups(text.as_bytes()) {
                taken += 1;
                assert_eq!(Some(Ipv6Addr::from(g)), std, "{text:?}");
            }
        }
        assert!(taken > 100, "{taken}");
        // (taken by the groups parser itself, or left to the standard one)
        for (text, taken) in [
            ("::", true),
            ("::1", true),
            ("1::", true),
            ("1:2:3:4:5:6:7::", true),
            ("::2:3:4:5:6:7:8", true),
            ("2001:DB8::aB:1", true),
            ("0000:0:00:000:0:0:0:1", true),
            (":", false),
            (":::", false),
            ("1:::2", false),
            ("1::2::3", false),
            ("12345::", false),
            ("1:2:3:4:5:6:7:8::", false),
            ("1:2:3:4:5:6:7", false),
            ("1:2:3:4:5:6:7:8:9", false),
            ("::1:", false),
            (":1::", false),
            ("::ffff:1.2.3.4", false),
            ("g::", false),
            ("", false),
        ] {
            assert_eq!(hex_groups(text.as_bytes()).is_some(), taken, "{text}");
            assert_eq!(parse_ip(text), text.parse().ok(), "{text}");
        }
    }

    /// glibc's `inet_ntop(AF_INET6, …)`, which fail2ban's ids come from.
    fn inet_ntop(a: Ipv6Addr) -> String {
        unsafe extern "C" {
            fn inet_ntop(
                af: libc::c_int,
                src: *const libc::c_void,
                dst: *mut libc::c_char,
                size: libc::socklen_t,
            ) -> *const libc::c_char;
        }
        let mut buf = [0 as libc::c_char; 64];
        let octets = a.octets();
        // SAFETY: `octets` is a 16-byte in6_addr, `buf` holds any result
        // (INET6_ADDRSTRLEN is 46) and is NUL-terminated by inet_ntop.
        let p = unsafe {
            inet_ntop(
                libc::AF_INET6,
                octets.as_ptr().cast(),
                buf.as_mut_ptr(),
                buf.len() as libc::socklen_t,
            )
        };
        assert!(!p.is_null());
        // SAFETY: inet_ntop succeeded, so `buf` holds a C string.
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn ipv6_text_is_what_inet_ntop_writes() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        for n in 0..50_000 {
            let mut seg = [0u16; 8];
            for g in &mut seg {
                let r = next();
                // mostly zeros and small groups, to have runs of zeros
                *g = match r % 4 {
                    0 | 1 => 0,
                    2 => (r >> 8) as u16 & 0xff,
                    _ => (r >> 16) as u16,
                };
            }
            match n % 7 {
                0 => seg[..6].copy_from_slice(&[0, 0, 0, 0, 0, 0xffff]),
                1 => seg[..6].fill(0),
                _ => {}
            }
            let a = Ipv6Addr::from(seg);
            assert_eq!(v6_text(a), inet_ntop(a), "{seg:x?}");
            // and read back by the groups parser, however it is written
            for text in [a.to_string(), a.to_string().to_uppercase()] {
                let parsed = hex_groups(text.as_bytes()).map(Ipv6Addr::from);
                let std: Option<Ipv6Addr> = text.parse().ok();
                assert!(parsed.is_none() || parsed == std, "{text}");
            }
            let full = seg.map(|g| format!("{g:x}")).join(":");
            assert_eq!(hex_groups(full.as_bytes()).map(Ipv6Addr::from), Some(a));
        }
        for a in [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            "1::".parse().unwrap(),
            "::ffff:1151".parse().unwrap(),
            "::2".parse().unwrap(),
            "::1:0".parse().unwrap(),
        ] {
            assert_eq!(v6_text(a), inet_ntop(a), "{a}");
        }
        assert_eq!(v6_text("::ffff:1151".parse().unwrap()), "::255.255.17.81");
    }
}
