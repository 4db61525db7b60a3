//! `enforcer regex` runs the stock filters on the text fail2ban runs them
//! on: the line and a final newline, which a trailing `\s` may take
//! (3proxy's failregex ends in `\d+\s`). And `--no-check-all` stops at a
//! line's first failregex, as fail2ban-regex's `-o` mode and the daemon
//! do. The expected outputs are what Debian's fail2ban-regex printed for
//! the same lines (`fail2ban-regex --raw`, `-o row`).

/// 3proxy lines cut short right after their last field.
#[test]
fn a_trailing_space_class_takes_the_final_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("3proxy.log");
    std::fs::write(
        &log,
        "11-06-2013 02:09:40 +0300 PROXY.3128 00004 - 198.18.0.1:28783 0.0.0.0:0 0 0 0\n\
         13-06-2013 01:39:34 +0300 PROXY.3128 00508 - 198.18.0.2:28938 0.0.0.0:0 0 0 0\n",
    )
    .expect("writing the log");
    let out = tests::enforcer_regex([log.to_str().expect("UTF-8 path"), "3proxy"]);
    assert!(
        out.contains("Lines: 2 lines, 0 ignored, 2 matched, 0 missed"),
        "{out}"
    );
}

/// sshd's "Failed publickey for invalid user" matches two failregexes:
/// the invalid-user one (a failure) and the generic one (NOFAIL).
#[test]
fn no_check_all_stops_at_the_first_failregex() {
    let line = "Jul 05 18:22:45 edge-1 sshd[4670]: Failed publickey for invalid user gaysky \
                from 198.18.0.7 port 37955 ssh2: RSA SHA256:v3dpapGleDaUKf4V1vKyR9ZyUgjaJAmoCTcb2PLljI";
    let failures = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        args.extend([line, "sshd"]);
        tests::enforcer_regex(args)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    };
    let all = failures(&[]);
    let nofail: Vec<_> = all.iter().map(|f| f["nofail"].as_bool()).collect();
    assert_eq!(nofail, [Some(false), Some(true)], "{all:?}");
    let first = failures(&["--no-check-all"]);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["fid"], "198.18.0.7");
    assert_eq!(first[0]["fields"]["user"], "gaysky");
    assert_eq!(first[0]["nofail"], false);
    assert!(first[0]["fields"].get("cond_inv").is_none(), "{first:?}");
}
