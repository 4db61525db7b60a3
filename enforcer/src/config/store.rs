//! Owns read order and layering. For a name like `jail` or `filter.d/sshd`:
//! `X.conf`, `X.d/*.conf` (sorted), `X.local`, `X.d/*.local` (sorted); each
//! file's `[INCLUDES] before=`/`after=` (relative to the including file,
//! recursive, each include followed by its own `.local`) wrap it. Later files
//! override earlier ones per option; the value a later file replaced stays
//! reachable as `known/opt`; `[Name?family=inet6]` sections become
//! `opt?family=inet6` options of `[Name]`. Files come from a [`Fs`]: the real
//! filesystem or the embedded default tree.
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use super::{
    error::{ConfigError, Loc},
    ini::{self, IniFile, Val},
};

/// Where configuration files are read from.
pub trait Fs: Sync {
    /// Contents of a file, None when there is no such file.
    fn read(&self, path: &Path) -> Option<Vec<u8>>;
    fn is_file(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
    /// Files directly in `dir` whose name ends with `suffix`, sorted.
    fn list(&self, dir: &Path, suffix: &str) -> Vec<PathBuf>;
}

/// The real filesystem.
pub struct RealFs;

impl Fs for RealFs {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        if !path.is_file() {
            return None;
        }
        std::fs::read(path).ok()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn list(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix) && !n.starts_with('.'))
                    && p.is_file()
            })
            .collect();
        out.sort();
        out
    }
}

/// A tree held in memory: (path relative to `root`, contents).
pub struct MemFs {
    pub root: PathBuf,
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    pub fn new<B: AsRef<[u8]>>(root: &Path, files: &[(&str, B)]) -> MemFs {
        MemFs {
            root: root.to_path_buf(),
            files: files
                .iter()
                .map(|(p, b)| (normalize(&root.join(p)), b.as_ref().to_vec()))
                .collect(),
        }
    }
}

impl Fs for MemFs {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.get(&normalize(path)).cloned()
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
    fn is_dir(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.keys().any(|k| k.starts_with(&p) && *k != p)
    }
    fn list(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
        let d = normalize(dir);
        self.files
            .keys()
            .filter(|k| {
                k.parent() == Some(d.as_path())
                    && k.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(suffix))
            })
            .cloned()
            .collect()
    }
}

/// Drops `.` and resolves `..` lexically. A `..` with nothing before it to
/// cancel stays (`../shared/x` is relative to the working directory), and
/// one right after the root is the root (`/..` is `/`).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                Some(Component::ParentDir) | Some(Component::CurDir) | None => out.push(".."),
            },
            c => out.push(c),
        }
    }
    out
}

/// Parsed files, shared by every reader of one load (common.conf is read once).
#[derive(Default)]
pub struct FileCache {
    files: Mutex<HashMap<PathBuf, Arc<IniFile>>>,
}

impl FileCache {
    fn get(&self, fs: &dyn Fs, path: &Path) -> Result<Option<Arc<IniFile>>, ConfigError> {
        if let Some(f) = self.files.lock().expect("cache lock").get(path) {
            return Ok(Some(f.clone()));
        }
        let Some(bytes) = fs.read(path) else {
            return Ok(None);
        };
        let f = Arc::new(ini::parse(path, &bytes)?);
        self.files
            .lock()
            .expect("cache lock")
            .insert(path.to_path_buf(), f.clone());
        Ok(Some(f))
    }
}

/// One section after layering.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    /// Header of the first file that opened it.
    pub loc: Loc,
    pub opts: BTreeMap<String, Val>,
}

/// The merged result of reading a name with all its layers and includes.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub defaults: BTreeMap<String, Val>,
    /// In order of first appearance.
    pub sections: Vec<Section>,
    /// Per section: the value each overridden option had before.
    pub known: HashMap<String, BTreeMap<String, Val>>,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    /// The file the name stands for (`X.conf`, or the first layer there is).
    pub main: PathBuf,
    /// Section name -> position in `sections`.
    index: HashMap<String, usize>,
}

