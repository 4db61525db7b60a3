//! `enforcer regex` gives the same failures and counts in every thread
//! layout: on one thread (`--single-thread`) and in its default pipeline,
//! where on two cores the reading thread also runs the regexes of the
//! batches the other thread is behind on. The log is gen_authlog.py's
//! (realistic sshd traffic, with F-MLFID merging across lines) and the
//! filter the stock sshd one, also with an ignoreregex (whose early pass
//! makes prefregex's count depend on the line before).
use std::process::Command;

fn regex(log: &std::path::Path, extra: &[&str]) -> (String, String) {
    regex_ignoring(log, extra, None)
}

fn regex_ignoring(log: &std::path::Path, extra: &[&str], ignore: Option<&str>) -> (String, String) {
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    args.push(log.as_os_str());
    args.push("sshd".as_ref());
    args.extend(ignore.map(std::ffi::OsStr::new));
    let text = tests::enforcer_regex(args);
    // the summary without its timing line
    let summary = text
        .lines()
        .filter(|l| !l.contains("processed in"))
        .collect::<Vec<_>>()
        .join("\n");
    (text, summary)
}

#[test]
fn thread_layouts_agree_on_an_sshd_log() {
    let shared = tests::shared_dir();
    let log = std::env::temp_dir().join(format!("regex-threads-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("log file");
    let st = Command::new("python3")
        .arg(shared.join("bench/gen_authlog.py"))
        .arg("60000")
        .stdout(out)
        .status()
        .expect("running gen_authlog.py");
    assert!(st.success(), "gen_authlog.py failed");

    let (json_one, _) = regex(&log, &["--single-thread", "--json"]);
    let (json_many, _) = regex(&log, &["--json"]);
    let (_, sum_one) = regex(&log, &["--single-thread"]);
    let (_, sum_many) = regex(&log, &[]);
    let ignore = Some("session (?:opened|closed)|Server listening");
    let (_, ign_one) = regex_ignoring(&log, &["--single-thread"], ignore);
    let (_, ign_many) = regex_ignoring(&log, &[], ignore);
    let _ = std::fs::remove_file(&log);

    let failures = json_one.lines().filter(|l| l.starts_with('{')).count();
    assert!(failures > 10_000, "only {failures} failures found");
    assert!(json_one == json_many, "--json differs between layouts");
    assert_eq!(sum_one, sum_many);
    assert!(sum_one.contains("Lines: 60000 lines"), "{sum_one}");
    assert_eq!(ign_one, ign_many);
    assert!(
        ign_one.contains("Prefregex: 60000 total") && ign_one.contains("Ignoreregex: "),
        "{ign_one}"
    );
}
