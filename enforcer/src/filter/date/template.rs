//! Owns one date template: building its regex from a `datepattern` the way
//! fail2ban's `DateTemplate.setRegex` does (word/line boundaries, `**`
//! markers, `{^LN-BEG}`, `{UNB}`, the date group), the special templates
//! (EPOCH, LEPOCH, `{EPOCH}` inside a pattern, TAI64N), and reading a time
//! out of a match.
use std::sync::OnceLock;

use super::DateError;
use super::memo::Extent;
use super::strptime::{self, Fields, Parsed};
use super::syslog;
use crate::filter::translate::{self, Caps, Engine, Pattern};

pub const LINE_BEGIN: u8 = 8;
pub const LINE_END: u8 = 4;
pub const WORD_BEGIN: u8 = 2;
pub const WORD_END: u8 = 1;

/// Python `(?=^|\b|\W)` / `(?=\b|\W|$)`: "not between two word characters",
/// which the regex crate spells without look-around.
const PY_BOUND_BEG: &str = r"(?=^|\b|\W)";
const PY_BOUND_END: &str = r"(?=\b|\W|$)";
/// The longest look-behind context of the built-in EPOCH ("audit(").
const EPOCH_CONTEXT: usize = "audit(".len();
const RS_BOUND: &str = r"(?:\b{start-half}|\b{end-half})";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordBegin {
    No,
    Yes,
    Start,
}

#[derive(Debug)]
enum Kind {
    /// strptime fields.
    Fields,
    Epoch {
        long: bool,
        group: usize,
    },
    Tai64n,
}

/// A compiled date template.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    /// The pattern it was built from (None for the built-in special ones).
    pub pattern: Option<String>,
    /// The Python-syntax regex (what fail2ban would compile).
    pub regex: String,
    pub flags: u8,
    pub weight: f64,
    kind: Kind,
    /// The built-in EPOCH: its three alternatives each hold the date.
    epoch_alts: bool,
    /// The regex, compiled by [`Template::check`] when a detector takes the
    /// template (a `{^LN-BEG}` detector holds only the anchored defaults).
    compiled: OnceLock<Result<Compiled, DateError>>,
}

#[derive(Debug)]
struct Compiled {
    re: Pattern,
    /// The group indices standing for Python's group 1 (one per expanded
    /// back-reference alternative).
    date_groups: Vec<usize>,
    /// (strptime key index, group index) of each field group.
    field_groups: Vec<(usize, usize)>,
    /// The DFA for [`super::memo`], built when first asked for.
    extent: OnceLock<Option<Extent>>,
    /// It is the line-anchored syslog template ([`super::syslog`]).
    syslog: bool,
}

/// A date found in a line.
#[derive(Debug, Clone, Copy)]
pub struct DateMatch {
    /// Whole match.
    pub start: usize,
    pub end: usize,
    /// The date text (Python's group 1).
    pub dstart: usize,
    pub dend: usize,
}

fn meta(p: &str) -> &'static Pattern {
    // Each meta regex is compiled once; they are fixed strings.
    macro_rules! once {
        ($($name:literal),*) => {{
            static CELLS: [OnceLock<Pattern>; 9] = [const { OnceLock::new() }; 9];
            let all = [$($name),*];
            let i = all.iter().position(|x| *x == p).expect("known meta regex");
            CELLS[i].get_or_init(|| Pattern::new(all[i]).expect("meta regex"))
        }};
    }
    once!(
        r"((?:^|(?!<\\))\(\?[a-z]+\))",
        r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)",
        r"(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$",
        r"(?<!(?:\(\?))(?<!\\)\((?!\?)",
        r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$",
        r"^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))",
        r"(?<![\\\|])(?:\$\)?)$",
        r"^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$",
        r"(?i)(?<!\\)\{L?EPOCH\}"
    )
}

const RE_GLOBALFLAGS: &str = r"((?:^|(?!<\\))\(\?[a-z]+\))";
const RE_NO_WRD_BOUND_BEG: &str = r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)";
const RE_NO_WRD_BOUND_END: &str = r"(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$";
const RE_GROUPED: &str = r"(?<!(?:\(\?))(?<!\\)\((?!\?)";
const RE_GROUP: &str = r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$";
const RE_LINE_BOUND_BEG: &str = r"^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))";
const RE_LINE_BOUND_END: &str = r"(?<![\\\|])(?:\$\)?)$";
const RE_DEL_WRD_BOUNDS: &str = r"^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$";
const RE_EPOCH_PATTERN: &str = r"(?i)(?<!\\)\{L?EPOCH\}";

