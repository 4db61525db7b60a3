//! Owns jail status as `fail2ban-client status JAIL [FLAVOR]` shows it: the
//! `Status for the jail: NAME` tree (text) and the same data as JSON, for the
//! flavors basic, short, stats and cymru (ASN / country / RIR of banned
//! addresses from Team Cymru's DNS, with a small TXT resolver).
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Basic,
    Short,
    Stats,
    Cymru,
}

impl std::str::FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Flavor, String> {
        match s {
            "" | "basic" => Ok(Flavor::Basic),
            "short" => Ok(Flavor::Short),
            "stats" => Ok(Flavor::Stats),
            "cymru" => Ok(Flavor::Cymru),
            o => Err(format!(
                "unsupported status flavor {o:?}: basic, short, stats or cymru"
            )),
        }
    }
}

/// One status value: a number or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Num(u64),
    List(Vec<String>),
}

/// A section (`Filter`, `Actions`) of name/value lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub items: Vec<(String, Item)>,
}

/// The status of one jail.
#[derive(Debug, Clone, PartialEq)]
pub struct JailStatus {
    pub jail: String,
    pub sections: Vec<Section>,
}

/// The `Filter` section: counters, and the file list (or journal matches).
pub fn filter_section(
    current: usize,
    total: u64,
    files: &[String],
    journal: Option<&[String]>,
) -> Section {
    let mut items = vec![
        ("Currently failed".into(), Item::Num(current as u64)),
        ("Total failed".into(), Item::Num(total)),
    ];
    match journal {
        Some(m) => items.push(("Journal matches".into(), Item::List(m.to_vec()))),
        None => items.push(("File list".into(), Item::List(files.to_vec()))),
    }
    Section {
        name: "Filter".into(),
        items,
    }
}

impl JailStatus {
    /// fail2ban-client's beautified text.
    pub fn text(&self) -> String {
        let mut out = vec![format!("Status for the jail: {}", self.jail)];
        let n = self.sections.len();
        for (i, s) in self.sections.iter().enumerate() {
            let last1 = i + 1 == n;
            out.push(format!("{} {}", if last1 { "`-" } else { "|-" }, s.name));
            let pre1 = if last1 { "   " } else { "|  " };
            let m = s.items.len();
            for (j, (k, v)) in s.items.iter().enumerate() {
                let pre2 = format!("{pre1}{}", if j + 1 == m { "`-" } else { "|-" });
                let val = match v {
                    Item::Num(x) => x.to_string(),
                    Item::List(l) => l.join(" "),
                };
                out.push(format!("{pre2} {k}:\t{val}"));
            }
        }
        out.join("\n")
    }

    /// `{"jail": NAME, "Filter": {...}, "Actions": {...}}`.
    pub fn json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("jail".into(), json!(self.jail));
        for s in &self.sections {
            let mut m = serde_json::Map::new();
            for (k, v) in &s.items {
                m.insert(
                    k.clone(),
                    match v {
                        Item::Num(x) => json!(x),
                        Item::List(l) => json!(l),
                    },
                );
            }
            o.insert(s.name.clone(), Value::Object(m));
        }
        Value::Object(o)
    }
}

/// ASN, country and RIR of an address.
pub trait CymruLookup {
    fn lookup(&self, ip: IpAddr) -> Result<(String, String, String), String>;
}

/// Team Cymru over DNS (`<rev>.origin.asn.cymru.com TXT`), using the first
/// nameserver of /etc/resolv.conf.
pub struct CymruDns {
    pub timeout: Duration,
}

fn nameserver() -> Option<IpAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver"))
            .then(|| w.next()?.parse().ok())
            .flatten()
    })
}

/// A DNS query for `name` TXT, id `id`.
pub fn txt_query(name: &str, id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    q
}

fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *b.get(i)? as usize;
        if l == 0 {
            return Some(i + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + l;
    }
}

/// The first TXT answer of a DNS response to query `id`.
pub fn parse_txt(b: &[u8], id: u16) -> Result<String, String> {
    if b.len() < 12 || b[0..2] != id.to_be_bytes() {
        return Err("bad DNS response".into());
    }
    let rcode = b[3] & 0x0f;
    if rcode != 0 {
        return Err(format!("DNS rcode {rcode}"));
    }
    let qd = u16::from_be_bytes([b[4], b[5]]) as usize;
    let an = u16::from_be_bytes([b[6], b[7]]) as usize;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i).ok_or("truncated")? + 4;
    }
    for _ in 0..an {
        i = skip_name(b, i).ok_or("truncated")?;
        let h = b.get(i..i + 10).ok_or("truncated")?;
        let typ = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        i += 10;
        let rd = b.get(i..i + len).ok_or("truncated")?;
        i += len;
        if typ == 16 {
            let mut s = String::new();
            let mut j = 0;
            while j < rd.len() {
                let l = rd[j] as usize;
                s.push_str(&String::from_utf8_lossy(
                    rd.get(j + 1..j + 1 + l).ok_or("truncated")?,
                ));
                j += 1 + l;
            }
            return Ok(s);
        }
    }
    Err("no TXT answer".into())
}