impl Store {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.index.get(name).map(|&i| &self.sections[i])
    }

    /// `name`'s own option (no `[DEFAULT]`).
    pub fn own(&self, section: &str, opt: &str) -> Option<&Val> {
        self.section(section).and_then(|s| s.opts.get(opt))
    }

    fn merge(&mut self, file: &IniFile) {
        for (k, v) in &file.defaults {
            self.defaults.insert(k.clone(), v.clone());
        }
        for s in &file.sections {
            let (name, cond) = match split_conditional(&s.name) {
                Some((n, c)) => (n, c),
                None => (s.name.as_str(), ""),
            };
            let opts = s
                .options
                .iter()
                .map(|(k, v)| (format!("{k}{cond}"), v.clone()));
            match self.index.get(name).map(|&i| &mut self.sections[i]) {
                Some(existing) => {
                    let known = self.known.entry(name.to_string()).or_default();
                    for (k, v) in opts {
                        if let Some(old) = existing.opts.insert(k.clone(), v) {
                            known.insert(k, old);
                        }
                    }
                }
                None => {
                    self.index.insert(name.to_string(), self.sections.len());
                    self.sections.push(Section {
                        name: name.to_string(),
                        loc: s.loc.clone(),
                        opts: opts.collect(),
                    });
                }
            }
        }
    }
}

/// `Init?family=inet6` -> ("Init", "?family=inet6").
pub fn split_conditional(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    if base.is_empty() || !base.chars().all(|c| c.is_alphanumeric() || c == '_') || cond.len() < 2 {
        return None;
    }
    Some((base, cond))
}

