//! Ban targets as operators type them: an address (`198.18.0.7`, `2001:db8::7`)
//! or a CIDR (`198.18.0.0/15`, `2001:db8::/32`). Parsed the same way by the CLI
//! (to refuse bad input before anything is sent) and by the daemon (which never
//! trusts its clients).
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A target that is not an address or a CIDR of its family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("'{0}' is not an IP address or CIDR")]
    NotAnAddress(String),
    #[error("'{text}': prefix length {len} is longer than {max} for this address family")]
    PrefixTooLong { text: String, len: u32, max: u8 },
}

/// Parses one target. A CIDR's host bits are cleared (`198.18.0.9/16` is
/// `198.18.0.0/16`); an IPv4-mapped IPv6 address is its IPv4 address, as
/// fail2ban reports them.
pub fn parse_target(text: &str) -> Result<IpNet, TargetError> {
    let bad = || TargetError::NotAnAddress(text.to_string());
    let (addr, len) = match text.split_once('/') {
        None => (text, None),
        Some((a, l)) => {
            if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                return Err(bad());
            }
            (a, Some(l.parse::<u32>().map_err(|_| bad())?))
        }
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    let max = match addr {
        IpAddr::V4(_) => 32u8,
        IpAddr::V6(_) => 128u8,
    };
    let len = len.unwrap_or(u32::from(max));
    if len > u32::from(max) {
        return Err(TargetError::PrefixTooLong {
            text: text.to_string(),
            len,
            max,
        });
    }
    let len = len as u8;
    let net = match addr {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, len).map_err(|_| bad())?),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, len).map_err(|_| bad())?),
    };
    Ok(net.trunc())
}

/// Parses every target, or reports the first bad one.
pub fn parse_targets<S: AsRef<str>>(texts: &[S]) -> Result<Vec<IpNet>, TargetError> {
    texts.iter().map(|t| parse_target(t.as_ref())).collect()
}

/// How a target is shown: an exact address without its `/32` or `/128`.
pub fn display_target(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        display_target(&parse_target(s).unwrap())
    }

    #[test]
    fn addresses_and_cidrs_parse_and_normalise() {
        assert_eq!(shown("198.18.0.7"), "198.18.0.7");
        assert_eq!(shown("198.18.0.7/32"), "198.18.0.7");
        assert_eq!(shown("198.18.3.9/16"), "198.18.0.0/16");
        assert_eq!(shown("2001:db8::7"), "2001:db8::7");
        assert_eq!(shown("2001:db8:1:2::9/48"), "2001:db8:1::/48");
        assert_eq!(shown("::ffff:198.18.0.1"), "198.18.0.1");
        assert_eq!(shown("0.0.0.0/0"), "0.0.0.0/0");
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        for bad in [
            "",
            "x",
            "198.18.0",
            "198.18.0.256",
            "198.18.0.1/",
            "198.18.0.1/-1",
            "198.18.0.1/+8",
            "198.18.0.1/8/8",
            " 198.18.0.1",
            "2001:db8::g",
            "example.com",
        ] {
            assert!(
                matches!(parse_target(bad), Err(TargetError::NotAnAddress(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_target("198.18.0.1/33").unwrap_err().to_string(),
            "'198.18.0.1/33': prefix length 33 is longer than 32 for this address family"
        );
        assert!(matches!(
            parse_target("2001:db8::/129"),
            Err(TargetError::PrefixTooLong { max: 128, .. })
        ));
        assert!(parse_targets(&["198.18.0.1", "nope"]).is_err());
    }
}
