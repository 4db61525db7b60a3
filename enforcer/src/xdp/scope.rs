//! [`JailScope`]: which packets from a jail's banned sources the XDP program
//! drops — the XDP counterpart of fail2ban's `port` and `protocol` action
//! options (`iptables-multiport[port="ssh,http", protocol=tcp]`).
use std::{fs, path::Path};

use common::{MAX_PORT_RANGES, PortRange};
pub use common::{PROTO_ALL, PROTO_ICMP, PROTO_OTHER, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use super::XdpError;

/// Protocols (`PROTO_*` bits, 0 = all) and destination port ranges
/// (inclusive; empty = all ports). Ports only constrain TCP, UDP and SCTP:
/// with ports set, other protocols (ICMP) are out of scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JailScope {
    pub protocols: u32,
    pub ports: Vec<(u16, u16)>,
}

impl JailScope {
    /// Everything from a banned source: all protocols, all ports.
    pub fn all() -> JailScope {
        JailScope::default()
    }

    /// From fail2ban's action options: `port` is a comma list of numbers,
    /// ranges (`1024:65535` or `1024-65535`) and service names from
    /// /etc/services (`ssh`); empty, `all`, `any` or `0:65535` = all ports.
    /// `protocol` is `tcp`, `udp`, `sctp`, `icmp`, a comma list of them, or
    /// `all`/empty. An error names what the XDP program cannot enforce.
    pub fn parse(port: &str, protocol: &str) -> Result<JailScope, XdpError> {
        Self::parse_with(port, protocol, Path::new("/etc/services"))
    }

    /// [`JailScope::parse`] with service names from `services`.
    pub fn parse_with(port: &str, protocol: &str, services: &Path) -> Result<JailScope, XdpError> {
        let mut protocols = 0;
        for p in protocol
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            protocols |= match p.to_ascii_lowercase().as_str() {
                "tcp" => PROTO_TCP,
                "udp" => PROTO_UDP,
                "sctp" => PROTO_SCTP,
                "icmp" | "icmpv6" | "ipv6-icmp" => PROTO_ICMP,
                "all" | "any" => PROTO_ALL,
                other => return Err(XdpError::Scope(format!("unknown protocol '{other}'"))),
            };
        }
        if protocols == PROTO_ALL {
            protocols = 0;
        }
        let mut ranges = Vec::new();
        let mut services_text: Option<String> = None;
        for item in port
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if item.eq_ignore_ascii_case("all") || item.eq_ignore_ascii_case("any") {
                ranges.clear();
                ranges.push((0, u16::MAX));
                break;
            }
            let mut ends = item.splitn(2, [':', '-']);
            let first = ends.next().unwrap_or_default();
            let last = ends.next();
            let text = services_text
                .get_or_insert_with(|| fs::read_to_string(services).unwrap_or_default());
            let a = port_number(first, text)?;
            let b = match last {
                Some(l) => port_number(l, text)?,
                None => a,
            };
            if a > b {
                return Err(XdpError::Scope(format!("port range '{item}' is backwards")));
            }
            ranges.push((a, b));
        }
        let scope = JailScope {
            protocols,
            ports: merge(ranges),
        };
        scope.to_raw()?;
        Ok(scope)
    }

    /// The kernel's layout; fails for more than 8 ranges or a backwards one.
    pub fn to_raw(&self) -> Result<common::JailScope, XdpError> {
        let ports = merge(self.ports.clone());
        if ports.len() > MAX_PORT_RANGES {
            return Err(XdpError::Scope(format!(
                "{} port ranges; the XDP program supports at most {MAX_PORT_RANGES}",
                ports.len()
            )));
        }
        if let Some((a, b)) = self.ports.iter().find(|(a, b)| a > b) {
            return Err(XdpError::Scope(format!("port range {a}:{b} is backwards")));
        }
        let mut raw = common::JailScope {
            protocols: self.protocols & PROTO_ALL,
            ..Default::default()
        };
        if ports.as_slice() != [(0, u16::MAX)] {
            for (slot, (a, b)) in raw.ranges.iter_mut().zip(&ports) {
                *slot = PortRange {
                    first: *a,
                    last: *b,
                };
            }
            raw.nranges = ports.len() as u32;
        }
        Ok(raw)
    }

    /// From the kernel's layout.
    pub fn from_raw(raw: &common::JailScope) -> JailScope {
        let n = (raw.nranges as usize).min(MAX_PORT_RANGES);
        JailScope {
            protocols: raw.protocols,
            ports: raw.ranges[..n].iter().map(|r| (r.first, r.last)).collect(),
        }
    }
}

/// Compiles every jail's scope (index = jail id; all-zero = everything)
/// into the rule table the program reads: one rule per distinct
/// (protocols, port range), carrying the mask of jails that use it.
pub fn compile(scopes: &[common::JailScope]) -> Result<common::ScopeRules, XdpError> {
    let mut rules: Vec<common::ScopeRule> = Vec::new();
    for (j, s) in scopes.iter().enumerate().take(common::MAX_JAILS) {
        let protocols = if s.protocols & PROTO_ALL == 0 {
            PROTO_ALL
        } else {
            s.protocols & PROTO_ALL
        };
        let n = (s.nranges as usize).min(MAX_PORT_RANGES);
        let ranges: Vec<(u32, u32)> = if n == 0 {
            vec![(0, common::PORT_NONE)]
        } else {
            s.ranges[..n]
                .iter()
                .map(|r| (r.first.into(), r.last.into()))
                .collect()
        };
        for (first, last) in ranges {
            match rules
                .iter_mut()
                .find(|r| (r.protocols, r.first, r.last) == (protocols, first, last))
            {
                Some(r) => r.jails |= 1 << j,
                None => rules.push(common::ScopeRule {
                    protocols,
                    first,
                    last,
                    _pad: 0,
                    jails: 1 << j,
                }),
            }
        }
    }
    if rules.len() > common::MAX_RULES {
        return Err(XdpError::Scope(format!(
            "the jails' scopes need {} distinct (protocol, port range) rules; the XDP \
             program holds at most {}",
            rules.len(),
            common::MAX_RULES
        )));
    }
    let mut table = common::ScopeRules {
        n: rules.len() as u32,
        ..Default::default()
    };
    table.rules[..rules.len()].copy_from_slice(&rules);
    Ok(table)
}