fn find(re: &str, hay: &str) -> Option<(usize, usize, Caps)> {
    let p = meta(re);
    let mut c = p.caps();
    p.captures(hay, &mut c).then(|| {
        let (s, e) = c.get(0).expect("group 0");
        (s, e, c)
    })
}

/// Removes the `{UNB}`/`{^LN-BEG}` markers and the word boundaries fail2ban
/// adds, so a template can be embedded in a `{DATE}` pattern.
pub fn unbound_pattern(p: &str) -> String {
    let mut s = p.strip_prefix("{UNB}").unwrap_or(p);
    s = s.strip_prefix("{^LN-BEG}").unwrap_or(s);
    let s = s
        .strip_prefix(r"(?:^|\b|\W)")
        .or_else(|| s.strip_prefix(r"(^|\b|\W)"))
        .unwrap_or(s);
    s.strip_suffix(PY_BOUND_END).unwrap_or(s).to_string()
}

/// fail2ban's `DateTemplate.setRegex`: (final Python regex, flags, name).
fn set_regex(name: &str, regex: &str, wb: WordBegin, we: bool) -> (String, u8, String) {
    let mut name = name.to_string();
    let mut regex = regex.trim().to_string();
    let gf = find(RE_GLOBALFLAGS, &regex).map(|(s, e, _)| {
        let g = regex[s..e].to_string();
        regex.replace_range(s..e, "");
        g
    });
    let bound_begin = wb != WordBegin::No && find(RE_NO_WRD_BOUND_BEG, &regex).is_none();
    let bound_end = we && find(RE_NO_WRD_BOUND_END, &regex).is_none();
    if find(RE_GROUPED, &regex).is_none()
        && let Some((_, _, c)) = find(RE_GROUP, &regex)
    {
        let part = |i: usize| c.get(i).map_or("", |(s, e)| &regex[s..e]);
        regex = format!("{}({}){}", part(1), part(2), part(3));
    }
    let mut flags = 0;
    if bound_begin {
        if wb == WordBegin::Start {
            flags |= LINE_BEGIN;
            regex = format!(r"^(?:\W{{0,2}})?{regex}");
            if !name.starts_with("{^LN-BEG}") {
                name = format!("{{^LN-BEG}}{name}");
            }
        } else {
            flags |= WORD_BEGIN;
            regex = format!("{PY_BOUND_BEG}{regex}");
        }
    }
    if bound_end {
        flags |= WORD_END;
        regex.push_str(PY_BOUND_END);
    }
    if flags & LINE_BEGIN == 0 && find(RE_LINE_BOUND_BEG, &regex).is_some() {
        flags |= LINE_BEGIN;
    }
    if flags & LINE_END == 0 && find(RE_LINE_BOUND_END, &regex).is_some() {
        flags |= LINE_END;
    }
    // drop the ** markers (at most one at each end)
    for _ in 0..2 {
        if let Some((s, e, _)) = find(RE_DEL_WRD_BOUNDS, &regex) {
            let rep = regex[s..e].replace("**", "");
            regex.replace_range(s..e, &rep);
        }
    }
    if let Some(g) = gf {
        regex = format!("{g}{regex}");
    }
    (regex, flags, name)
}

/// Expands `(?P<n>[abc]) … (?P=n)` (a back-reference to a one-character
/// class, as the default templates use for separators) into alternatives,
/// so the template stays on the linear-time engine. Returns the regex and
/// the number of alternatives.
fn expand_class_backrefs(py: &str) -> (String, usize) {
    let Some(bpos) = py.find("(?P=") else {
        return (py.to_string(), 1);
    };
    let Some(bend) = py[bpos..].find(')') else {
        return (py.to_string(), 1);
    };
    let name = &py[bpos + 4..bpos + bend];
    let def = format!("(?P<{name}>[");
    let Some(dpos) = py.find(&def) else {
        return (py.to_string(), 1);
    };
    let cstart = dpos + def.len();
    let Some(cend) = py[cstart..].find("])") else {
        return (py.to_string(), 1);
    };
    let class = &py[cstart..cstart + cend];
    if class.contains('\\') || class.contains('^') || class.chars().count() > 8 {
        return (py.to_string(), 1);
    }
    let whole_def = &py[dpos..cstart + cend + 2];
    let backref = format!("(?P={name})");
    let alts: Vec<String> = class
        .chars()
        .map(|c| {
            let lit = if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            };
            py.replacen(whole_def, &format!("(?P<{name}>{lit})"), 1)
                .replace(&backref, &lit)
        })
        .collect();
    let n = alts.len();
    (format!("(?:{})", alts.join("|")), n)
}

