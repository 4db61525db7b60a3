//! Owns reading fail2ban-format configuration trees into a validated typed
//! model, exactly as fail2ban reads them:
//!
//! - [`ini`]: one file with configparser's rules, file:line kept per value;
//! - [`store`]: read order and layering (`.conf`, `.d/*.conf`, `.local`,
//!   `.d/*.local`), `[INCLUDES]`, `known/` values, `?family=` sections;
//! - [`interp`]: `%(x)s` interpolation (`__name__`, `sec/opt`, `default/opt`,
//!   `known/opt`), cycles reported with their chain;
//! - [`tags`]: bracket parameters, action lists, `<tag>` substitution;
//! - [`defs`]: filter.d / action.d definitions with [Init] and parameters;
//! - [`jail`]: jails resolved as fail2ban's JailReader does;
//! - [`time`]: str2seconds times by a small safe parser;
//! - [`model`]: the typed model and its validation (the one place);
//! - [`stream`]: the `fail2ban-client -d` stream for `enforcer config dump`.
//!
//! Entry points: [`load`], [`load_checked`], [`load_default`], [`load_filter`],
//! [`dump_stream`], [`parse_time`]. Errors are [`ConfigError`]s that display as
//! `FILE:LINE: option 'x' in [sect]: what is wrong`.
use std::path::{Path, PathBuf};

pub mod defs;
pub mod error;
pub mod ini;
pub mod interp;
pub mod jail;
pub mod model;
pub mod store;
pub mod stream;
pub mod tags;
pub mod time;

pub use error::{ConfigError, Loc};
pub use model::*;
pub use time::{TimeError, parse_time};

use defs::{DefReader, FILTER_OPTS, Loader};
use ini::Val;
use store::{Fs, MemFs, RealFs};

/// The embedded default configuration tree (enforcer/defaults).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/defaults.rs"));

    /// The directory name error messages use for embedded files.
    pub const ROOT: &str = "<built-in>";
}

/// How a tree is loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Treat every jail as enabled (to check a whole tree).
    pub force_enable: bool,
}

/// Reads a whole tree (jail.conf/.local/jail.d, fail2ban.conf/..., filter.d,
/// action.d), validated; errors carry file:line and option.
pub fn load(config_dir: &Path) -> Result<Config, ConfigError> {
    load_checked(config_dir, &LoadOptions::default()).map_err(|mut e| e.remove(0))
}

/// Like [`load`], with options, returning every problem found (at least one
/// on error), in file order.
pub fn load_checked(config_dir: &Path, opts: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
    load_from(&RealFs, config_dir, opts)
}

/// The embedded default tree (enforcer/defaults) as a Config.
pub fn load_default() -> Result<Config, ConfigError> {
    let fs = MemFs::new(Path::new(embedded::ROOT), embedded::DEFAULT_FILES);
    load_from(&fs, Path::new(embedded::ROOT), &LoadOptions::default()).map_err(|mut e| e.remove(0))
}

/// The files of the embedded default tree: (relative path, contents).
pub fn default_files() -> &'static [(&'static str, &'static [u8])] {
    embedded::DEFAULT_FILES
}

/// Everything resolved but not yet typed: global options and enabled jails.
struct Resolved {
    global: Vec<(String, Val)>,
    jails: Vec<jail::ResolvedJail>,
}

