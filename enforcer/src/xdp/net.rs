//! [`IpNet`]: an address or a CIDR prefix, as bans and allow entries take
//! them, with parsing that rejects what the kernel maps cannot hold.
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// An IPv4 or IPv6 network: an address and a prefix length. Host bits are
/// cleared on construction, so `198.18.1.7/24` is `198.18.1.0/24`. A full
/// prefix (`/32`, `/128`) is a single address. IPv4-mapped IPv6 addresses
/// (`::ffff:198.18.0.1`) become IPv4, as packets on the wire carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not an [`IpNet`]. Display is a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpNetError {
    #[error("'{0}' is not an IP address or CIDR")]
    NotAnAddress(String),
    #[error("'{0}': the prefix length is not a number")]
    BadPrefix(String),
    #[error("'{input}': prefix /{prefix} is longer than the family allows (/{max})")]
    PrefixTooLong { input: String, prefix: u32, max: u8 },
}

impl IpNet {
    /// A network; fails if `prefix` exceeds the family's bit length.
    /// `::ffff:a.b.c.d/N` with N >= 96 is the IPv4 network `a.b.c.d/(N-96)`.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, IpNetError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(IpNetError::PrefixTooLong {
                input: format!("{addr}/{prefix}"),
                prefix: prefix.into(),
                max,
            });
        }
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        Ok(IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// A single address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        let addr = addr.to_canonical();
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// True for a single address (full-length prefix).
    pub fn is_host(&self) -> bool {
        self.prefix == max_prefix(self.addr)
    }

    /// Whether `ip` falls inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let s = s.trim();
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_s
            .parse()
            .map_err(|_| IpNetError::NotAnAddress(s.to_string()))?;
        let Some(p) = prefix_s else {
            return Ok(IpNet::host(addr));
        };
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return Err(IpNetError::BadPrefix(s.to_string()));
        }
        let prefix: u32 = p
            .parse()
            .map_err(|_| IpNetError::BadPrefix(s.to_string()))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max.into() {
            return Err(IpNetError::PrefixTooLong {
                input: s.to_string(),
                prefix,
                max,
            });
        }
        IpNet::new(addr, prefix as u8)
    }
}

impl From<IpAddr> for IpNet {
    fn from(addr: IpAddr) -> IpNet {
        IpNet::host(addr)
    }
}

/// A single address prints bare; a prefix prints as CIDR.
impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl serde::Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_prefixes() {
        assert_eq!(net("198.18.0.1").to_string(), "198.18.0.1");
        assert!(net("198.18.0.1").is_host());
        assert_eq!(net("198.18.0.1/32").to_string(), "198.18.0.1");
        assert_eq!(net("198.18.7.9/16").to_string(), "198.18.0.0/16");
        assert_eq!(net("2001:db8::1").to_string(), "2001:db8::1");
        assert_eq!(net("2001:db8:1:2::5/48").to_string(), "2001:db8:1::/48");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(net(" 198.18.0.1 ").prefix_len(), 32);
    }

    #[test]
    fn v4_mapped_becomes_v4() {
        assert_eq!(net("::ffff:198.18.0.1").to_string(), "198.18.0.1");
        assert_eq!(net("::ffff:198.18.0.0/112").to_string(), "198.18.0.0/16");
        assert!(net("::ffff:198.18.0.1").addr().is_ipv4());
    }

    #[test]
    fn rejects_bad_input() {
        let e = "198.18.0.1/33".parse::<IpNet>().unwrap_err();
        assert!(
            e.to_string().contains("longer than the family allows"),
            "{e}"
        );
        let e = "2001:db8::/129".parse::<IpNet>().unwrap_err();
        assert!(
            e.to_string().contains("longer than the family allows"),
            "{e}"
        );
        assert!(matches!(
            "198.18.0.1/".parse::<IpNet>(),
            Err(IpNetError::BadPrefix(_))
        ));
        assert!(matches!(
            "198.18.0.1/-1".parse::<IpNet>(),
            Err(IpNetError::BadPrefix(_))
        ));
        assert!(matches!(
            "198.18.0.1/99999".parse::<IpNet>(),
            Err(IpNetError::BadPrefix(_))
        ));
        assert!(matches!(
            "example.com".parse::<IpNet>(),
            Err(IpNetError::NotAnAddress(_))
        ));
        assert!(matches!(
            "198.18.0".parse::<IpNet>(),
            Err(IpNetError::NotAnAddress(_))
        ));
        assert!(IpNet::new("198.18.0.1".parse().unwrap(), 40).is_err());
    }

    #[test]
    fn contains() {
        let n = net("198.18.0.0/15");
        assert!(n.contains("198.19.255.255".parse().unwrap()));
        assert!(!n.contains("198.20.0.0".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        assert!(net("2001:db8::/32").contains("2001:db8:ffff::1".parse().unwrap()));
    }
}
