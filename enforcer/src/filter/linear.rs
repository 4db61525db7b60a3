//! Owns running "fancy" fail2ban patterns (conditionals, look-aheads) on the
//! linear-time `regex` crate, exactly.
//!
//! A pattern that needs fancy-regex is rewritten into a regex-crate pattern
//! `R'` plus post-checks:
//! - `(?P<g>X)? … (?(g)A|B)` (or `g` as one branch of an alternation) is
//!   distributed into `(?:(?P<g>X) … A | … B)`: the same paths in the same
//!   priority order, so the same match and the same groups. A group copied
//!   into both branches gets a second name (`user__dup1`) that [`Linear`]
//!   maps back.
//! - A look-ahead `(?!L)` outside any repetition becomes an empty marker
//!   group; after a match, the look-ahead is tested where the marker sits.
//! - A tempered token `(?:(?!L).)*` becomes `(.*)` in a marker group; after
//!   a match, no `L` may start inside the group's span.
//!
//! `R'` accepts a superset of what the pattern accepts with the same
//! priority order of paths. When the first (highest-priority) match of `R'`
//! passes the checks, it is the first match of the original pattern too,
//! groups included. When `R'` does not match, neither does the pattern.
//! Only when a check fails does the exact engine (fancy-regex, with its
//! backtrack limit) run. A pattern outside these shapes is not rewritten
//! (None) and stays on fancy-regex.
use fancy_regex::{Assertion, Expr, LookAround};
use ser::{DUP, Ser};

use super::pattern::{Unicode, for_each_capture};

/// The parsed pattern, with group numbers fixed before any rewriting.
#[derive(Debug, Clone)]
enum N {
    /// An atom in regex-crate syntax; `one` = matches exactly one character.
    Raw {
        re: String,
        one: bool,
    },
    Cat(Vec<N>),
    Alt(Vec<N>),
    Group(usize, Box<N>),
    Mark(usize, Box<N>),
    Rep {
        child: Box<N>,
        lo: usize,
        hi: usize,
        greedy: bool,
    },
    Look {
        body: Box<N>,
        neg: bool,
    },
    Cond {
        group: usize,
        yes: Box<N>,
        no: Box<N>,
    },
}

fn raw(re: impl Into<String>, one: bool) -> N {
    N::Raw { re: re.into(), one }
}

fn convert(e: &Expr, next_group: &mut usize) -> Option<N> {
    Some(match e {
        Expr::Empty => N::Cat(Vec::new()),
        Expr::Any { newline } => raw(if *newline { "(?s:.)" } else { "." }, true),
        Expr::Assertion(a) => raw(
            match a {
                Assertion::StartText => "^",
                Assertion::EndText => "$",
                Assertion::StartLine { crlf: false } => "(?m:^)",
                Assertion::EndLine { crlf: false } => "(?m:$)",
                Assertion::StartLine { crlf: true } => "(?Rm:^)",
                Assertion::EndLine { crlf: true } => "(?Rm:$)",
                Assertion::LeftWordBoundary => r"\b{start}",
                Assertion::RightWordBoundary => r"\b{end}",
                Assertion::WordBoundary => r"\b",
                Assertion::NotWordBoundary => r"\B",
            },
            false,
        ),
        Expr::Literal { val, casei } => {
            let q = regex::escape(val);
            let one = val.chars().count() == 1;
            raw(if *casei { format!("(?i:{q})") } else { q }, one)
        }
        Expr::Delegate { inner, size, casei } => raw(
            if *casei {
                format!("(?i:{inner})")
            } else {
                format!("(?:{inner})")
            },
            *size == 1,
        ),
        Expr::Concat(v) => N::Cat(
            v.iter()
                .map(|c| convert(c, next_group))
                .collect::<Option<_>>()?,
        ),
        Expr::Alt(v) => N::Alt(
            v.iter()
                .map(|c| convert(c, next_group))
                .collect::<Option<_>>()?,
        ),
        Expr::Group(c) => {
            let idx = *next_group;
            *next_group += 1;
            N::Group(idx, Box::new(convert(c, next_group)?))
        }
        Expr::Repeat {
            child,
            lo,
            hi,
            greedy,
        } => N::Rep {
            child: Box::new(convert(child, next_group)?),
            lo: *lo,
            hi: *hi,
            greedy: *greedy,
        },
        Expr::LookAround(body, LookAround::LookAhead) => N::Look {
            body: Box::new(convert(body, next_group)?),
            neg: false,
        },
        Expr::LookAround(body, LookAround::LookAheadNeg) => N::Look {
            body: Box::new(convert(body, next_group)?),
            neg: true,
        },
        Expr::Conditional {
            condition,
            true_branch,
            false_branch,
        } => match condition.as_ref() {
            Expr::BackrefExistsCondition(g) => N::Cond {
                group: *g,
                yes: Box::new(convert(true_branch, next_group)?),
                no: Box::new(convert(false_branch, next_group)?),
            },
            _ => return None,
        },
        // look-behind, back-references, atomic groups, \K, \G
        _ => return None,
    })
}

