//! Owns filter and action definition files (`filter.d/NAME`, `action.d/NAME`):
//! their `[Definition]` and `[Init]` sections combined with jail-side
//! parameters (`name[k=v]`, which override `[Init]` and `[Definition]` and are
//! visible as `%(k)s`, the `[Init]` originals as `known/k`), then config-time
//! `<tag>` substitution with tags looked up among the combined options and
//! then as `[Definition]` (or `sec/opt`) options. A [`Loader`] reads each
//! definition once per load.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use super::{
    error::{ConfigError, Loc},
    ini::Val,
    interp::{Ctx, split_section_option},
    store::{FileCache, Fs, Store, read_files, read_layered},
    tags::substitute_recursive_tags,
};

/// The filter options a jail hands to fail2ban's server.
pub const FILTER_OPTS: &[&str] = &[
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// The action options a jail hands to fail2ban's server.
pub const ACTION_OPTS: &[&str] = &[
    "actionstart",
    "actionstart_on_demand",
    "actionstop",
    "actionflush",
    "actionreload",
    "actioncheck",
    "actionrepair",
    "actionrepair_on_unban",
    "actionban",
    "actionprolong",
    "actionreban",
    "actionunban",
    "norestored",
];

/// Tags of actions that are only filled in when the action runs.
pub const ACTION_RUNTIME_TAGS: &[&str] = &[
    "matches",
    "ipmatches",
    "ipjailmatches",
    "timeout",
    "bantime",
];

/// Reads configuration names under one directory, sharing parsed files.
pub struct Loader<'a> {
    pub fs: &'a dyn Fs,
    pub basedir: PathBuf,
    cache: FileCache,
    defs: Mutex<HashMap<String, Option<Arc<Store>>>>,
}

impl<'a> Loader<'a> {
    pub fn new(fs: &'a dyn Fs, basedir: &Path) -> Loader<'a> {
        Loader {
            fs,
            basedir: basedir.to_path_buf(),
            cache: FileCache::default(),
            defs: Mutex::new(HashMap::new()),
        }
    }

    /// `basedir/name` with its layers; None when no file of it exists.
    pub fn read(&self, name: &str) -> Result<Option<Store>, ConfigError> {
        read_layered(self.fs, &self.cache, &self.basedir, name)
    }

    /// A definition file by name in `kind` ("filter.d" or "action.d"), or by
    /// path when `name` ends with `.conf` or `.local`; read once and shared.
    pub fn def(&self, kind: &str, name: &str) -> Result<Option<Arc<Store>>, ConfigError> {
        let key = format!("{kind}/{name}");
        if let Some(s) = self.defs.lock().expect("defs lock").get(&key) {
            return Ok(s.clone());
        }
        let store = if name.ends_with(".conf") || name.ends_with(".local") {
            let path = if Path::new(name).is_absolute() {
                PathBuf::from(name)
            } else {
                self.basedir.join(kind).join(name)
            };
            if self.fs.is_file(&path) {
                Some(read_files(self.fs, &self.cache, &[path])?)
            } else {
                None
            }
        } else if name.is_empty() || name.contains('/') || name.starts_with('.') {
            None
        } else {
            read_layered(self.fs, &self.cache, &self.basedir.join(kind), name)?
        };
        let store = store.map(Arc::new);
        self.defs
            .lock()
            .expect("defs lock")
            .insert(key, store.clone());
        Ok(store)
    }
}

/// One use of a definition file: its store and the init options
/// (parameters, then `[Init]` values and their `known/` originals).
pub struct DefReader<'s> {
    pub store: &'s Store,
    pub init: BTreeMap<String, Val>,
    /// The variables of the last `get_options`: jail options and init options.
    pub vars: BTreeMap<String, Val>,
}

