//! Owns turning log lines into failures: fail2ban regex translation, tag
//! expansion, the date detector, and the matching pipeline (prefregex,
//! failregex, ignoreregex, multi-line).
//!
//! - [`translate`]: Python `re` patterns -> `regex` / `fancy-regex`.
//! - [`linear`]: fancy patterns rewritten exactly for the regex crate.
//! - [`tail`]: captures of `HEAD(?P<x>.+)$` from HEAD alone.
//! - [`pattern`]: a compiled pattern on its engine, with capture buffers.
//! - [`tags`]: `<HOST>`, `<F-USER>`… into named groups.
//! - [`prefilter`]: required literals + Aho-Corasick, the fast path.
//! - [`date`]: the date detector and strptime.
//! - [`engine`]: [`Filter`], fail2ban's `processLine`/`findFailure`.
//! - [`multiline`]: the buffer of `maxlines`, F-MLFID merging and its cache.
//! - [`fields`]: a match's groups by slot, and a failure's [`fields::Fields`].
//! - [`dns`]: the resolver for `usedns = yes` (cached, with a timeout).
use std::net::IpAddr;
use std::sync::Arc;

pub mod date;
pub mod dns;
pub mod engine;
pub mod fields;
pub mod linear;
pub mod multiline;
pub mod pattern;
pub mod plan;
pub mod prefilter;
pub mod tags;
pub mod tail;
pub mod translate;

pub use engine::{Filter, FilterParts, RegexStats};

/// One failure found in the log, as the jail counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// F-ID if the filter has one, else the host (an address is normalised).
    pub fid: String,
    /// Raw host text captured (ip4, ip6 or dns group).
    pub host: Option<String>,
    /// Parsed address (`::ffff:` stripped) when the host is an IP.
    pub addr: Option<IpAddr>,
    /// Seconds since the epoch.
    pub time: f64,
    /// Lower-case capture names (user, alt_user, fport, mlfid, ...).
    pub fields: fields::Fields,
    /// Every user a multi-line (F-MLFID) failure saw, sorted (fail2ban's `users`).
    pub users: Vec<String>,
    /// The log lines it carries (shared with the filter's F-MLFID state).
    pub matches: Vec<Arc<str>>,
    /// The match only helps a multi-line failure and bans no one.
    pub nofail: bool,
    /// Index of the failregex that matched.
    pub regex: usize,
}

/// fail2ban's `usedns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UseDns {
    /// Addresses only; `<HOST>` does not even match names.
    No,
    /// Names are matched but not resolved (a warning is logged once).
    #[default]
    Warn,
    /// Names are resolved (cached, with a timeout).
    Yes,
    /// The captured text is the id as it is.
    Raw,
}

impl std::str::FromStr for UseDns {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<UseDns, FilterError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "no" => Ok(UseDns::No),
            "warn" => Ok(UseDns::Warn),
            "yes" => Ok(UseDns::Yes),
            "raw" => Ok(UseDns::Raw),
            other => Err(FilterError::Option {
                option: "usedns".into(),
                reason: format!("{other:?} is not one of yes, warn, no, raw"),
            }),
        }
    }
}

/// Run-time options of a filter (what the jail or `enforcer regex` decides).
#[derive(Debug, Clone)]
pub struct FilterOptions {
    pub usedns: UseDns,
    /// `logtimezone`: zone of stamps without one (e.g. "UTC", "+0200").
    pub logtimezone: Option<String>,
    /// Try every failregex on a line, not only up to the first match
    /// (fail2ban-regex and the sample tests do; the daemon does not).
    pub check_all: bool,
    /// Report the captured host text as the id, never resolving (fail2ban-regex `--raw`).
    pub raw_host: bool,
    /// Fixed current time (tests, `--now`); None = the system clock.
    pub now: Option<f64>,
    /// Bound of the F-MLFID cache (entries).
    pub mlfid_cache: usize,
    /// Longest line matched, in bytes: a longer line is cut there (at a
    /// character boundary) before date detection and matching, so a
    /// hostile megabyte-long line costs what a normal one does. Syslog
    /// daemons cut lines at 8 KB by default, journald at 48 KB.
    pub max_line: usize,
    /// Count prefregex's matches on every line, as fail2ban-regex's
    /// "Prefregex: N total" does: no literal prefilter skips prefregex
    /// (they only spare failregexes that cannot match, so what is found
    /// is the same; lines cost more where they are skipped otherwise).
    pub count_prefregex: bool,
    /// Keep the lines of a failure (its `matches`): false where no one
    /// reads them (a jail with `maxmatches = 0`, a summary of `enforcer
    /// regex`), which spares a copy of every matched line.
    pub keep_matches: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            usedns: UseDns::Warn,
            logtimezone: None,
            check_all: false,
            raw_host: false,
            now: None,
            mlfid_cache: 100,
            max_line: 16 * 1024,
            count_prefregex: false,
            keep_matches: true,
        }
    }
}

/// Why a filter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("{what} #{index}: {source}")]
    Regex {
        what: &'static str,
        index: usize,
        #[source]
        source: translate::PatternError,
    },
    #[error(
        "failregex #{index} {regex:?}: no failure-id group (<HOST>, <ADDR>, <F-ID>... in it or in prefregex)"
    )]
    NoFailureId { index: usize, regex: String },
    #[error("failregex #{0}: empty regex")]
    Empty(usize),
    #[error("datepattern: {0}")]
    Date(#[from] date::DateError),
    #[error("option '{option}': {reason}")]
    Option { option: String, reason: String },
}
