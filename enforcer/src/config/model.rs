//! Owns the typed model the daemon uses ([`Config`], [`GlobalDef`],
//! [`JailDef`], [`FilterDef`], [`ActionDef`]) and validation: the one place
//! where resolved text becomes numbers, times, booleans and lists, and where
//! a wrong value becomes an error naming its file, line and option.
use std::{collections::BTreeMap, path::PathBuf};

use super::{
    error::{ConfigError, Loc},
    ini::Val,
    jail::{ResolvedFilter, ResolvedJail},
    tags::{shell_split, split_words},
    time::parse_time,
};

/// A resolved filter: every config-time substitution done, run-time tags
/// (<HOST>, <ADDR>, <F-USER>, <SKIPLINES> ...) left in the regex strings.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterDef {
    pub name: String,
    pub prefregex: Option<String>,
    /// One per non-empty line, in order.
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    /// Default 1.
    pub maxlines: usize,
    /// Raw, e.g. "{^LN-BEG}" or "%Y..." (`%%` already unescaped).
    pub datepattern: Option<String>,
    pub journalmatch: Vec<String>,
    /// Every other resolved [Definition]/[Init] option.
    pub options: BTreeMap<String, String>,
    /// The .conf file it came from.
    pub source: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionDef {
    /// Unique name in the jail (actname= or the file name).
    pub name: String,
    /// action.d file name without extension ("iptables-multiport").
    pub file: String,
    /// What fail2ban's server receives for the action: the action options
    /// ("actionstart", "actionban", "actionunban", "actioncheck", "actionstop",
    /// "actionflush", "actionreload", "actionprolong", "actionrepair",
    /// "norestored", ...) after config-time substitution, and every [Init]
    /// option and jail-side parameter ("port", "protocol", "chain", "name",
    /// "actname", ...). Run-time tags like <ip>, <F-USER>, <matches> stay.
    pub properties: BTreeMap<String, String>,
    /// `[Init?family=inet6]` overrides: family name ("inet6") -> option -> value.
    pub family: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JailDef {
    pub name: String,
    pub enabled: bool,
    pub filter: FilterDef,
    /// Globs, as written.
    pub logpath: Vec<String>,
    pub logencoding: String,
    pub backend: String,
    pub journalmatch: Vec<String>,
    pub maxretry: u32,
    pub maxmatches: u32,
    /// Seconds.
    pub findtime: i64,
    /// Seconds; -1 = permanent.
    pub bantime: i64,
    pub bantime_increment: bool,
    pub bantime_factor: f64,
    pub bantime_formula: Option<String>,
    pub bantime_multipliers: Option<String>,
    pub bantime_maxtime: Option<i64>,
    pub bantime_rndtime: Option<i64>,
    pub bantime_overalljails: bool,
    pub ignoreip: Vec<String>,
    pub ignoreself: bool,
    pub ignorecommand: Option<String>,
    pub ignorecache: Option<String>,
    pub usedns: String,
    pub actions: Vec<ActionDef>,
    /// Everything else in the jail section (port, protocol, mode, ...).
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDef {
    pub loglevel: String,
    pub logtarget: String,
    /// Where `logtarget = SYSLOG` sends (`auto`: the platform's socket).
    pub syslogsocket: String,
    pub dbfile: String,
    /// Seconds.
    pub dbpurgeage: i64,
    pub dbmaxmatches: u32,
    pub socket: String,
    pub pidfile: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: GlobalDef,
    /// Enabled jails only, in file order.
    pub jails: Vec<JailDef>,
}

/// Strict booleans: what fail2ban reads as true, and the usual false words.
fn bool_of(v: &Val, sect: &str, opt: &str) -> Result<bool, ConfigError> {
    match v.text.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Ok(true),
        "0" | "off" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::option(
            &v.loc,
            sect,
            opt,
            format!("not a boolean: {:?} (use true or false)", v.text),
        )),
    }
}

fn int_of(v: &Val, sect: &str, opt: &str) -> Result<u32, ConfigError> {
    v.text.trim().parse().map_err(|_| {
        ConfigError::option(
            &v.loc,
            sect,
            opt,
            format!("not a whole number: {:?}", v.text),
        )
    })
}

fn time_of(v: &Val, sect: &str, opt: &str) -> Result<i64, ConfigError> {
    parse_time(&v.text).map_err(|e| ConfigError::option(&v.loc, sect, opt, e.to_string()))
}

