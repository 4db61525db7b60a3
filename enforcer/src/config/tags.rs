//! Owns the text helpers of filter and action definitions: jail-side
//! parameters `name[k=v, k2="a,b", k3='x'][k4=y]`, splitting an action list
//! into one action per entry, config-time `<tag>` substitution (recursive,
//! bounded; unknown tags like `<HOST>` stay for run time), and word/shell
//! splitting of list options.
use std::collections::{BTreeMap, HashSet};

/// How often one tag may be replaced inside another before it is a loop.
const MAX_TAG_REPLACE: u32 = 25;
/// No substituted value may grow beyond this (a tag used twice in itself
/// would otherwise double 25 times).
const MAX_VALUE_LEN: usize = 1 << 20;

/// Splits `name[k=v, ...][...]` into the name and its parameters.
pub fn extract_options(spec: &str) -> Result<(String, Vec<(String, String)>), String> {
    let spec = spec.trim_end();
    let (name, rest) = match spec.find('[') {
        Some(i) => (&spec[..i], &spec[i..]),
        None => (spec, ""),
    };
    if name.trim().is_empty() {
        return Err(format!("missing a name before the parameters in {spec:?}"));
    }
    let mut params = Vec::new();
    if !rest.is_empty() {
        if !rest.ends_with(']') {
            return Err(format!(
                "parameters of {:?} are not closed with ']'",
                name.trim()
            ));
        }
        let (list, used) = parse_params(&rest[1..])?;
        if used != rest.len() - 1 {
            return Err(format!(
                "unexpected text after the parameters: {:?}",
                &rest[1 + used..]
            ));
        }
        params = list;
    }
    Ok((name.trim().to_string(), params))
}

/// Parses `k=v, k2="v2"][k3=v3]` up to and including the final `]`.
/// Returns the parameters and how many bytes were used.
fn parse_params(s: &str) -> Result<(Vec<(String, String)>, usize), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] as char).is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i < b.len() && b[i] == b']' {
            // `]` closes (possibly followed by another `[` group)
            let mut j = i + 1;
            skip_ws(&mut j);
            if j < b.len() && b[j] == b'[' {
                i = j + 1;
                continue;
            }
            return Ok((out, i + 1));
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b'.')) {
            i += 1;
        }
        if i == start || i >= b.len() || b[i] != b'=' {
            let near: String = s[start..].chars().take(25).collect();
            return Err(format!("expected 'name=value' in parameters at {near:?}"));
        }
        let key = s[start..i].to_string();
        i += 1;
        let value;
        if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let Some(end) = s[i + 1..].find(q as char) else {
                return Err(format!("unterminated quote in parameter {key:?}"));
            };
            value = s[i + 1..i + 1 + end].to_string();
            i = i + 2 + end;
            skip_ws(&mut i);
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' && b[i] != b']' {
                i += 1;
            }
            value = s[vs..i].trim().to_string();
        }
        out.push((key, value.trim().to_string()));
        if i >= b.len() {
            return Err("parameters are not closed with ']'".to_string());
        }
        match b[i] {
            b',' => i += 1,
            b']' => {}
            _ => {
                let near: String = s[i..].chars().take(25).collect();
                return Err(format!("unexpected text in parameters at {near:?}"));
            }
        }
    }
}

/// Splits an `action` value into entries: each a name, optionally with
/// bracket parameters (which may span lines and hold spaces).
pub fn split_with_options(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if (b[i] as char).is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !(b[i] as char).is_whitespace() && b[i] != b'[' {
            i += 1;
        }
        let name_end = i;
        let mut j = i;
        while j < b.len() && (b[j] as char).is_whitespace() {
            j += 1;
        }
        if name_end > start
            && j < b.len()
            && b[j] == b'['
            && let Ok((_, used)) = parse_params(&s[j + 1..])
        {
            let end = j + 1 + used;
            out.push(format!("{}{}", &s[start..name_end], &s[j..end]));
            i = end;
            continue;
        }
        // not a well-formed entry: take the run of non-blank text as it is,
        // so that extract_options reports what is wrong with it
        let mut k = start;
        while k < b.len() && !(b[k] as char).is_whitespace() {
            k += 1;
        }
        if name_end == start || (j < b.len() && b[j] == b'[') {
            // bad parameters: take up to the end of the line
            k = s[start..].find('\n').map_or(b.len(), |n| start + n);
        }
        out.push(s[start..k].to_string());
        i = k;
    }
    out
}

/// Finds the first `<tag>` (no blanks or angle brackets inside) at or after
/// byte `from`: (start, end, name).
fn find_tag(s: &str, from: usize) -> Option<(usize, usize, &str)> {
    let b = s.as_bytes();
    let mut i = from;
    // memchr: values are rescanned after every replacement, and action
    // values run to kilobytes.
    while let Some(off) = memchr::memchr(b'<', b.get(i..)?) {
        i += off;
        let mut j = i + 1;
        while j < b.len() && !matches!(b[j], b' ' | b'<' | b'>') {
            j += 1;
        }
        if j < b.len() && b[j] == b'>' && j > i + 1 {
            return Some((i, j + 1, &s[i + 1..j]));
        }
        i = j;
    }
    None
}

