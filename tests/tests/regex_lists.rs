//! `enforcer regex` lists lines as fail2ban-regex does: a line tested on
//! its own that misses is listed as missed, more than 20 missed lines are
//! "too many to print" unless `--print-all-missed`, `--print-no-missed`
//! lists none, and a multi-line match moves its earlier lines from missed
//! to matched (the stock mongodb-auth filter, maxlines = 10).
#[test]
fn missed_lines_are_listed_as_fail2ban_regex_lists_them() {
    let line = "Mar  1 00:00:00 edge-1 sshd[1000]: Server listening on :: port 22.  ";
    let out = tests::enforcer_regex([line, "sshd"]);
    assert!(
        out.contains("Lines: 1 lines, 0 ignored, 0 matched, 1 missed"),
        "{out}"
    );
    // trailing blanks are not printed, as fail2ban-regex strips them
    assert!(
        out.contains(&format!("|- Missed line(s):\n|  {}\n`-", line.trim_end())),
        "{out}"
    );
    assert!(!tests::enforcer_regex(["--print-no-missed", line, "sshd"]).contains("Missed line(s)"));

    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("auth.log");
    std::fs::write(&log, format!("{line}\n").repeat(25)).expect("writing the log");
    let log = log.to_str().expect("UTF-8 path");
    let out = tests::enforcer_regex([log, "sshd"]);
    assert!(
        out.contains(
            "Missed line(s): too many to print.  Use --print-all-missed to print all 25 lines"
        ),
        "{out}"
    );
    let all = tests::enforcer_regex(["--print-all-missed", log, "sshd"]);
    assert_eq!(
        all.matches(&format!("|  {}\n", line.trim_end())).count(),
        25
    );
}

#[test]
fn a_multi_line_match_counts_its_earlier_lines_as_matched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("mongodb.log");
    let lines = [
        "2016-11-20T00:04:00.110+0100 [conn1] Failed to authenticate root@admin with mechanism MONGODB-CR: AuthenticationFailed UserNotFound Could not find user root@admin",
        "2016-11-20T00:04:00.111+0100 [conn2] end connection 198.18.0.9:53277 (0 connections now open)",
        "2016-11-20T00:04:00.112+0100 [conn1] end connection 198.18.0.8:53276 (0 connections now open)",
    ];
    std::fs::write(&log, lines.join("\n") + "\n").expect("writing the log");
    let log = log.to_str().expect("UTF-8 path");
    let out = tests::enforcer_regex(["--print-all-matched", log, "mongodb-auth"]);
    // the failure at line 3 takes line 1 with it; line 2 is skipped
    assert!(
        out.contains("Lines: 3 lines, 0 ignored, 2 matched, 1 missed"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "|- Matched line(s):\n|  {}\n|  {}\n`-",
            lines[0], lines[2]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("|- Missed line(s):\n|  {}\n`-", lines[1])),
        "{out}"
    );
}
