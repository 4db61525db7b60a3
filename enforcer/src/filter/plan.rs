//! Owns [`Plan`]: a pattern's capture groups found by anchored lazy-DFA
//! scans instead of a capture engine, for ASCII haystacks. The capture
//! engine (a bounded backtracker over the whole NFA) was most of the cost
//! of a failregex hit.
//!
//! A plan walks the pattern's top-level structure: a concatenation is run
//! part by part; a part without groups is compared (a literal, `^`, `$`)
//! or scanned by its anchored DFA; a group spans what its inner part
//! took; an alternation takes the first branch that matches (a branch
//! that needs a literal the rest of the text lacks is passed over unrun),
//! a greedy `X?` takes X when X matches; a lazy `(?P<g>C*?)` (C one byte
//! class) ends where the rest of its concatenation first matches, a greedy
//! `(?P<g>C*)` at the last place (from the farthest C reaches down) where
//! the rest matches. An anchored pattern's plan needs no search for its
//! match first ([`Plan::captures_anchored`]).
//!
//! Exact by the backtracking order: the first match of a pattern is the
//! first leaf of the tree of choices (first part's paths in priority
//! order, then the next part's from where each ends, ...). A leftmost-first
//! DFA scan gives the end of a part's first path, so when every part's
//! first path leads on to a match of the whole, that is the first leaf,
//! groups included. Whenever a step finds nothing (the first path of a
//! part would have to be given up for a later one), or a DFA gives up, the
//! plan returns None and the capture engine decides. Every step is a scan
//! or a comparison bounded by the text's length, a greedy group's at most
//! `GREEDY_TRIES` times.
mod scan;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, meta};
use regex_syntax::hir::{Class, Hir, HirKind};

use super::pattern::{ascii_syntax, for_each_capture, starts_at_text_start};
pub(crate) use scan::{First, scan_from};

/// Cap of each DFA's cache: beyond it the DFA gives up (and the capture
/// engine decides).
const CACHE: usize = 1 << 18;

#[derive(Debug)]
enum Node {
    /// No groups inside: one scan of `dfas[i]`.
    Plain(usize),
    /// A literal: compared, no scan.
    Lit(Box<[u8]>),
    /// `^` (not `(?m)^`): here only at the text's start.
    AtStart,
    /// `$` (not `(?m)$`): here only at the text's end.
    AtEnd,
    /// `(?m)$`: here at the text's end or before a newline.
    AtLineEnd,
    /// An empty group (a marker): matches here, spans nothing.
    Mark(usize),
    Group(usize, Box<Node>),
    Seq(Vec<Step>),
    /// Branches, each with the DFA that tells whether it matches here and
    /// the groups it holds.
    Alt(Vec<Branch>),
    /// A greedy `X?` whose X holds groups (as a branch).
    Opt(Box<Branch>),
}

/// A part of a concatenation: a node, or a group of one byte class whose
/// end depends on what follows it.
#[derive(Debug)]
enum Step {
    Node(Node),
    /// A lazy `(?P<g>C*?)` (or `C+?`): the group ends where `rest` (the
    /// unanchored regex of what follows) first matches.
    Lazy {
        run: ClassRun,
        rest: usize,
        /// `rest` ends in `\n?\z` for the pattern's final `(?m)$` (see
        /// [`end_anchored`]): it holds only while the text has no newline
        /// before its last byte.
        nl_end: bool,
    },
    /// A greedy `(?P<g>C*)` (or `C+`, `C{n,}`): the group ends at the last
    /// place, from the farthest C reaches down, where `rest` (the DFA of
    /// what follows) matches.
    Greedy {
        run: ClassRun,
        rest: usize,
        /// What `rest` starts with (only places that start so are tried).
        lit: Vec<u8>,
    },
}

/// A group (or groups around one another) over a run of one byte class.
#[derive(Debug)]
struct ClassRun {
    slots: Vec<usize>,
    class: Box<[bool; 256]>,
    min: usize,
}

/// A part that may not match here (a branch, an optional part).
#[derive(Debug)]
struct Branch {
    /// Its DFA: whether it matches here at all (None: its plan fails only
    /// where it does not match, see [`Node::exact`]).
    probe: Option<usize>,
    /// A literal every match of it holds and some later branch's need not
    /// (a distributed `(?(g): |…)` leaves `: ` in one branch only): where
    /// the rest of the text lacks it, the branch cannot match there.
    needs: Option<Needle>,
    node: Node,
    /// The groups inside (cleared when its plan does not get through).
    groups: Vec<usize>,
}

