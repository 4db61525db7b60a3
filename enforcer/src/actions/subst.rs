//! Owns tag substitution in action commands. Two phases, as fail2ban's
//! `replaceTag` / `replaceDynamicTags`:
//!
//! - static: the action's own options (`<iptables>`, `<chain>`, `<port>`…),
//!   recursively, with `tag?family=inet6` winning for that family;
//! - dynamic: ban values (`<ip>`, `<matches>`, `<F-USER>`…). Attacker-controlled
//!   text never enters the script: a value that is not plainly safe becomes a
//!   shell variable assigned from a positional parameter (fail2ban's
//!   `buildShellCmd`), referenced with quoting that fits where the tag stands
//!   (unquoted, inside "…" or inside '…').
use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_REPLACE: usize = 25;
/// Tags whose values are log text; never substituted in the static phase.
pub const ESCAPED_TAGS: &[&str] = &["matches", "ipmatches", "ipjailmatches"];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubstError {
    #[error("too long replacement interpolation, possible self referencing definitions in {0:?}")]
    Recursion(String),
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"<([^ <>]+)>").expect("static regex"))
}

fn tag_at_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^<([^ <>]+)>").expect("static regex"))
}

/// The constant extra tags (`br`, `sp`) plus the host names.
pub fn extra_tag(tag: &str) -> Option<String> {
    match tag {
        "br" => Some("\n".into()),
        "sp" => Some(" ".into()),
        "fq-hostname" => Some(super::info::hostname(true)),
        "sh-hostname" => Some(super::info::hostname(false)),
        _ => None,
    }
}

/// Static phase: replaces `<opt>` by the action's options until nothing
/// changes. `family` selects `opt?family=FAMILY` values first.
pub fn replace_static(
    query: &str,
    props: &BTreeMap<String, String>,
    family: Option<&str>,
) -> Result<String, SubstError> {
    if !query.contains('<') {
        return Ok(query.to_string());
    }
    let mut cur = query.to_string();
    for _ in 0..=MAX_REPLACE {
        let next = tag_re()
            .replace_all(&cur, |c: &regex::Captures| {
                let tag = &c[1];
                if ESCAPED_TAGS.contains(&tag) {
                    return c[0].to_string();
                }
                if let Some(f) = family
                    && let Some(v) = props.get(&format!("{tag}?family={f}"))
                {
                    return v.clone();
                }
                if let Some(v) = props.get(tag) {
                    return v.clone();
                }
                match tag {
                    "br" | "sp" => extra_tag(tag).unwrap_or_default(),
                    _ => c[0].to_string(),
                }
            })
            .into_owned();
        if next == cur || !next.contains('<') {
            return Ok(next);
        }
        cur = next;
    }
    Err(SubstError::Recursion(query.to_string()))
}

/// A script ready for [`super::exec::run_shell`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShellCommand {
    pub script: String,
    pub args: Vec<String>,
}

