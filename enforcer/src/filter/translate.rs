//! Owns turning a Python (`re` module) pattern into one the Rust engines
//! accept, and the [`Pattern`] type that runs it on the right engine.
//!
//! Python and Rust differ in a handful of spellings fail2ban filters use:
//! `[` inside a class (literal in Python, a nested class in Rust), `&&`/`~~`
//! inside classes (set operations in Rust), `\<`/`\>` (literals in Python,
//! word boundaries in Rust), `{,n}`, a `{` that is not a quantifier, `\Z`,
//! `(?#...)` comments, and the conditional `(?(name)yes|no)` which
//! fancy-regex would read as a look-ahead condition unless spelt
//! `(?(<name>)yes|no)`. fail2ban itself first rewrites `((?i)x)` and
//! `(?:(?i)x)` into `(?i:x)`; we do the same.
//!
//! A translated pattern runs on the linear-time `regex` crate unless it needs
//! look-around, a back-reference or a conditional; only then on
//! `fancy-regex`, with a backtrack limit so hostile lines cannot make it run
//! away (hitting the limit counts as "no match").
pub use super::pattern::{Caps, Engine, Pattern, ascii_build};

/// Backtracking steps fancy-regex may take for one search.
pub const BACKTRACK_LIMIT: usize = 200_000;

/// Python's `\s`: what `str.isspace()` holds, which is Unicode's
/// White_Space (Rust's `\s`) and the separators U+001C..U+001F.
const PY_SPACE: &str = "[\\s\\x1C-\\x1F]";
const PY_NON_SPACE: &str = "[^\\s\\x1C-\\x1F]";

/// Why a pattern was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// Rewrites `((?i)x)` / `(?:(?i)x)` into `(?i:x)` like fail2ban does before
/// compiling (its `R_GLOB2LOCFLAGS`).
fn glob_to_local_flags(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'(' && (i == 0 || b[i - 1] != b'\\') {
            let mut j = i + 1;
            if b[j..].starts_with(b"?:") {
                j += 2;
            }
            if b[j..].starts_with(b"(?") {
                let mut k = j + 2;
                while k < b.len() && b[k].is_ascii_lowercase() {
                    k += 1;
                }
                if k > j + 2 && k < b.len() && b[k] == b')' {
                    out.push_str(&p[j..k]);
                    out.push(':');
                    i = k + 1;
                    continue;
                }
            }
        }
        let c = p[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Result of [`translate`]: the Rust spelling and whether it needs fancy-regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub pattern: String,
    pub fancy: bool,
}

/// What a Python `$` (without MULTILINE) becomes. fail2ban searches a
/// buffer that ends in a newline (`_tupleLinesBuf` joins the lines with
/// `\n` and adds one), and Python's `$` matches at the end or before that
/// final newline; Rust's `$` only at the very end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dollar {
    /// `$`: the text has no final newline (a date template, a jail's
    /// option), or the pattern is MULTILINE (`$` before every newline, as
    /// Rust's `(?m)$`).
    #[default]
    Keep,
    /// `(?m:$)`: the text is one line and its final newline (its only
    /// one), where "before any newline" is "before the final one".
    LineEnd,
    /// `(?=\n?\z)`: a buffer of several lines (fancy-regex's look-ahead).
    Lookahead,
}

/// Translates a Python pattern for the Rust engines (its `$` kept).
pub fn translate(py: &str) -> Translated {
    translate_for(py, Dollar::Keep)
}

/// Whether a Python pattern sets MULTILINE inline (`(?m)`, `(?im)`, ...).
fn sets_multiline(py: &str) -> bool {
    py.match_indices("(?").any(|(i, _)| {
        let rest = &py[i + 2..];
        let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        rest[..n].contains('m') && rest[n..].starts_with([')', ':'])
    })
}