/// `hir` with a final `(?m)$` as `\n?\z`, and whether it was rewritten.
/// A regex that ends in `\z` is searched from the end backwards (the meta
/// regex's reverse-anchored strategy), one pass instead of two. The two
/// accept the same texts where no newline comes before the last byte: a
/// filter's line and its newline (see [`super::translate::Dollar`]).
fn end_anchored(hir: Hir) -> (Hir, bool) {
    use regex_syntax::hir::{Look, Repetition};
    let mut items = match hir.kind() {
        HirKind::Concat(v) => v.clone(),
        _ => vec![hir.clone()],
    };
    if !matches!(
        items.last().map(Hir::kind),
        Some(HirKind::Look(Look::EndLF))
    ) {
        return (hir, false);
    }
    items.pop();
    items.push(Hir::repetition(Repetition {
        min: 0,
        max: Some(1),
        greedy: true,
        sub: Box::new(Hir::literal(*b"\n")),
    }));
    items.push(Hir::look(Look::End));
    (Hir::concat(items), true)
}

/// How far a greedy part looks back for a place where the rest matches.
const GREEDY_TRIES: usize = 32;

/// A compiled plan (see the module documentation).
#[derive(Debug)]
pub struct Plan {
    root: Node,
    dfas: Vec<DFA>,
    /// For each DFA, the bytes a match can start with (parts without
    /// look-around): a scan that cannot start needs no DFA.
    firsts: Vec<Option<First>>,
    /// Unanchored regexes of the parts that follow a [`Step::Lazy`].
    rests: Vec<meta::Regex>,
    slots: usize,
    /// Every match starts at the text's start (`^`, not `(?m)^`).
    anchored: bool,
}

/// A plan's DFA caches (one per DFA, reused from line to line).
#[derive(Debug, Clone)]
pub struct PlanCaches(Vec<Cache>);

impl Plan {
    /// The plan of a pattern (in regex-crate syntax) with `slots` groups
    /// (group 0 included); None when its shape has no plan (a group inside
    /// a repetition, a lazy group that is not one class).
    pub fn new(pattern: &str, slots: usize) -> Option<Plan> {
        let hir = syntax::parse_with(pattern, &ascii_syntax()).ok()?;
        if hir.properties().explicit_captures_len() == 0 {
            return None;
        }
        let mut plan = Plan {
            root: Node::Mark(0),
            dfas: Vec::new(),
            firsts: Vec::new(),
            rests: Vec::new(),
            slots,
            anchored: starts_at_text_start(&hir),
        };
        plan.root = plan.node(&hir)?;
        Some(plan)
    }

    pub fn caches(&self) -> PlanCaches {
        PlanCaches(self.dfas.iter().map(DFA::create_cache).collect())
    }