/// Resolves what can be resolved; problems found on the way are returned
/// beside it (Err only when nothing can be read at all).
fn resolve(
    fs: &dyn Fs,
    dir: &Path,
    opts: &LoadOptions,
) -> Result<(Resolved, Vec<ConfigError>), Vec<ConfigError>> {
    if !fs.is_dir(dir) {
        return Err(vec![ConfigError::at(
            &Loc::file(dir),
            "configuration directory does not exist",
        )]);
    }
    let loader = Loader::new(fs, dir);
    let mut errs = Vec::new();
    let global = loader
        .read("fail2ban")
        .and_then(|s| jail::resolve_global(s.as_ref()));
    let global = global.unwrap_or_else(|e| {
        errs.push(e);
        Vec::new()
    });
    let mut jstore = match loader.read("jail") {
        Ok(Some(s)) => s,
        Ok(None) => {
            errs.push(ConfigError::at(
                &Loc::file(dir),
                "no jail.conf, jail.local or jail.d/ files here",
            ));
            return Err(errs);
        }
        Err(e) => {
            errs.push(e);
            return Err(errs);
        }
    };
    jail::add_static_defaults(&mut jstore, dir);
    let mut jails = Vec::new();
    let known_refs = jail::uses_known(&jstore);
    let names = jail::jail_names(&jstore);
    let results = par_map(&names, |name| {
        jail::resolve_jail(&loader, &jstore, name, opts.force_enable, known_refs)
    });
    for r in results {
        match r {
            Ok(Some(j)) => jails.push(j),
            Ok(None) => {}
            Err(e) => errs.push(e),
        }
    }
    Ok((Resolved { global, jails }, errs))
}

/// `f` over `items` on a few threads (jails resolve independently and
/// share the loader's caches), results in `items`' order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };
    // A thread costs tens of microseconds; a jail with its filter and
    // actions about a hundred.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(items.len() / 8);
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            slots.lock().expect("results lock")[i] = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    slots
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every item was mapped"))
        .collect()
}

fn validate(r: &Resolved, mut errs: Vec<ConfigError>) -> Result<Config, Vec<ConfigError>> {
    let global = model::global_def(&r.global)
        .map_err(|e| errs.extend(e))
        .ok();
    let mut jails = Vec::new();
    for j in &r.jails {
        match model::jail_def(j) {
            Ok(d) => jails.push(d),
            Err(e) => errs.extend(e),
        }
    }
    match global {
        Some(global) if errs.is_empty() => Ok(Config { global, jails }),
        _ => Err(errs),
    }
}

/// [`load_checked`] over any [`Fs`] (an in-memory tree, for instance).
pub fn load_from(fs: &dyn Fs, dir: &Path, opts: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
    let (r, errs) = resolve(fs, dir, opts)?;
    validate(&r, errs)
}

/// What `fail2ban-client -d` prints for the tree: one JSON array per
/// command. The tree is validated first.
pub fn dump_stream(config_dir: &Path) -> Result<Vec<serde_json::Value>, Vec<ConfigError>> {
    let (r, errs) = resolve(&RealFs, config_dir, &LoadOptions::default())?;
    validate(&r, errs)?;
    let mut out = stream::global_stream(&r.global).map_err(|e| vec![e])?;
    for j in &r.jails {
        out.extend(stream::jail_stream(j).map_err(|e| vec![e])?);
    }
    for j in &r.jails {
        out.push(serde_json::json!(["start", j.name]));
    }
    Ok(out)
}