fn lines(s: &str) -> Vec<String> {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds a FilterDef from combined options (the jail's `over` win).
pub fn filter_def(
    name: &str,
    source: PathBuf,
    opts: &BTreeMap<String, String>,
    locs: &BTreeMap<String, Loc>,
    over: &BTreeMap<String, Val>,
    sect: &str,
) -> Result<FilterDef, ConfigError> {
    let loc_of = |k: &str| {
        over.get(k)
            .map(|v| v.loc.clone())
            .or_else(|| locs.get(k).cloned())
            .unwrap_or_else(|| Loc::file(&source))
    };
    let mut all: BTreeMap<String, String> = opts
        .iter()
        .filter(|(k, _)| !k.starts_with("known/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in over {
        all.insert(k.clone(), v.text.clone());
    }
    let maxlines = match all.remove("maxlines") {
        None => 1,
        Some(m) => {
            let v = Val::literal(m, loc_of("maxlines"));
            let n = int_of(&v, sect, "maxlines")?;
            if n == 0 {
                return Err(ConfigError::option(
                    &v.loc,
                    sect,
                    "maxlines",
                    "must be at least 1",
                ));
            }
            n as usize
        }
    };
    let journalmatch = all
        .remove("journalmatch")
        .map(|s| lines(&s))
        .unwrap_or_default();
    for m in &journalmatch {
        if let Err(e) = shell_split(m) {
            return Err(ConfigError::option(
                &loc_of("journalmatch"),
                sect,
                "journalmatch",
                e,
            ));
        }
    }
    Ok(FilterDef {
        name: name.to_string(),
        prefregex: all.remove("prefregex").filter(|p| !p.trim().is_empty()),
        failregex: all
            .remove("failregex")
            .map(|s| lines(&s))
            .unwrap_or_default(),
        ignoreregex: all
            .remove("ignoreregex")
            .map(|s| lines(&s))
            .unwrap_or_default(),
        maxlines,
        datepattern: all.remove("datepattern").filter(|p| !p.trim().is_empty()),
        journalmatch,
        options: all,
        source,
    })
}

/// Validates a resolved jail into a JailDef. Collects every problem.
pub fn jail_def(j: &ResolvedJail) -> Result<JailDef, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let n = j.name.as_str();
    let o = |k: &str| j.opts.get(k);
    let text = |k: &str| o(k).map(|v| v.text.clone());
    macro_rules! check {
        ($e:expr, $d:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => {
                    errs.push(e);
                    $d
                }
            }
        };
    }
    let opt_bool = |k: &str, d: bool| o(k).map_or(Ok(d), |v| bool_of(v, n, k));
    let opt_time = |k: &str| o(k).map(|v| time_of(v, n, k)).transpose();
    let enabled = check!(opt_bool("enabled", false), true);
    let maxretry = check!(o("maxretry").map_or(Ok(3), |v| int_of(v, n, "maxretry")), 3);
    let maxmatches = check!(
        o("maxmatches").map_or(Ok(maxretry), |v| int_of(v, n, "maxmatches")),
        maxretry
    );
    let findtime = check!(opt_time("findtime"), None).unwrap_or(600);
    if findtime <= 0
        && let Some(v) = o("findtime")
    {
        errs.push(ConfigError::option(
            &v.loc,
            n,
            "findtime",
            "must be positive",
        ));
    }
    let bantime = check!(opt_time("bantime"), None).unwrap_or(600);
    let bantime_factor = match o("bantime.factor") {
        None => 1.0,
        Some(v) => check!(
            v.text
                .trim()
                .parse::<f64>()
                .map_err(|_| ConfigError::option(
                    &v.loc,
                    n,
                    "bantime.factor",
                    format!("not a number: {:?}", v.text)
                )),
            1.0
        ),
    };
    let usedns = text("usedns").unwrap_or_else(|| "warn".into());
    if !matches!(usedns.as_str(), "yes" | "no" | "warn" | "raw")
        && let Some(v) = o("usedns")
    {
        errs.push(ConfigError::option(
            &v.loc,
            n,
            "usedns",
            format!("must be yes, no, warn or raw, not {usedns:?}"),
        ));
    }
    let backend = text("backend").unwrap_or_else(|| "auto".into());
    let bname = backend.split('[').next().unwrap_or("").trim();
    if !matches!(
        bname,
        "auto" | "polling" | "pyinotify" | "gamin" | "systemd"
    ) && let Some(v) = o("backend")
    {
        errs.push(ConfigError::option(
            &v.loc,
            n,
            "backend",
            format!("unknown backend {backend:?} (auto, polling, pyinotify, gamin or systemd)"),
        ));
    }
    let filter = match &j.filter {
        Some(f) => check!(filter_of(f, j).map(Some), None),
        None => {
            let v = &j.opts["filter"];
            errs.push(ConfigError::option(
                &v.loc,
                n,
                "filter",
                "no filter set for this jail",
            ));
            None
        }
    };
    let mut actions = Vec::new();
    for a in &j.actions {
        if let Some((path, _)) = &a.python {
            errs.push(ConfigError::option(
                &a.loc,
                n,
                "action",
                format!("Python actions ({path}) are not supported by enforcer"),
            ));
            continue;
        }
        let mut properties = BTreeMap::new();
        let mut family: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &a.props {
            match k.split_once("?family=") {
                Some((base, fam)) => {
                    family
                        .entry(fam.to_string())
                        .or_default()
                        .insert(base.to_string(), v.clone());
                }
                None => {
                    properties.insert(k.clone(), v.clone());
                }
            }
        }
        actions.push(ActionDef {
            name: a.name.clone(),
            file: a.file.clone(),
            properties,
            family,
        });
    }
    let logpath: Vec<String> = text("logpath")
        .map(|s| {
            lines(&s)
                .into_iter()
                .map(|l| match l.rsplit_once(' ') {
                    Some((p, "head" | "tail")) => p.trim().to_string(),
                    _ => l,
                })
                .collect()
        })
        .unwrap_or_default();
    if logpath.is_empty() && !backend.starts_with("systemd") {
        errs.push(ConfigError::option(
            o("logpath").map_or(&j.loc, |v| &v.loc),
            n,
            "logpath",
            "no logpath set (and the backend is not systemd)",
        ));
    }
    let def = JailDef {
        name: j.name.clone(),
        enabled,
        journalmatch: filter
            .as_ref()
            .map(|f| f.journalmatch.clone())
            .unwrap_or_default(),
        filter: filter.unwrap_or_else(|| FilterDef {
            name: String::new(),
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            journalmatch: Vec::new(),
            options: BTreeMap::new(),
            source: PathBuf::new(),
        }),
        logpath,
        logencoding: text("logencoding").unwrap_or_else(|| "auto".into()),
        backend,
        maxretry,
        maxmatches,
        findtime,
        bantime,
        bantime_increment: check!(opt_bool("bantime.increment", false), false),
        bantime_factor,
        bantime_formula: text("bantime.formula"),
        bantime_multipliers: text("bantime.multipliers"),
        bantime_maxtime: check!(opt_time("bantime.maxtime"), None),
        bantime_rndtime: check!(opt_time("bantime.rndtime"), None),
        bantime_overalljails: check!(opt_bool("bantime.overalljails", false), false),
        ignoreip: text("ignoreip")
            .map(|s| split_words(&s))
            .unwrap_or_default(),
        ignoreself: check!(opt_bool("ignoreself", true), true),
        ignorecommand: text("ignorecommand").filter(|s| !s.trim().is_empty()),
        ignorecache: text("ignorecache").filter(|s| !s.trim().is_empty()),
        usedns,
        actions,
        options: j
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.text.clone()))
            .collect(),
    };
    if errs.is_empty() { Ok(def) } else { Err(errs) }
}

