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

#[cfg(test)]
mod tests;