fn children(n: &N) -> Vec<&N> {
    match n {
        N::Raw { .. } => vec![],
        N::Cat(v) | N::Alt(v) => v.iter().collect(),
        N::Group(_, c) | N::Mark(_, c) => vec![c],
        N::Rep { child, .. } => vec![child],
        N::Look { body, .. } => vec![body],
        N::Cond { yes, no, .. } => vec![yes, no],
    }
}

fn defines(n: &N, g: usize) -> bool {
    matches!(n, N::Group(i, _) if *i == g) || children(n).into_iter().any(|c| defines(c, g))
}

fn has_cond(n: &N, g: Option<usize>) -> bool {
    matches!(n, N::Cond { group, .. } if g.is_none_or(|g| g == *group))
        || children(n).into_iter().any(|c| has_cond(c, g))
}

fn has_group(n: &N) -> bool {
    matches!(n, N::Group(..) | N::Mark(..)) || children(n).into_iter().any(has_group)
}

fn has_fancy(n: &N) -> bool {
    matches!(n, N::Look { .. } | N::Cond { .. }) || children(n).into_iter().any(has_fancy)
}

/// Splits `n` (which defines group `g`) into its paths where `g` takes part
/// and those where it does not, with the order of the two classes (true =
/// the "takes part" paths come first). Err when the classes interleave or
/// `g` sits where its participation is not a plain choice.
type Split = (Option<N>, Option<N>, bool);

fn split(n: &N, g: usize) -> Result<Split, ()> {
    match n {
        N::Group(i, _) if *i == g => Ok((Some(n.clone()), None, true)),
        N::Group(i, c) => {
            let (y, no, f) = split(c, g)?;
            let w = |x: N| N::Group(*i, Box::new(x));
            Ok((y.map(w), no.map(w), f))
        }
        N::Cat(v) => {
            let k = v.iter().position(|c| defines(c, g)).ok_or(())?;
            let (y, no, f) = split(&v[k], g)?;
            let w = |x: N| {
                let mut v2 = v.clone();
                v2[k] = x;
                N::Cat(v2)
            };
            Ok((y.map(w), no.map(w), f))
        }
        N::Alt(v) => {
            // Classes of paths in priority order; must be Y*N* or N*Y*.
            let (mut ys, mut ns, mut seq) = (Vec::new(), Vec::new(), Vec::new());
            for c in v {
                if defines(c, g) {
                    let (y, no, f) = split(c, g)?;
                    let mut order = vec![];
                    if let Some(y) = y {
                        ys.push(y);
                        order.push(true);
                    }
                    if let Some(no) = no {
                        ns.push(no);
                        order.insert(if f { order.len() } else { 0 }, false);
                    }
                    seq.extend(order);
                } else {
                    ns.push(c.clone());
                    seq.push(false);
                }
            }
            seq.dedup();
            if seq.len() > 2 {
                return Err(());
            }
            let first = seq.first().copied().unwrap_or(true);
            let alt = |v: Vec<N>| (!v.is_empty()).then_some(N::Alt(v));
            Ok((alt(ys), alt(ns), first))
        }
        N::Rep {
            child,
            lo,
            hi,
            greedy,
        } if *hi == 1 => {
            let (y, no, f) = split(child, g)?;
            if *lo == 1 {
                return Ok((y, no, f));
            }
            // child paths, then the empty path (greedy); the reverse if lazy
            let skip = N::Cat(Vec::new());
            let no = match no {
                Some(c) => {
                    // child's N paths and the skip are adjacent only if they
                    // sit on the same side of child's Y paths
                    if y.is_some() && f != *greedy {
                        return Err(());
                    }
                    N::Rep {
                        child: Box::new(c),
                        lo: 0,
                        hi: 1,
                        greedy: *greedy,
                    }
                }
                None => skip,
            };
            let first = if y.is_some() { *greedy } else { true };
            Ok((y, Some(no), first))
        }
        _ => Err(()),
    }
}

