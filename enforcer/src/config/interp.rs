//! Owns `%(...)s` interpolation as fail2ban does it: `%(x)s` from the
//! variables given by the caller, then the section, then `[DEFAULT]`;
//! `%(__name__)s` is the section's name; `%(sec/opt)s` reads another section,
//! `%(default/opt)s` the `[DEFAULT]` one, `%(known/opt)s` the value the
//! option had before a later file overrode it; `%%` is a literal `%`. A
//! referenced value is interpolated in the referencing section's context, as
//! configparser does, so `[DEFAULT]` templates see each jail's options.
//! Cycles are errors naming the chain.
use std::{borrow::Cow, collections::BTreeMap};

use super::{
    error::{ConfigError, Loc},
    ini::Val,
    store::{Section, Store},
};

/// How deep references may nest before we give up (configparser allows 10).
const MAX_DEPTH: usize = 40;

/// A lookup context: a store, the section values are read in, and variables
/// that take precedence over the section (jail options, bracket parameters).
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub section: &'a str,
    pub vars: Option<&'a BTreeMap<String, Val>>,
    /// `section` looked up once (every lookup starts there).
    own: Option<&'a Section>,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a Store, section: &'a str) -> Ctx<'a> {
        Ctx {
            store,
            section,
            vars: None,
            own: store.section(section),
        }
    }

    pub fn with_vars(mut self, vars: &'a BTreeMap<String, Val>) -> Ctx<'a> {
        self.vars = Some(vars);
        self
    }

    /// The raw value `name` resolves to in this context.
    pub fn lookup(&self, name: &str) -> Option<Cow<'a, Val>> {
        if let Some(v) = self.vars.and_then(|v| v.get(name)) {
            return Some(Cow::Borrowed(v));
        }
        if let Some(v) = self.own.and_then(|s| s.opts.get(name)) {
            return Some(Cow::Borrowed(v));
        }
        if let Some(v) = self.store.defaults.get(name) {
            return Some(Cow::Borrowed(v));
        }
        if name == "__name__" {
            let loc = self
                .own
                .map(|s| s.loc.clone())
                .unwrap_or_else(|| Loc::file(std::path::Path::new("<config>")));
            return Some(Cow::Owned(Val::literal(self.section.to_string(), loc)));
        }
        let (sec, opt) = split_section_option(name)?;
        let store = self.store;
        let found = match sec.to_ascii_lowercase().as_str() {
            "default" => store.defaults.get(opt),
            "known" => store
                .known
                .get(self.section)
                .and_then(|k| k.get(opt))
                .or_else(|| store.defaults.get(opt)),
            _ => {
                let s = store.section(sec).or_else(|| {
                    store
                        .sections
                        .iter()
                        .find(|s| s.name.eq_ignore_ascii_case(sec))
                })?;
                s.opts.get(opt).or_else(|| store.defaults.get(opt))
            }
        };
        found.map(Cow::Borrowed)
    }

    /// The interpolated value of option `opt`, None when it is not set.
    pub fn get(&self, opt: &str) -> Result<Option<(String, Loc)>, ConfigError> {
        let Some(v) = self.lookup(opt) else {
            return Ok(None);
        };
        let mut chain = vec![opt.to_string()];
        let text = self.expand(&v, &mut chain)?;
        Ok(Some((text, v.loc.clone())))
    }

    /// Interpolates a value that is not itself an option of the context.
    pub fn interpolate(&self, v: &Val) -> Result<String, ConfigError> {
        self.expand(v, &mut Vec::new())
    }

    fn expand(&self, v: &Val, chain: &mut Vec<String>) -> Result<String, ConfigError> {
        if v.literal || !v.text.contains('%') {
            return Ok(v.text.clone());
        }
        let owner = chain.last().cloned();
        let err = |msg: String| {
            let e = ConfigError::at(&v.loc, msg);
            match &owner {
                Some(o) => e.in_option(self.section, o),
                None => e,
            }
        };
        let mut out = String::with_capacity(v.text.len());
        let mut rest = v.text.as_str();
        while let Some(p) = rest.find('%') {
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            if let Some(r) = rest.strip_prefix("%%") {
                out.push('%');
                rest = r;
                continue;
            }
            let Some(inner) = rest.strip_prefix("%(") else {
                return Err(err(format!(
                    "'%' must be followed by '%' or '(' (write %% for a literal %): {}",
                    snippet(rest)
                )));
            };
            let Some(close) = inner.find(')') else {
                return Err(err(format!("unterminated reference {}", snippet(rest))));
            };
            if !inner[close + 1..].starts_with('s') || close == 0 {
                return Err(err(format!("bad reference {}", snippet(rest))));
            }
            let name = inner[..close].to_lowercase();
            rest = &inner[close + 2..];
            if chain.contains(&name) {
                chain.push(name);
                return Err(err(format!("interpolation cycle: {}", chain.join(" -> "))));
            }
            if chain.len() >= MAX_DEPTH {
                return Err(err(format!(
                    "interpolation nested too deeply: {}",
                    chain.join(" -> ")
                )));
            }
            let Some(target) = self.lookup(&name) else {
                return Err(err(format!(
                    "%({name})s refers to an option that is not set"
                )));
            };
            chain.push(name);
            let text = self.expand(&target, chain)?;
            chain.pop();
            out.push_str(&text);
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `sec/opt` as fail2ban spells it (`^[\w-]+/[^\s>]+$`).
pub fn split_section_option(name: &str) -> Option<(&str, &str)> {
    let (sec, opt) = name.split_once('/')?;
    let sec_ok = !sec.is_empty()
        && sec
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let opt_ok = !opt.is_empty() && !opt.chars().any(|c| c.is_whitespace() || c == '>');
    (sec_ok && opt_ok).then_some((sec, opt))
}

fn snippet(s: &str) -> String {
    let cut: String = s.chars().take(30).collect();
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::store::{FileCache, RealFs, read_layered, testutil::TempDir};

    fn store(files: &[(&str, &str)]) -> (TempDir, Store) {
        let d = TempDir::new();
        for (n, t) in files {
            d.write(n, t);
        }
        let s = read_layered(&RealFs, &FileCache::default(), d.path(), "jail")
            .unwrap()
            .unwrap();
        (d, s)
    }

    fn get(s: &Store, sect: &str, opt: &str) -> Result<String, ConfigError> {
        Ctx::new(s, sect).get(opt).map(|v| v.unwrap().0)
    }

    #[test]
    fn section_then_default_late_bound() {
        let (_d, s) = store(&[(
            "jail.conf",
            "[DEFAULT]\nport = 0:65535\naction = ban[port=%(port)s]\n[sshd]\nport = ssh\n[web]\n",
        )]);
        assert_eq!(get(&s, "sshd", "action").unwrap(), "ban[port=ssh]");
        assert_eq!(get(&s, "web", "action").unwrap(), "ban[port=0:65535]");
    }

    #[test]
    fn name_percent_and_sections() {
        let (_d, s) = store(&[(
            "jail.conf",
            "[DEFAULT]\nfilter = %(__name__)s\nx = dflt\n[a]\nx = a\ny = %(b/z)s %(default/x)s 100%%\n[b]\nz = %(x)s\n",
        )]);
        assert_eq!(get(&s, "a", "filter").unwrap(), "a");
        // b/z is read raw, then interpolated where it is used: x is a's.
        assert_eq!(get(&s, "a", "y").unwrap(), "a dflt 100%");
    }

    #[test]
    fn known_is_the_overridden_value() {
        let (_d, s) = store(&[
            ("jail.conf", "[DEFAULT]\nport = 1\n[a]\nport = ssh\n"),
            ("jail.local", "[a]\nport = %(known/port)s,2222\n"),
        ]);
        assert_eq!(get(&s, "a", "port").unwrap(), "ssh,2222");
        // no earlier value in the section: falls back to [DEFAULT]
        let (_d, s) = store(&[(
            "jail.conf",
            "[DEFAULT]\nport = 1\n[a]\nport = %(known/port)s,2\n",
        )]);
        assert_eq!(get(&s, "a", "port").unwrap(), "1,2");
    }

    #[test]
    fn vars_take_precedence() {
        let (_d, s) = store(&[(
            "jail.conf",
            "[Definition]\nmode = normal\nre = <%(mode)s>\n",
        )]);
        let loc = Loc::file(std::path::Path::new("/v"));
        let vars = BTreeMap::from([("mode".to_string(), Val::literal("aggressive".into(), loc))]);
        let v = Ctx::new(&s, "Definition")
            .with_vars(&vars)
            .get("re")
            .unwrap()
            .unwrap();
        assert_eq!(v.0, "<aggressive>");
    }

    #[test]
    fn cycle_names_the_chain_and_line() {
        let (_d, s) = store(&[("jail.conf", "[a]\nx = %(y)s\ny = %(z)s\nz = %(x)s\n")]);
        let e = get(&s, "a", "x").unwrap_err();
        assert!(e.to_string().contains("x -> y -> z -> x"), "{e}");
        assert_eq!(e.line, 4);
        let (_d, s) = store(&[("jail.conf", "[a]\nbantime = %(bantime)s\n")]);
        assert!(
            get(&s, "a", "bantime")
                .unwrap_err()
                .message
                .contains("cycle")
        );
    }

    #[test]
    fn missing_and_bad_syntax() {
        let (_d, s) = store(&[("jail.conf", "[a]\nx = %(nope)s\ny = 5%\nz = %(u\n")]);
        let e = get(&s, "a", "x").unwrap_err();
        assert!(
            e.to_string().contains("jail.conf:2: option 'x' in [a]"),
            "{e}"
        );
        assert!(get(&s, "a", "y").unwrap_err().message.contains("'%'"));
        assert!(get(&s, "a", "z").is_err());
    }

    #[test]
    fn reference_names_are_case_insensitive() {
        let (_d, s) = store(&[("jail.conf", "[a]\nMyVar = 7\nx = %(MYVAR)sm\n")]);
        assert_eq!(get(&s, "a", "x").unwrap(), "7m");
    }
}