/// Replaces `<tag>`s in every value with other values (or with what
/// `extra` finds for a name; it is asked once per name), until nothing
/// changes, as fail2ban's substituteRecursiveTags does (values in key order,
/// each replacement of a tag replacing all its occurrences, the scan going
/// on from where the tag was). Tags in `ignore` and unknown tags stay. A tag
/// that refers to itself, directly or through others, is an error: (the tag
/// whose value could not be resolved, why).
///
/// It runs once per action and filter of every jail, so it works on vectors
/// indexed like the (sorted) keys and small linear maps instead of cloning
/// values and hashing names at every step.
pub fn substitute_recursive_tags(
    tags: &mut BTreeMap<String, String>,
    ignore: &HashSet<String>,
    extra: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    let (keys, mut vals): (Vec<String>, Vec<String>) = std::mem::take(tags).into_iter().unzip();
    let res = substitute_in(&keys, &mut vals, ignore, extra);
    *tags = keys.into_iter().zip(vals).collect();
    res
}

fn substitute_in(
    keys: &[String],
    vals: &mut [String],
    ignore: &HashSet<String>,
    extra: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    let ignored: Vec<&str> = ignore.iter().map(String::as_str).collect();
    let is_ignored = |t: &str| ignored.contains(&t);
    let index = |t: &str| keys.binary_search_by(|k| k.as_str().cmp(t)).ok();
    // A value without '<' has nothing to replace: done from the start.
    let mut done: Vec<bool> = keys
        .iter()
        .zip(vals.iter())
        .map(|(k, v)| is_ignored(k) || !v.contains('<'))
        .collect();
    let mut counts: Vec<Vec<(String, u32)>> = vec![Vec::new(); keys.len()];
    let mut extra_cache: Vec<(String, Option<String>)> = Vec::new();
    let mut buf = String::new();
    loop {
        let mut again = false;
        for (i, tag) in keys.iter().enumerate() {
            if done[i] {
                continue;
            }
            let mut value = std::mem::take(&mut vals[i]);
            let mut changed = false;
            let rplc = &mut counts[i];
            let mut pos = 0;
            while let Some((start, end, rtag)) = find_tag(&value, pos) {
                if is_ignored(rtag) {
                    pos = end;
                    continue;
                }
                let n = rplc.iter().find(|(t, _)| t == rtag).map_or(1, |&(_, n)| n);
                if rtag == tag || n > MAX_TAG_REPLACE {
                    let e = format!(
                        "<{tag}> refers to itself (through <{rtag}>) and cannot be resolved"
                    );
                    vals[i] = value;
                    return Err((tag.clone(), e));
                }
                let repl: Option<&str> = match index(rtag) {
                    Some(j) => Some(vals[j].as_str()),
                    None => {
                        let k = match extra_cache.iter().position(|(t, _)| t == rtag) {
                            Some(k) => k,
                            None => {
                                let found = extra(rtag);
                                extra_cache.push((rtag.to_string(), found));
                                extra_cache.len() - 1
                            }
                        };
                        extra_cache[k].1.as_deref()
                    }
                };
                let Some(repl) = repl else {
                    pos = end;
                    continue;
                };
                let rtag = rtag.to_string();
                replace_tag(&value, &rtag, repl, &mut buf);
                std::mem::swap(&mut value, &mut buf);
                changed = true;
                if value.len() > MAX_VALUE_LEN {
                    let e = format!(
                        "<{tag}> grows beyond {MAX_VALUE_LEN} bytes while substituting <{rtag}>"
                    );
                    vals[i] = value;
                    return Err((tag.clone(), e));
                }
                match rplc.iter_mut().find(|(t, _)| *t == rtag) {
                    Some((_, n)) => *n += 1,
                    None => rplc.push((rtag, 1)),
                }
                pos = start;
            }
            // Nothing replaced: every tag left is unknown or ignored, and
            // stays so (values only change when their own key is scanned).
            if !changed || !value.contains('<') {
                done[i] = true;
            } else if find_tag(&value, 0).is_some() {
                again = true;
            }
            vals[i] = value;
        }
        if !again {
            return Ok(());
        }
    }
}

/// `value` with every `<tag>` replaced by `repl`, written to `out`.
fn replace_tag(value: &str, tag: &str, repl: &str, out: &mut String) {
    out.clear();
    let b = value.as_bytes();
    let mut last = 0;
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'<', &b[from..]) {
        let i = from + off;
        let end = i + 1 + tag.len();
        if b.len() > end && b[end] == b'>' && &b[i + 1..end] == tag.as_bytes() {
            out.push_str(&value[last..i]);
            out.push_str(repl);
            last = end + 1;
            from = last;
        } else {
            from = i + 1;
        }
    }
    out.push_str(&value[last..]);
}

