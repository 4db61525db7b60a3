//! Ban targets as operators type them: an address (`198.18.0.7`, `2001:db8::7`)
//! or a CIDR (`198.18.0.0/15`, `2001:db8::/32`), parsed into the data plane's
//! [`IpNet`] the same way by the CLI (to refuse bad input before anything is
//! sent) and by the daemon (which never trusts its clients).
pub use crate::xdp::{IpNet, IpNetError as TargetError};

/// Parses one target (host bits of a CIDR are cleared; IPv4-mapped IPv6 is
/// IPv4).
pub fn parse_target(text: &str) -> Result<IpNet, TargetError> {
    text.parse()
}

/// Parses every target, or reports the first bad one.
pub fn parse_targets<S: AsRef<str>>(texts: &[S]) -> Result<Vec<IpNet>, TargetError> {
    texts.iter().map(|t| parse_target(t.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_normalise_and_refuse_nonsense() {
        let shown = |s: &str| parse_target(s).unwrap().to_string();
        assert_eq!(shown("198.18.0.7/32"), "198.18.0.7");
        assert_eq!(shown("198.18.3.9/16"), "198.18.0.0/16");
        assert_eq!(shown("2001:db8:1:2::9/48"), "2001:db8:1::/48");
        assert_eq!(shown("::ffff:198.18.0.1"), "198.18.0.1");
        for bad in [
            "",
            "x",
            "198.18.0",
            "198.18.0.256",
            "198.18.0.1/",
            "198.18.0.1/-1",
            "198.18.0.1/8/8",
            "2001:db8::g",
            "example.com",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_target("198.18.0.1/33"),
            Err(TargetError::PrefixTooLong { max: 32, .. })
        ));
        assert!(matches!(
            parse_target("2001:db8::/129"),
            Err(TargetError::PrefixTooLong { max: 128, .. })
        ));
        assert!(parse_targets(&["198.18.0.1", "nope"]).is_err());
    }
}