impl CymruLookup for CymruDns {
    fn lookup(&self, ip: IpAddr) -> Result<(String, String, String), String> {
        let ns = nameserver().ok_or("no nameserver in /etc/resolv.conf")?;
        let zone = if ip.is_ipv4() {
            "origin.asn.cymru.com"
        } else {
            "origin6.asn.cymru.com"
        };
        let name = format!("{}{zone}", super::info::ptr_name(ip));
        let id = (std::process::id() as u16) ^ 0x5a5a;
        let sock = UdpSocket::bind(if ns.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
            .map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        sock.send_to(&txt_query(&name, id), (ns, 53))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1500];
        let (n, _) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        let txt = parse_txt(&buf[..n], id)?;
        let f: Vec<&str> = txt.split('|').map(str::trim).collect();
        Ok((
            f.first().unwrap_or(&"").to_string(),
            f.get(2).unwrap_or(&"").to_string(),
            f.get(3).unwrap_or(&"").to_string(),
        ))
    }
}

/// The three cymru lines for `ips` ("error" for an address that failed).
pub fn cymru_items(ips: &[IpAddr], lookup: &dyn CymruLookup) -> Vec<(String, Item)> {
    let (mut asn, mut cc, mut rir) = (Vec::new(), Vec::new(), Vec::new());
    for ip in ips {
        match lookup.lookup(*ip) {
            Ok((a, c, r)) => {
                asn.push(a);
                cc.push(c);
                rir.push(r);
            }
            Err(e) => {
                log::warn!("cymru lookup of {ip}: {e}");
                asn.push("error".into());
                cc.push("error".into());
                rir.push("error".into());
            }
        }
    }
    vec![
        ("Banned ASN list".into(), Item::List(asn)),
        ("Banned Country list".into(), Item::List(cc)),
        ("Banned RIR list".into(), Item::List(rir)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tree_matches_fail2ban_client() {
        let st = JailStatus {
            jail: "sshd".into(),
            sections: vec![
                filter_section(1, 5, &["/var/log/auth.log".into()], None),
                Section {
                    name: "Actions".into(),
                    items: vec![
                        ("Currently banned".into(), Item::Num(2)),
                        ("Total banned".into(), Item::Num(3)),
                        (
                            "Banned IP list".into(),
                            Item::List(vec!["198.18.0.1".into(), "198.18.0.2".into()]),
                        ),
                    ],
                },
            ],
        };
        let want = concat!(
            "Status for the jail: sshd\n",
            "|- Filter\n",
            "|  |- Currently failed:\t1\n",
            "|  |- Total failed:\t5\n",
            "|  `- File list:\t/var/log/auth.log\n",
            "`- Actions\n",
            "   |- Currently banned:\t2\n",
            "   |- Total banned:\t3\n",
            "   `- Banned IP list:\t198.18.0.1 198.18.0.2"
        );
        assert_eq!(st.text(), want);
        let j = st.json();
        assert_eq!(j["Actions"]["Banned IP list"][1], "198.18.0.2");
        assert_eq!(j["Filter"]["Total failed"], 5);
    }

    #[test]
    fn dns_txt_roundtrip() {
        let q = txt_query("7.0.18.198.origin.asn.cymru.com", 0x1234);
        // Build a response: the question echoed plus one TXT answer via a
        // compression pointer to the question name.
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        let txt = b"64496 | 198.18.0.0/15 | ZZ | arin | 2000-01-01";
        r.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
        r.push(txt.len() as u8);
        r.extend_from_slice(txt);
        assert_eq!(parse_txt(&r, 0x1234).unwrap(), String::from_utf8_lossy(txt));
        assert!(parse_txt(&r, 0x1235).is_err());
        assert!(parse_txt(&r[..r.len() - 3], 0x1234).is_err());
        struct Fake;
        impl CymruLookup for Fake {
            fn lookup(&self, ip: IpAddr) -> Result<(String, String, String), String> {
                if ip.is_ipv4() {
                    Ok(("64496".into(), "ZZ".into(), "arin".into()))
                } else {
                    Err("timeout".into())
                }
            }
        }
        let items = cymru_items(
            &[
                "198.18.0.7".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
            &Fake,
        );
        assert_eq!(items[0].1, Item::List(vec!["64496".into(), "error".into()]));
        assert_eq!(items[2].1, Item::List(vec!["arin".into(), "error".into()]));
    }
}
