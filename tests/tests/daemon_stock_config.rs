//! Acceptance 5 of issue 6: fail2ban's own stock configuration (from
//! ../shared, copied to a temporary tree at test time) with sshd and
//! recidive enabled in a jail.local starts, and `enforcer status` prints
//! fail2ban-client's layout. Bad input to the CLI is one line and exit 2.
use tests::{jailconf::JailConf, lab::Lab};

#[test]
fn stock_fail2ban_config_starts_and_status_matches_fail2ban_client() {
    if !tests::privileged("daemon_stock_config") {
        return;
    }
    let lab = Lab::new();
    let conf = JailConf::stock();
    conf.own_log_and_db();
    let auth = conf.work.join("auth.log");
    std::fs::write(&auth, "").unwrap();
    conf.write(
        "jail.local",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nbackend = auto\n\n\
             [recidive]\nenabled = true\nlogpath = {}\nbackend = auto\n",
            auth.display(),
            conf.log().display()
        ),
    );
    let _d = lab.daemon(&["--iface", &lab.p_banned.ifname, "--config", conf.dir_str()]);
    let p = lab.paths();
    assert_eq!(
        p.cli_ok(&["status"]),
        "Status\n|- Number of jail:\t2\n`- Jail list:\trecidive, sshd\n"
    );
    p.cli_ok(&["ban", "sshd", "198.18.1.2"]);
    let expected = format!(
        "Status for the jail: sshd\n\
         |- Filter\n\
         |  |- Currently failed:\t0\n\
         |  |- Total failed:\t0\n\
         |  `- File list:\t{}\n\
         `- Actions\n   \
            |- Currently banned:\t1\n   \
            |- Total banned:\t1\n   \
            `- Banned IP list:\t198.18.1.2\n",
        auth.display()
    );
    assert_eq!(p.cli_ok(&["status", "sshd"]), expected);
    assert_eq!(p.cli_ok(&["get", "sshd", "bantime"]), "600\n");
    assert_eq!(p.cli_ok(&["get", "sshd", "maxretry"]), "5\n");
    assert_eq!(p.cli_ok(&["get", "sshd", "banip"]), "198.18.1.2\n");
    assert_eq!(p.cli_ok(&["set", "sshd", "bantime", "1h"]), "3600\n");
    assert_eq!(p.cli_ok(&["get", "sshd", "bantime"]), "3600\n");
    let v: serde_json::Value =
        serde_json::from_str(&p.cli_ok(&["status", "sshd", "--json"])).unwrap();
    assert!(v.to_string().contains("198.18.1.2"), "{v}");
    for bad in [
        &["status", "nosuch"][..],
        &["get", "nosuch", "bantime"],
        &["set", "sshd", "bantime", "soon"],
        &["set", "sshd", "maxretry", "-3"],
        &["ban", "sshd", "198.18.1.300"],
        &["status", "sshd", "--flavor", "loud"],
    ] {
        let out = p.cli(bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
    }
    p.cli_ok(&["unban", "198.18.1.2"]);
    assert!(
        p.cli_ok(&["status", "sshd"])
            .ends_with("`- Banned IP list:\t\n")
    );
    assert_eq!(p.cli_ok(&["ping"]), "Server replied: pong\n");
    p.cli_ok(&["reload"]);
    assert_eq!(
        p.cli_ok(&["status"]),
        "Status\n|- Number of jail:\t2\n`- Jail list:\trecidive, sshd\n"
    );
}