fn port_number(s: &str, services: &str) -> Result<u16, XdpError> {
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        return s
            .parse()
            .map_err(|_| XdpError::Scope(format!("port '{s}' is out of range")));
    }
    service_port(s, services)
        .ok_or_else(|| XdpError::Scope(format!("unknown port or service '{s}'")))
}

/// Looks `name` up in /etc/services text (name or alias, any protocol).
fn service_port(name: &str, services: &str) -> Option<u16> {
    services.lines().find_map(|line| {
        let line = line.split('#').next()?;
        let mut f = line.split_whitespace();
        let primary = f.next()?;
        let port_proto = f.next()?;
        let aliases: Vec<&str> = f.collect();
        if primary == name || aliases.contains(&name) {
            port_proto.split('/').next()?.parse().ok()
        } else {
            None
        }
    })
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = "ssh\t\t22/tcp\t\t\t\t# SSH\nhttp\t\t80/tcp\t\twww\nhttps\t\t443/tcp\n";

    fn parse(port: &str, proto: &str) -> Result<JailScope, XdpError> {
        let dir = std::env::temp_dir().join(format!(
            "enforcer-services-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&dir, SERVICES).unwrap();
        let r = JailScope::parse_with(port, proto, &dir);
        let _ = std::fs::remove_file(&dir);
        r
    }

    #[test]
    fn names_numbers_and_ranges() {
        let s = parse("ssh,www, 8080:8090,9000-9001", "tcp").unwrap();
        assert_eq!(s.protocols, PROTO_TCP);
        assert_eq!(
            s.ports,
            vec![(22, 22), (80, 80), (8080, 8090), (9000, 9001)]
        );
        let raw = s.to_raw().unwrap();
        assert_eq!(raw.nranges, 4);
        assert_eq!(
            raw.ranges[2],
            PortRange {
                first: 8080,
                last: 8090
            }
        );
        assert_eq!(JailScope::from_raw(&raw), s);
    }

    #[test]
    fn all_ports_and_protocols() {
        for (port, proto) in [("", ""), ("0:65535", "all"), ("all", "tcp,udp,sctp,icmp")] {
            let raw = parse(port, proto).unwrap().to_raw().unwrap();
            assert_eq!(raw.nranges, 0, "{port}");
        }
        assert_eq!(parse("", "all").unwrap().protocols, 0);
        assert_eq!(
            parse("", "tcp,udp").unwrap().protocols,
            PROTO_TCP | PROTO_UDP
        );
    }

    #[test]
    fn merges_adjacent_ranges() {
        let s = parse("1,2,3,4,5,6,7,8,9,10,20", "tcp").unwrap();
        assert_eq!(s.ports, vec![(1, 10), (20, 20)]);
    }

    #[test]
    fn compiles_scopes_into_shared_rules() {
        let mut scopes = [common::JailScope::default(); common::MAX_JAILS];
        scopes[1] = parse("22", "tcp").unwrap().to_raw().unwrap();
        scopes[2] = parse("22,80", "tcp").unwrap().to_raw().unwrap();
        let t = compile(&scopes).unwrap();
        // Everything (62 default jails), tcp/22 (jails 1, 2), tcp/80 (jail 2).
        assert_eq!(t.n, 3);
        let all = t.rules[0];
        assert_eq!(
            (all.protocols, all.first, all.last),
            (PROTO_ALL, 0, common::PORT_NONE)
        );
        assert_eq!(all.jails, !0b110);
        let ssh = t.rules[1];
        assert_eq!(
            (ssh.protocols, ssh.first, ssh.last, ssh.jails),
            (PROTO_TCP, 22, 22, 0b110)
        );
        assert_eq!((t.rules[2].first, t.rules[2].jails), (80, 0b100));
    }

    #[test]
    fn too_many_distinct_rules_is_an_error() {
        let mut scopes = [common::JailScope::default(); common::MAX_JAILS];
        for (j, s) in scopes.iter_mut().enumerate() {
            let ports: Vec<String> = (0..3)
                .map(|k| (1000 + j * 10 + k * 2).to_string())
                .collect();
            *s = parse(&ports.join(","), "tcp").unwrap().to_raw().unwrap();
        }
        assert!(compile(&scopes).is_err());
    }

    #[test]
    fn rejects_what_it_cannot_enforce() {
        assert!(parse("nosuchservice", "tcp").is_err());
        assert!(parse("90:80", "tcp").is_err());
        assert!(parse("70000", "tcp").is_err());
        assert!(parse("22", "gre").is_err());
        assert!(parse("1,3,5,7,9,11,13,15,17", "tcp").is_err());
    }
}