/// Reads `basedir/name` with every layer and include.
/// Ok(None) when not one of its files exists.
pub fn read_layered(
    fs: &dyn Fs,
    cache: &FileCache,
    basedir: &Path,
    name: &str,
) -> Result<Option<Store>, ConfigError> {
    let base = basedir.join(name);
    let with = |ext: &str| {
        let mut s = base.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let mut files = vec![with(".conf")];
    files.extend(fs.list(&with(".d"), ".conf"));
    files.push(with(".local"));
    files.extend(fs.list(&with(".d"), ".local"));
    files.retain(|f| fs.is_file(f));
    if files.is_empty() {
        return Ok(None);
    }
    read_files(fs, cache, &files).map(Some)
}

/// Reads the given files (each with its includes) into one store.
pub fn read_files(fs: &dyn Fs, cache: &FileCache, files: &[PathBuf]) -> Result<Store, ConfigError> {
    let mut order = Vec::new();
    expand(fs, cache, files, &[], &mut order)?;
    let mut store = Store {
        main: files.first().cloned().unwrap_or_default(),
        ..Store::default()
    };
    for path in order {
        if let Some(f) = cache.get(fs, &path)? {
            store.merge(&f);
            store.files.push(path);
        }
    }
    Ok(store)
}

/// Appends `files` (each followed by its `.local` when that exists and is not
/// listed) with their includes, in read order, to `out`.
fn expand(
    fs: &dyn Fs,
    cache: &FileCache,
    files: &[PathBuf],
    seen: &[PathBuf],
    out: &mut Vec<PathBuf>,
) -> Result<(), ConfigError> {
    let mut list: Vec<PathBuf> = Vec::new();
    for f in files {
        list.push(f.clone());
        let local = f.with_extension("local");
        if local != *f && !files.contains(&local) && fs.is_file(&local) {
            list.push(local);
        }
    }
    for resource in list {
        let Some(parsed) = cache.get(fs, &resource)? else {
            continue;
        };
        let dir = resource.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut chain = seen.to_vec();
        chain.push(resource.clone());
        let mut after = Vec::new();
        if let Some(inc) = parsed.sections.iter().find(|s| s.name == "INCLUDES") {
            for which in ["before", "after"] {
                let Some((_, val)) = inc.options.iter().find(|(n, _)| n == which) else {
                    continue;
                };
                for line in val
                    .text
                    .split('\n')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                {
                    let target = normalize(&dir.join(line));
                    if seen.contains(&target) {
                        continue;
                    }
                    if !fs.is_file(&target) {
                        // fail2ban treats every include as optional; stock files
                        // name `.local` ones that need not exist (paths-overrides.local),
                        // but a missing `.conf` is a mistake worth stopping for.
                        if target.extension().is_some_and(|e| e == "local") {
                            continue;
                        }
                        return Err(ConfigError::option(
                            &val.loc,
                            "INCLUDES",
                            which,
                            format!("included file {} does not exist", target.display()),
                        ));
                    }
                    if which == "before" {
                        expand(fs, cache, &[target], &chain, out)?;
                    } else {
                        expand(fs, cache, &[target], &chain, &mut after)?;
                    }
                }
            }
        }
        out.push(resource);
        out.append(&mut after);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A temporary directory removed on drop, for tests that write configs.
    use std::path::{Path, PathBuf};

    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "enforcer-config-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("mkdir tempdir");
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }

        /// Writes `rel` (creating parents) with `text`.
        pub fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{testutil::TempDir, *};

    fn read(dir: &TempDir, name: &str) -> Store {
        read_layered(&RealFs, &FileCache::default(), dir.path(), name)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn read_order_conf_d_conf_local_d_local() {
        let d = TempDir::new();
        d.write("jail.conf", "[s]\na = conf\nb = conf\nc = conf\nd = conf\n");
        d.write("jail.d/2.conf", "[s]\nb = d2conf\n");
        d.write("jail.d/1.conf", "[s]\nb = d1conf\nc = d1conf\n");
        d.write("jail.local", "[s]\nc = local\nd = local\n");
        d.write("jail.d/1.local", "[s]\nd = d1local\n");
        let s = read(&d, "jail");
        let v = |o: &str| s.own("s", o).unwrap().text.clone();
        assert_eq!(v("a"), "conf");
        assert_eq!(v("b"), "d2conf");
        assert_eq!(v("c"), "local");
        assert_eq!(v("d"), "d1local");
        assert!(
            s.own("s", "d")
                .unwrap()
                .loc
                .file
                .ends_with("jail.d/1.local")
        );
        assert_eq!(s.known["s"]["d"].text, "local");
        let names: Vec<_> = s
            .files
            .iter()
            .map(|f| f.strip_prefix(d.path()).unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "jail.conf",
                "jail.d/1.conf",
                "jail.d/2.conf",
                "jail.local",
                "jail.d/1.local"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn includes_before_after_recursive_with_their_local() {
        let d = TempDir::new();
        d.write(
            "jail.conf",
            "[INCLUDES]\nbefore = paths-debian.conf\nafter = last.conf\n[DEFAULT]\nx = jail\n",
        );
        d.write("paths-debian.conf", "[INCLUDES]\nbefore = paths-common.conf\nafter = paths-overrides.local\n[DEFAULT]\ny = debian\n");
        d.write(
            "paths-common.conf",
            "[DEFAULT]\nx = common\ny = common\nz = common\n",
        );
        d.write("paths-common.local", "[DEFAULT]\nz = commonlocal\n");
        d.write("last.conf", "[DEFAULT]\nw = last\nx = last\n");
        let s = read(&d, "jail");
        let names: Vec<_> = s
            .files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "paths-common.conf",
                "paths-common.local",
                "paths-debian.conf",
                "jail.conf",
                "last.conf"
            ]
        );
        assert_eq!(s.defaults["x"].text, "last");
        assert_eq!(s.defaults["y"].text, "debian");
        assert_eq!(s.defaults["z"].text, "commonlocal");
    }

    #[test]
    fn missing_conf_include_is_an_error_at_the_include_line() {
        let d = TempDir::new();
        d.write(
            "jail.conf",
            "[INCLUDES]\n\nbefore = nothere.conf\n[s]\na=1\n",
        );
        let e = read_layered(&RealFs, &FileCache::default(), d.path(), "jail").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("nothere.conf"), "{e}");
    }

    #[test]
    fn include_cycles_are_cut() {
        let d = TempDir::new();
        d.write("a.conf", "[INCLUDES]\nbefore = b.conf\n[s]\na=1\n");
        d.write("b.conf", "[INCLUDES]\nbefore = a.conf\n[s]\nb=1\n");
        let s = read(&d, "a");
        assert_eq!(s.own("s", "a").unwrap().text, "1");
        assert_eq!(s.own("s", "b").unwrap().text, "1");
    }

    #[test]
    fn conditional_sections_become_conditional_options() {
        let d = TempDir::new();
        d.write(
            "action.d/x.conf",
            "[Init]\nt = v4\n[Init?family=inet6]\nt = v6\n",
        );
        let s = read(&d, "action.d/x");
        assert_eq!(s.own("Init", "t").unwrap().text, "v4");
        assert_eq!(s.own("Init", "t?family=inet6").unwrap().text, "v6");
        assert!(s.section("Init?family=inet6").is_none());
    }

    #[test]
    fn nothing_there_is_none() {
        let d = TempDir::new();
        assert!(
            read_layered(&RealFs, &FileCache::default(), d.path(), "jail")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn normalize_keeps_leading_parent_dirs() {
        let n = |p: &str| normalize(Path::new(p));
        assert_eq!(
            n("../shared/a/./b/../c.conf"),
            Path::new("../shared/a/c.conf")
        );
        assert_eq!(n("../../x/../y"), Path::new("../../y"));
        assert_eq!(n("a/../../b"), Path::new("../b"));
        assert_eq!(n("/../a/b/.."), Path::new("/a"));
        assert_eq!(n("./a"), Path::new("a"));
    }

    #[test]
    fn includes_resolve_under_a_relative_dir_with_parent_components() {
        let d = TempDir::new();
        d.write("sub/placeholder", "");
        d.write(
            "cfg/jail.conf",
            "[INCLUDES]\nbefore = paths.conf\n[s]\na = %(p)s\n",
        );
        d.write("cfg/paths.conf", "[DEFAULT]\np = from-paths\n");
        // a relative path that goes up, seen from d/sub: d/cfg
        let rel = PathBuf::from("../sub/../cfg");
        let base = d.path().join("sub");
        // An Fs that resolves relative paths against `base` (as the real one
        // does against the working directory, which tests must not change).
        struct At(PathBuf);
        impl Fs for At {
            fn read(&self, p: &Path) -> Option<Vec<u8>> {
                RealFs.read(&self.0.join(p))
            }
            fn is_file(&self, p: &Path) -> bool {
                RealFs.is_file(&self.0.join(p))
            }
            fn is_dir(&self, p: &Path) -> bool {
                RealFs.is_dir(&self.0.join(p))
            }
            fn list(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
                RealFs
                    .list(&self.0.join(dir), suffix)
                    .into_iter()
                    .map(|p| dir.join(p.file_name().unwrap()))
                    .collect()
            }
        }
        let fs = At(base.clone());
        let s = read_layered(&fs, &FileCache::default(), &rel, "jail")
            .unwrap()
            .unwrap();
        assert_eq!(s.defaults["p"].text, "from-paths");
        assert!(s.files[0].starts_with(".."), "{:?}", s.files);
    }

    #[test]
    fn memfs_lists_and_reads() {
        static FILES: &[(&str, &[u8])] = &[
            ("jail.conf", b"[s]\na=1\n"),
            ("jail.d/x.local", b"[s]\na=2\n"),
        ];
        let fs = MemFs::new(Path::new("/mem"), FILES);
        let s = read_layered(&fs, &FileCache::default(), Path::new("/mem"), "jail")
            .unwrap()
            .unwrap();
        assert_eq!(s.own("s", "a").unwrap().text, "2");
    }
}
