//! Scenario (issue 7, hostile input): malformed requests on a running
//! daemon's control socket — truncated JSON, wrong types, unknown commands,
//! invalid UTF-8, NUL bytes, a line of several MB without newline, hundreds
//! of connections that send nothing or half a line, clients that hang up
//! mid-request. The daemon refuses each, keeps answering valid requests
//! (also while the silent connections are held open) and its ban list is
//! unchanged. `cargo xtask soak` repeats this for longer.
use std::time::{Duration, Instant};

use tests::{
    control_abuse,
    lab::Lab,
    suite::{self, Tally},
};

fn bans(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.paths().cli_ok(&["banned", "--json"])).unwrap()
}

#[test]
fn malformed_control_requests_change_nothing() {
    if !tests::privileged("control_malformed") {
        return;
    }
    let lab = Lab::new();
    let daemon = lab.daemon_on_banned_link();
    lab.paths()
        .cli_ok(&["ban", "--jail", "sshd", "--bantime", "-1", "198.18.5.5"]);
    lab.paths().cli_ok(&["ban", "2001:db8:5::/48"]);
    let before = bans(&lab);
    assert_eq!(before["bans"].as_array().unwrap().len(), 2, "{before}");
    let socket = lab.paths().socket.clone();

    let rounds = suite::count("CONTROL_ROUNDS", 1);
    let budget = Duration::from_secs(suite::count("CONTROL_SECS", 600));
    let start = Instant::now();
    let mut payloads = 0;
    for _ in 0..rounds {
        payloads += control_abuse::malformed(&socket);
        payloads += control_abuse::oversized(&socket, 4);
        payloads += control_abuse::slowloris(&socket, 100);
        payloads += control_abuse::hang_ups(&socket, 30);
        if start.elapsed() > budget {
            break;
        }
    }

    control_abuse::ping(&socket);
    let after = bans(&lab);
    assert_eq!(before, after, "the ban list changed");
    assert!(!std::path::Path::new("/tmp/enforcer-pwned").exists());
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
    suite::report(
        "control_malformed",
        Tally {
            payloads,
            faults: 0,
            bans_lost: 0,
        },
    );
}
