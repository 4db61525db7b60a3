//! Owns `enforcer regex --json`'s output: one object per failure, in the
//! shape `../shared/conformance/f2b_samples.py` reads, written straight to
//! the output. Every string in it came from the log and is escaped by
//! serde_json.
use std::io::Write;

use crate::filter::Failure;

/// A field of a failure's JSON object: a capture, or the `users` list.
pub(super) enum JsonField<'a> {
    One(&'a str),
    List(&'a [String]),
}

/// Writes one failure as the JSON object the conformance contract asks
/// for, keys sorted, straight to `out` (a `serde_json::Value` built per
/// failure cost more than matching the line did).
pub(super) fn write_json<'a>(
    out: &mut impl Write,
    line: usize,
    f: &'a Failure,
    fields: &mut Vec<(&'a str, JsonField<'a>)>,
) -> std::io::Result<()> {
    fields.clear();
    let users = !f.users.is_empty();
    for (k, v) in &f.fields {
        if !(users && k == "users") {
            fields.push((k, JsonField::One(v)));
        }
    }
    if users {
        fields.push(("users", JsonField::List(&f.users)));
    }
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{\"fid\":")?;
    serde_json::to_writer(&mut *out, &f.fid)?;
    out.write_all(b",\"fields\":{")?;
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, k)?;
        out.write_all(b":")?;
        match v {
            JsonField::One(s) => serde_json::to_writer(&mut *out, s)?,
            JsonField::List(l) => serde_json::to_writer(&mut *out, l)?,
        }
    }
    out.write_all(b"},\"host\":")?;
    serde_json::to_writer(&mut *out, &f.host)?;
    write!(
        out,
        ",\"line\":{line},\"matches\":{},\"nofail\":",
        f.matches.len()
    )?;
    out.write_all(if f.nofail { b"true" } else { b"false" })?;
    out.write_all(b",\"time\":")?;
    serde_json::to_writer(&mut *out, &f.time)?;
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::filter::fields::{Fields, Names};

    fn failure(users: &[&str], host: Option<&str>) -> Failure {
        let names = Arc::new(Names::new(["user", "mlfid", "users"]));
        let mut s = names.slots();
        let id = |k| names.id(k).unwrap();
        s.set(id("user"), "r\"o\\o\nt\u{1}\u{e9}");
        s.set(id("mlfid"), " host sshd[1]: ");
        s.set(id("users"), "shadowed when the list is there");
        Failure {
            fid: "2001:db8::1".into(),
            host: host.map(str::to_string),
            addr: None,
            time: 1124013600.5,
            fields: Fields::new(names.clone(), Arc::new(s)),
            users: users.iter().map(|u| u.to_string()).collect(),
            matches: vec![Arc::from("a"), Arc::from("b")],
            nofail: true,
            regex: 0,
        }
    }

    fn written(f: &Failure) -> String {
        let mut out = Vec::new();
        write_json(&mut out, 7, f, &mut Vec::new()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_object_is_one_line_of_sorted_keys_with_log_text_escaped() {
        let f = failure(&["b", "a\"x"], Some("2001:db8::1"));
        let got = written(&f);
        assert_eq!(got.matches('\n').count(), 1);
        assert!(got.ends_with("}\n"));
        // what serde_json's own map (sorted keys) makes of the same failure
        let want = serde_json::json!({
            "line": 7,
            "fid": "2001:db8::1",
            "host": "2001:db8::1",
            "time": 1124013600.5,
            "fields": {
                "mlfid": " host sshd[1]: ",
                "user": "r\"o\\o\nt\u{1}\u{e9}",
                "users": ["b", "a\"x"],
            },
            "matches": 2,
            "nofail": true,
        });
        assert_eq!(got.trim_end(), want.to_string());
    }

    #[test]
    fn without_users_the_field_of_that_name_stays_and_a_missing_host_is_null() {
        let got: serde_json::Value = serde_json::from_str(&written(&failure(&[], None))).unwrap();
        assert_eq!(got["host"], serde_json::Value::Null);
        assert_eq!(got["fields"]["users"], "shadowed when the list is there");
        assert_eq!(got["fields"].as_object().unwrap().len(), 3);
    }
}
