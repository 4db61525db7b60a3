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
use regex::CaptureLocations;

use super::linear::Linear;
use super::tail::{Tail, TailLocs};

/// Backtracking steps fancy-regex may take for one search.
pub const BACKTRACK_LIMIT: usize = 200_000;

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

/// Translates a Python pattern for the Rust engines.
pub fn translate(py: &str) -> Translated {
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

/// A compiled pattern on whichever engine it needs.
#[derive(Debug)]
pub enum Engine {
    Fast(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
    /// A fancy pattern rewritten for the regex crate with post-checks;
    /// fancy-regex runs only when a check fails (see [`super::linear`]).
    Linear(Box<Linear>, Box<fancy_regex::Regex>),
}

/// A compiled pattern with its group names and a reusable capture buffer.
#[derive(Debug)]
pub struct Pattern {
    pub engine: Engine,
    /// Group index -> name (None for unnamed and for group 0).
    pub names: Vec<Option<String>>,
    /// The Python source, for messages.
    pub source: String,
    /// The same pattern for ASCII haystacks (see [`Pattern::captures_at`]).
    ascii: Option<regex::bytes::Regex>,
    /// The `(?P<x>.+)$` shortcut (see [`super::tail`]).
    tail: Option<Tail>,
    id: usize,
}

fn next_id() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Capture slots of one match: `slots[i]` is group `i`'s byte span.
#[derive(Debug, Default, Clone)]
pub struct Caps {
    pub slots: Vec<Option<(usize, usize)>>,
    locs: Option<CaptureLocations>,
    alocs: Option<regex::bytes::CaptureLocations>,
    tlocs: Option<TailLocs>,
    /// The pattern the buffers were made for (locations are per regex).
    owner: usize,
}

impl Caps {
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.slots.get(i).copied().flatten()
    }
}

impl Pattern {
    /// Compiles a Python pattern (already tag-expanded).
    pub fn new(py: &str) -> Result<Pattern, PatternError> {
        let t = translate(py);
        Self::from_translated(py, &t)
    }

    pub fn from_translated(py: &str, t: &Translated) -> Result<Pattern, PatternError> {
        let err = |reason: String| PatternError {
            pattern: py.to_string(),
            reason,
        };
        let engine = if t.fancy {
            Engine::Fancy(Box::new(fancy(&t.pattern).map_err(err)?))
        } else {
            match regex::RegexBuilder::new(&t.pattern)
                .size_limit(64 << 20)
                .dfa_size_limit(16 << 20)
                .build()
            {
                Ok(r) => Engine::Fast(r),
                // Constructs only fancy-regex knows (e.g. an escape the
                // regex crate refuses) still get a chance there.
                Err(e) => match fancy(&t.pattern) {
                    Ok(f) => Engine::Fancy(Box::new(f)),
                    Err(_) => return Err(err(e.to_string())),
                },
            }
        };
        let names = match &engine {
            Engine::Fast(r) => r.capture_names().map(|n| n.map(str::to_string)).collect(),
            Engine::Fancy(r) => r.capture_names().map(|n| n.map(str::to_string)).collect(),
            Engine::Linear(l, _) => l.names.clone(),
        };
        let ascii = match &engine {
            Engine::Fast(r) => ascii_build(r.as_str()),
            _ => None,
        };
        let tail = match &engine {
            Engine::Fast(r) => Tail::new(r.as_str(), names.len()),
            _ => None,
        };
        Ok(Pattern {
            engine,
            names,
            source: py.to_string(),
            ascii,
            tail,
            id: next_id(),
        })
    }

    /// Compiles a Python pattern like [`Pattern::new`], but a pattern that
    /// needs fancy-regex runs on the regex crate when [`Linear`] can rewrite
    /// it exactly (its group list then has extra unnamed entries: markers,
    /// and second copies of a group under the same name).
    pub fn new_linear(py: &str) -> Result<Pattern, PatternError> {
        let t = translate(py);
        let mut p = Self::from_translated(py, &t)?;
        if let Engine::Fancy(_) = &p.engine
            && let Some(lin) = Linear::new(&t.pattern)
        {
            let Engine::Fancy(f) = std::mem::replace(&mut p.engine, Engine::Fast(lin.re.clone()))
            else {
                unreachable!()
            };
            p.names = lin.names.clone();
            p.ascii = ascii_build(lin.re.as_str());
            p.engine = Engine::Linear(Box::new(lin), f);
        }
        Ok(p)
    }

    pub fn is_fancy(&self) -> bool {
        matches!(self.engine, Engine::Fancy(_))
    }

    /// Whether captures use the `(?P<x>.+)$` shortcut.
    pub fn has_tail(&self) -> bool {
        self.tail.is_some()
    }

    /// Whether the pattern runs on the regex crate with post-checks.
    pub fn is_linear(&self) -> bool {
        matches!(self.engine, Engine::Linear(..))
    }

    /// Index of a named group.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.group(name).is_some()
    }

    /// Fresh capture buffer for this pattern.
    pub fn caps(&self) -> Caps {
        Caps {
            slots: vec![None; self.names.len()],
            locs: match &self.engine {
                Engine::Fast(r) => Some(r.capture_locations()),
                Engine::Linear(l, _) => Some(l.re.capture_locations()),
                Engine::Fancy(_) => None,
            },
            alocs: self.ascii.as_ref().map(|a| a.capture_locations()),
            tlocs: self.tail.as_ref().map(Tail::locs),
            owner: self.id,
        }
    }

    /// Searches `hay` from `start` (look-behind and `^` see the text before it).
    pub fn captures_at(&self, hay: &str, start: usize, caps: &mut Caps) -> bool {
        if caps.owner != self.id {
            *caps = self.caps();
        }
        if let (Some(t), Some(tl), 0) = (&self.tail, caps.tlocs.as_mut(), start)
            && let Some(m) = t.captures(hay, tl, &mut caps.slots)
        {
            return m;
        }
        // An ASCII line runs on the ASCII build of the pattern: on ASCII
        // text it matches what the Unicode one does, with far smaller
        // automata (`\S`, `.`, `\w` are one byte class instead of UTF-8
        // sequences).
        if let (Some(a), Some(al)) = (&self.ascii, caps.alocs.as_mut())
            && hay.is_ascii()
        {
            if a.captures_read_at(al, hay.as_bytes(), start).is_none() {
                return false;
            }
            let ok = match &self.engine {
                Engine::Linear(l, _) => l.passes(hay, |i| al.get(i)),
                _ => true,
            };
            if ok {
                for (i, s) in caps.slots.iter_mut().enumerate() {
                    *s = al.get(i);
                }
                return true;
            }
            if let Engine::Linear(l, f) = &self.engine {
                return fallback(l, f, hay, start, &mut caps.slots);
            }
        }
        match &self.engine {
            Engine::Fast(r) => {
                let locs = caps.locs.as_mut().expect("fast engine locations");
                if r.captures_read_at(locs, hay, start).is_none() {
                    return false;
                }
                for (i, s) in caps.slots.iter_mut().enumerate() {
                    *s = locs.get(i);
                }
                true
            }
            Engine::Fancy(r) => match r.captures_from_pos(hay, start) {
                Ok(Some(c)) => {
                    for (i, s) in caps.slots.iter_mut().enumerate() {
                        *s = c.get(i).map(|m| (m.start(), m.end()));
                    }
                    true
                }
                // Ok(None): no match; Err: backtrack limit hit, counts as no match.
                _ => false,
            },
            Engine::Linear(l, f) => {
                let locs = caps.locs.as_mut().expect("linear engine locations");
                if l.re.captures_read_at(locs, hay, start).is_none() {
                    return false;
                }
                if l.passes(hay, |i| locs.get(i)) {
                    for (i, s) in caps.slots.iter_mut().enumerate() {
                        *s = locs.get(i);
                    }
                    return true;
                }
                fallback(l, f, hay, start, &mut caps.slots)
            }
        }
    }

    pub fn captures(&self, hay: &str, caps: &mut Caps) -> bool {
        self.captures_at(hay, 0, caps)
    }

    pub fn is_match(&self, hay: &str) -> bool {
        match &self.engine {
            Engine::Fast(r) => r.is_match(hay),
            Engine::Fancy(r) => r.is_match(hay).unwrap_or(false),
            Engine::Linear(l, _) => l.re.is_match(hay) && self.captures(hay, &mut self.caps()),
        }
    }
}

/// A check of a rewritten pattern failed: the exact engine decides, its
/// groups mapped onto the rewritten pattern's.
fn fallback(
    l: &Linear,
    f: &fancy_regex::Regex,
    hay: &str,
    start: usize,
    slots: &mut [Option<(usize, usize)>],
) -> bool {
    let Ok(Some(c)) = f.captures_from_pos(hay, start) else {
        return false;
    };
    slots.iter_mut().for_each(|s| *s = None);
    for (i, &j) in l.fmap.iter().enumerate() {
        if let (Some(s), Some(m)) = (slots.get_mut(j), c.get(i)) {
            *s = Some((m.start(), m.end()));
        }
    }
    true
}

/// The pattern built for ASCII haystacks, when it builds (a class with
/// non-ASCII members does not).
pub fn ascii_build(p: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(p)
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .ok()
}

fn fancy(p: &str) -> Result<fancy_regex::Regex, String> {
    fancy_regex::RegexBuilder::new(p)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(64 << 20)
        .delegate_dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| e.to_string())
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
