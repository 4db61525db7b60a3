//! Owns the scans a plan makes: one anchored leftmost-first search of a
//! part's lazy DFA ([`scan_from`], also prefregex's two-DFA split), which
//! [`First`] skips where the part cannot start.
use regex_automata::Anchored;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::util::start;
use regex_syntax::hir::Hir;

/// What a part's match can start with, for a part without look-around
/// (whose DFA then starts alike wherever it is).
#[derive(Debug)]
pub(crate) struct First {
    /// `can[b]`: a non-empty match may start with `b`.
    can: Box<[bool; 256]>,
    /// The part matches the empty text.
    empty: bool,
}

impl First {
    /// From the part's literal prefixes cut to one byte (None: no finite
    /// set, or a look-around that makes the start depend on the place).
    pub(crate) fn of(hir: &Hir) -> Option<First> {
        use regex_syntax::hir::literal::{ExtractKind, Extractor};
        if !hir.properties().look_set().is_empty() {
            return None;
        }
        let seq = Extractor::new()
            .kind(ExtractKind::Prefix)
            .limit_literal_len(1)
            .limit_class(128)
            .limit_total(512)
            .extract(hir);
        let mut can = Box::new([false; 256]);
        let mut empty = hir.properties().minimum_len() == Some(0);
        for l in seq.literals()? {
            match l.as_bytes().first() {
                Some(&b) => can[b as usize] = true,
                None => empty = true,
            }
        }
        Some(First { can, empty })
    }

    /// Whether a non-empty match may start at `at`.
    #[inline]
    fn can_start(&self, hay: &[u8], at: usize) -> bool {
        hay.get(at).is_some_and(|&b| self.can[b as usize])
    }
}

/// [`scan_anchored`] where `first` (the part's [`First`], if any) says
/// a match may start at `at`; else only the empty match is left.
#[inline]
pub(crate) fn scan_from(
    dfa: &DFA,
    cache: &mut Cache,
    first: Option<&First>,
    hay: &[u8],
    at: usize,
) -> Result<Option<usize>, ()> {
    if let Some(f) = first
        && !f.can_start(hay, at)
    {
        return Ok(f.empty.then_some(at));
    }
    scan_anchored(dfa, cache, hay, at)
}

/// Where the first path of an anchored leftmost-first search of `dfa`
/// from `at` ends (Ok(None): no match; Err: the DFA gave up or quit). The
/// search loop of the lazy DFA without its set-up per call: a plan makes
/// several short scans per line.
fn scan_anchored(dfa: &DFA, cache: &mut Cache, hay: &[u8], at: usize) -> Result<Option<usize>, ()> {
    let config = start::Config::new()
        .anchored(Anchored::Yes)
        .look_behind(at.checked_sub(1).map(|i| hay[i]));
    let mut sid = dfa.start_state(cache, &config).map_err(|_| ())?;
    if sid.is_dead() {
        return Ok(None);
    }
    // Matches are reported one byte late: a match state entered on
    // `hay[i]` ends a match at `i`.
    let mut end = None;
    let mut i = at;
    loop {
        // The common steps: known transitions between plain states, in a
        // loop that only reads the cache (so its table stays in registers).
        if !sid.is_tagged() {
            let plain: &Cache = cache;
            for &b in &hay[i..] {
                // SAFETY: `sid` is untagged and came from the last call on
                // `cache` (this loop does not change it), as the function
                // asks; its table is then indexed within bounds.
                let next = unsafe { dfa.next_state_untagged_unchecked(plain, sid, b) };
                if next.is_tagged() {
                    break;
                }
                sid = next;
                i += 1;
            }
        }
        let Some(&b) = hay.get(i) else { break };
        // Out of a tagged state, or into one (a match, the dead state, a
        // transition not computed yet).
        let next = dfa.next_state(cache, sid, b).map_err(|_| ())?;
        if next.is_tagged() {
            if next.is_match() {
                end = Some(i);
            } else if next.is_dead() {
                return Ok(end);
            } else if next.is_quit() {
                return Err(());
            }
        }
        sid = next;
        i += 1;
    }
    sid = dfa.next_eoi_state(cache, sid).map_err(|_| ())?;
    if sid.is_match() {
        end = Some(hay.len());
    }
    Ok(end)
}