fn is_safe_literal(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:/@%+,=-".contains(&b))
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Dynamic phase: `lookup(tag)` gives a tag's value (`None`: not a dynamic
/// tag, left as written). `<F-NAME>` tags the lookup does not know become
/// empty, as in fail2ban.
pub fn replace_dynamic(cmd: &str, lookup: &mut dyn FnMut(&str) -> Option<String>) -> ShellCommand {
    let re = tag_at_re();
    let bytes = cmd.as_bytes();
    let mut out = String::with_capacity(cmd.len());
    let mut vars: Vec<(String, String)> = Vec::new(); // (var name, value)
    let mut names: BTreeMap<String, String> = BTreeMap::new(); // tag -> var
    let mut q = Quote::None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'<'
            && let Some(m) = re.captures(&cmd[i..])
        {
            let whole_len = m[0].len();
            let tag = &m[1];
            let value = lookup(tag).or_else(|| tag.starts_with("F-").then(String::new));
            if let Some(v) = value {
                if v.is_empty() || is_safe_literal(&v) {
                    out.push_str(&v);
                } else {
                    let var = match names.get(tag) {
                        Some(n) => n.clone(),
                        None => {
                            let base: String = tag
                                .chars()
                                .map(|ch| {
                                    if ch.is_ascii_alphanumeric() || ch == '_' {
                                        ch
                                    } else {
                                        '_'
                                    }
                                })
                                .collect();
                            let mut n = format!("f2bV_{base}");
                            if vars.iter().any(|(x, _)| *x == n) {
                                n = format!("{n}_{}", vars.len());
                            }
                            names.insert(tag.to_string(), n.clone());
                            vars.push((n.clone(), v));
                            n
                        }
                    };
                    match q {
                        Quote::None => out.push_str(&format!("\"${{{var}}}\"")),
                        Quote::Double => out.push_str(&format!("${{{var}}}")),
                        Quote::Single => out.push_str(&format!("'\"${{{var}}}\"'")),
                    }
                }
                i += whole_len;
                continue;
            }
        }
        // Track the quoting of the template itself (not of inserted values).
        let ch_len = cmd[i..].chars().next().map_or(1, char::len_utf8);
        match (q, c) {
            (Quote::None, b'\\') | (Quote::Double, b'\\') => {
                let next_len = cmd[i + 1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&cmd[i..i + 1 + next_len]);
                i += 1 + next_len;
                continue;
            }
            (Quote::None, b'\'') => q = Quote::Single,
            (Quote::Single, b'\'') => q = Quote::None,
            (Quote::None, b'"') => q = Quote::Double,
            (Quote::Double, b'"') => q = Quote::None,
            _ => {}
        }
        out.push_str(&cmd[i..i + ch_len]);
        i += ch_len;
    }
    if vars.is_empty() {
        return ShellCommand {
            script: out,
            args: Vec::new(),
        };
    }
    let mut prefix = String::new();
    let mut args = Vec::with_capacity(vars.len());
    for (n, (var, value)) in vars.into_iter().enumerate() {
        prefix.push_str(&format!("{var}=\"${{{}}}\" ", n + 1));
        args.push(value);
    }
    prefix.push('\n');
    prefix.push_str(&out);
    ShellCommand {
        script: prefix,
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::exec::{DEFAULT_TIMEOUT, run_shell};

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn static_is_recursive_and_family_aware() {
        let p = props(&[
            ("iptables", "iptables <lockingopt>"),
            ("lockingopt", "-w"),
            ("iptables?family=inet6", "ip6tables <lockingopt>"),
            ("name", "sshd"),
        ]);
        let q = "<iptables> -I f2b-<name> -s <ip> <matches>";
        assert_eq!(
            replace_static(q, &p, None).unwrap(),
            "iptables -w -I f2b-sshd -s <ip> <matches>"
        );
        assert_eq!(
            replace_static(q, &p, Some("inet4")).unwrap(),
            "iptables -w -I f2b-sshd -s <ip> <matches>"
        );
        assert_eq!(
            replace_static(q, &p, Some("inet6")).unwrap(),
            "ip6tables -w -I f2b-sshd -s <ip> <matches>"
        );
        let selfref = props(&[("a", "x<a>")]);
        assert!(replace_static("<a>", &selfref, None).is_err());
        assert_eq!(
            replace_static("a<br>b<sp>c", &props(&[]), None).unwrap(),
            "a\nb c"
        );
    }

    fn run(template: &str, vals: &[(&str, &str)]) -> String {
        let m: BTreeMap<String, String> = vals
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sc = replace_dynamic(template, &mut |t| m.get(t).cloned());
        let o = run_shell(&sc.script, &sc.args, DEFAULT_TIMEOUT).unwrap();
        assert!(o.success(), "{sc:?}: {o:?}");
        o.stdout
    }

    #[test]
    fn values_stay_literal_in_every_quoting_context() {
        let evil = "a'b\"c $(touch /tmp/never) `id` ; | && \\ * \n x";
        let v = [("ip", "198.18.0.1"), ("matches", evil)];
        assert_eq!(run("printf %s <matches>", &v), evil);
        assert_eq!(run("printf %s \"m=<matches>.\"", &v), format!("m={evil}."));
        assert_eq!(run("printf %s 'm=<matches>.'", &v), format!("m={evil}."));
        assert_eq!(
            run("printf %s <ip>x'<ip>'\"<ip>\"", &v),
            "198.18.0.1x198.18.0.1198.18.0.1"
        );
        assert_eq!(run("printf %s \"<F-USER>|<unknown>\"", &v), "|<unknown>");
        // The same tag twice is one variable.
        let sc = replace_dynamic("<matches><matches>", &mut |_| Some("a b".into()));
        assert_eq!(sc.args, vec!["a b".to_string()]);
    }

    #[test]
    fn positional_parameters_beyond_nine() {
        let vals: Vec<(String, String)> = (0..12)
            .map(|i| (format!("t{i}"), format!("v {i}")))
            .collect();
        let tpl: String = (0..12)
            .map(|i| format!("<t{i}>"))
            .collect::<Vec<_>>()
            .join(" ");
        let m: BTreeMap<_, _> = vals.into_iter().collect();
        let sc = replace_dynamic(&format!("printf '%s,' {tpl}"), &mut |t| m.get(t).cloned());
        let o = run_shell(&sc.script, &sc.args, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(
            o.stdout,
            (0..12).map(|i| format!("v {i},")).collect::<String>()
        );
    }
}
