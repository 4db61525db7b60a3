//! Scenario: with `--max-bans 4` the exact-address map holds four bans; a
//! fifth is an error reported to the caller (exit 1, which targets made it),
//! the daemon keeps running, and prefixes have their own capacity.
use tests::lab::Lab;

#[test]
fn a_full_ban_map_is_an_error_not_a_crash() {
    if !tests::privileged("a_full_ban_map_is_an_error_not_a_crash") {
        return;
    }
    let lab = Lab::new();
    let _daemon = lab.daemon(&[
        "--iface",
        &lab.p_banned.ifname,
        "--max-bans",
        "4",
        "--max-prefixes",
        "2",
    ]);
    lab.paths()
        .cli_ok(&["ban", "198.18.9.1", "198.18.9.2", "198.18.9.3"]);
    let out = lab
        .paths()
        .cli(&["ban", "198.18.9.4", "198.18.9.5", "198.18.9.6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("full"), "{stderr}");
    assert!(stderr.contains("1 of 3 banned (198.18.9.4)"), "{stderr}");

    let listed = lab.paths().cli_ok(&["banned"]);
    for a in ["198.18.9.1", "198.18.9.2", "198.18.9.3", "198.18.9.4"] {
        assert!(listed.contains(a), "{a} missing: {listed}");
    }
    assert!(!listed.contains("198.18.9.5"), "{listed}");

    // Re-banning an address already in the full map is an update, not a new
    // entry; prefixes live in their own trie.
    lab.paths()
        .cli_ok(&["ban", "--bantime", "600", "198.18.9.1"]);
    lab.paths()
        .cli_ok(&["ban", "198.18.10.0/24", "2001:db8:9::/48"]);
    // After an unban there is room again.
    lab.paths().cli_ok(&["unban", "198.18.9.2"]);
    lab.paths().cli_ok(&["ban", "198.18.9.5"]);
    assert!(lab.paths().cli_ok(&["banned"]).contains("198.18.9.5"));
    let tally = tests::suite::Tally {
        payloads: 3,
        faults: 1,
        bans_lost: 0,
    };
    tests::suite::report("map_full", tally);
}
