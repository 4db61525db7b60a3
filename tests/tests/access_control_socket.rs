//! Scenario (issue 7, access): the control socket is root's only (mode
//! 0600). A non-root user (nobody, via `setpriv`) running `enforcer ping`,
//! `ban`, `unban --all` or `stop` is refused with a clear permission error
//! and exit 2, and the daemon's state is unchanged.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use tests::{
    lab::Lab,
    suite::{self, Tally},
};

fn bans(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.paths().cli_ok(&["banned", "--json"])).unwrap()
}

#[test]
fn a_non_root_user_is_refused() {
    if !tests::privileged("access_control_socket") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon_on_banned_link();
    lab.paths().cli_ok(&["ban", "198.18.5.5"]);
    let before = bans(&lab);

    let socket = &lab.paths().socket;
    let meta = std::fs::metadata(socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    assert_eq!(meta.uid(), 0, "socket owned by root");
    // The directory is searchable by everyone: it is the socket's own mode
    // that refuses.
    let dir = socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut tried = 0;
    for args in [
        &["ping"][..],
        &["ban", "198.18.6.6"],
        &["unban", "--all"],
        &["banned"],
        &["stop"],
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(tests::enforcer_bin())
            .arg("--socket")
            .arg(socket)
            .args(args)
            .output()
            .expect("running setpriv");
        tried += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("permission denied"), "{args:?}: {stderr}");
        assert!(stderr.contains("root"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    lab.paths().cli_ok(&["ping"]);
    assert_eq!(before, bans(&lab), "state changed");
    suite::report(
        "access_control_socket",
        Tally {
            payloads: tried,
            faults: 0,
            bans_lost: 0,
        },
    );
}