/// `n` with every conditional on `g` replaced by the branch `present` picks.
fn subst(n: &N, g: usize, present: bool) -> N {
    let s = |c: &N| Box::new(subst(c, g, present));
    match n {
        N::Cond { group, yes, no } if *group == g => {
            subst(if present { yes } else { no }, g, present)
        }
        N::Cond { group, yes, no } => N::Cond {
            group: *group,
            yes: s(yes),
            no: s(no),
        },
        N::Raw { .. } => n.clone(),
        N::Cat(v) => N::Cat(v.iter().map(|c| subst(c, g, present)).collect()),
        N::Alt(v) => N::Alt(v.iter().map(|c| subst(c, g, present)).collect()),
        N::Group(i, c) => N::Group(*i, s(c)),
        N::Mark(i, c) => N::Mark(*i, s(c)),
        N::Rep {
            child,
            lo,
            hi,
            greedy,
        } => N::Rep {
            child: s(child),
            lo: *lo,
            hi: *hi,
            greedy: *greedy,
        },
        N::Look { body, neg } => N::Look {
            body: s(body),
            neg: *neg,
        },
    }
}

fn groups_in(n: &N, out: &mut Vec<usize>) {
    if let N::Group(i, _) = n {
        out.push(*i);
    }
    for c in children(n) {
        groups_in(c, out);
    }
}

/// Removes every conditional by distribution (Err when one cannot be).
fn expand(n: N) -> Result<N, ()> {
    if !has_cond(&n, None) {
        return Ok(n);
    }
    match n {
        N::Cat(mut v) => {
            for i in 0..v.len() {
                let mut defs = Vec::new();
                groups_in(&v[i], &mut defs);
                let Some(g) = defs
                    .into_iter()
                    .find(|&g| v[i + 1..].iter().any(|c| has_cond(c, Some(g))))
                else {
                    continue;
                };
                let (y, no, yes_first) = split(&v[i], g)?;
                let rest = v.split_off(i + 1);
                v.pop();
                let branch = |head: N, present: bool| {
                    let mut b = vec![head];
                    b.extend(rest.iter().map(|r| subst(r, g, present)));
                    N::Cat(b)
                };
                let mut alts = Vec::new();
                if let Some(y) = y {
                    alts.push(branch(y, true));
                }
                if let Some(no) = no {
                    let b = branch(no, false);
                    if yes_first {
                        alts.push(b);
                    } else {
                        alts.insert(0, b);
                    }
                }
                v.push(N::Alt(alts));
                return expand(N::Cat(v));
            }
            Ok(N::Cat(v.into_iter().map(expand).collect::<Result<_, _>>()?))
        }
        N::Alt(v) => Ok(N::Alt(v.into_iter().map(expand).collect::<Result<_, _>>()?)),
        N::Group(i, c) => Ok(N::Group(i, Box::new(expand(*c)?))),
        N::Mark(i, c) => Ok(N::Mark(i, Box::new(expand(*c)?))),
        N::Rep {
            child,
            lo,
            hi,
            greedy,
        } if hi == 1 => Ok(N::Rep {
            child: Box::new(expand(*child)?),
            lo,
            hi,
            greedy,
        }),
        // A group keeps its value across iterations of a repetition, and a
        // conditional whose group comes later (or never) is not a choice
        // made before it: leave those to fancy-regex.
        _ => Err(()),
    }
}

/// What is tested after a match of the rewritten pattern.
#[derive(Debug)]
pub enum CheckKind {
    /// `(?=L)` / `(?!L)` at the marker's position.
    Ahead { neg: bool },
    /// No `L` starts inside the marker's span.
    Tempered,
}

#[derive(Debug)]
pub struct Check {
    /// Index in the rewritten pattern of the marker group.
    pub group: usize,
    pub kind: CheckKind,
    pub look: regex::Regex,
}

