//! Owns writing a rewritten pattern tree back in regex-crate syntax, with
//! a group copied into several branches named apart (`user__dup1`).
use super::N;

/// Suffix of a group's second and later copies.
pub(super) const DUP: &str = "__dup";

pub(super) struct Ser<'a> {
    pub(super) names: &'a [Option<String>],
    pub(super) seen: Vec<usize>,
}

impl Ser<'_> {
    fn group_name(&mut self, i: usize) -> String {
        let base = match self.names.get(i).cloned().flatten() {
            Some(n) => n,
            None => format!("__u{i}"),
        };
        let k = self.seen[i];
        self.seen[i] += 1;
        if k == 0 {
            base
        } else {
            format!("{base}{DUP}{k}")
        }
    }

    pub(super) fn write(&mut self, n: &N, out: &mut String) {
        match n {
            N::Raw { re, .. } => out.push_str(re),
            N::Cat(v) => {
                out.push_str("(?:");
                for c in v {
                    self.write(c, out);
                }
                out.push(')');
            }
            N::Alt(v) => {
                out.push_str("(?:");
                for (k, c) in v.iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    self.write(c, out);
                }
                out.push(')');
            }
            N::Group(i, c) => {
                let name = self.group_name(*i);
                out.push_str(&format!("(?P<{name}>"));
                self.write(c, out);
                out.push(')');
            }
            N::Mark(k, c) => {
                out.push_str(&format!("(?P<__m{k}>"));
                self.write(c, out);
                out.push(')');
            }
            N::Rep {
                child,
                lo,
                hi,
                greedy,
            } => {
                out.push_str("(?:");
                self.write(child, out);
                out.push(')');
                match (*lo, *hi) {
                    (0, 1) => out.push('?'),
                    (0, usize::MAX) => out.push('*'),
                    (1, usize::MAX) => out.push('+'),
                    (lo, usize::MAX) => out.push_str(&format!("{{{lo},}}")),
                    (lo, hi) if lo == hi => out.push_str(&format!("{{{lo}}}")),
                    (lo, hi) => out.push_str(&format!("{{{lo},{hi}}}")),
                }
                if !greedy {
                    out.push('?');
                }
            }
            // removed before writing
            N::Look { .. } | N::Cond { .. } => unreachable!("fancy node left"),
        }
    }
}