/// Loads filter `spec` ("sshd", "sshd[mode=aggressive]", or a path to a .conf)
/// from `config_dir/filter.d`, with extra options (fail2ban-regex's filter
/// options, e.g. ("mode","aggressive"), ("logtype","journal")) overriding
/// [Init]/[Definition].
pub fn load_filter(
    config_dir: &Path,
    spec: &str,
    set: &[(String, String)],
) -> Result<FilterDef, ConfigError> {
    let here = Loc::file(&config_dir.join("filter.d"));
    let (name, mut params) = tags::extract_options(spec)
        .map_err(|m| ConfigError::at(&here, format!("filter {spec:?}: {m}")))?;
    params.extend(set.iter().map(|(k, v)| (k.to_lowercase(), v.clone())));
    let loader = Loader::new(&RealFs, config_dir);
    let is_path = name.contains('/') || name.ends_with(".conf") || name.ends_with(".local");
    let (key, display) = if is_path && name.contains('/') {
        let p = PathBuf::from(&name);
        let abs = if p.is_absolute() {
            p
        } else {
            std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
        };
        (
            abs.display().to_string(),
            abs.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    } else {
        let stem = name
            .trim_end_matches(".conf")
            .trim_end_matches(".local")
            .to_string();
        (name.clone(), stem)
    };
    let store = loader.def("filter.d", &key)?.ok_or_else(|| {
        ConfigError::at(
            &here,
            format!("unknown filter '{name}': no filter.d/{display}.conf or .local"),
        )
    })?;
    if store.section("Definition").is_none() {
        return Err(ConfigError::at(
            &Loc::file(store.files.first().map_or(config_dir, |p| p.as_path())),
            "filter file has no [Definition] section",
        ));
    }
    let mut r = DefReader::new(&store, &params, &here);
    if !r.init.contains_key("logtype") && store.own("Definition", "logtype").is_none() {
        r.init
            .insert("logtype".into(), Val::literal("file".into(), here.clone()));
    }
    let opts = r.get_options(&Default::default(), FILTER_OPTS, true)?;
    let comb = r.combined(&opts, &[])?;
    let locs = r.locs(&opts);
    model::filter_def(
        &display,
        r.source(),
        &comb,
        &locs,
        &Default::default(),
        "Definition",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::store::testutil::TempDir;

    const COMMON: &str = "[DEFAULT]\n__prefix_line = <lt_<logtype>/__prefix_line>\n[lt_file]\n__prefix_line = F:\n[lt_journal]\n__prefix_line = J:\n";
    const SSHD: &str = "[INCLUDES]\nbefore = common.conf\n[Definition]\nprefregex = ^<__prefix_line><F-CONTENT>.+</F-CONTENT>$\nfailregex = ^fail <mdre-<mode>> from <HOST>$\nmdre-normal = N\nmdre-aggressive = A\nmdre-ddos = D\nignoreregex =\ndatepattern = {^LN-BEG}\n[Init]\nmode = normal\nmaxlines = 1\njournalmatch = _SYSTEMD_UNIT=sshd.service + _COMM=sshd\n";
    const BAN: &str = "[Definition]\nactionban = ban <ip> <port> <name>\nactionunban = unban <ip>\nnorestored = yes\n[Init]\nport = 0\n";

    fn tree(jail: &str) -> TempDir {
        let d = TempDir::new();
        d.write("filter.d/common.conf", COMMON);
        d.write("filter.d/sshd.conf", SSHD);
        d.write("action.d/ban.conf", BAN);
        d.write(
            "jail.conf",
            "[DEFAULT]\nmaxretry = 5\nbantime = 10m\nfindtime = 10m\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\nport = 0:65535\nbanaction = ban\naction = %(banaction)s[port=\"%(port)s\"]\nlogpath = /var/log/auth.log\n",
        );
        d.write("jail.local", jail);
        d
    }

    fn one(d: &TempDir) -> JailDef {
        let mut c = load(d.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.jails.len(), 1);
        c.jails.remove(0)
    }

    #[test]
    fn load_filter_resolves_includes_tags_mode_and_logtype() {
        let d = tree("");
        let f = load_filter(d.path(), "sshd", &[]).unwrap();
        assert_eq!(f.name, "sshd");
        assert_eq!(
            f.prefregex.as_deref(),
            Some("^F:<F-CONTENT>.+</F-CONTENT>$")
        );
        assert_eq!(f.failregex, ["^fail N from <HOST>$"]);
        assert!(f.ignoreregex.is_empty());
        assert_eq!(f.maxlines, 1);
        assert_eq!(f.datepattern.as_deref(), Some("{^LN-BEG}"));
        assert_eq!(f.journalmatch, ["_SYSTEMD_UNIT=sshd.service + _COMM=sshd"]);
        assert_eq!(f.options["mode"], "normal");
        assert!(f.source.ends_with("filter.d/sshd.conf"));
        let f = load_filter(
            d.path(),
            "sshd[mode=ddos]",
            &[("logtype".into(), "journal".into())],
        )
        .unwrap();
        assert_eq!(f.failregex, ["^fail D from <HOST>$"]);
        assert!(f.prefregex.unwrap().starts_with("^J:"));
        let f = load_filter(
            d.path(),
            "sshd[mode=ddos]",
            &[("mode".into(), "aggressive".into())],
        )
        .unwrap();
        assert_eq!(f.failregex, ["^fail A from <HOST>$"]);
        let path = d.path().join("filter.d/sshd.conf");
        let f = load_filter(d.path(), path.to_str().unwrap(), &[]).unwrap();
        assert_eq!(f.failregex, ["^fail N from <HOST>$"]);
        let e = load_filter(d.path(), "nope", &[]).unwrap_err();
        assert!(e.to_string().contains("unknown filter 'nope'"), "{e}");
    }

    #[test]
    fn par_map_keeps_the_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            par_map(&items, |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert_eq!(par_map(&items[..3], |i| i + 1), [1, 2, 3]);
    }

    #[test]
    fn jail_with_defaults_filter_and_action() {
        let d = tree("[sshd]\nenabled = true\nport = ssh\n");
        let j = one(&d);
        assert_eq!(j.name, "sshd");
        assert_eq!(
            (j.maxretry, j.maxmatches, j.findtime, j.bantime),
            (5, 5, 600, 600)
        );
        assert_eq!(j.filter.failregex, ["^fail N from <HOST>$"]);
        assert_eq!(j.logpath, ["/var/log/auth.log"]);
        assert_eq!(j.actions.len(), 1);
        let a = &j.actions[0];
        assert_eq!((a.name.as_str(), a.file.as_str()), ("ban", "ban"));
        assert_eq!(a.properties["actionban"], "ban <ip> ssh sshd");
        assert_eq!(a.properties["port"], "ssh");
        assert_eq!(a.properties["norestored"], "yes");
        assert_eq!(j.options["port"], "ssh");
        assert!(j.ignoreself);
    }

    #[test]
    fn jail_mode_and_bracket_mode_pick_the_filter_variant() {
        let d = tree("[sshd]\nenabled = true\nmode = aggressive\n");
        assert_eq!(one(&d).filter.failregex, ["^fail A from <HOST>$"]);
        let d = tree("[ddos]\nenabled = true\nfilter = sshd[mode=ddos]\n");
        let j = one(&d);
        assert_eq!(j.filter.name, "sshd");
        assert_eq!(j.filter.failregex, ["^fail D from <HOST>$"]);
    }

    #[test]
    fn systemd_backend_uses_the_journal_logtype() {
        let d = tree("[sshd]\nenabled = true\nbackend = systemd\n");
        assert!(one(&d).filter.prefregex.unwrap().starts_with("^J:"));
    }

    #[test]
    fn jail_extends_filter_with_known_failregex_and_overrides() {
        let d = tree(
            "[sshd]\nenabled = true\nfailregex = %(known/failregex)s\n  ^extra <HOST>$\nmaxlines = 3\nignoreregex = ^ok$\n",
        );
        let j = one(&d);
        assert_eq!(
            j.filter.failregex,
            ["^fail N from <HOST>$", "^extra <HOST>$"]
        );
        assert_eq!(j.filter.maxlines, 3);
        assert_eq!(j.filter.ignoreregex, ["^ok$"]);
    }

    #[test]
    fn several_actions_one_per_line_unique_names() {
        let d = tree(
            "[sshd]\nenabled = true\naction = ban\n  ban[name=other]\n  ban[actname=third, port=\"1,2\"]\n",
        );
        let names: Vec<_> = one(&d).actions.iter().map(|a| a.name.clone()).collect();
        assert_eq!(names, ["ban", "ban-other", "third"]);
        let d = tree("[sshd]\nenabled = true\naction = ban\n  ban\n");
        let e = load(d.path()).unwrap_err();
        assert!(e.message.contains("used twice"), "{e}");
    }

    #[test]
    fn family_sections_go_to_family() {
        let d = tree("[sshd]\nenabled = true\n");
        d.write("action.d/ban.local", "[Init?family=inet6]\nport = six\n");
        let a = &one(&d).actions[0];
        assert_eq!(a.family["inet6"]["port"], "six");
        assert!(!a.properties.contains_key("port?family=inet6"));
    }

    #[test]
    fn bantime_options_and_ignore_lists() {
        let d = tree(
            "[DEFAULT]\nignoreip = 127.0.0.1/8 ::1, 192.0.2.0/24\nignorecommand = /bin/true <ip>\n[sshd]\nenabled = true\nbantime = -1\nfindtime = 1h 30m\nbantime.increment = true\nbantime.factor = 2.5\nbantime.maxtime = 1w\nbantime.overalljails = yes\nbantime.formula = ban.Time * 2\nignoreself = false\n",
        );
        let j = one(&d);
        assert_eq!(j.bantime, -1);
        assert_eq!(j.findtime, 5400);
        assert!(j.bantime_increment && j.bantime_overalljails && !j.ignoreself);
        assert_eq!(j.bantime_factor, 2.5);
        assert_eq!(j.bantime_maxtime, Some(604800));
        assert_eq!(j.bantime_formula.as_deref(), Some("ban.Time * 2"));
        assert_eq!(j.ignoreip, ["127.0.0.1/8", "::1", "192.0.2.0/24"]);
        assert_eq!(j.ignorecommand.as_deref(), Some("/bin/true <ip>"));
    }

    #[test]
    fn errors_name_file_line_option_and_are_all_collected() {
        let d = tree(
            "[sshd]\nenabled = true\nbantime = soon\nmaxretry = many\n[web]\nenabled = true\nfilter = nothing\n",
        );
        let errs = load_checked(d.path(), &LoadOptions::default()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let local = d.path().join("jail.local").display().to_string();
        assert!(
            text.iter().any(|t| t.starts_with(&format!(
                "{local}:7: option 'filter' in [web]: unknown filter"
            ))),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with(&format!(
                "{local}:3: option 'bantime' in [sshd]: not a time"
            ))),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with(&format!("{local}:4: option 'maxretry' in [sshd]"))),
            "{text:?}"
        );
    }

    #[test]
    fn disabled_jails_are_not_loaded_nor_checked() {
        let d = tree("[sshd]\nenabled = true\n[off]\nfilter = nothing\n");
        assert_eq!(load(d.path()).unwrap().jails.len(), 1);
        let e = load_checked(d.path(), &LoadOptions { force_enable: true }).unwrap_err();
        assert!(e[0].message.contains("unknown filter"));
    }

    #[test]
    fn unknown_action_and_python_action() {
        let d = tree("[sshd]\nenabled = true\naction = nope[x=1]\n");
        assert!(
            load(d.path())
                .unwrap_err()
                .message
                .contains("unknown action 'nope'")
        );
        let d = tree("[sshd]\nenabled = true\naction = helper\n");
        d.write("action.d/helper.conf", "[Init]\nx = 1\n");
        assert!(
            load(d.path())
                .unwrap_err()
                .message
                .contains("no [Definition]")
        );
        let d = tree("[sshd]\nenabled = true\naction = smtp.py[dest=a]\n");
        assert!(
            load(d.path())
                .unwrap_err()
                .message
                .contains("Python actions")
        );
    }

    #[test]
    fn global_options_from_fail2ban_conf_and_local() {
        let d = tree("[sshd]\nenabled = true\n");
        d.write(
            "fail2ban.conf",
            "[DEFAULT]\nloglevel = INFO\ndbpurgeage = 1d\n[Definition]\ndbfile = /x.db\n",
        );
        d.write(
            "fail2ban.local",
            "[Definition]\ndbpurgeage = 2d\nloglevel = DEBUG\n",
        );
        let g = load(d.path()).unwrap().global;
        assert_eq!(
            (
                g.loglevel.as_str(),
                g.dbfile.as_str(),
                g.dbpurgeage,
                g.dbmaxmatches
            ),
            ("DEBUG", "/x.db", 172800, 10)
        );
        d.write("fail2ban.local", "[Definition]\ndbpurgeage = later\n");
        assert!(
            load(d.path())
                .unwrap_err()
                .to_string()
                .contains("fail2ban.local:2: option 'dbpurgeage' in [Definition]")
        );
    }

    #[test]
    fn missing_dir_and_missing_jail_conf() {
        let d = TempDir::new();
        assert!(
            load(&d.path().join("none"))
                .unwrap_err()
                .message
                .contains("does not exist")
        );
        assert!(load(d.path()).unwrap_err().message.contains("no jail.conf"));
    }

    /// The embedded tree, with stand-ins for the filters (written by the filter room).
    #[test]
    fn default_tree_loads_with_sshd_enabled_and_xdp() {
        static SSHD_STANDIN: &[u8] =
            b"[Definition]\nfailregex = ^Failed password for .* from <HOST>\n";
        let mut files: Vec<(&str, &'static [u8])> = embedded::DEFAULT_FILES.to_vec();
        if !files.iter().any(|(p, _)| *p == "filter.d/sshd.conf") {
            files.push(("filter.d/sshd.conf", SSHD_STANDIN));
        }
        let fs = MemFs::new(Path::new(embedded::ROOT), &files);
        let c = load_from(&fs, Path::new(embedded::ROOT), &LoadOptions::default()).unwrap();
        assert_eq!(c.jails.len(), 1);
        let j = &c.jails[0];
        assert_eq!(j.name, "sshd");
        assert_eq!(j.ignoreip, ["127.0.0.1/8", "::1"]);
        assert!(j.ignoreself);
        assert_eq!(j.actions[0].file, "xdp");
        assert_eq!(j.actions[0].properties["port"], "ssh");
        assert_eq!(j.actions[0].properties["type"], "multiport");
        assert_eq!(c.global.dbpurgeage, 86400);
    }
}

/// A bounded, deterministic mutation run over small trees: whatever the
/// bytes, loading gives a Config or errors with a location, never a panic or
/// a hang. (The cargo-fuzz target in enforcer/fuzz explores further.)
#[cfg(test)]
mod mutation {
    use super::*;

    const SEED: [&str; 4] = [
        "[DEFAULT]\nfilter = %(__name__)s[mode=%(mode)s]\nmode = normal\nport = ssh\naction = drop[port=\"%(port)s\", name=x]\n  drop[actname=two]\nlogpath = /l\nbantime = 1h 30m\n[sshd]\nenabled = true\nfailregex = %(known/failregex)s\n  ^x <HOST>$\n",
        "[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = ^<_p>fail <mdre-<mode>> <HOST>$\n  ^two$\n_p = <lt_<logtype>/p>\nmdre-normal = N\n[lt_file]\np = F\n[Init]\nmode = normal\nmaxlines = 1\njournalmatch = _COMM=sshd + _COMM='a b'\n",
        "[Definition]\nactionban = drop <ip> <port> <addr>\n[Init]\nport = 0\naddr = a-<name>\n[Init?family=inet6]\naddr = b-<name>\n",
        "[Definition]\ndbpurgeage = 1d\nloglevel = INFO\n",
    ];
    const NAMES: [&str; 4] = [
        "jail.conf",
        "filter.d/sshd.conf",
        "action.d/drop.conf",
        "fail2ban.conf",
    ];
    const SPECIAL: &[u8] = b"[]%()<>=:;#\n \t\",'/?s\xff0";

    #[test]
    fn mutated_trees_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let root = Path::new("/m");
        let started = std::time::Instant::now();
        for _ in 0..3000 {
            let mut files: Vec<Vec<u8>> = SEED.iter().map(|s| s.as_bytes().to_vec()).collect();
            for _ in 0..1 + rnd() % 4 {
                let f = &mut files[(rnd() % 4) as usize];
                let at = (rnd() as usize) % (f.len() + 1);
                let c = SPECIAL[(rnd() as usize) % SPECIAL.len()];
                match rnd() % 3 {
                    0 => f.insert(at, c),
                    1 if at < f.len() => f[at] = c,
                    _ if at < f.len() => {
                        f.remove(at);
                    }
                    _ => {}
                }
            }
            let named: Vec<(&str, &[u8])> = NAMES
                .iter()
                .copied()
                .zip(files.iter().map(|f| f.as_slice()))
                .collect();
            let fs = MemFs::new(root, &named);
            match load_from(&fs, root, &LoadOptions { force_enable: true }) {
                Ok(c) => assert!(c.jails.len() <= 3),
                Err(errs) => {
                    assert!(!errs.is_empty());
                    for e in errs {
                        assert!(e.file.starts_with(root), "{e}");
                    }
                }
            }
        }
        assert!(started.elapsed().as_secs() < 60, "mutation run too slow");
    }
}