/// Replaces look-aheads by markers; `looks` collects (marker, kind, body).
fn mark(n: N, in_rep: bool, looks: &mut Vec<(CheckKind, N)>) -> Result<N, ()> {
    let rec = |c: N, r: bool, looks: &mut Vec<(CheckKind, N)>| mark(c, r, looks).map(Box::new);
    Ok(match n {
        N::Look { body, neg } => {
            if in_rep || has_group(&body) || has_fancy(&body) {
                return Err(());
            }
            looks.push((CheckKind::Ahead { neg }, *body));
            N::Mark(looks.len() - 1, Box::new(N::Cat(Vec::new())))
        }
        N::Rep {
            child,
            lo,
            hi,
            greedy,
        } => {
            if let N::Cat(v) = child.as_ref()
                && let [N::Look { body, neg: true }, x @ N::Raw { one: true, .. }] = v.as_slice()
                && !in_rep
                && hi == usize::MAX
                && !has_group(body)
                && !has_fancy(body)
            {
                looks.push((CheckKind::Tempered, (**body).clone()));
                let rep = N::Rep {
                    child: Box::new(x.clone()),
                    lo,
                    hi,
                    greedy,
                };
                return Ok(N::Mark(looks.len() - 1, Box::new(rep)));
            }
            N::Rep {
                child: rec(*child, in_rep || hi > 1, looks)?,
                lo,
                hi,
                greedy,
            }
        }
        N::Cat(v) => N::Cat(
            v.into_iter()
                .map(|c| mark(c, in_rep, looks))
                .collect::<Result<_, _>>()?,
        ),
        N::Alt(v) => N::Alt(
            v.into_iter()
                .map(|c| mark(c, in_rep, looks))
                .collect::<Result<_, _>>()?,
        ),
        N::Group(i, c) => N::Group(i, rec(*c, in_rep, looks)?),
        N::Mark(i, c) => N::Mark(i, rec(*c, in_rep, looks)?),
        N::Cond { .. } => return Err(()),
        r @ N::Raw { .. } => r,
    })
}

fn build(p: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(p)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .ok()
}

/// A fancy pattern rewritten for the regex crate (see the module doc).
#[derive(Debug)]
pub struct Linear {
    /// `R'`; its Unicode build is made when first needed (an ASCII text
    /// runs on the ASCII build beside it, see [`super::pattern`]).
    pub re: Unicode,
    pub checks: Vec<Check>,
    /// Group index in the original (fancy-regex) numbering -> index in `re`.
    pub fmap: Vec<usize>,
    /// Group index in `re` -> the original group's name (None: unnamed or marker).
    pub names: Vec<Option<String>>,
}

impl Linear {
    /// Rewrites a translated (Rust-syntax) pattern, or None when it has a
    /// shape this module does not handle.
    pub fn new(pattern: &str) -> Option<Linear> {
        let tree = Expr::parse_tree(pattern).ok()?;
        let mut next = 1;
        let n = convert(&tree.expr, &mut next)?;
        let mut fnames: Vec<Option<String>> = vec![None; next];
        for (name, &i) in &tree.named_groups {
            if i < next {
                fnames[i] = Some(name.clone());
            }
        }
        let n = expand(n).ok()?;
        let mut looks = Vec::new();
        let n = mark(n, false, &mut looks).ok()?;
        let mut ser = Ser {
            names: &fnames,
            seen: vec![0; next],
        };
        let mut src = String::new();
        ser.write(&n, &mut src);
        // The groups as the regex crate numbers them (its parser), without
        // compiling `R'` yet.
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&src)
            .ok()?;
        let mut groups = vec![None; hir.properties().explicit_captures_len() + 1];
        for_each_capture(&hir, &mut |c| {
            if let Some(slot) = groups.get_mut(c.index as usize) {
                *slot = c.name.as_deref().map(str::to_string);
            }
        });
        let index = |name: &str| groups.iter().position(|x| x.as_deref() == Some(name));
        let mut checks = Vec::new();
        for (k, (kind, body)) in looks.into_iter().enumerate() {
            let mut b = String::new();
            ser.write(&body, &mut b);
            checks.push(Check {
                group: index(&format!("__m{k}"))?,
                kind,
                look: build(&b)?,
            });
        }
        let mut fmap = vec![0; next];
        for (i, slot) in fmap.iter_mut().enumerate().skip(1) {
            let name = fnames[i].clone().unwrap_or_else(|| format!("__u{i}"));
            // a group can vanish (its branch was impossible): map it nowhere
            *slot = index(&name).unwrap_or(usize::MAX);
        }
        let names = groups
            .iter()
            .map(|n| {
                let n = n.as_deref()?;
                if n.starts_with("__u") || n.starts_with("__m") {
                    return None;
                }
                Some(n.split(DUP).next().unwrap_or(n).to_string())
            })
            .collect();
        Some(Linear {
            re: Unicode::pending(&src),
            checks,
            fmap,
            names,
        })
    }

    /// Whether the match whose group spans `get` gives passes every check.
    pub fn passes(&self, hay: &str, get: impl Fn(usize) -> Option<(usize, usize)>) -> bool {
        self.checks.iter().all(|c| {
            let Some((s, e)) = get(c.group) else {
                return true;
            };
            match c.kind {
                CheckKind::Ahead { neg } => {
                    let at = c.look.find_at(hay, s).is_some_and(|m| m.start() == s);
                    at != neg
                }
                CheckKind::Tempered => c.look.find_at(hay, s).is_none_or(|m| m.start() >= e),
            }
        })
    }
}

mod ser;
#[cfg(test)]
mod tests;
