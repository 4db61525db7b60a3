//! Owns [`Pattern`]: a translated pattern compiled on the engine it needs
//! (`regex`, `regex` plus post-checks via [`super::linear`], or
//! `fancy-regex` with a backtrack limit), its ASCII build and its
//! `(?P<x>.+)$` shortcut, and the reusable capture buffers ([`Caps`]).
use regex::CaptureLocations;

use super::linear::Linear;
use super::plan::{Plan, PlanCaches};
use super::tail::{Tail, TailLocs};
use super::translate::{BACKTRACK_LIMIT, Dollar, PatternError, Translated, translate_for};

/// A compiled pattern on whichever engine it needs.
#[derive(Debug)]
pub enum Engine {
    Fast(Unicode),
    Fancy(Box<fancy_regex::Regex>),
    /// A fancy pattern rewritten for the regex crate with post-checks;
    /// fancy-regex runs only when a check fails (see [`super::linear`]).
    Linear(Box<Linear>, Box<Fallback>),
}

/// The exact engine behind a [`Linear`] rewrite, compiled when a check
/// first fails (most logs never need it; it was a sixth of a filter's
/// start-up). [`Linear::new`] has parsed the pattern with fancy-regex's
/// parser already.
#[derive(Debug)]
pub struct Fallback {
    src: String,
    re: std::sync::OnceLock<Option<fancy_regex::Regex>>,
}

impl Fallback {
    fn new(src: &str) -> Fallback {
        Fallback {
            src: src.to_string(),
            re: std::sync::OnceLock::new(),
        }
    }

