//! Both tools' failures in one form, one per line, for `difffuzz --rows`:
//! `[id, time, {field: value}]` as JSON with the keys sorted, fields that
//! did not take part (Python's None) left out and sets as sorted lists.
//!
//! fail2ban-regex's `-o row` prints `[id, time, data],` with Python's repr
//! of each, for every failure that is not a NOFAIL match; ours
//! come from `enforcer regex --json`, without the NOFAIL ones as there.
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Reads fail2ban-regex's rows with Python's own literal parser, into JSON
/// (sets as sorted lists; [`row`] leaves out what did not take part).
const PY_ROWS: &str = r#"
import ast, json, sys
for line in sys.stdin:
    line = line.rstrip("\n")
    if not (line.startswith("[") and line.endswith("],")):
        continue
    fid, time, data = ast.literal_eval(line[:-1])
    fields = {k: sorted(v) if isinstance(v, (set, frozenset)) else v for k, v in data.items()}
    print(json.dumps([fid, time, fields]))
"#;

/// fail2ban-regex's `-o row` output, one normalised row per line.
pub fn theirs(stdout: &str) -> Result<String> {
    use std::io::Write;
    let mut py = Command::new("python3")
        .args(["-c", PY_ROWS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running python3")?;
    let mut stdin = py.stdin.take().context("python3 stdin")?;
    let text = stdout.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = py.wait_with_output()?;
    writer.join().expect("writer thread")?;
    if !out.status.success() {
        bail!("python3 could not read fail2ban-regex's rows");
    }
    let mut rows = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line)?;
        let [fid, time, fields] = <[Value; 3]>::try_from(v.as_array().cloned().unwrap_or_default())
            .map_err(|_| anyhow::anyhow!("bad row {line}"))?;
        rows.push_str(&row(fid, time, fields));
    }
    Ok(rows)
}

/// `enforcer regex --json` output, one normalised row per line, without
/// the NOFAIL failures (in `-o` mode fail2ban-regex prints the others of
/// their line all the same).
pub fn ours(stdout: &str) -> Result<String> {
    let mut rows = String::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let f: Value = serde_json::from_str(line).with_context(|| format!("bad JSON {line}"))?;
        if f["nofail"] != Value::Bool(true) {
            rows.push_str(&row(
                f["fid"].clone(),
                f["time"].clone(),
                f["fields"].clone(),
            ));
        }
    }
    Ok(rows)
}

/// One row: `fid<TAB>time<TAB>fields`, the time to the microsecond, or
/// [`ANY_TIME`] when fail2ban-regex had none (a line without a date: it
/// leaves the time unset, where a daemon takes the current one).
fn row(fid: Value, time: Value, fields: Value) -> String {
    let mut kept = serde_json::Map::new();
    if let Value::Object(m) = fields {
        for (k, v) in m {
            if !v.is_null() && k != "nofail" {
                kept.insert(k, v);
            }
        }
    }
    let time = time
        .as_f64()
        .map_or_else(|| ANY_TIME.to_string(), |t| format!("{t:.6}"));
    format!("{fid}\t{time}\t{}\n", Value::Object(kept))
}

/// The time of a row of fail2ban-regex's that had none.
const ANY_TIME: &str = "*";

/// Whether our time is fail2ban-regex's: the same, or any when it had
/// none, or both "now" (a line whose date fail2ban-regex takes from the
/// clock: the two runs read it a moment apart).
fn same_time(ours: Option<&str>, theirs: Option<&str>) -> bool {
    if ours == theirs || theirs == Some(ANY_TIME) {
        return true;
    }
    let secs = |t: Option<&str>| t.and_then(|t| t.parse::<f64>().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    matches!((secs(ours), secs(theirs)),
        (Some(a), Some(b)) if (a - b).abs() < 60.0 && a > now - 3600.0)
}

/// Whether our rows are fail2ban-regex's, row by row (see [`same_time`]).
pub fn same(ours: &str, theirs: &str) -> bool {
    let (mut a, mut b) = (ours.lines(), theirs.lines());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                let mut xs = x.split('\t');
                let mut ys = y.split('\t');
                let fid = xs.next() == ys.next();
                let times = same_time(xs.next(), ys.next());
                if !(fid && times && xs.next() == ys.next()) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_failure_reads_the_same_from_both() {
        let f2b = "['198.18.0.1',\t1124013600.0,\t{'mlfid': ' h sshd[1]: ', 'user': 'root', \
                   'ip4': '198.18.0.1', 'ip6': None, 'users': {'root', 'admin'}}],\n";
        let ours_json = r#"{"fid":"198.18.0.1","fields":{"ip4":"198.18.0.1","mlfid":" h sshd[1]: ","user":"root","users":["admin","root"]},"host":"198.18.0.1","line":1,"matches":1,"nofail":false,"time":1124013600.0}"#;
        let a = theirs(f2b).unwrap();
        assert_eq!(a, ours(ours_json).unwrap());
        assert!(a.contains("\t1124013600.000000\t"));
    }

    #[test]
    fn nofail_failures_are_left_out() {
        let json = concat!(
            r#"{"fid":"a","fields":{},"line":2,"nofail":true,"time":1.0}"#,
            "\n",
            r#"{"fid":"b","fields":{},"line":2,"nofail":false,"time":1.0}"#,
            "\n",
            r#"{"fid":"c","fields":{},"line":3,"nofail":false,"time":1.0}"#,
        );
        assert_eq!(
            ours(json).unwrap(),
            "\"b\"\t1.000000\t{}\n\"c\"\t1.000000\t{}\n"
        );
    }

    #[test]
    fn a_row_without_a_time_takes_any() {
        let f2b = "['198.18.0.1',\tNone,\t{}],\n";
        let t = theirs(f2b).unwrap();
        let at =
            |time: &str| format!(r#"{{"fid":"198.18.0.1","fields":{{}},"line":1,"time":{time}}}"#);
        assert!(same(&ours(&at("5.0")).unwrap(), &t));
        assert!(!same(
            &ours(&at("5.0")).unwrap(),
            &theirs("['198.18.0.2',\tNone,\t{}],").unwrap()
        ));
        assert!(!same("", &t));
    }
}
