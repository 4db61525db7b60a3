//! Scenario: fail2ban's stock firewall actions, read unchanged from
//! ../shared/fail2ban/config/action.d, run by the Actions manager inside a
//! network namespace. A second namespace is the banned host: after a ban the
//! rule / set element is listed and its TCP connections are rejected, after
//! the unban they pass, and stop removes everything the action created. Also:
//! a failing actionban triggers check + restart and a retry, and a hanging
//! command is killed at its timeout. Addresses: 198.18.0.0/15, 2001:db8::/32.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use enforcer::actions::{Actions, ModeDecision};
use tests::netns::{NetNs, veth};
use tests::traffic::{TcpServer, tcp_connects};

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config tree whose action.d and filter.d are fail2ban's own, and a jail
/// using `action`.
fn config(tag: &str, action: &str) -> (Dir, Vec<enforcer::config::ActionDef>) {
    let dir = std::env::temp_dir().join(format!("enforcer-stock-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shared = tests::shared_dir().join("fail2ban/config");
    for sub in ["action.d", "filter.d"] {
        std::os::unix::fs::symlink(shared.join(sub), dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("jail.conf"),
        format!(
            "[DEFAULT]\nbantime = 600\n\n[{tag}]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\naction = {action}\n"
        ),
    )
    .unwrap();
    let cfg = enforcer::config::load(&dir).unwrap_or_else(|e| panic!("config for {action}: {e}"));
    let jail = cfg
        .jails
        .into_iter()
        .find(|j| j.name == tag)
        .expect("the jail");
    (Dir(dir), jail.actions)
}

fn out(ns: &NetNs, prog: &str, args: &[&str]) -> String {
    let o = ns
        .command(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What a stock action leaves behind, and how to see a banned address in it.
struct Listing {
    /// (program, args) whose output shows banned IPv4 / IPv6 addresses.
    v4: (&'static str, Vec<String>),
    v6: (&'static str, Vec<String>),
    /// Output (program, args) and a needle that must be gone after stop.
    gone: Vec<(&'static str, Vec<String>, String)>,
}

fn commands() -> ModeDecision {
    ModeDecision {
        xdp: false,
        reason: "test: commands".into(),
    }
}

fn connects(cli: &NetNs, ip: &str, port: u16) -> bool {
    let addr: SocketAddr = SocketAddr::new(ip.parse().unwrap(), port);
    tcp_connects(cli, addr, Duration::from_millis(1500))
}

fn scenario(
    tag: &str,
    action_of_port: impl Fn(u16) -> String,
    listing: impl Fn(&str) -> Listing,
    subnet: u8,
) {
    let srv = NetNs::new("ss");
    let cli = NetNs::new("sc");
    let (s, c) = veth(&srv, &cli, subnet);
    let server = TcpServer::start(&srv);
    let port = server.port;
    let (_dir, defs) = config(tag, &action_of_port(port));
    assert!(
        connects(&cli, &s.v4, port) && connects(&cli, &s.v6, port),
        "{tag}: no connectivity before the ban"
    );
    let l = listing(tag);
    srv.run(|| {
        let now = enforcer::actions::wall_now();
        let mut a = Actions::new(tag, 600, None, None);
        for d in &defs {
            a.add_def(d, &commands()).unwrap();
        }
        assert!(a.start(now).is_empty(), "{tag}: start");
        assert_eq!(a.ban(&[c.v4.clone(), c.v6.clone()], now).unwrap(), 2);
        let listed4 = out(
            &srv,
            l.v4.0,
            &l.v4.1.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            listed4.contains(&c.v4),
            "{tag}: {} lists {}:\n{listed4}",
            l.v4.0,
            c.v4
        );
        let listed6 = out(
            &srv,
            l.v6.0,
            &l.v6.1.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            listed6.contains(&c.v6),
            "{tag}: {} lists {}:\n{listed6}",
            l.v6.0,
            c.v6
        );
        assert!(
            !connects(&cli, &s.v4, port),
            "{tag}: banned IPv4 host still connects"
        );
        assert!(
            !connects(&cli, &s.v6, port),
            "{tag}: banned IPv6 host still connects"
        );

        assert_eq!(
            a.unban(Some(&[c.v4.clone(), c.v6.clone()]), false, now)
                .unwrap(),
            2
        );
        let listed4 = out(
            &srv,
            l.v4.0,
            &l.v4.1.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            !listed4.contains(&c.v4),
            "{tag}: still listed after unban:\n{listed4}"
        );
        assert!(
            connects(&cli, &s.v4, port),
            "{tag}: unbanned IPv4 host rejected"
        );
        assert!(
            connects(&cli, &s.v6, port),
            "{tag}: unbanned IPv6 host rejected"
        );

        // Stop with a ban in place: flush + stop remove everything.
        a.ban(std::slice::from_ref(&c.v4), now).unwrap();
        assert!(!connects(&cli, &s.v4, port));
        assert!(a.stop(None, now).is_empty(), "{tag}: stop");
        for (prog, args, needle) in &l.gone {
            let o = out(
                &srv,
                prog,
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            assert!(
                !o.contains(needle.as_str()),
                "{tag}: {prog} still shows {needle} after stop:\n{o}"
            );
        }
        assert!(connects(&cli, &s.v4, port), "{tag}: rejected after stop");
    });
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn iptables_listing(tag: &str) -> Listing {
    Listing {
        v4: ("iptables-save", v(&[])),
        v6: ("ip6tables-save", v(&[])),
        gone: vec![
            ("iptables-save", v(&[]), format!("f2b-{tag}")),
            ("ip6tables-save", v(&[]), format!("f2b-{tag}")),
        ],
    }
}

#[test]
fn iptables_multiport() {
    if !tests::privileged("actions_stock_netns::iptables_multiport") {
        return;
    }
    scenario(
        "ipm",
        |p| format!("iptables-multiport[name=ipm, port=\"{p},2222\", protocol=tcp]"),
        iptables_listing,
        61,
    );
}

#[test]
fn iptables_allports() {
    if !tests::privileged("actions_stock_netns::iptables_allports") {
        return;
    }
    scenario(
        "ipa",
        |_| "iptables-allports[name=ipa, protocol=tcp]".to_string(),
        iptables_listing,
        62,
    );
}

fn nft_listing(tag: &str) -> Listing {
    Listing {
        v4: (
            "nft",
            v(&[
                "list",
                "set",
                "inet",
                "f2b-table",
                &format!("addr-set-{tag}"),
            ]),
        ),
        v6: (
            "nft",
            v(&[
                "list",
                "set",
                "inet",
                "f2b-table",
                &format!("addr6-set-{tag}"),
            ]),
        ),
        gone: vec![("nft", v(&["list", "ruleset"]), format!("set-{tag}"))],
    }
}

#[test]
fn nftables_multiport() {
    if !tests::privileged("actions_stock_netns::nftables_multiport") {
        return;
    }
    scenario(
        "nfm",
        |p| format!("nftables[name=nfm, port=\"{p}\", protocol=tcp]"),
        nft_listing,
        63,
    );
}

#[test]
fn nftables_allports() {
    if !tests::privileged("actions_stock_netns::nftables_allports") {
        return;
    }
    scenario(
        "nfa",
        |_| "nftables[name=nfa, type=allports, protocol=tcp]".to_string(),
        nft_listing,
        64,
    );
}

#[test]
fn iptables_ipset() {
    if !tests::privileged("actions_stock_netns::iptables_ipset") {
        return;
    }
    scenario(
        "ips",
        |p| format!("iptables-ipset[name=ips, port=\"{p}\", protocol=tcp]"),
        |tag| Listing {
            v4: ("ipset", v(&["list", &format!("f2b-{tag}")])),
            v6: ("ipset", v(&["list", &format!("f2b-{tag}6")])),
            gone: vec![
                ("ipset", v(&["list", "-n"]), format!("f2b-{tag}")),
                ("iptables-save", v(&[]), format!("f2b-{tag}")),
            ],
        },
        65,
    );
}

#[test]
fn failing_ban_is_repaired_and_retried() {
    if !tests::privileged("actions_stock_netns::failing_ban_is_repaired_and_retried") {
        return;
    }
    let srv = NetNs::new("rs");
    let cli = NetNs::new("rc");
    let (s, c) = veth(&srv, &cli, 66);
    let server = TcpServer::start(&srv);
    let port = server.port;
    let (_dir, defs) = config(
        "rep",
        &format!("iptables-multiport[name=rep, port=\"{port}\", protocol=tcp]"),
    );
    srv.run(|| {
        let now = enforcer::actions::wall_now();
        let mut a = Actions::new("rep", 600, None, None);
        for d in &defs {
            a.add_def(d, &commands()).unwrap();
        }
        a.start(now);
        // First ban starts the inet4 family (chain + INPUT jump).
        a.ban(&["198.18.66.9".to_string()], now).unwrap();
        assert!(out(&srv, "iptables-save", &[]).contains("-A f2b-rep -s 198.18.66.9/32"));
        // Someone flushes the firewall behind our back.
        for args in [
            vec![
                "-D",
                "INPUT",
                "-p",
                "tcp",
                "-m",
                "multiport",
                "--dports",
                &port.to_string(),
                "-j",
                "f2b-rep",
            ],
            vec!["-F", "f2b-rep"],
            vec!["-X", "f2b-rep"],
        ] {
            let o = srv.command("iptables").args(&args).output().unwrap();
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(!out(&srv, "iptables-save", &[]).contains("f2b-rep"));
        // The next actionban fails (no chain); actioncheck fails; there is no
        // actionrepair, so the action is stopped and started; the ban is retried.
        let outcome = a.ban_ticket(
            enforcer::jail::Ticket::manual(c.v4.clone(), c.v4.parse().ok(), now),
            now,
        );
        assert!(outcome.added && outcome.failed.is_empty(), "{outcome:?}");
        let saved = out(&srv, "iptables-save", &[]);
        assert!(
            saved.contains(&format!("-A f2b-rep -s {}/32", c.v4)),
            "{saved}"
        );
        assert!(saved.contains("-j f2b-rep"), "jump restored: {saved}");
        assert!(!connects(&cli, &s.v4, port), "repaired ban rejects");
        a.stop(None, now);
        assert!(!out(&srv, "iptables-save", &[]).contains("f2b-rep"));
    });
}

fn sleepers(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).replace('\0', " ").trim() == marker)
        .count()
}

#[test]
fn hanging_command_is_killed_at_timeout() {
    if !tests::privileged("actions_stock_netns::hanging_command_is_killed_at_timeout") {
        return;
    }
    let srv = NetNs::new("hs");
    let marker = format!("sleep {}", 600 + std::process::id() % 300);
    let (_dir, defs) = config(
        "hang",
        &format!(
            "iptables-multiport[name=hang, port=2222, protocol=tcp, timeout=2, iptables=\"{marker}; iptables\"]"
        ),
    );
    srv.run(|| {
        let now = enforcer::actions::wall_now();
        let mut a = Actions::new("hang", 600, None, None);
        for d in &defs {
            a.add_def(d, &commands()).unwrap();
        }
        let t0 = Instant::now();
        let o = a.ban(&["198.18.67.2".to_string()], now).unwrap();
        let took = t0.elapsed();
        assert_eq!(o, 1, "the ban is recorded even though its command failed");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(15),
            "{took:?}"
        );
        assert_eq!(
            sleepers(&marker),
            0,
            "the hanging command's process group was killed"
        );
        let _ = a.stop(None, now);
    });
}