    fn dfa(&mut self, hir: &Hir) -> Option<usize> {
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().which_captures(WhichCaptures::None))
            .build_from_hir(hir)
            .ok()?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    // (a `(?u)\b` quits on a non-ASCII byte: the scan
                    // gives up and the capture engine decides)
                    .unicode_word_boundary(true)
                    .cache_capacity(CACHE)
                    .minimum_cache_clear_count(Some(0)),
            )
            .build_from_nfa(nfa)
            .ok()?;
        self.firsts.push(First::of(hir));
        self.dfas.push(dfa);
        Some(self.dfas.len() - 1)
    }

    fn node(&mut self, hir: &Hir) -> Option<Node> {
        if hir.properties().explicit_captures_len() == 0 {
            return self.plain(hir);
        }
        match hir.kind() {
            HirKind::Capture(c) => {
                let slot = c.index as usize;
                if c.sub.properties().explicit_captures_len() == 0
                    && matches!(c.sub.kind(), HirKind::Empty)
                {
                    return Some(Node::Mark(slot));
                }
                Some(Node::Group(slot, Box::new(self.node(&c.sub)?)))
            }
            HirKind::Concat(items) => self.seq(items),
            HirKind::Alternation(branches) => {
                let mut alts = Vec::with_capacity(branches.len());
                for b in branches {
                    alts.push(self.branch(b)?);
                }
                let lits: Vec<Vec<Vec<u8>>> = branches.iter().map(required).collect();
                for (i, alt) in alts.iter_mut().enumerate() {
                    // (an exact branch fails as soon as it cannot match)
                    if alt.probe.is_some() {
                        alt.needs = telling(&lits, i);
                    }
                }
                Some(Node::Alt(alts))
            }
            HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) && r.greedy => {
                Some(Node::Opt(Box::new(self.branch(&r.sub)?)))
            }
            _ => None,
        }
    }

    /// A part without groups: compared when it is a literal or `^`/`$`,
    /// else scanned by its DFA.
    fn plain(&mut self, hir: &Hir) -> Option<Node> {
        use regex_syntax::hir::Look;
        Some(match hir.kind() {
            HirKind::Literal(l) => Node::Lit(l.0.clone()),
            HirKind::Look(Look::Start) => Node::AtStart,
            HirKind::Look(Look::End) => Node::AtEnd,
            HirKind::Look(Look::EndLF) => Node::AtLineEnd,
            _ => Node::Plain(self.dfa(hir)?),
        })
    }

    fn branch(&mut self, hir: &Hir) -> Option<Branch> {
        let mut groups = Vec::new();
        for_each_capture(hir, &mut |c| groups.push(c.index as usize));
        let node = self.node(hir)?;
        let probe = match node.exact() {
            true => None,
            false => Some(self.dfa(hir)?),
        };
        Some(Branch {
            probe,
            needs: None,
            node,
            groups,
        })
    }

    fn seq(&mut self, items: &[Hir]) -> Option<Node> {
        let mut out = Vec::new();
        let mut plain: Vec<Hir> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let h = &items[i];
            if h.properties().explicit_captures_len() == 0 {
                plain.push(h.clone());
                i += 1;
                continue;
            }
            if !plain.is_empty() {
                let p = Hir::concat(std::mem::take(&mut plain));
                out.push(Step::Node(self.plain(&p)?));
            }
            let rest = || Hir::concat(items[i + 1..].to_vec());
            let step = match class_run(h) {
                Some((run, false)) if i + 1 < items.len() => {
                    let (hir, nl_end) = end_anchored(rest());
                    let re = meta::Regex::builder()
                        .configure(meta::Config::new().which_captures(WhichCaptures::Implicit))
                        .build_from_hir(&hir)
                        .ok()?;
                    self.rests.push(re);
                    Step::Lazy {
                        run,
                        rest: self.rests.len() - 1,
                        nl_end,
                    }
                }
                Some((run, true)) if i + 1 < items.len() => {
                    let lit = match items[i + 1].kind() {
                        HirKind::Literal(l) => l.0.to_vec(),
                        _ => Vec::new(),
                    };
                    Step::Greedy {
                        run,
                        rest: self.dfa(&rest())?,
                        lit,
                    }
                }
                _ => Step::Node(self.node(h)?),
            };
            out.push(step);
            i += 1;
        }
        if !plain.is_empty() {
            out.push(Step::Node(self.plain(&Hir::concat(plain))?));
        }
        Some(Node::Seq(out))
    }

    /// The groups of the first match of the pattern at `start..end` (the
    /// whole match, as a search found it) into `slots`; None: the capture
    /// engine must decide.
    pub fn captures(
        &self,
        hay: &[u8],
        (start, end): (usize, usize),
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<()> {
        (self.fill(hay, start, caches, slots)? == end).then_some(())
    }

    /// For a pattern anchored at the text's start, the groups of its match
    /// without a search for the match first (None: no match, or the
    /// capture engine must decide).
    pub fn captures_anchored(
        &self,
        hay: &[u8],
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<()> {
        if !self.anchored {
            return None;
        }
        self.fill(hay, 0, caches, slots).map(|_| ())
    }

    /// Every group of the pattern's first path from `start` (group 0 its
    /// whole), into `slots`; returns where it ends.
    fn fill(
        &self,
        hay: &[u8],
        start: usize,
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<usize> {
        if slots.len() != self.slots {
            return None;
        }
        slots.iter_mut().for_each(|s| *s = None);
        let e = self.run(&self.root, hay, start, caches, slots)?;
        slots[0] = Some((start, e));
        Some(e)
    }

    /// Whether every match starts at the text's start.
    pub fn is_anchored(&self) -> bool {
        self.anchored
    }

    /// Where the first path of `dfas[d]` from `at` ends.
    fn scan(&self, d: usize, hay: &[u8], at: usize, caches: &mut PlanCaches) -> Option<usize> {
        scan_from(
            &self.dfas[d],
            &mut caches.0[d],
            self.firsts[d].as_ref(),
            hay,
            at,
        )
        .ok()?
    }

    /// Where `node`'s first path from `at` ends, its groups into `slots`.
    /// A leaf (a scan, a literal, an anchor: most nodes, and most groups'
    /// insides) runs here, without a call; the rest recurse.
    #[inline]
    fn run(
        &self,
        node: &Node,
        hay: &[u8],
        at: usize,
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<usize> {
        match node {
            Node::Plain(d) => self.scan(*d, hay, at, caches),
            Node::Lit(l) => hay[at..].starts_with(l).then(|| at + l.len()),
            Node::AtStart => (at == 0).then_some(at),
            Node::AtEnd => (at == hay.len()).then_some(at),
            Node::AtLineEnd => matches!(hay.get(at), None | Some(b'\n')).then_some(at),
            _ => self.compound(node, hay, at, caches, slots),
        }
    }

    /// [`Plan::run`] of a node that holds others.
    #[inline(never)]
    fn compound(
        &self,
        node: &Node,
        hay: &[u8],
        at: usize,
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<usize> {
        match node {
            Node::Mark(g) => {
                *slots.get_mut(*g)? = Some((at, at));
                Some(at)
            }
            Node::Group(g, inner) => {
                let e = self.run(inner, hay, at, caches, slots)?;
                *slots.get_mut(*g)? = Some((at, e));
                Some(e)
            }
            Node::Seq(steps) => {
                let mut pos = at;
                for step in steps {
                    pos = self.step(step, hay, pos, caches, slots)?;
                }
                Some(pos)
            }
            Node::Alt(alts) => {
                for b in alts {
                    if let Some(e) = self.try_branch(b, hay, at, caches, slots)? {
                        return Some(e);
                    }
                }
                None
            }
            Node::Opt(b) => Some(self.try_branch(b, hay, at, caches, slots)?.unwrap_or(at)),
            // (leaves: `run` takes them before calling here)
            Node::Plain(_) | Node::Lit(_) | Node::AtStart | Node::AtEnd | Node::AtLineEnd => {
                self.run(node, hay, at, caches, slots)
            }
        }
    }

    /// One part of a concatenation, from `at`; returns where it ends.
    fn step(
        &self,
        step: &Step,
        hay: &[u8],
        at: usize,
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<usize> {
        let (run, b) = match step {
            Step::Node(n) => return self.run(n, hay, at, caches, slots),
            Step::Lazy { run, rest, nl_end } => {
                let from = at_least(at, run.min, hay.len())?;
                // (a newline before the last byte: `\n?\z` is not `(?m)$`)
                if *nl_end
                    && hay
                        .get(from..hay.len().saturating_sub(1))
                        .is_some_and(|b| memchr::memchr(b'\n', b).is_some())
                {
                    return None;
                }
                let m = self.rests[*rest].search(&Input::new(hay).range(from..))?;
                let b = m.start();
                if !hay[at..b].iter().all(|&c| run.class[c as usize]) {
                    return None;
                }
                (run, b)
            }
            Step::Greedy { run, rest, lit } => {
                let reach = at
                    + hay[at..]
                        .iter()
                        .take_while(|&&c| run.class[c as usize])
                        .count();
                let low = at_least(at, run.min, hay.len())?;
                let b = match lit.first() {
                    // What follows starts with a byte outside the class:
                    // only the run's end can be the place. Whether the
                    // rest matches there is for the next steps to find
                    // (their first path, or None for the capture engine).
                    Some(&c) if !run.class[c as usize] => {
                        (reach >= low && hay[reach..].starts_with(lit)).then_some(reach)?
                    }
                    _ => (low..=reach)
                        .rev()
                        .filter(|&b| hay[b..].starts_with(lit))
                        .take(GREEDY_TRIES)
                        .find(|&b| self.scan(*rest, hay, b, caches).is_some())?,
                };
                (run, b)
            }
        };
        for &g in &run.slots {
            *slots.get_mut(g)? = Some((at, b));
        }
        Some(b)
    }
}

impl Plan {
    /// A part that may not match: Some(Some(end)) when its plan gets
    /// through, Some(None) when it does not match here at all, None when
    /// it matches but its plan cannot tell how. Its plan runs first (a
    /// part that matches is the common case); its DFA only tells the last
    /// two apart.
    fn try_branch(
        &self,
        b: &Branch,
        hay: &[u8],
        at: usize,
        caches: &mut PlanCaches,
        slots: &mut [Option<(usize, usize)>],
    ) -> Option<Option<usize>> {
        if let Some(n) = &b.needs
            && n.lacked_by(&hay[at..])
        {
            for &g in &b.groups {
                *slots.get_mut(g)? = None;
            }
            return Some(None);
        }
        if let Some(e) = self.run(&b.node, hay, at, caches, slots) {
            return Some(Some(e));
        }
        for &g in &b.groups {
            *slots.get_mut(g)? = None;
        }
        match b.probe.map(|p| self.scan(p, hay, at, caches)) {
            Some(Some(_)) => None,
            _ => Some(None),
        }
    }
}

impl Node {
    /// Whether the node's plan fails only where it does not match at all
    /// (it makes no choice a later part could have to undo).
    fn exact(&self) -> bool {
        match self {
            Node::Plain(_)
            | Node::Lit(_)
            | Node::AtStart
            | Node::AtEnd
            | Node::AtLineEnd
            | Node::Mark(_) => true,
            Node::Group(_, n) => n.exact(),
            Node::Alt(bs) => bs.iter().all(|b| b.node.exact()),
            Node::Opt(b) => b.node.exact(),
            Node::Seq(_) => false,
        }
    }
}

/// Literals every match of `h` holds (its own, its groups', its
/// concatenation's parts', a repetition's at least once).
fn required(h: &Hir) -> Vec<Vec<u8>> {
    fn walk(h: &Hir, out: &mut Vec<Vec<u8>>) {
        match h.kind() {
            HirKind::Literal(l) => out.push(l.0.to_vec()),
            HirKind::Capture(c) => walk(&c.sub, out),
            HirKind::Concat(items) => items.iter().for_each(|i| walk(i, out)),
            HirKind::Repetition(r) if r.min >= 1 => walk(&r.sub, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(h, &mut out);
    out
}

/// For branch `i` of an alternation whose branches need the literals
/// `lits`, the longest (the last of the longest) of its literals that
/// some later branch does not need: looking for it tells the branches
/// apart. None for the last branch (nothing after it to pass on to).
fn telling(lits: &[Vec<Vec<u8>>], i: usize) -> Option<Needle> {
    let later = lits.get(i + 1..).filter(|l| !l.is_empty())?;
    let best = lits[i]
        .iter()
        .filter(|l| later.iter().any(|o| !o.contains(l)))
        .fold(None::<&Vec<u8>>, |b, l| match b {
            Some(b) if b.len() > l.len() => Some(b),
            _ => Some(l),
        })?;
    Some(match best.as_slice() {
        &[b] => Needle::Byte(b),
        _ => Needle::Bytes(Box::new(memchr::memmem::Finder::new(best).into_owned())),
    })
}

/// A literal a branch needs (see [`Branch::needs`]).
#[derive(Debug)]
enum Needle {
    Byte(u8),
    Bytes(Box<memchr::memmem::Finder<'static>>),
}

impl Needle {
    fn lacked_by(&self, hay: &[u8]) -> bool {
        match self {
            Needle::Byte(b) => memchr::memchr(*b, hay).is_none(),
            Needle::Bytes(f) => f.find(hay).is_none(),
        }
    }
}

fn at_least(pos: usize, min: usize, len: usize) -> Option<usize> {
    let p = pos.checked_add(min)?;
    (p <= len).then_some(p)
}

/// `(?P<g>C*?)` / `(?P<g>C+?)` (lazy) or `(?P<g>C*)` / `(?P<g>C{n,})`
/// (greedy) with C one byte class: its run and whether it is greedy.
fn class_run(h: &Hir) -> Option<(ClassRun, bool)> {
    // groups around groups (a marker inside a named group) span the same
    let mut slots = Vec::new();
    let mut h = h;
    while let HirKind::Capture(c) = h.kind() {
        slots.push(c.index as usize);
        h = &c.sub;
    }
    let HirKind::Repetition(r) = h.kind() else {
        return None;
    };
    if r.max.is_some() || (!r.greedy && r.min > 1) {
        return None;
    }
    let mut set = Box::new([false; 256]);
    match r.sub.kind() {
        HirKind::Class(Class::Bytes(b)) => {
            for range in b.iter() {
                for x in range.start()..=range.end() {
                    set[x as usize] = true;
                }
            }
        }
        HirKind::Class(Class::Unicode(u)) => {
            for range in u.iter() {
                let (s, e) = (range.start() as u32, range.end() as u32);
                for x in s..=e.min(0x7f) {
                    set[x as usize] = true;
                }
            }
        }
        HirKind::Literal(l) if l.0.len() == 1 => set[l.0[0] as usize] = true,
        _ => return None,
    }
    let run = ClassRun {
        slots,
        class: set,
        min: r.min as usize,
    };
    (!run.slots.is_empty()).then_some((run, r.greedy))
}

#[cfg(test)]
pub(crate) mod tests;
