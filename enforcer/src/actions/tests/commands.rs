//! Command actions: lifecycle, bans, reload, families, check/repair, timeouts.
use super::*;

#[test]
fn add_start_stop_order_and_duplicates() {
    let d = TempDir::new("order");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("a", echo_action(&d.log(), "A")).unwrap();
    a.add("b", echo_action(&d.log(), "B")).unwrap();
    assert!(matches!(
        a.add("a", echo_action(&d.log(), "A")),
        Err(ActionError::Exists(_))
    ));
    assert!(a.start(NOW).is_empty());
    assert!(a.ban_ticket(ticket("198.18.0.1"), NOW).added);
    assert!(a.stop(None, NOW).is_empty());
    assert_eq!(
        d.read(),
        [
            "start A",
            "start B",
            "ban A 198.18.0.1",
            "ban B 198.18.0.1",
            "unban A 198.18.0.1",
            "unban B 198.18.0.1",
            "stop B",
            "stop A"
        ]
    );
    assert!(a.names().is_empty());
    assert_eq!(a.ban_manager().size(), 0);
}

#[test]
fn stop_subset_keeps_the_others() {
    let d = TempDir::new("subset");
    let mut a = Actions::new("sshd", 600, None, None);
    for n in ["a", "b", "c"] {
        a.add(n, echo_action(&d.log(), &n.to_uppercase())).unwrap();
    }
    a.start(NOW);
    a.ban_ticket(ticket("198.18.0.1"), NOW);
    d.clear();
    a.stop(Some(&["c".to_string(), "a".to_string()]), NOW);
    assert_eq!(
        d.read(),
        [
            "unban A 198.18.0.1",
            "unban C 198.18.0.1",
            "stop C",
            "stop A"
        ]
    );
    assert_eq!(a.names(), ["b"]);
    assert!(a.is_banned("198.18.0.1"));
}

#[test]
fn manual_ban_unban_ifexists_cidr_all_and_expiry() {
    let d = TempDir::new("manual");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("a", echo_action(&d.log(), "A")).unwrap();
    a.start(NOW);
    assert_eq!(
        a.ban(
            &[
                "198.18.0.1".into(),
                "::ffff:198.18.0.2".into(),
                "2001:db8::5".into()
            ],
            NOW
        )
        .unwrap(),
        3
    );
    assert!(a.ban(&["nonsense".into()], NOW).is_err());
    assert_eq!(
        a.ban(&["198.18.0.1".into()], NOW).unwrap(),
        0,
        "already banned"
    );
    assert!(a.is_banned("198.18.0.2"));
    match a.unban(Some(&["198.18.9.9".into()]), false, NOW) {
        Err(ActionError::NotBanned(m)) => assert_eq!(m, ["198.18.9.9"]),
        o => panic!("{o:?}"),
    }
    assert_eq!(a.unban(Some(&["198.18.9.9".into()]), true, NOW).unwrap(), 0);
    assert_eq!(
        a.unban(Some(&["198.18.0.0/24".into()]), false, NOW)
            .unwrap(),
        2
    );
    assert_eq!(a.ban_list(false), ["2001:db8::5"]);
    a.ban(&["198.18.0.7".into()], NOW + 10.0).unwrap();
    assert_eq!(a.check_unban(NOW + 600.5, 100), 1);
    assert_eq!(a.ban_list(false), ["198.18.0.7"]);
    assert_eq!(a.unban(None, false, NOW).unwrap(), 1);
    assert_eq!(a.ban_manager().size(), 0);
    let log = d.read();
    assert!(
        log.contains(&"ban A 2001:db8::5".to_string())
            && log.contains(&"unban A 2001:db8::5".to_string()),
        "{log:?}"
    );
    assert!(log.contains(&"unban A 198.18.0.7".to_string()));
}

#[test]
fn ban_list_with_time_and_bantime() {
    let mut a = Actions::new("sshd", 600, None, None);
    let mut t = ticket("198.18.0.3");
    t.ban_time = Some(1200);
    a.ban_ticket(t, NOW);
    a.ban_ticket(ticket("198.18.0.4"), NOW);
    let l = a.ban_list(true);
    assert_eq!(l.len(), 2);
    assert!(
        l[0].starts_with("198.18.0.4 \t") && l[0].contains(" + 600 = "),
        "{l:?}"
    );
    assert!(
        l[1].starts_with("198.18.0.3 \t") && l[1].contains(" + 1200 = "),
        "{l:?}"
    );
    assert_eq!(a.bantime(), 600);
    a.set_bantime(60);
    assert_eq!(a.bantime(), 60);
    assert_eq!(
        a.check_unban(NOW + 61.0, 100),
        1,
        "default ban time change moves ends"
    );
}

#[test]
fn reload_without_ban_unban_storm() {
    let d = TempDir::new("reload");
    let mut a = Actions::new("sshd", 600, None, None);
    a.add("keep", echo_action(&d.log(), "K")).unwrap();
    a.add("gone", echo_action(&d.log(), "G")).unwrap();
    a.start(NOW);
    a.ban(&["198.18.0.1".into(), "198.18.0.2".into()], NOW)
        .unwrap();
    d.clear();
    a.reload_begin();
    a.add("keep", echo_action(&d.log(), "K")).unwrap();
    a.add("new", echo_action(&d.log(), "N")).unwrap();
    assert!(a.reload_end(NOW).is_empty());
    let mut log = d.read();
    log.sort();
    assert_eq!(
        log,
        [
            "ban N 198.18.0.1",
            "ban N 198.18.0.2",
            "reload K",
            "start N",
            "stop G",
            "unban G 198.18.0.1",
            "unban G 198.18.0.2"
        ]
    );
    assert_eq!(a.names(), ["keep", "new"]);
    assert_eq!(a.ban_manager().size(), 2, "bans stay");
}

