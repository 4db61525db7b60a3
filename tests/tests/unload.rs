//! Scenario: `enforcer unload` with no daemon running detaches the program
//! from every interface and removes every pin; traffic then passes, and a
//! second unload is harmless.
use std::net::IpAddr;

use tests::{lab::Lab, traffic::pings};

#[test]
fn unload_detaches_and_removes_pins() {
    if !tests::privileged("unload_detaches_and_removes_pins") {
        return;
    }
    let lab = Lab::new();
    let mut daemon = lab.daemon_on_banned_link();
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    lab.paths().cli_ok(&["ban", &lab.banned_end.v4]);
    assert!(!pings(&lab.banned, p_b));
    assert!(daemon.terminate().success());
    assert!(
        !pings(&lab.banned, p_b),
        "enforcement stopped with the daemon"
    );
    assert!(
        lab.paths().bpffs.exists(),
        "pins removed by a graceful stop"
    );

    lab.paths().cli_ok(&["unload"]);
    let details = lab.link_details(&lab.p_banned.ifname);
    assert!(
        !details.contains("xdp"),
        "still attached after unload:\n{details}"
    );
    let left: Vec<_> = std::fs::read_dir(&lab.paths().bpffs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pins left after unload: {left:?}");
    assert!(
        pings(&lab.banned, p_b),
        "traffic still dropped after unload"
    );
    lab.paths().cli_ok(&["unload"]);
}
