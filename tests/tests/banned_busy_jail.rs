//! `banned` while a jail's thread runs a slow action: the answer does not
//! wait for the action (fail2ban-client's does not either). The jail is
//! named as busy (on stderr, and in `--json` as `busy`), and the bans the
//! XDP maps hold are listed all the same.
use tests::jailconf::{JailConf, JailLab};

#[test]
fn banned_answers_while_a_jail_runs_a_slow_action() {
    if !tests::privileged("banned_busy_jail") {
        return;
    }
    let conf = JailConf::ours();
    // a notification action (not a blocking one: it stays a command) that
    // takes its time on ban
    conf.write(
        "action.d/slow-notify.conf",
        "[Definition]\nactionstart =\nactionstop =\nactioncheck =\n\
         actionban = sleep 6\nactionunban =\n",
    );
    let jl = JailLab::new(
        conf,
        "[sshd]\nenabled = true\nlogpath = @AUTH@\nbackend = auto\n\
         action = xdp\n         slow-notify\n",
    );
    let _d = jl.daemon();
    let p = jl.lab.paths();
    // (returns once the action is done)
    p.cli_ok(&["ban", "sshd", "198.18.7.1"]);

    // the next ban keeps the jail's thread in `sleep 6`
    let slow = {
        let p = jl.lab.paths().clone();
        std::thread::spawn(move || p.cli_ok(&["ban", "sshd", "198.18.7.2"]))
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = p.cli(&["banned"]);
    assert!(
        !slow.is_finished(),
        "banned answered only after the action was done"
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("198.18.7.1"), "the maps' ban: {stdout}");
    assert!(
        stderr.contains("busy") && stderr.contains("sshd"),
        "the busy jail is named: {stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&p.cli_ok(&["banned", "--json"])).expect("banned --json");
    assert_eq!(json["busy"], serde_json::json!(["sshd"]), "{json}");
    slow.join().expect("the slow ban finished");
    let after: serde_json::Value =
        serde_json::from_str(&p.cli_ok(&["banned", "--json"])).expect("banned --json");
    assert!(after.get("busy").is_none(), "idle again: {after}");
    assert!(after.to_string().contains("198.18.7.2"), "{after}");
}