#[test]
fn family_variants_and_start_on_demand() {
    let d = TempDir::new("family");
    let l = d.log();
    let l = l.display();
    let mut p = BTreeMap::new();
    p.insert(
        "actionstart".into(),
        format!("echo \"start <family> <cmd>\" >> {l}"),
    );
    p.insert(
        "actionban".into(),
        format!("echo \"ban <family> <cmd> <ip>\" >> {l}"),
    );
    p.insert(
        "actionunban".into(),
        format!("echo \"unban <cmd> <ip>\" >> {l}"),
    );
    p.insert(
        "actionstop".into(),
        format!("echo \"stop <family> <cmd>\" >> {l}"),
    );
    p.insert("cmd".into(), "iptables".into());
    let mut fam = BTreeMap::new();
    fam.insert(
        "inet6".to_string(),
        BTreeMap::from([("cmd".to_string(), "ip6tables".to_string())]),
    );
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "f",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: fam,
        },
    )
    .unwrap();
    a.start(NOW);
    assert!(d.read().is_empty(), "conditional sections start on demand");
    a.ban(
        &[
            "198.18.0.1".into(),
            "2001:db8::1".into(),
            "198.18.0.2".into(),
        ],
        NOW,
    )
    .unwrap();
    a.unban(Some(&["2001:db8::1".into()]), false, NOW).unwrap();
    a.stop(None, NOW);
    assert_eq!(
        d.read(),
        [
            "start inet4 iptables",
            "ban inet4 iptables 198.18.0.1",
            "start inet6 ip6tables",
            "ban inet6 ip6tables 2001:db8::1",
            "ban inet4 iptables 198.18.0.2",
            "unban ip6tables 2001:db8::1",
            "unban iptables 198.18.0.1",
            "unban iptables 198.18.0.2",
            "stop inet4 iptables",
            "stop inet6 ip6tables",
        ]
    );
}

#[test]
fn failing_ban_runs_check_then_repair_and_retries_once() {
    let d = TempDir::new("repair");
    let l = d.log();
    let flag = d.0.join("ok");
    let (l, f) = (l.display(), flag.display());
    let mut p = BTreeMap::new();
    p.insert("actionstart".into(), format!("echo start >> {l}"));
    p.insert(
        "actionban".into(),
        format!("echo \"ban <ip>\" >> {l}; [ -e {f} ]"),
    );
    p.insert(
        "actioncheck".into(),
        format!("echo check >> {l}; [ -e {f} ]"),
    );
    p.insert(
        "actionrepair".into(),
        format!("echo repair >> {l}; touch {f}"),
    );
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "r",
        ActionSpec::Command {
            file: "x".into(),
            properties: p.clone(),
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    a.start(NOW);
    let out = a.ban_ticket(ticket("198.18.0.1"), NOW);
    assert!(out.added && out.failed.is_empty(), "{out:?}");
    assert_eq!(
        d.read(),
        [
            "start",
            "ban 198.18.0.1",
            "check",
            "repair",
            "check",
            "ban 198.18.0.1"
        ]
    );

    // Without actionrepair: stop + start, then the retry; a ban that keeps
    // failing is reported, not retried forever.
    d.clear();
    let _ = std::fs::remove_file(&flag);
    p.remove("actionrepair");
    p.insert("actionstop".into(), format!("echo stop >> {l}"));
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "r",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    a.start(NOW);
    let out = a.ban_ticket(ticket("198.18.0.2"), NOW);
    assert_eq!(out.failed, ["r"]);
    assert_eq!(
        d.read(),
        ["start", "ban 198.18.0.2", "check", "stop", "start", "check"]
    );
}

#[test]
fn hanging_command_is_killed_at_its_timeout() {
    let mut p = BTreeMap::new();
    p.insert("actionban".into(), "sleep 30".to_string());
    p.insert("timeout".into(), "1".to_string());
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "h",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = a.ban_ticket(ticket("198.18.0.1"), NOW);
    assert_eq!(out.failed, ["h"]);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn norestored_and_prolong() {
    let d = TempDir::new("restored");
    let l = d.log();
    let l = l.display();
    let mut p = BTreeMap::new();
    p.insert(
        "actionban".into(),
        format!("echo \"ban <ip> <bantime> <restored>\" >> {l}"),
    );
    p.insert(
        "actionprolong".into(),
        format!("echo \"prolong <ip> <bantime>\" >> {l}"),
    );
    p.insert("norestored".into(), "true".into());
    let mut a = Actions::new("sshd", 600, None, None);
    a.add(
        "n",
        ActionSpec::Command {
            file: "x".into(),
            properties: p,
            family: BTreeMap::new(),
        },
    )
    .unwrap();
    let mut r = ticket("198.18.0.1");
    r.restored = true;
    assert!(a.ban_ticket(r, NOW).added);
    a.ban_ticket(ticket("198.18.0.2"), NOW);
    let mut longer = ticket("198.18.0.2");
    longer.ban_time = Some(3600);
    longer.time = NOW + 5.0;
    assert!(a.ban_ticket(longer, NOW + 5.0).prolonged);
    assert_eq!(
        d.read(),
        ["ban 198.18.0.2 600 0", "prolong 198.18.0.2 3605"]
    );
}
