use super::*;
use crate::filter::translate::{Pattern, translate};

/// Named groups of the first match, as (name, text), sorted.
fn groups(p: &Pattern, hay: &str) -> Option<Vec<(String, String)>> {
    let mut c = p.caps();
    if !p.captures(hay, &mut c) {
        return None;
    }
    let mut v: Vec<(String, String)> = p
        .names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let (s, e) = c.get(i)?;
            Some((n.clone()?, hay[s..e].to_string()))
        })
        .collect();
    let (s, e) = c.get(0).unwrap();
    v.push(("0".into(), hay[s..e].to_string()));
    v.sort();
    Some(v)
}

/// The rewritten pattern must agree with fancy-regex on every line.
fn same(py: &str, lines: &[&str]) {
    let lin = Pattern::new_linear(py).unwrap();
    assert!(lin.is_linear(), "{py} not rewritten");
    let fancy = Pattern::new(py).unwrap();
    assert!(fancy.is_fancy());
    for l in lines {
        assert_eq!(groups(&lin, l), groups(&fancy, l), "{py} on {l:?}");
    }
}

#[test]
fn conditional_on_optional_group() {
    same(r"^(?P<c>q)?(?(c)y|n)$", &["qy", "n", "qn", "y", "", "qyy"]);
    same(r"^(?P<c>q)??(?(c)y|n)", &["qy", "n", "qn", "qnq"]);
    same(r"^(?:a|b(?P<q>'))x(?(q)'|)$", &["ax", "b'x'", "b'x", "ax'"]);
}

#[test]
fn nested_conditionals_like_sshd_failed() {
    let py = r"^Failed (?:(?P<nofail>publickey)|\S+) for (?P<inv>invalid user )?(?P<user>(?P<cu>\S+)|(?(inv)(?:(?! from ).)*?|[^:]+)) from (?P<ip>\d+\.\d+\.\d+\.\d+)(?: port \d+)?(?: ssh\d*)?(?(cu): |(?:(?:(?! from ).)*)$)";
    same(
        py,
        &[
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Failed password for invalid user admin from 1.2.3.4 port 22 ssh2",
            "Failed publickey for invalid user a b c from 1.2.3.4 port 22 ssh2",
            "Failed password for bob from 1.2.3.4 port 22 ssh2: RSA x",
            "Failed password for invalid user from from 1.2.3.4 port 22 ssh2",
            "Failed password for a from b from 1.2.3.4 port 2 x from y",
            "Failed password for root from 1.2.3.4 port 22 ssh2 from 5.6.7.8",
            "Failed none for invalid user  from 1.2.3.4",
            "Failed password for x:y from 1.2.3.4",
            "Accepted password for root from 1.2.3.4",
        ],
    );
}

#[test]
fn lookahead_becomes_a_check() {
    let py = r"^(?P<nofail>Connection closed|Disconnected)(?: by)?(?: user (?P<user>\S+|.*?))? (?P<ip>\d+\.\d+\.\d+\.\d+)(?: port \d+)?(?:: (?!Too many authentication failures)[^\[]+)?(?: \[preauth\])?\s*$";
    same(
        py,
        &[
            "Connection closed by 1.2.3.4 port 22 [preauth]",
            "Disconnected from user root 1.2.3.4 port 4",
            "Connection closed by 1.2.3.4 port 22: Bye Bye [preauth]",
            "Connection closed by 1.2.3.4 port 22: Too many authentication failures [preauth]",
            "Connection closed by 1.2.3.4 port 22: Too many authentication failure",
            "Disconnected user a b 1.2.3.4: x",
        ],
    );
    same(r"a(?=bc)", &["abc", "ab", "xabcab", "aabc"]);
}

#[test]
fn shapes_left_to_fancy() {
    // back-reference, look-behind, a conditional inside a repetition
    for py in [r"(?P<q>')x(?P=q)", r"(?<=a)b", r"^(?:(?P<c>a)?(?(c)b|c))+$"] {
        assert!(Linear::new(&translate(py).pattern).is_none(), "{py}");
        assert!(Pattern::new_linear(py).unwrap().is_fancy(), "{py}");
    }
}

#[test]
fn interleaved_alternatives_are_refused_or_exact() {
    // skip-g, take-g, then the 2nd branch (skip-g again): interleaved.
    let py = r"^(?:(?P<g>a)??|a)(?(g)x|y)";
    assert!(Linear::new(&translate(py).pattern).is_none());
    same(
        r"^(?:(?P<g>a)|a|(?P<h>a)(?P<k>b)?)(?(g)x|y)",
        &["ax", "ay", "aby", "abx", "x", "y"],
    );
}

#[test]
fn engines_behind_a_rewrite_compile_when_needed() {
    let py = r"^(?P<nofail>Connection closed|Disconnected)(?: by)?(?: user (?P<user>\S+|.*?))? (?P<ip>\d+\.\d+\.\d+\.\d+)(?: port \d+)?(?:: (?!Too many authentication failures)[^\[]+)?(?: \[preauth\])?\s*$";
    let lin = Pattern::new_linear(py).unwrap();
    let fancy = Pattern::new(py).unwrap();
    assert_eq!(lin.linear_built(), Some((false, false)), "nothing at load");
    // An ASCII line that passes the checks needs neither.
    let l = "Connection closed by 1.2.3.4 port 22 [preauth]";
    assert_eq!(groups(&lin, l), groups(&fancy, l));
    assert_eq!(lin.linear_built(), Some((false, false)));
    // A failed check needs the exact engine.
    let l = "Connection closed by 1.2.3.4 port 22: Too many authentication failures [preauth]";
    assert_eq!(groups(&lin, l), groups(&fancy, l));
    assert_eq!(lin.linear_built(), Some((false, true)));
    // A non-ASCII line runs on the Unicode build.
    let lin = Pattern::new_linear(py).unwrap();
    for l in [
        "Disconnected from user j\u{f6}rg 1.2.3.4 port 4",
        "Connection closed by user \u{e9} 1.2.3.4 port 2: Too many authentication failures",
        "Connection closed by user \u{e9} 1.2.3.4 port 2: bye \u{e9}",
    ] {
        assert_eq!(groups(&lin, l), groups(&fancy, l), "{l:?}");
    }
    assert_eq!(lin.linear_built(), Some((true, true)));
}