/// The jail's filter: the filter's options, the jail's own filter options winning.
fn filter_of(f: &ResolvedFilter, j: &ResolvedJail) -> Result<FilterDef, ConfigError> {
    let mut opts = f.all.clone();
    for (k, v) in &f.sent {
        opts.insert(k.clone(), v.clone());
    }
    let over: BTreeMap<String, Val> = j
        .opts
        .iter()
        .filter(|(k, _)| super::defs::FILTER_OPTS.contains(&k.as_str()) && k.as_str() != "usedns")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    filter_def(&f.name, f.source.clone(), &opts, &f.locs, &over, &j.name)
}

/// Validates the global options (see [`super::jail::resolve_global`]).
pub fn global_def(opts: &[(String, Val)]) -> Result<GlobalDef, Vec<ConfigError>> {
    let get = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let text = |k: &str| get(k).map(|v| v.text.clone()).unwrap_or_default();
    let mut errs = Vec::new();
    let dbpurgeage = match get("dbpurgeage") {
        Some(v) => time_of(v, "Definition", "dbpurgeage").unwrap_or_else(|e| {
            errs.push(e);
            0
        }),
        None => 86400,
    };
    let dbmaxmatches = match get("dbmaxmatches") {
        Some(v) => int_of(v, "Definition", "dbmaxmatches").unwrap_or_else(|e| {
            errs.push(e);
            0
        }),
        None => 10,
    };
    let loglevel = text("loglevel");
    const LEVELS: &[&str] = &[
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
        "TRACEDEBUG",
        "HEAVYDEBUG",
    ];
    if !LEVELS.contains(&loglevel.to_ascii_uppercase().as_str())
        && !loglevel.chars().all(|c| c.is_ascii_digit())
        && let Some(v) = get("loglevel")
    {
        errs.push(ConfigError::option(
            &v.loc,
            "Definition",
            "loglevel",
            format!("unknown log level {loglevel:?}"),
        ));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(GlobalDef {
        loglevel,
        logtarget: text("logtarget"),
        syslogsocket: text("syslogsocket"),
        dbfile: text("dbfile"),
        dbpurgeage,
        dbmaxmatches,
        socket: text("socket"),
        pidfile: text("pidfile"),
    })
}
