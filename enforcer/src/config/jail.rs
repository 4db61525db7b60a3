//! Owns resolving jails as fail2ban's JailReader does: a jail's first
//! options (enabled, backend, filter), its filter read with the bracket
//! parameters and the backend's `logtype`, the filter's options merged back
//! as `known/...` (so `failregex = %(known/failregex)s` extends it), then
//! every jail option, the filter again with the jail's options winning, and
//! one action per entry of `action`, made unique by `actname`. Also the
//! global options of `fail2ban.conf`. The result is untyped text with
//! locations; [`super::model`] validates it and [`super::stream`] prints it.
use std::collections::BTreeMap;

use super::{
    defs::{ACTION_OPTS, ACTION_RUNTIME_TAGS, DefReader, FILTER_OPTS, Loader},
    error::{ConfigError, Loc},
    ini::Val,
    interp::Ctx,
    store::Store,
    tags::{extract_options, split_with_options},
};

/// The fail2ban version whose behaviour we follow (`%(fail2ban_version)s`).
pub const FAIL2BAN_VERSION: &str = "1.0.2";

/// The jail options fail2ban reads, besides the filter ones.
pub const JAIL_OPTS: &[&str] = &[
    "enabled",
    "backend",
    "maxretry",
    "maxmatches",
    "findtime",
    "bantime",
    "bantime.increment",
    "bantime.factor",
    "bantime.formula",
    "bantime.multipliers",
    "bantime.maxtime",
    "bantime.rndtime",
    "bantime.overalljails",
    "ignorecommand",
    "ignoreself",
    "ignoreip",
    "ignorecache",
    "filter",
    "logtimezone",
    "logencoding",
    "logpath",
    "action",
];

/// A jail's filter, resolved.
#[derive(Debug, Clone)]
pub struct ResolvedFilter {
    pub name: String,
    pub source: std::path::PathBuf,
    /// Every option (all of [Definition] and [Init]) with tags substituted,
    /// before the jail's own options were known.
    pub all: BTreeMap<String, String>,
    /// What fail2ban sends from the filter: options the jail does not set.
    pub sent: BTreeMap<String, String>,
    /// Where the filter's options were written.
    pub locs: BTreeMap<String, Loc>,
}

/// A jail's action, resolved.
#[derive(Debug, Clone)]
pub struct ResolvedAction {
    /// Unique in the jail (`actname`).
    pub name: String,
    /// The action.d file name as written ("iptables-multiport", "x.py").
    pub file: String,
    /// Where the `action` option was written.
    pub loc: Loc,
    /// Options in the order fail2ban sends them: the action options with
    /// tags substituted, then the init options (parameters and [Init]) raw.
    pub props: Vec<(String, String)>,
    /// For a Python action (`x.py`), its path and parameters.
    pub python: Option<(String, Vec<(String, String)>)>,
}

/// A jail with every option as resolved text and where it was written.
#[derive(Debug, Clone)]
pub struct ResolvedJail {
    pub name: String,
    pub loc: Loc,
    pub opts: BTreeMap<String, Val>,
    pub filter: Option<ResolvedFilter>,
    pub actions: Vec<ResolvedAction>,
    /// The jail section's own options that fail2ban does not read (port, ...).
    pub extra: BTreeMap<String, Val>,
}