/// Splits on commas, blanks and newlines, dropping empty words.
pub fn split_words(s: &str) -> Vec<String> {
    s.split([' ', ',', '\n', '\t'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// POSIX shell-like word splitting (quotes and backslashes), as Python's
/// `shlex.split` does for journal matches.
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("no closing quotation in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("no closing quotation in {s:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("no closing quotation in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("no escaped character in {s:?}")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn bracket_parameters() {
        assert_eq!(extract_options("sshd").unwrap(), ("sshd".into(), vec![]));
        assert_eq!(
            extract_options(r#"iptables[name=SSH, port="ssh,2222", protocol='tcp']"#).unwrap(),
            (
                "iptables".into(),
                params(&[("name", "SSH"), ("port", "ssh,2222"), ("protocol", "tcp")])
            )
        );
        assert_eq!(
            extract_options("a[x=1] [y= 2 ]  ").unwrap().1,
            params(&[("x", "1"), ("y", "2")])
        );
        assert_eq!(
            extract_options("a[logpath=\"/var/log/a\n/var/log/b\"]")
                .unwrap()
                .1,
            params(&[("logpath", "/var/log/a\n/var/log/b")])
        );
        assert_eq!(extract_options("a[]").unwrap().1, vec![]);
        assert_eq!(extract_options("a[x=1,]").unwrap().1, params(&[("x", "1")]));
    }

    #[test]
    fn malformed_bracket_parameters() {
        assert!(extract_options("sshd[mode=aggressive").is_err());
        assert!(extract_options("sshd[mode]").is_err());
        assert!(extract_options("sshd[mode=\"x]").is_err());
        assert!(extract_options("sshd[a=1] junk").is_err());
        assert!(extract_options("[a=1]").is_err());
    }

    #[test]
    fn action_lists_split_per_entry() {
        let v = "nftables[port=\"ssh\", protocol=\"tcp\", chain=\"<known/chain>\"]\n  sendmail-whois[sender=\"a b\",\n   dest=\"x\"]\n dummy";
        assert_eq!(
            split_with_options(v),
            vec![
                "nftables[port=\"ssh\", protocol=\"tcp\", chain=\"<known/chain>\"]",
                "sendmail-whois[sender=\"a b\",\n   dest=\"x\"]",
                "dummy"
            ]
        );
        assert_eq!(split_with_options("a b\nc"), vec!["a", "b", "c"]);
        assert_eq!(split_with_options("a [x=1]"), vec!["a[x=1]"]);
        assert_eq!(split_with_options("a[x=1"), vec!["a[x=1"]);
        assert_eq!(split_with_options("a[x 1]\nb"), vec!["a[x 1]", "b"]);
    }

    fn subst(
        pairs: &[(&str, &str)],
        ignore: &[&str],
    ) -> Result<BTreeMap<String, String>, (String, String)> {
        let mut t: BTreeMap<String, String> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let ig = ignore.iter().map(|s| s.to_string()).collect();
        substitute_recursive_tags(&mut t, &ig, &mut |n| (n == "ext").then(|| "E".to_string()))?;
        Ok(t)
    }

    #[test]
    fn tags_recursive_nested_and_unknown_kept() {
        let t = subst(
            &[
                ("failregex", "^<mdre-<mode>> from <HOST> <ext>$"),
                ("mode", "aggr"),
                ("mdre-aggr", "<a>|<b>"),
                ("a", "A"),
                ("b", "<a>B"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(t["failregex"], "^A|AB from <HOST> E$");
        assert_eq!(t["b"], "AB");
    }

    #[test]
    fn ignored_tags_stay() {
        let t = subst(
            &[
                ("ban", "add <addr_set> <ip> <bantime>"),
                ("addr_set", "s-<name>"),
                ("name", "j"),
                ("bantime", "600"),
            ],
            &["addr_set", "bantime"],
        )
        .unwrap();
        assert_eq!(t["ban"], "add <addr_set> <ip> <bantime>");
    }

    #[test]
    fn replace_tag_replaces_every_whole_occurrence() {
        let mut out = String::new();
        replace_tag("<a><a>x<ab><a <a", "a", "1", &mut out);
        assert_eq!(out, "11x<ab><a <a");
        replace_tag("é<a>é<a>", "a", "<a2>", &mut out);
        assert_eq!(out, "é<a2>é<a2>");
        assert_eq!(find_tag("x <a <b> <>", 0), Some((5, 8, "b")));
        assert_eq!(find_tag("<b>", 3), None);
    }

    #[test]
    fn self_reference_is_an_error() {
        assert!(subst(&[("a", "<b>"), ("b", "<a>")], &[]).is_err());
        assert!(subst(&[("a", "x<a>")], &[]).is_err());
    }

    #[test]
    fn words_and_shell_words() {
        assert_eq!(
            split_words("127.0.0.1/8 ::1,\n 10.0.0.0/8"),
            ["127.0.0.1/8", "::1", "10.0.0.0/8"]
        );
        assert_eq!(
            shell_split("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap(),
            ["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
        );
        assert_eq!(
            shell_split("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
        assert!(shell_split("'open").is_err());
    }
}
