//! Owns fail2ban's run-time tags: `<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`,
//! `<DNS>`, `<CIDR>`, `<SUBNET>`, `<F-ID/>`, `<F-PORT/>`, `<SKIPLINES>` and the
//! custom capture pairs `<F-NAME>…</F-NAME>` (F-USER, F-ALT_*, F-TUPLE_*,
//! F-MLFID, F-NOFAIL, F-MLFFORGET, F-MLFGAINED, F-CONTENT), expanded into
//! named groups the way fail2ban's `Regex._resolveHostTag` does; plus the
//! naming rules that merge `alt_*` and `tuple_*` groups afterwards.
use std::collections::HashSet;

/// IPv4, optionally IPv4-mapped (`::ffff:` is outside the group, so stripped).
pub const IP4: &str = r"(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})";
/// fail2ban's IPv6 pattern. Its last alternative is `(?<=:):` there; every
/// repetition before it ends in `:`, so the look-behind always holds and a
/// plain `:` is the same language (and keeps the pattern linear-time).
pub const IP6: &str = r"(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:))";
pub const DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
pub const CIDR: &str = r"(?P<cidr>\d+)";

fn addr() -> String {
    format!(r"\[?(?:{IP4}|{IP6})\]?")
}

fn host(use_dns: bool) -> String {
    if use_dns {
        format!("(?:{}|{DNS})", addr())
    } else {
        addr()
    }
}

fn subnet() -> String {
    format!(r"\[?(?:{IP4}|{IP6})(?:/{CIDR})?\]?")
}

/// Group name a custom tag maps to (`F-ID` -> `fid`, `F-PORT` -> `fport`).
pub fn map_tag(tag: &str) -> String {
    let l = tag.to_ascii_lowercase();
    match l.as_str() {
        "id" => "fid".into(),
        "port" => "fport".into(),
        _ => l,
    }
}

/// Expands the tags of one regex. `use_dns` is false for `usedns = no`
/// (then `<HOST>` matches addresses only, as in fail2ban).
pub fn expand(regex: &str, use_dns: bool) -> String {
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open: HashSet<String> = HashSet::new();
    let mut skiplines = 0usize;
    let b = regex.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<'
            && let Some(len) = tag_len(&b[i..])
        {
            let tag = &regex[i..i + len];
            out.push_str(&subst(tag, use_dns, &mut open, &mut skiplines));
            i += len;
            continue;
        }
        let c = regex[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Length of a tag `</?[\w\-]+/?>` at the start of `b`, if one is there.
fn tag_len(b: &[u8]) -> Option<usize> {
    let mut j = 1;
    if b.get(j) == Some(&b'/') {
        j += 1;
    }
    let name_start = j;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-') {
        j += 1;
    }
    if j == name_start {
        return None;
    }
    if b.get(j) == Some(&b'/') {
        j += 1;
    }
    (b.get(j) == Some(&b'>')).then_some(j + 1)
}

fn subst(tag: &str, use_dns: bool, open: &mut HashSet<String>, nl: &mut usize) -> String {
    let tn = &tag[1..tag.len() - 1];
    match tn {
        "HOST" => return host(use_dns),
        "SKIPLINES" => {
            let s = format!(r"\n(?P<skiplines{}>(?:(?:.*\n)*?))", *nl);
            *nl += 1;
            return s;
        }
        "IP4" | "F-IP4/" => return IP4.into(),
        "IP6" | "F-IP6/" => return IP6.into(),
        "ADDR" | "F-ADDR/" => return addr(),
        "CIDR" | "F-CIDR/" => return CIDR.into(),
        "SUBNET" | "F-SUBNET/" => return subnet(),
        "DNS" | "F-DNS/" => return DNS.into(),
        "F-ID/" => return r"(?P<fid>\S+)".into(),
        "F-PORT/" => return r"(?P<fport>\w+)".into(),
        _ => {}
    }
    // Custom F-NAME (upper case, digits, _ and -) open or close tag.
    let (close, name) = match tn.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, tn),
    };
    if let Some(n) = name.strip_prefix("F-")
        && !n.is_empty()
        && n.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
    {
        if close {
            return if open.contains(n) {
                ")".into()
            } else {
                tag.into()
            };
        }
        open.insert(n.to_string());
        return format!("(?P<{}>", map_tag(n));
    }
    tag.into()
}