/// fail2ban's `_as_bool`.
pub fn as_bool(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

/// Adds the options fail2ban always provides to a jail tree's [DEFAULT].
pub fn add_static_defaults(store: &mut Store, basedir: &std::path::Path) {
    let loc = Loc::file(basedir);
    store.defaults.insert(
        "fail2ban_version".into(),
        Val::literal(FAIL2BAN_VERSION.into(), loc.clone()),
    );
    store.defaults.insert(
        "fail2ban_confpath".into(),
        Val::literal(basedir.display().to_string(), loc),
    );
}

/// The jail sections of a jail tree, in order.
pub fn jail_names(store: &Store) -> Vec<String> {
    store
        .sections
        .iter()
        .filter(|s| s.name != "INCLUDES" && s.name != "Definition")
        .map(|s| s.name.clone())
        .collect()
}

/// Whether any value of a jail tree refers to `%(known/...)s`: only then
/// must each jail's filter be resolved before the jail's own options.
pub fn uses_known(store: &Store) -> bool {
    let has = |v: &Val| v.text.contains("%(known/");
    store.defaults.values().any(has) || store.sections.iter().any(|s| s.opts.values().any(has))
}

/// Resolves jail `name`; None when it is not enabled (and not forced).
/// `known_refs` is [`uses_known`] of the store.
pub fn resolve_jail(
    loader: &Loader,
    store: &Store,
    name: &str,
    force_enable: bool,
    known_refs: bool,
) -> Result<Option<ResolvedJail>, ConfigError> {
    let section = store
        .section(name)
        .ok_or_else(|| ConfigError::at(&Loc::file(&loader.basedir), format!("no jail [{name}]")))?;
    let loc = section.loc.clone();
    let get = |ctx: &Ctx, opt: &str| -> Result<Option<Val>, ConfigError> {
        Ok(ctx
            .get(opt)
            .map_err(|e| e.in_option(name, opt))?
            .map(|(t, l)| Val::literal(t, l)))
    };
    let dflt = |text: &str| Val::literal(text.to_string(), loc.clone());

    // first pass: what decides whether and how the filter is read
    let ctx = Ctx::new(store, name);
    let mut first = BTreeMap::new();
    for (opt, d) in [("enabled", "false"), ("backend", "auto"), ("filter", "")] {
        let v = get(&ctx, opt)?.unwrap_or_else(|| dflt(d));
        first.insert(opt.to_string(), v);
    }
    if !force_enable && !as_bool(&first["enabled"].text) {
        return Ok(None);
    }
    let backend = first["backend"].text.clone();
    let filter_val = first["filter"].clone();
    let mut filter_reader = None;
    let mut overlay = BTreeMap::new();
    let mut filter_name = String::new();
    if !filter_val.text.trim().is_empty() {
        let (fname, params) = extract_options(&filter_val.text)
            .map_err(|m| ConfigError::option(&filter_val.loc, name, "filter", m))?;
        let fstore = loader.def("filter.d", &fname)?.ok_or_else(|| {
            ConfigError::option(
                &filter_val.loc,
                name,
                "filter",
                format!("unknown filter '{fname}': no filter.d/{fname}.conf or .local"),
            )
        })?;
        if fstore.section("Definition").is_none() {
            return Err(ConfigError::option(
                &filter_val.loc,
                name,
                "filter",
                format!(
                    "filter '{fname}' has no [Definition] section (is it a helper for [INCLUDES]?)"
                ),
            ));
        }
        filter_name = fname;
        filter_reader = Some((fstore, params));
    }
    let mut reader = None;
    if let Some((fstore, params)) = &filter_reader {
        let mut r = DefReader::new(fstore, params, &filter_val.loc);
        if !r.init.contains_key("logtype") && fstore.own("Definition", "logtype").is_none() {
            let lt = if backend.starts_with("systemd") {
                "journal"
            } else {
                "file"
            };
            r.init.insert(
                "logtype".into(),
                Val::literal(lt.into(), filter_val.loc.clone()),
            );
        }
        let opts = r.get_options(&first, FILTER_OPTS, true)?;
        // The filter's options as the jail's `known/...` (fail2ban always
        // does this; it only matters when something refers to them).
        if known_refs {
            let all = r.combined(&opts, &[])?;
            let floc = Loc::file(&r.source());
            for (k, v) in &all {
                if !k.starts_with("known/") {
                    overlay.insert(format!("known/{k}"), Val::literal(v.clone(), floc.clone()));
                }
            }
        }
        reader = Some(r);
    }

    // second pass: every jail option, `%(known/...)s` now reaching the filter's
    let ctx = Ctx::new(store, name).with_vars(&overlay);
    let mut opts = BTreeMap::new();
    for &opt in JAIL_OPTS.iter().chain(FILTER_OPTS) {
        let d = match opt {
            "enabled" => Some("false"),
            "backend" => Some("auto"),
            "filter" | "action" => Some(""),
            _ => None,
        };
        if let Some(v) = get(&ctx, opt)?.or_else(|| d.map(dflt)) {
            opts.insert(opt.to_string(), v);
        }
    }
    let mut extra = BTreeMap::new();
    for k in section.opts.keys() {
        if !opts.contains_key(k)
            && !k.starts_with("known/")
            && let Some(v) = get(&ctx, k)?
        {
            extra.insert(k.clone(), v);
        }
    }

    let filter = match reader.as_mut() {
        Some(r) => {
            // fail2ban reads only the options the jail does not set; reading
            // every [Definition] option too (for FilterDef::options) gives
            // the same values for those, which are what is sent.
            let fopts = r.get_options(&opts, FILTER_OPTS, true)?;
            let filter_all = r.combined(&fopts, &[])?;
            let filter_locs = r.locs(&fopts);
            let sent = filter_all
                .iter()
                .filter(|(k, _)| {
                    let k = k.as_str();
                    r.init.contains_key(k) || (FILTER_OPTS.contains(&k) && !r.vars.contains_key(k))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some(ResolvedFilter {
                locs: filter_locs,
                name: filter_name,
                source: r.source(),
                all: filter_all,
                sent,
            })
        }
        None => None,
    };

    let action_val = opts["action"].clone();
    let mut actions: Vec<ResolvedAction> = Vec::new();
    for entry in split_with_options(&action_val.text) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let err = |m: String| ConfigError::option(&action_val.loc, name, "action", m);
        let (file, mut params) = extract_options(entry).map_err(err)?;
        let param = |params: &[(String, String)], k: &str| {
            params
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        if file.ends_with(".py") {
            let actname = param(&params, "actname")
                .unwrap_or_else(|| file.trim_end_matches(".py").to_string());
            params.retain(|(k, _)| k != "actname");
            let path = loader.basedir.join("action.d").join(&file);
            actions.push(ResolvedAction {
                name: actname,
                file: file.clone(),
                loc: action_val.loc.clone(),
                props: Vec::new(),
                python: Some((path.display().to_string(), params)),
            });
            continue;
        }
        let jname = match param(&params, "name") {
            Some(n) => n,
            None => {
                params.push(("name".into(), name.to_string()));
                name.to_string()
            }
        };
        let actname = match param(&params, "actname") {
            Some(a) => a,
            None => {
                let mut a = file.clone();
                if jname != name {
                    match jname.strip_prefix(name) {
                        Some(rest) => a.push_str(rest),
                        None => {
                            a.push('-');
                            a.push_str(&jname);
                        }
                    }
                }
                params.push(("actname".into(), a.clone()));
                a
            }
        };
        let astore = loader.def("action.d", &file)?.ok_or_else(|| {
            err(format!(
                "unknown action '{file}': no action.d/{file}.conf or .local"
            ))
        })?;
        if astore.section("Definition").is_none() {
            return Err(err(format!(
                "action '{file}' has no [Definition] section (is it a helper for [INCLUDES]?)"
            )));
        }
        let mut r = DefReader::new(&astore, &params, &action_val.loc);
        let aopts = r.get_options(&opts, ACTION_OPTS, false)?;
        let comb = r.combined(&aopts, ACTION_RUNTIME_TAGS)?;
        let mut props = Vec::new();
        for &o in ACTION_OPTS {
            if let Some(v) = comb.get(o) {
                props.push((o.to_string(), v.clone()));
            }
        }
        for (k, v) in &r.init {
            if !ACTION_OPTS.contains(&k.as_str()) && !k.starts_with("known/") {
                props.push((k.clone(), v.text.clone()));
            }
        }
        if actions.iter().any(|a| a.name == actname) {
            return Err(err(format!(
                "action '{actname}' is used twice in this jail; give one an actname=... parameter"
            )));
        }
        actions.push(ResolvedAction {
            name: actname,
            file,
            loc: action_val.loc.clone(),
            props,
            python: None,
        });
    }
    Ok(Some(ResolvedJail {
        name: name.to_string(),
        loc,
        opts,
        filter,
        actions,
        extra,
    }))
}

/// The options of fail2ban.conf with fail2ban's defaults, in the order
/// fail2ban sends them, plus socket and pidfile.
pub fn resolve_global(store: Option<&Store>) -> Result<Vec<(String, Val)>, ConfigError> {
    let wanted = [
        ("syslogsocket", Some("auto")),
        ("loglevel", Some("INFO")),
        ("logtarget", Some("STDERR")),
        ("allowipv6", Some("auto")),
        ("dbfile", Some("/var/lib/fail2ban/fail2ban.sqlite3")),
        ("dbmaxmatches", None),
        ("dbpurgeage", Some("1d")),
        ("socket", Some("/var/run/fail2ban/fail2ban.sock")),
        ("pidfile", Some("/var/run/fail2ban/fail2ban.pid")),
    ];
    let empty = Store::default();
    let s = store.unwrap_or(&empty);
    let loc = s
        .files
        .first()
        .map(|f| Loc::file(f))
        .unwrap_or_else(|| Loc::file(std::path::Path::new("fail2ban.conf")));
    let ctx = Ctx::new(s, "Definition");
    let mut out = Vec::new();
    for (opt, d) in wanted {
        let v = ctx.get(opt).map_err(|e| e.in_option("Definition", opt))?;
        match (v, d) {
            (Some((t, l)), _) => out.push((opt.to_string(), Val::literal(t, l))),
            (None, Some(d)) => {
                out.push((opt.to_string(), Val::literal(d.to_string(), loc.clone())))
            }
            (None, None) => {}
        }
    }
    Ok(out)
}
