//! Owns the `fail2ban-client -d` stream: the commands fail2ban's client would
//! send its server to start the enabled jails, one JSON array each, built
//! from the resolved (not yet typed) configuration so it matches fail2ban
//! option for option. Numbers and booleans are typed as fail2ban types them.
use serde_json::{Value, json};

use super::{
    defs::{ACTION_OPTS, FILTER_OPTS},
    error::ConfigError,
    ini::Val,
    jail::{ResolvedJail, as_bool},
    tags::{shell_split, split_words},
};

const INT_OPTS: &[&str] = &["maxretry", "maxmatches", "maxlines", "dbmaxmatches"];
const BOOL_OPTS: &[&str] = &[
    "enabled",
    "bantime.increment",
    "bantime.overalljails",
    "ignoreself",
    "actionstart_on_demand",
    "actionrepair_on_unban",
    "norestored",
];
/// Jail options that are not sent as `set` commands of their own.
const JAIL_NOT_SENT: &[&str] = &["action", "filter", "enabled"];

/// A value as fail2ban types it after reading.
fn typed(opt: &str, text: &str, val: Option<&Val>, sect: &str) -> Result<Value, ConfigError> {
    if INT_OPTS.contains(&opt) {
        return text.trim().parse::<i64>().map(Value::from).map_err(|_| {
            let loc = val
                .map(|v| v.loc.clone())
                .unwrap_or_else(|| super::error::Loc::file(std::path::Path::new("<config>")));
            ConfigError::option(&loc, sect, opt, format!("not a whole number: {text:?}"))
        });
    }
    if BOOL_OPTS.contains(&opt) {
        return Ok(Value::Bool(as_bool(text)));
    }
    Ok(Value::String(text.to_string()))
}

/// The global part of the stream.
pub fn global_stream(opts: &[(String, Val)]) -> Result<Vec<Value>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in opts {
        if k == "socket" || k == "pidfile" {
            continue;
        }
        out.push(json!(["set", k, typed(k, &v.text, Some(v), "Definition")?]));
    }
    Ok(out)
}

/// fail2ban's FilterReader._fillStream over `opts`.
fn fill_stream<'a>(
    out: &mut Vec<Value>,
    jail: &str,
    opts: impl Iterator<Item = (&'a String, &'a str, Option<&'a Val>)>,
) -> Result<(), ConfigError> {
    for (opt, value, val) in opts {
        match opt.as_str() {
            "failregex" | "ignoreregex" => {
                let multi: Vec<&str> = value.split('\n').filter(|r| !r.is_empty()).collect();
                let cmd = format!("add{opt}");
                match multi.len() {
                    0 => {}
                    1 => out.push(json!(["set", jail, cmd, multi[0]])),
                    _ => out.push(json!(["multi-set", jail, cmd, multi])),
                }
            }
            "usedns" | "maxlines" | "prefregex" | "datepattern" => {
                out.push(json!(["set", jail, opt, typed(opt, value, val, jail)?]));
            }
            "journalmatch" => {
                for m in value.split('\n').filter(|m| !m.is_empty()) {
                    let words = shell_split(m).map_err(|e| {
                        let loc = val.map(|v| v.loc.clone()).unwrap_or_else(|| {
                            super::error::Loc::file(std::path::Path::new("<filter>"))
                        });
                        ConfigError::option(&loc, jail, "journalmatch", e)
                    })?;
                    let mut cmd = vec![json!("set"), json!(jail), json!("addjournalmatch")];
                    cmd.extend(words.into_iter().map(Value::from));
                    out.push(Value::Array(cmd));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The stream of one jail (without its `start`).
pub fn jail_stream(j: &ResolvedJail) -> Result<Vec<Value>, ConfigError> {
    let n = j.name.as_str();
    let mut out = Vec::new();
    let backend = j.opts.get("backend").map_or("auto", |v| v.text.as_str());
    out.push(json!(["add", n, backend]));
    if let Some(f) = &j.filter {
        fill_stream(
            &mut out,
            n,
            f.sent.iter().map(|(k, v)| (k, v.as_str(), None)),
        )?;
    }
    fill_stream(
        &mut out,
        n,
        j.opts.iter().map(|(k, v)| (k, v.text.as_str(), Some(v))),
    )?;
    let mut logs = Vec::new();
    for (opt, v) in &j.opts {
        match opt.as_str() {
            "logpath" => {
                if backend.starts_with("systemd") {
                    continue;
                }
                let mut found = 0;
                for line in v.text.split('\n') {
                    let (path, tail) = match line.rsplit_once(' ') {
                        Some((p, t)) => (p, t),
                        None => (line, "head"),
                    };
                    for p in glob::glob(path).into_iter().flatten().flatten() {
                        if p.exists() {
                            found += 1;
                            logs.push(json!([
                                "set",
                                n,
                                "addlogpath",
                                p.display().to_string(),
                                tail
                            ]));
                        }
                    }
                }
                if found == 0 {
                    return Err(ConfigError::option(
                        &v.loc,
                        n,
                        "logpath",
                        format!("no log file found for {:?}", v.text),
                    ));
                }
            }
            "backend" => {}
            "ignoreip" => {
                let mut cmd = vec![json!("set"), json!(n), json!("addignoreip")];
                cmd.extend(split_words(&v.text).into_iter().map(Value::from));
                out.push(Value::Array(cmd));
            }
            o if JAIL_NOT_SENT.contains(&o) || FILTER_OPTS.contains(&o) => {}
            o => out.push(json!(["set", n, o, typed(o, &v.text, Some(v), n)?])),
        }
    }
    out.append(&mut logs);
    for a in &j.actions {
        if let Some((path, params)) = &a.python {
            let mut obj = serde_json::Map::new();
            for (k, v) in params {
                obj.insert(k.clone(), Value::from(v.clone()));
            }
            out.push(json!([
                "set",
                n,
                "addaction",
                a.name,
                path,
                Value::Object(obj).to_string()
            ]));
            continue;
        }
        out.push(json!(["set", n, "addaction", a.name]));
        let mut multi = Vec::new();
        for (k, v) in &a.props {
            let val = if ACTION_OPTS.contains(&k.as_str()) {
                typed(k, v, None, n)?
            } else {
                Value::from(v.clone())
            };
            multi.push(json!([k, val]));
        }
        match multi.len() {
            0 => {}
            1 => {
                let mut cmd = vec![json!("set"), json!(n), json!("action"), json!(a.name)];
                if let Value::Array(kv) = multi.remove(0) {
                    cmd.extend(kv);
                }
                out.push(Value::Array(cmd));
            }
            _ => out.push(json!(["multi-set", n, "action", a.name, multi])),
        }
    }
    Ok(out)
}