/// How a group takes part in the failure's data after a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Complex {
    /// `alt_user_1` -> fills `user` when that is empty.
    Alt { group: String, target: String },
    /// `tuple_id_2` -> appended to the tuple `fid`.
    Tuple { group: String, target: String },
}

/// The alt/tuple groups of a pattern, sorted by group name like fail2ban.
pub fn complex_groups<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Complex> {
    let mut v = Vec::new();
    for k in names {
        if k.len() <= 4 {
            continue;
        }
        for (pre, alt) in [("alt_", true), ("tuple_", false)] {
            if let Some(rest) = k.strip_prefix(pre) {
                // strip a trailing _<digits>
                let base = match rest.rfind('_') {
                    Some(p)
                        if p + 1 < rest.len()
                            && rest[p + 1..].bytes().all(|c| c.is_ascii_digit()) =>
                    {
                        &rest[..p]
                    }
                    _ => rest,
                };
                let target = map_tag(base);
                let group = k.to_string();
                v.push(if alt {
                    Complex::Alt { group, target }
                } else {
                    Complex::Tuple { group, target }
                });
            }
        }
    }
    v.sort_by(|a, b| {
        let key = |c: &Complex| match c {
            Complex::Alt { group, .. } | Complex::Tuple { group, .. } => group.clone(),
        };
        key(a).cmp(&key(b))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::translate::Pattern;

    fn groups(py: &str, hay: &str) -> Vec<(String, String)> {
        let p = Pattern::new(&expand(py, true)).unwrap();
        let mut c = p.caps();
        assert!(p.captures(hay, &mut c), "{py} on {hay}");
        let mut v = Vec::new();
        for (i, n) in p.names.iter().enumerate() {
            if let (Some(n), Some((s, e))) = (n, c.get(i)) {
                v.push((n.clone(), hay[s..e].to_string()));
            }
        }
        v
    }

    #[test]
    fn host_tag_variants() {
        assert_eq!(
            groups("from <HOST> port", "from 192.0.2.1 port"),
            vec![("ip4".into(), "192.0.2.1".into())]
        );
        assert_eq!(
            groups("from <HOST> port", "from ::ffff:192.0.2.1 port"),
            vec![("ip4".into(), "192.0.2.1".into())]
        );
        assert_eq!(
            groups("from <HOST> port", "from 2001:db8::1 port"),
            vec![("ip6".into(), "2001:db8::1".into())]
        );
        assert_eq!(
            groups("from <HOST>$", "from [2001:db8::]"),
            vec![("ip6".into(), "2001:db8::".into())]
        );
        assert_eq!(
            groups("from <HOST> port", "from example.com port"),
            vec![("dns".into(), "example.com".into())]
        );
        assert!(!expand("<HOST>", false).contains("dns"));
        assert_eq!(
            groups("<SUBNET>", "10.0.0.0/8"),
            vec![
                ("ip4".into(), "10.0.0.0".into()),
                ("cidr".into(), "8".into())
            ]
        );
    }

    #[test]
    fn custom_tags() {
        let e = expand(
            "<F-USER>\\S+</F-USER> <F-ID>x</F-ID> </F-NOPE> <F-PORT/> <foo>",
            true,
        );
        assert_eq!(
            e,
            r"(?P<user>\S+) (?P<fid>x) </F-NOPE> (?P<fport>\w+) <foo>"
        );
        assert_eq!(
            expand("a<SKIPLINES>b<SKIPLINES>", true),
            r"a\n(?P<skiplines0>(?:(?:.*\n)*?))b\n(?P<skiplines1>(?:(?:.*\n)*?))"
        );
    }

    #[test]
    fn alt_and_tuple_names() {
        let c = complex_groups(["alt_user_2", "user", "tuple_id", "alt_user"].into_iter());
        assert_eq!(
            c,
            vec![
                Complex::Alt {
                    group: "alt_user".into(),
                    target: "user".into()
                },
                Complex::Alt {
                    group: "alt_user_2".into(),
                    target: "user".into()
                },
                Complex::Tuple {
                    group: "tuple_id".into(),
                    target: "fid".into()
                },
            ]
        );
    }
}
