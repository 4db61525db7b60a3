//! Scenario: bad input to the client commands (not an address, a prefix
//! longer than the family allows, an unknown flag, a zero ban time) is one
//! clear line on stderr and exit code 2, and the maps do not change. Without
//! a daemon, client commands fail with exit code 1 and say so.
use tests::lab::Lab;

fn bans(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.paths().cli_ok(&["banned", "--json"])).unwrap()
}

#[test]
fn bad_input_is_exit_2_and_changes_nothing() {
    if !tests::privileged("bad_input_is_exit_2_and_changes_nothing") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon_on_banned_link();
    lab.paths().cli_ok(&["ban", "--jail", "sshd", "198.18.5.5"]);
    let before = bans(&lab);
    assert_eq!(before["bans"].as_array().unwrap().len(), 1, "{before}");

    for args in [
        &["ban", "not-an-address"][..],
        &["ban", "198.18.0.1", "198.18.0.300"],
        &["ban", "198.18.0.0/33"],
        &["ban", "2001:db8::/129"],
        &["ban", "--frobnicate", "198.18.0.1"],
        &["ban", "--bantime", "0", "198.18.0.1"],
        &["ban", "--bantime", "later", "198.18.0.1"],
        &["ban", "--jail", "two words", "198.18.0.1"],
        &["ban"],
        &["unban", "198.18.5.5/40"],
        &["unban", "--all", "198.18.5.5"],
        &["unban"],
        &["banned", "--colour"],
        &["stats", "extra"],
    ] {
        let out = lab.paths().cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}\n{stderr}",
            out.status
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: not one line:\n{stderr}"
        );
        assert!(stderr.starts_with("enforcer: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    assert_eq!(bans(&lab), before, "bad input changed the maps");
}

#[test]
fn client_commands_without_a_daemon_fail_with_exit_1() {
    if !tests::privileged("client_commands_without_a_daemon_fail_with_exit_1") {
        return;
    }
    let lab = Lab::new();
    for args in [
        &["banned"][..],
        &["ban", "198.18.0.1"],
        &["stats"],
        &["unban", "--all"],
    ] {
        let out = lab.paths().cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach the daemon"),
            "{args:?}: {stderr}"
        );
    }
}