/// Gives every repeated `(?P<name>` a unique `name__N` (the default
/// templates repeat fields across alternatives).
fn dedup_group_names(rs: &str) -> String {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut out = String::with_capacity(rs.len());
    let mut rest = rs;
    while let Some(p) = rest.find("(?P<") {
        out.push_str(&rest[..p + 4]);
        rest = &rest[p + 4..];
        let end = rest.find('>').unwrap_or(0);
        let name = &rest[..end];
        let n = seen.entry(name.to_string()).or_insert(0);
        *n += 1;
        if *n > 1 {
            out.push_str(&format!("{name}__{n}"));
        } else {
            out.push_str(name);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn compile(py: &str) -> Result<(Pattern, usize), DateError> {
    let (expanded, alts) = expand_class_backrefs(py);
    let t = translate::translate(&expanded);
    let pat = dedup_group_names(
        &t.pattern
            .replace(PY_BOUND_BEG, RS_BOUND)
            .replace(PY_BOUND_END, RS_BOUND),
    );
    let t = translate::Translated {
        fancy: translate::needs_fancy(&pat),
        pattern: pat,
    };
    let p = Pattern::from_translated(py, &t).map_err(|e| DateError(e.to_string()))?;
    Ok((p, alts))
}

impl Compiled {
    /// The field values of a match (the first group of a key that took part).
    fn fields<'a>(&self, line: &'a str, slots: &[Option<(usize, usize)>]) -> Fields<'a> {
        let mut f = Fields::default();
        for &(k, g) in &self.field_groups {
            if f.v[k].is_none()
                && let Some((s, e)) = slots.get(g).copied().flatten()
            {
                f.v[k] = Some(&line[s..e]);
            }
        }
        f
    }
}

impl Template {
    fn build(
        name: String,
        pattern: Option<String>,
        regex: String,
        flags: u8,
        kind: Kind,
    ) -> Result<Template, DateError> {
        Ok(Template {
            name,
            pattern,
            regex,
            flags,
            weight: 1.0,
            kind,
            epoch_alts: false,
            compiled: OnceLock::new(),
        })
    }

    fn compile(&self) -> Result<Compiled, DateError> {
        let (re, alts) = compile(&self.regex)?;
        let per_alt = (re.names.len() - 1) / alts.max(1);
        let date_groups = if self.epoch_alts {
            vec![1, 2, 3]
        } else {
            (0..alts).map(|k| 1 + k * per_alt).collect()
        };
        let mut field_groups = Vec::new();
        if let Kind::Fields = self.kind {
            for (i, n) in re.names.iter().enumerate() {
                if let Some(n) = n {
                    let base = n.split("__").next().unwrap_or(n);
                    if let Some(k) = strptime::key_index(base) {
                        field_groups.push((k, i));
                    }
                }
            }
        }
        let syslog = self.regex == syslog::ANCHORED
            && re.names.iter().map(Option::as_deref).eq(syslog::NAMES);
        Ok(Compiled {
            re,
            date_groups,
            field_groups,
            extent: OnceLock::new(),
            syslog,
        })
    }

    fn compiled(&self) -> Result<&Compiled, DateError> {
        self.compiled
            .get_or_init(|| self.compile())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Compiles the regex now: an error in a user's pattern is reported
    /// when the filter loads.
    pub fn check(&self) -> Result<(), DateError> {
        self.compiled().map(|_| ())
    }

    /// A template from a `datepattern` line (fail2ban's `_getPatternTemplate`).
    pub fn from_pattern(pattern: &str) -> Result<Template, DateError> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        if key.contains("EPOCH") {
            if find(RE_EPOCH_PATTERN, pattern).is_some() {
                return Self::epoch(Some(pattern), false, key.contains("LEPOCH"));
            }
            match key.as_str() {
                "EPOCH" => return Self::epoch(None, false, false),
                "{^LN-BEG}EPOCH" | "^EPOCH" => return Self::epoch(None, true, false),
                "LEPOCH" => return Self::epoch(None, false, true),
                "{^LN-BEG}LEPOCH" | "^LEPOCH" => return Self::epoch(None, true, true),
                _ => {}
            }
        }
        match key.as_str() {
            "TAI64N" => return Self::tai64n(WordBegin::No),
            "{^LN-BEG}TAI64N" | "^TAI64N" => return Self::tai64n(WordBegin::Start),
            _ => {}
        }
        Self::fields(pattern)
    }

    fn fields(pattern: &str) -> Result<Template, DateError> {
        let mut p = pattern;
        let (mut wb, mut we) = (WordBegin::Yes, true);
        if let Some(r) = p.strip_prefix("{UNB}") {
            p = r;
            wb = WordBegin::No;
            we = false;
        }
        if wb != WordBegin::No
            && let Some(r) = p.strip_prefix("{^LN-BEG}")
        {
            p = r;
            wb = WordBegin::Start;
        }
        let (mut regex, name) = strptime::expand_fields(p)?;
        if strptime::has_alpha_field(p) {
            regex = format!("(?iu){regex}");
        }
        let (regex, flags, name) = set_regex(&name, &regex, wb, we);
        Self::build(name, Some(pattern.to_string()), regex, flags, Kind::Fields)
    }

    fn epoch(pattern: Option<&str>, line_begin: bool, long: bool) -> Result<Template, DateError> {
        let value = if long {
            r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?"
        } else {
            r"\d{10,11}\b(?:\.\d{3,6})?"
        };
        let base = if long { "LongEpoch" } else { "Epoch" };
        if let Some(p) = pattern {
            let ep = meta(RE_EPOCH_PATTERN);
            let mut c = ep.caps();
            let mut regex = String::from("(");
            let mut rest = p;
            while ep.captures(rest, &mut c) {
                let (s, e) = c.get(0).expect("group 0");
                regex.push_str(&rest[..s]);
                regex.push_str(&format!("({value})"));
                rest = &rest[e..];
            }
            regex.push_str(rest);
            regex.push(')');
            let (regex, flags, name) = set_regex(p, &regex, WordBegin::Yes, true);
            return Self::build(
                name,
                Some(p.to_string()),
                regex,
                flags,
                Kind::Epoch { long, group: 2 },
            );
        }
        // The built-in forms: at line start, after "[" at line start, or
        // after "audit(". The look-behinds of fail2ban's pattern are spelt
        // as consumed context before the value group (see
        // [`Template::match_date`]). Its look-aheads (`]` after the "["
        // form, `:n)` after the audit one) constrain nothing: each sits in
        // a conditional whose other alternative matches the empty string,
        // so fail2ban takes "[1700000000 x" and "audit(1700000000.5" too.
        let (name, regex, flags) = if line_begin {
            (
                format!("{{^LN-BEG}}{base}"),
                format!(r"^(?:\W{{0,2}})?({value}){PY_BOUND_END}"),
                LINE_BEGIN | WORD_END,
            )
        } else {
            (
                base.to_string(),
                format!(r"(?:^({value})|^\[({value})|\baudit\(({value})){PY_BOUND_END}"),
                WORD_END,
            )
        };
        let mut t = Self::build(name, None, regex, flags, Kind::Epoch { long, group: 1 })?;
        t.epoch_alts = !line_begin;
        Ok(t)
    }

    fn tai64n(wb: WordBegin) -> Result<Template, DateError> {
        let (regex, flags, name) = set_regex("TAI64N", "@[0-9a-f]{24}", wb, true);
        Self::build(name, None, regex, flags, Kind::Tai64n)
    }

    /// The `{^LN-BEG}` form of a template (fail2ban's `_getAnchoredTemplate`).
    pub fn anchored(&self) -> Result<Template, DateError> {
        self.wrapped(|s| format!("{{^LN-BEG}}{s}"))
    }

    /// This template embedded by `wrap` (used for `{DATE}` and anchoring).
    pub fn wrapped(&self, wrap: impl Fn(&str) -> String) -> Result<Template, DateError> {
        match &self.pattern {
            Some(p) => Self::from_pattern(&wrap(p)),
            None => Self::from_pattern(&wrap(&self.name)),
        }
    }

    /// Searches `line[..endpos]` from `pos`.
    pub fn match_date(
        &self,
        line: &str,
        pos: usize,
        endpos: usize,
        caps: &mut Caps,
    ) -> Option<DateMatch> {
        let c = self.compiled().ok()?;
        let hay = &line[..endpos];
        // The built-in EPOCH's look-behind context may lie before `pos`
        // (as Python's `search(line, pos, endpos)` sees it): its search
        // starts that much earlier and takes the first date from `pos` on.
        let mut at = pos;
        if self.epoch_alts {
            at = pos.saturating_sub(EPOCH_CONTEXT);
            while !line.is_char_boundary(at) {
                at -= 1;
            }
        }
        loop {
            if !c.re.captures_at(hay, at, caps) {
                return None;
            }
            let (start, end) = caps.get(0)?;
            let (dstart, dend) = c
                .date_groups
                .iter()
                .find_map(|&g| caps.get(g))
                .unwrap_or((start, end));
            if !self.epoch_alts {
                return Some(DateMatch {
                    start,
                    end,
                    dstart,
                    dend,
                });
            }
            if dstart >= pos {
                // (the context is look-behind in fail2ban: not in the match)
                return Some(DateMatch {
                    start: dstart,
                    end: dend,
                    dstart,
                    dend,
                });
            }
            at = start + line[start..].chars().next().map_or(1, char::len_utf8);
            if at > hay.len() {
                return None;
            }
        }
    }

    /// [`Template::match_date`] from the line's start, where the template
    /// is the syslog one and the stamp has its common shape (None: the
    /// regex must tell; see [`super::syslog`]).
    pub fn match_syslog(&self, line: &str, endpos: usize, caps: &mut Caps) -> Option<DateMatch> {
        let c = self.compiled().ok().filter(|c| c.syslog)?;
        c.re.own_caps(caps);
        let end = syslog::match_anchored(&line.as_bytes()[..endpos], &mut caps.slots)?;
        Some(DateMatch {
            start: 0,
            end,
            dstart: 0,
            dend: end,
        })
    }

    /// The time of a match, from its capture `slots` (None when the fields make no date).
    pub fn get_date(
        &self,
        line: &str,
        slots: &[Option<(usize, usize)>],
        now: f64,
        default_tz: Option<i32>,
    ) -> Option<f64> {
        let get = |g: usize| slots.get(g).copied().flatten();
        let c = self.compiled().ok()?;
        match &self.kind {
            Kind::Fields => {
                let f = c.fields(line, slots);
                strptime::to_epoch(&f, now, default_tz)
            }
            Kind::Epoch { long, group } => {
                let one = [*group];
                let groups: &[usize] = if *group == 1 { &c.date_groups } else { &one };
                let (s, e) = groups.iter().find_map(|&g| get(g))?;
                let v = &line[s..e];
                let mut t: f64 = v.parse().ok()?;
                if *long && v.len() >= 13 {
                    t /= if v.len() >= 16 && !v.contains('.') {
                        1e6
                    } else {
                        1e3
                    };
                }
                Some(t)
            }
            Kind::Tai64n => {
                let (s, e) = c.date_groups.iter().find_map(|&g| get(g))?;
                let v = &line[s..e];
                i64::from_str_radix(v.get(2..17)?, 16)
                    .ok()
                    .map(|x| x as f64)
            }
        }
    }

    /// Fresh capture buffers (empty when the regex does not compile,
    /// which [`Template::check`] reports).
    pub fn caps(&self) -> Caps {
        self.compiled().map(|c| c.re.caps()).unwrap_or_default()
    }

    /// The DFA that tells how much of a line decides a search from its
    /// start (None when the regex is not start-anchored, or not on the
    /// regex crate, whose semantics the DFA shares).
    pub fn extent(&self) -> Option<&Extent> {
        let c = self.compiled().ok()?;
        c.extent
            .get_or_init(|| match &c.re.engine {
                Engine::Fast(r) => Extent::new(r.as_str()),
                _ => None,
            })
            .as_ref()
    }

    /// Whether the template reads strptime fields (its time comes from
    /// [`strptime::Parsed`]).
    pub fn has_fields(&self) -> bool {
        matches!(self.kind, Kind::Fields)
    }

    /// The strptime fields of a match, parsed (None when they make no date
    /// whatever the current time, or the template has no fields).
    pub fn parse(&self, line: &str, slots: &[Option<(usize, usize)>]) -> Option<Parsed> {
        if !self.has_fields() {
            return None;
        }
        strptime::parse(&self.compiled().ok()?.fields(line, slots))
    }

    /// Whether the template needs fancy-regex.
    pub fn is_fancy(&self) -> bool {
        self.compiled().is_ok_and(|c| c.re.is_fancy())
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