    /// The compiled regex (None: it does not build though it parsed, as
    /// over a size limit: logged once, the checks' verdict then stands).
    fn get(&self) -> Option<&fancy_regex::Regex> {
        self.re
            .get_or_init(|| {
                fancy(&self.src)
                    .map_err(|e| {
                        log::error!("pattern {:?}: fancy-regex build failed: {e}", self.src)
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// A compiled pattern with its group names and a reusable capture buffer.
#[derive(Debug)]
pub struct Pattern {
    pub engine: Engine,
    /// Group index -> name (None for unnamed and for group 0).
    pub names: Vec<Option<String>>,
    /// The Python source, for messages.
    pub source: String,
    /// How its `$` was translated (see [`Pattern::rust_source`]).
    dollar: Dollar,
    /// The same pattern for ASCII haystacks (see [`Pattern::captures_at`]).
    ascii: Option<regex::bytes::Regex>,
    /// The `(?P<x>.+)$` shortcut (see [`super::tail`]).
    tail: Option<Tail>,
    /// Groups by DFA scans on ASCII haystacks (see [`super::plan`]).
    plan: Option<Plan>,
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
    plan: Option<PlanCaches>,
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
        let t = translate_for(py, Dollar::Keep);
        Self::from_translated(py, &t)
    }

    /// The pattern as the Rust engines see it (translated).
    pub fn rust_source(&self) -> String {
        translate_for(&self.source, self.dollar).pattern
    }

    pub fn from_translated(py: &str, t: &Translated) -> Result<Pattern, PatternError> {
        Self::from_translated_for(py, t, Dollar::Keep)
    }

    fn from_translated_for(
        py: &str,
        t: &Translated,
        dollar: Dollar,
    ) -> Result<Pattern, PatternError> {
        let err = |reason: String| PatternError {
            pattern: py.to_string(),
            reason,
        };
        // The ASCII build first: when it builds, the Unicode one is only
        // compiled when a non-ASCII text comes (most logs never have one;
        // it cost 4x the ASCII build at start-up).
        let mut ascii = None;
        let engine = if t.fancy {
            Engine::Fancy(Box::new(fancy(&t.pattern).map_err(err)?))
        } else if let Some(a) = ascii_build(&t.pattern) {
            ascii = Some(a);
            Engine::Fast(Unicode::pending(&t.pattern))
        } else {
            match unicode_build(&t.pattern) {
                Ok(r) => Engine::Fast(Unicode::ready(r)),
                // Constructs only fancy-regex knows (e.g. an escape the
                // regex crate refuses) still get a chance there.
                Err(e) => match fancy(&t.pattern) {
                    Ok(f) => Engine::Fancy(Box::new(f)),
                    Err(_) => return Err(err(e.to_string())),
                },
            }
        };
        let names = match (&engine, &ascii) {
            (_, Some(a)) => a.capture_names().map(|n| n.map(str::to_string)).collect(),
            (Engine::Fast(r), None) => r
                .get()
                .map(|r| r.capture_names().map(|n| n.map(str::to_string)).collect())
                .unwrap_or_default(),
            (Engine::Fancy(r), None) => r.capture_names().map(|n| n.map(str::to_string)).collect(),
            (Engine::Linear(l, _), None) => l.names.clone(),
        };
        let tail = match &engine {
            Engine::Fast(r) => Tail::new(r.as_str(), names.len()),
            _ => None,
        };
        let plan = match (&engine, &ascii, &tail) {
            (Engine::Fast(r), Some(_), None) => Plan::new(r.as_str(), names.len()),
            _ => None,
        };
        Ok(Pattern {
            engine,
            names,
            source: py.to_string(),
            dollar,
            ascii,
            tail,
            plan,
            id: next_id(),
        })
    }

    /// Compiles a Python pattern like [`Pattern::new`], but a pattern that
    /// needs fancy-regex runs on the regex crate when [`Linear`] can rewrite
    /// it exactly (its group list then has extra unnamed entries: markers,
    /// and second copies of a group under the same name).
    pub fn new_linear(py: &str) -> Result<Pattern, PatternError> {
        Self::new_linear_for(py, Dollar::Keep)
    }

    /// [`Pattern::new_linear`] with the `$` translated as `dollar` says.
    pub fn new_linear_for(py: &str, dollar: Dollar) -> Result<Pattern, PatternError> {
        let t = translate_for(py, dollar);
        if t.fancy
            && let Some(lin) = Linear::new(&t.pattern)
        {
            let ascii = ascii_build(lin.re.as_str());
            // Without an ASCII build, every text runs on the Unicode one:
            // it must build now.
            if ascii.is_some() || lin.re.get().is_some() {
                let names = lin.names.clone();
                let plan = match &ascii {
                    Some(_) => Plan::new(lin.re.as_str(), names.len()),
                    None => None,
                };
                return Ok(Pattern {
                    engine: Engine::Linear(Box::new(lin), Box::new(Fallback::new(&t.pattern))),
                    names,
                    source: py.to_string(),
                    dollar,
                    ascii,
                    tail: None,
                    plan,
                    id: next_id(),
                });
            }
        }
        Self::from_translated_for(py, &t, dollar)
    }

    /// For a rewritten pattern: whether its Unicode build and its exact
    /// engine are compiled yet (for tests).
    #[cfg(test)]
    pub(crate) fn linear_built(&self) -> Option<(bool, bool)> {
        match &self.engine {
            Engine::Linear(l, f) => Some((l.re.is_built(), f.re.get().is_some())),
            _ => None,
        }
    }

    /// The plan and the ASCII build it stands in for (for tests).
    #[cfg(test)]
    pub(crate) fn plan_parts(&self) -> Option<(&Plan, &regex::bytes::Regex)> {
        Some((self.plan.as_ref()?, self.ascii.as_ref()?))
    }

    /// The source of the ASCII build (what [`Pattern::captures_at`] runs on
    /// ASCII text), when it has one.
    pub fn ascii_source(&self) -> Option<&str> {
        self.ascii.as_ref().map(regex::bytes::Regex::as_str)
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

    /// Makes `caps` this pattern's buffers, unless they are already.
    pub fn own_caps(&self, caps: &mut Caps) {
        if caps.owner != self.id {
            *caps = self.caps();
        }
    }

    /// Fresh capture buffer for this pattern.
    pub fn caps(&self) -> Caps {
        Caps {
            slots: vec![None; self.names.len()],
            locs: match &self.engine {
                // made when the Unicode build is first needed
                Engine::Fast(_) | Engine::Fancy(_) | Engine::Linear(..) => None,
            },
            alocs: self.ascii.as_ref().map(|a| a.capture_locations()),
            tlocs: self.tail.as_ref().map(Tail::locs),
            plan: self.plan.as_ref().map(Plan::caches),
            owner: self.id,
        }
    }

    /// Searches `hay` from `start` (look-behind and `^` see the text before it).
    pub fn captures_at(&self, hay: &str, start: usize, caps: &mut Caps) -> bool {
        self.own_caps(caps);
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
            let b = hay.as_bytes();
            // An anchored pattern's plan runs without a search first: the
            // caller mostly knows it matches (see [`super::prefilter::Which`]);
            // where it does not, the plan mostly fails in the first bytes.
            let planned = match (&self.plan, caps.plan.as_mut()) {
                (Some(p), Some(pc)) if start == 0 && p.is_anchored() => {
                    p.captures_anchored(b, pc, &mut caps.slots).is_some()
                }
                (Some(p), Some(pc)) => {
                    let Some(m) = a.find_at(b, start) else {
                        return false;
                    };
                    p.captures(b, (m.start(), m.end()), pc, &mut caps.slots)
                        .is_some()
                }
                _ => false,
            };
            if !planned {
                if a.captures_read_at(al, b, start).is_none() {
                    return false;
                }
                for (i, s) in caps.slots.iter_mut().enumerate() {
                    *s = al.get(i);
                }
            }
            let ok = match &self.engine {
                Engine::Linear(l, _) => l.passes(hay, |i| caps.slots.get(i).copied().flatten()),
                _ => true,
            };
            if ok {
                return true;
            }
            if let Engine::Linear(l, f) = &self.engine {
                return fallback(l, f, hay, start, &mut caps.slots);
            }
        }
        match &self.engine {
            Engine::Fast(r) => {
                let Some(r) = r.get() else {
                    return false;
                };
                let locs = caps.locs.get_or_insert_with(|| r.capture_locations());
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
                let Some(r) = l.re.get() else {
                    return fallback(l, f, hay, start, &mut caps.slots);
                };
                let locs = caps.locs.get_or_insert_with(|| r.capture_locations());
                if r.captures_read_at(locs, hay, start).is_none() {
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
            Engine::Fast(r) => r.get().is_some_and(|r| r.is_match(hay)),
            Engine::Fancy(r) => r.is_match(hay).unwrap_or(false),
            Engine::Linear(l, _) => {
                l.re.get().is_none_or(|r| r.is_match(hay)) && self.captures(hay, &mut self.caps())
            }
        }
    }
}

/// A check of a rewritten pattern failed: the exact engine decides, its
/// groups mapped onto the rewritten pattern's.
fn fallback(
    l: &Linear,
    f: &Fallback,
    hay: &str,
    start: usize,
    slots: &mut [Option<(usize, usize)>],
) -> bool {
    let Some(f) = f.get() else {
        return false;
    };
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

/// A pattern's Unicode build, compiled when first needed.
#[derive(Debug)]
pub struct Unicode {
    src: String,
    re: std::sync::OnceLock<Option<regex::Regex>>,
}

impl Unicode {
    fn ready(r: regex::Regex) -> Unicode {
        let src = r.as_str().to_string();
        Unicode {
            src,
            re: Some(r).into(),
        }
    }

    pub(super) fn pending(src: &str) -> Unicode {
        Unicode {
            src: src.to_string(),
            re: std::sync::OnceLock::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.re.get().is_some()
    }

    /// The pattern in regex-crate syntax.
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// The compiled regex (None: it does not build though its ASCII build
    /// did, e.g. over the size limit: logged once, non-ASCII text then
    /// does not match).
    pub fn get(&self) -> Option<&regex::Regex> {
        self.re
            .get_or_init(|| {
                unicode_build(&self.src)
                    .map_err(|e| {
                        log::error!("pattern {:?}: its Unicode build failed: {e}", self.src)
                    })
                    .ok()
            })
            .as_ref()
    }
}

fn unicode_build(p: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(p)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
}

/// The syntax of the ASCII build ([`ascii_build`]), for automata built
/// beside it from the same source (plans, prefregex splits, the set of
/// failregexes).
pub fn ascii_syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// Calls `f` on every capture group in `h`, outermost first, in the
/// pattern's order.
pub fn for_each_capture(
    h: &regex_syntax::hir::Hir,
    f: &mut impl FnMut(&regex_syntax::hir::Capture),
) {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Capture(c) => {
            f(c);
            for_each_capture(&c.sub, f);
        }
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            v.iter().for_each(|x| for_each_capture(x, f))
        }
        HirKind::Repetition(r) => for_each_capture(&r.sub, f),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
    }
}

/// Whether group `name` of `p` can take a newline: a class or literal in it
/// holds `\n` (true too when regex-syntax cannot read the pattern).
pub fn group_may_take_newline(p: &Pattern, name: &str) -> bool {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn takes(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Literal(l) => l.0.contains(&b'\n'),
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .any(|r| (r.start()..=r.end()).contains(&'\n')),
            HirKind::Class(Class::Bytes(c)) => c
                .ranges()
                .iter()
                .any(|r| (r.start()..=r.end()).contains(&b'\n')),
            HirKind::Capture(c) => takes(&c.sub),
            HirKind::Repetition(r) => takes(&r.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(takes),
            HirKind::Empty | HirKind::Look(_) => false,
        }
    }
    let Ok(hir) = regex_syntax::parse(&p.rust_source()) else {
        return true;
    };
    let mut found = false;
    for_each_capture(&hir, &mut |c| {
        found |= c.name.as_deref() == Some(name) && takes(&c.sub);
    });
    found
}

/// Whether every match of `h` starts at the text's start (`^`, not
/// `(?m)^`).
pub fn starts_at_text_start(h: &regex_syntax::hir::Hir) -> bool {
    h.properties()
        .look_set_prefix()
        .contains(regex_syntax::hir::Look::Start)
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