/// Translates a Python pattern for the Rust engines, its `$` as `dollar`
/// says (kept for a pattern that is MULTILINE itself).
pub fn translate_for(py: &str, dollar: Dollar) -> Translated {
    let dollar = if sets_multiline(py) {
        Dollar::Keep
    } else {
        dollar
    };
    let p = glob_to_local_flags(py);
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut fancy = false;
    let mut i = 0;
    let n = chars.len();
    while i < n {
        let c = chars[i];
        match c {
            '\\' if i + 1 < n => {
                let e = chars[i + 1];
                i += 2;
                match e {
                    '<' | '>' | '\'' | '"' | '/' | ':' | '@' | '%' | '=' | '!' | ',' | ';'
                    | '_' | '`' | '\u{20}' => out.push(e),
                    'Z' => out.push_str("\\z"),
                    's' => out.push_str(PY_SPACE),
                    'S' => out.push_str(PY_NON_SPACE),
                    '1'..='9' => {
                        fancy = true;
                        out.push('\\');
                        out.push(e);
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                i = class(&chars, i, &mut out);
            }
            '{' => {
                // A quantifier {n}, {n,}, {n,m} or Python's {,m}; else a literal.
                let mut j = i + 1;
                let mut lo = String::new();
                while j < n && chars[j].is_ascii_digit() {
                    lo.push(chars[j]);
                    j += 1;
                }
                let mut hi: Option<String> = None;
                if j < n && chars[j] == ',' {
                    let mut h = String::new();
                    j += 1;
                    while j < n && chars[j].is_ascii_digit() {
                        h.push(chars[j]);
                        j += 1;
                    }
                    hi = Some(h);
                }
                let valid = j < n
                    && chars[j] == '}'
                    && (!lo.is_empty() || hi.as_ref().is_some_and(|h| !h.is_empty()));
                if valid && i > 0 {
                    out.push('{');
                    out.push_str(if lo.is_empty() { "0" } else { &lo });
                    if let Some(h) = hi {
                        out.push(',');
                        out.push_str(&h);
                    }
                    out.push('}');
                    i = j + 1;
                } else {
                    out.push_str("\\{");
                    i += 1;
                }
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            '(' if i + 1 < n && chars[i + 1] == '?' => {
                let rest: String = chars[i + 2..(i + 4).min(n)].iter().collect();
                if rest.starts_with('#') {
                    // comment: drop up to the closing paren
                    while i < n && chars[i] != ')' {
                        i += 1;
                    }
                    i += 1;
                } else if rest.starts_with('(') {
                    // conditional (?(name)...) or (?(1)...)
                    fancy = true;
                    let mut j = i + 3;
                    let mut name = String::new();
                    while j < n && chars[j] != ')' {
                        name.push(chars[j]);
                        j += 1;
                    }
                    if name.chars().all(|c| c.is_ascii_digit()) || name.starts_with('<') {
                        out.push_str("(?(");
                        out.push_str(&name);
                    } else {
                        out.push_str("(?(<");
                        out.push_str(&name);
                        out.push('>');
                    }
                    i = j;
                } else {
                    if rest.starts_with('=')
                        || rest.starts_with('!')
                        || rest.starts_with("<=")
                        || rest.starts_with("<!")
                        || rest.starts_with("P=")
                        || rest.starts_with('>')
                    {
                        fancy = true;
                    }
                    out.push_str("(?");
                    i += 2;
                }
            }
            '$' => {
                match dollar {
                    Dollar::Keep => out.push('$'),
                    Dollar::LineEnd => out.push_str("(?m:$)"),
                    Dollar::Lookahead => {
                        fancy = true;
                        out.push_str("(?=\\n?\\z)");
                    }
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    let fancy = fancy || needs_fancy(&out);
    Translated {
        pattern: out,
        fancy,
    }
}

/// Whether a Rust-syntax pattern uses something only fancy-regex has:
/// look-around, a back-reference, a conditional or an atomic group.
pub fn needs_fancy(p: &str) -> bool {
    let b = p.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if !in_class && i + 1 < b.len() && b[i + 1].is_ascii_digit() && b[i + 1] != b'0' {
                    return true;
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class && b[i + 1..].starts_with(b"?") => {
                let r = &b[i + 2..];
                if r.starts_with(b"=")
                    || r.starts_with(b"!")
                    || r.starts_with(b"<=")
                    || r.starts_with(b"<!")
                    || r.starts_with(b"P=")
                    || r.starts_with(b"(")
                    || r.starts_with(b">")
                {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Copies a character class starting at `chars[start] == '['`, escaping what
/// Rust would read as nested classes or set operations. Returns the index after it.
fn class(chars: &[char], start: usize, out: &mut String) -> usize {
    let n = chars.len();
    let mut i = start + 1;
    out.push('[');
    if i < n && chars[i] == '^' {
        out.push('^');
        i += 1;
    }
    if i < n && chars[i] == ']' {
        out.push_str("\\]");
        i += 1;
    }
    while i < n {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return i + 1;
            }
            '\\' if i + 1 < n => {
                let e = chars[i + 1];
                match e {
                    '<' | '>' | '\'' | '"' | '/' | ':' | '@' | '%' | '=' | '!' | ',' | ';'
                    | '_' | '`' => out.push(e),
                    // (a class in a class is a union in Rust)
                    's' => out.push_str(&PY_SPACE[1..PY_SPACE.len() - 1]),
                    'S' => out.push_str(PY_NON_SPACE),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                i += 2;
            }
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if i + 1 < n && chars[i + 1] == '-' => {
                out.push_str("\\-");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    // unterminated: let the engine report it
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(py: &str, hay: &str) -> Option<String> {
        let p = Pattern::new(py).unwrap();
        let mut c = p.caps();
        p.captures(hay, &mut c)
            .then(|| c.get(0).map(|(s, e)| hay[s..e].to_string()).unwrap())
    }

    #[test]
    fn dollar_as_the_text_it_runs_on_needs() {
        let t = |py, d| translate_for(py, d);
        assert_eq!(t(r"a\s$", Dollar::Keep).pattern, r"a[\s\x1C-\x1F]$");
        assert_eq!(t("a$", Dollar::LineEnd).pattern, "a(?m:$)");
        assert!(!t("a$", Dollar::LineEnd).fancy);
        let look = t("a$", Dollar::Lookahead);
        assert_eq!((look.pattern.as_str(), look.fancy), ("a(?=\\n?\\z)", true));
        // an escaped or class `$` is a literal; a MULTILINE pattern keeps its `$`
        assert_eq!(t(r"a\$[$]", Dollar::LineEnd).pattern, r"a\$[$]");
        assert_eq!(t("(?m)a$", Dollar::Lookahead).pattern, "(?m)a$");
        assert_eq!(t("(?im)a$", Dollar::LineEnd).pattern, "(?im)a$");
        // fail2ban's buffer: the line and a newline, which Python's `$`
        // matches before, and a trailing `\s` takes
        let p = Pattern::new_linear_for(r"^(?P<p>\d+)\s$", Dollar::LineEnd).unwrap();
        let mut c = p.caps();
        assert!(p.captures("80\n", &mut c) && c.get(1) == Some((0, 2)));
        assert!(!p.captures("80 x\n", &mut c));
        let p = Pattern::new_linear_for(r"^a$", Dollar::Lookahead).unwrap();
        assert!(p.captures("a\n", &mut c) && p.captures("a", &mut c));
        assert!(!p.captures("a\nb\n", &mut c) && !p.captures("a\n\n", &mut c));
    }

    #[test]
    fn classes_and_escapes() {
        assert_eq!(translate(r"[[x]").pattern, r"[\[x]");
        assert_eq!(translate(r"[^]a]").pattern, r"[^\]a]");
        assert_eq!(translate(r"[&&]").pattern, r"[\&\&]");
        assert_eq!(translate(r"\<HOST\>").pattern, "<HOST>");
        assert_eq!(translate(r"a{,3}").pattern, "a{0,3}");
        assert_eq!(translate(r"{DATE}x").pattern, r"\{DATE\}x");
        assert_eq!(translate(r"a\Z").pattern, r"a\z");
        assert_eq!(translate(r"a(?#note)b").pattern, "ab");
        assert_eq!(
            m(r"\(?(?:http|mod)_auth", "(mod_auth"),
            Some("(mod_auth".into())
        );
        assert_eq!(m(r"doesn\'t", "doesn't"), Some("doesn't".into()));
    }

    /// Python's `\s` also holds U+001C..U+001F (`str.isspace()`), which
    /// Unicode's White_Space does not: a lone one must not pass for `\S`.
    #[test]
    fn python_whitespace() {
        assert_eq!(m(r"a\sb", "a\x1cb"), Some("a\x1cb".into()));
        assert_eq!(m(r"a\Sb", "a\x1fb"), None);
        assert_eq!(m(r"^\S+$", "ab\u{a0}c"), None);
        assert_eq!(m(r"a[\s:]+b", "a:\x1d b"), Some("a:\x1d b".into()));
        assert_eq!(m(r"a[\S]b", "a\x1eb"), None);
        assert_eq!(m(r"a[^\S]b", "a\x1eb"), Some("a\x1eb".into()));
        assert_eq!(m(r"a[\S ]+b", "ax yb"), Some("ax yb".into()));
        // on fancy-regex too
        assert_eq!(m(r"(?<=a)\S+(?=b)", "a\x1cb"), None);
        assert_eq!(m(r"(?<=a)\S+(?=b)", "axyb"), Some("xy".into()));
    }

    #[test]
    fn inline_flags_become_local() {
        assert_eq!(translate("((?i)abc)d").pattern, "(?i:abc)d");
        assert_eq!(translate("(?:(?i)abc)d").pattern, "(?i:abc)d");
        assert_eq!(m("x((?i)abc)d", "xABCd"), Some("xABCd".into()));
        assert_eq!(m("x((?i)abc)d", "xABCD"), None);
    }

    #[test]
    fn engine_choice() {
        assert!(!Pattern::new(r"^a\d+ (?P<x>\S+)$").unwrap().is_fancy());
        assert!(Pattern::new(r"^a(?! from )").unwrap().is_fancy());
        assert!(Pattern::new(r"(?P<q>')x(?P=q)").unwrap().is_fancy());
    }

    #[test]
    fn conditionals_test_group_participation() {
        // fancy-regex would read (?(q)...) as a look-ahead for "q".
        let py = r"^(?:a|b(?P<q>'))x(?(q)'|)$";
        assert_eq!(m(py, "ax"), Some("ax".into()));
        assert_eq!(m(py, "b'x'"), Some("b'x'".into()));
        assert_eq!(m(py, "b'x"), None);
        assert_eq!(m(py, "ax'"), None);
        let py = r"^(?P<c>q)?(?(c)y|n)$";
        assert_eq!(m(py, "qy"), Some("qy".into()));
        assert_eq!(m(py, "n"), Some("n".into()));
        assert_eq!(m(py, "qn"), None);
    }

    #[test]
    fn captures_follow_backtracking_priority() {
        let p = Pattern::new(r"^(?P<u>.*?) from (?P<h>\S+)").unwrap();
        let mut c = p.caps();
        let hay = "root from x from 1.2.3.4";
        assert!(p.captures(hay, &mut c));
        let (s, e) = c.get(p.group("u").unwrap()).unwrap();
        assert_eq!(&hay[s..e], "root");
    }
}