impl<'s> DefReader<'s> {
    pub fn new(store: &'s Store, params: &[(String, String)], loc: &Loc) -> DefReader<'s> {
        let init = params
            .iter()
            .map(|(k, v)| (k.to_lowercase(), Val::literal(v.clone(), loc.clone())))
            .collect();
        DefReader {
            store,
            init,
            vars: BTreeMap::new(),
        }
    }

    /// The main file, for error messages and `FilterDef::source`.
    pub fn source(&self) -> PathBuf {
        self.store.main.clone()
    }

    /// fail2ban's DefinitionInitConfigReader.getOptions: the `wanted`
    /// [Definition] options not given by the jail (`jail` and the init
    /// options win, and are visible to interpolation), with `all` every other
    /// [Definition] option too; fills in `[Init]` values.
    pub fn get_options(
        &mut self,
        jail: &BTreeMap<String, Val>,
        wanted: &[&str],
        all: bool,
    ) -> Result<BTreeMap<String, Val>, ConfigError> {
        let mut vars = jail.clone();
        for (k, v) in &self.init {
            vars.insert(k.clone(), v.clone());
        }
        let mut opts = BTreeMap::new();
        {
            let ctx = Ctx::new(self.store, "Definition").with_vars(&vars);
            for &o in wanted {
                if vars.contains_key(o) {
                    continue;
                }
                if let Some((v, loc)) = ctx.get(o)? {
                    opts.insert(o.to_string(), Val::literal(v, loc));
                }
            }
        }
        if let Some(init) = self.store.section("Init") {
            let ctx = Ctx::new(self.store, "Init");
            for opt in init.opts.keys() {
                let Some((v, loc)) = ctx.get(opt)? else {
                    continue;
                };
                let v = Val::literal(v, loc);
                if !opt.starts_with("known/") {
                    self.init.insert(format!("known/{opt}"), v.clone());
                }
                self.init.entry(opt.clone()).or_insert(v);
            }
        }
        if all && let Some(def) = self.store.section("Definition") {
            let ctx = Ctx::new(self.store, "Definition");
            for opt in def.opts.keys() {
                if opts.contains_key(opt) {
                    continue;
                }
                if let Some((v, loc)) = ctx.get(opt)? {
                    opts.insert(opt.clone(), Val::literal(v, loc));
                }
            }
        }
        self.vars = vars;
        Ok(opts)
    }

    /// A `<tag>` not among the combined options: a [Definition] option (with
    /// the variables), `sec/opt`, or `known/opt` (the [Definition] value a
    /// later file replaced).
    fn tag_option(&self, name: &str) -> Result<Option<String>, ConfigError> {
        if let Some((sec, opt)) = split_section_option(name) {
            let found = match sec.to_ascii_lowercase().as_str() {
                "known" => match self.store.known.get("Definition").and_then(|k| k.get(opt)) {
                    Some(v) => Some(Ctx::new(self.store, "Definition").interpolate(v)?),
                    None => Ctx::new(self.store, "Definition").get(opt)?.map(|v| v.0),
                },
                "default" => match self.store.defaults.get(opt) {
                    Some(v) => Some(Ctx::new(self.store, "DEFAULT").interpolate(v)?),
                    None => None,
                },
                _ if self.store.section(sec).is_some() => {
                    Ctx::new(self.store, sec).get(opt)?.map(|v| v.0)
                }
                _ => None,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(Ctx::new(self.store, "Definition")
            .with_vars(&self.vars)
            .get(name)?
            .map(|v| v.0))
    }

    /// The combined options (`opts` overlaid with the init options) with
    /// every config-time `<tag>` replaced. Tags in `ignore`, and tags that have
    /// `?family=` variants, are left for run time.
    pub fn combined(
        &self,
        opts: &BTreeMap<String, Val>,
        ignore: &[&str],
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut tags: BTreeMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.clone(), v.text.clone()))
            .collect();
        for (k, v) in &self.init {
            tags.insert(k.clone(), v.text.clone());
        }
        let mut skip: HashSet<String> = ignore.iter().map(|s| s.to_string()).collect();
        for k in tags.keys() {
            if let Some((base, _)) = super::store::split_conditional(k) {
                skip.insert(base.to_string());
            }
        }
        let mut failure: Option<ConfigError> = None;
        let mut extra = |name: &str| match self.tag_option(name) {
            Ok(v) => v,
            Err(e) => {
                failure.get_or_insert(e);
                None
            }
        };
        let res = substitute_recursive_tags(&mut tags, &skip, &mut extra);
        if let Some(e) = failure {
            return Err(e);
        }
        res.map_err(|(tag, m)| {
            let locs = self.locs(opts);
            let loc = locs
                .get(&tag)
                .cloned()
                .unwrap_or_else(|| Loc::file(&self.source()));
            ConfigError::at(&loc, m)
        })?;
        Ok(tags)
    }

    /// Where each combined option was written.
    pub fn locs(&self, opts: &BTreeMap<String, Val>) -> BTreeMap<String, Loc> {
        opts.iter()
            .chain(self.init.iter())
            .map(|(k, v)| (k.clone(), v.loc.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::store::{RealFs, testutil::TempDir};

    fn loc() -> Loc {
        Loc::file(Path::new("/jail"))
    }

    fn jail(pairs: &[(&str, &str)]) -> BTreeMap<String, Val> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Val::literal(v.to_string(), loc())))
            .collect()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const FILTER: &str = "[INCLUDES]\nbefore = common.conf\n[Definition]\n_daemon = sshd\nfailregex = ^<__prefix_line>fail <mdre-<mode>> <HOST>$\n  ^%(_daemon)s second$\nmdre-normal = N\nmdre-aggressive = A\ndatepattern = %%Y-%%m\n[Init]\nmode = normal\nmaxlines = 1\n";
    const COMMON: &str = "[DEFAULT]\n__prefix_line = <lt_<logtype>/__prefix_line>\n[lt_file]\n__prefix_line = F:\n[lt_journal]\n__prefix_line = J:\n";

    #[test]
    fn filter_with_includes_params_and_tags() {
        let d = TempDir::new();
        d.write("filter.d/common.conf", COMMON);
        d.write("filter.d/sshd.conf", FILTER);
        let l = Loader::new(&RealFs, d.path());
        let s = l.def("filter.d", "sshd").unwrap().unwrap();
        let mut r = DefReader::new(
            &s,
            &params(&[("mode", "aggressive"), ("logtype", "journal")]),
            &loc(),
        );
        let opts = r.get_options(&jail(&[]), FILTER_OPTS, true).unwrap();
        let c = r.combined(&opts, &[]).unwrap();
        assert_eq!(c["failregex"], "^J:fail A <HOST>$\n^sshd second$");
        assert_eq!(c["datepattern"], "%Y-%m");
        assert_eq!(c["mode"], "aggressive");
        assert_eq!(c["known/mode"], "normal");
        assert_eq!(c["maxlines"], "1");
        assert!(l.def("filter.d", "nope").unwrap().is_none());
    }

    #[test]
    fn jail_options_win_over_definition() {
        let d = TempDir::new();
        d.write("filter.d/common.conf", COMMON);
        d.write("filter.d/sshd.conf", FILTER);
        let l = Loader::new(&RealFs, d.path());
        let s = l.def("filter.d", "sshd").unwrap().unwrap();
        let mut r = DefReader::new(&s, &params(&[("logtype", "file")]), &loc());
        let opts = r
            .get_options(&jail(&[("failregex", "mine")]), FILTER_OPTS, false)
            .unwrap();
        assert!(!opts.contains_key("failregex"));
        assert!(opts.contains_key("datepattern"));
    }

    #[test]
    fn action_conditional_tags_stay_and_init_known() {
        let d = TempDir::new();
        d.write(
            "action.d/nft.conf",
            "[Definition]\nactionban = add <addr_set> <ip> <chain> <bantime>\n[Init]\nchain = INPUT\naddr_set = s-<name>\n[Init?family=inet6]\naddr_set = s6-<name>\n",
        );
        let l = Loader::new(&RealFs, d.path());
        let s = l.def("action.d", "nft").unwrap().unwrap();
        let mut r = DefReader::new(
            &s,
            &params(&[("chain", "<known/chain>"), ("name", "sshd")]),
            &loc(),
        );
        let opts = r.get_options(&jail(&[]), ACTION_OPTS, false).unwrap();
        let c = r.combined(&opts, ACTION_RUNTIME_TAGS).unwrap();
        assert_eq!(c["actionban"], "add <addr_set> <ip> INPUT <bantime>");
        assert_eq!(r.init["chain"].text, "<known/chain>");
        assert_eq!(r.init["addr_set?family=inet6"].text, "s6-<name>");
    }

    #[test]
    fn definition_options_reached_as_tags_and_sections() {
        let d = TempDir::new();
        d.write(
            "filter.d/x.conf",
            "[Definition]\nfailregex = <_helper> <lt/opt> <known/prefregex>\n_helper = H%(v)s\nv = 1\nprefregex = old\n",
        );
        d.write(
            "filter.d/x.local",
            "[Definition]\nprefregex = new\n[lt]\nopt = O\n",
        );
        let l = Loader::new(&RealFs, d.path());
        let s = l.def("filter.d", "x").unwrap().unwrap();
        let mut r = DefReader::new(&s, &[], &loc());
        let opts = r.get_options(&jail(&[]), FILTER_OPTS, false).unwrap();
        let c = r.combined(&opts, &[]).unwrap();
        assert_eq!(c["failregex"], "H1 O old");
        assert_eq!(c["prefregex"], "new");
    }
}
