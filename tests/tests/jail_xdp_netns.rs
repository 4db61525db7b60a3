//! Scenario: a jail with `maxretry = 3` reads sshd failures from a log file
//! and bans through the XDP program attached to the server's veth. The
//! configured `iptables-multiport[port=…]` action runs as the XDP action
//! (mode auto with XDP attached), with its port scope: after the third
//! matching line the attacker's TCP connections to that port are dropped,
//! while another port and ping still pass; the unban lets it back in.
//!
//! The XDP object: [`tests::xdp_object`].
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use enforcer::actions::{ActionImpl, Actions, BanTable, Mode, decide};
use enforcer::filter::{Filter, FilterOptions, FilterParts};
use enforcer::jail::{Jail, JailSettings, Outcome};
use enforcer::xdp::{AttachMode, Capacities, Program};
use tests::netns::{BpfFs, NetNs, veth};
use tests::traffic::{TcpServer, pings, tcp_connects};

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `YYYY-mm-ddTHH:MM:SS+00:00` for unix seconds (UTC).
fn iso_utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn connects(cli: &NetNs, ip: &str, port: u16) -> bool {
    tcp_connects(
        cli,
        SocketAddr::new(ip.parse().unwrap(), port),
        Duration::from_millis(1500),
    )
}

#[test]
fn third_failure_bans_and_xdp_drops_in_scope() {
    if !tests::privileged("jail_xdp_netns") {
        return;
    }
    let srv = NetNs::new("xs");
    let cli = NetNs::new("xc");
    let (s, c) = veth(&srv, &cli, 70);
    let guarded = TcpServer::start(&srv);
    let other = TcpServer::start(&srv);
    let bpf = BpfFs::new();

    let dir = std::env::temp_dir().join(format!("enforcer-jail-xdp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _guard = Dir(dir.clone());
    let shared = tests::shared_dir().join("fail2ban/config");
    for sub in ["action.d", "filter.d"] {
        std::os::unix::fs::symlink(shared.join(sub), dir.join(sub)).unwrap();
    }
    let log = dir.join("auth.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        dir.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nfilter = sshd\nlogpath = {}\nmaxretry = 3\nfindtime = 600\nbantime = 600\n\
             action = iptables-multiport[name=sshd, port=\"{}\", protocol=tcp]\n",
            log.display(),
            guarded.port
        ),
    )
    .unwrap();
    let cfg = enforcer::config::load(&dir).unwrap_or_else(|e| panic!("config: {e}"));
    let def = cfg
        .jails
        .into_iter()
        .find(|j| j.name == "sshd")
        .expect("jail sshd");

    srv.run(|| {
        let caps = Capacities {
            max_bans: 1024,
            max_prefixes: 256,
            max_allow: 64,
        };
        let mut prog = Program::load_object(&tests::xdp_object(), &bpf.pin_dir(), &caps)
            .expect("load the XDP program");
        prog.attach(&s.ifname, AttachMode::Auto)
            .expect("attach to the server's veth");
        let dp: Arc<dyn BanTable> = Arc::new(prog.dataplane().expect("open the maps"));
        let decision = decide(Mode::Auto, Ok(())).unwrap();
        let mut jail = Jail::new(&JailSettings::from_def(&def), None).unwrap();
        let mut actions = Actions::from_def(&def, &decision, Some(dp), None).unwrap();
        assert!(
            matches!(actions.get("iptables-multiport"), Some(ActionImpl::Xdp(_))),
            "a blocking action runs as the XDP action: {actions:?}"
        );
        let now = enforcer::actions::wall_now();
        assert!(actions.start(now).is_empty());
        let fd = &def.filter;
        let parts = FilterParts {
            name: fd.name.clone(),
            prefregex: fd.prefregex.clone(),
            failregex: fd.failregex.clone(),
            ignoreregex: fd.ignoreregex.clone(),
            maxlines: fd.maxlines,
            datepattern: fd.datepattern.clone(),
        };
        let mut filter =
            Filter::from_parts(&parts, &FilterOptions::default()).expect("the sshd filter");
        let mut reader = BufReader::new(std::fs::File::open(&log).unwrap());
        let mut pos = 0u64;
        let mut banned = false;
        for n in 1..=3 {
            assert!(
                connects(&cli, &s.v4, guarded.port),
                "before line {n}: connections pass"
            );
            let now = enforcer::actions::wall_now();
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            writeln!(
                f,
                "{} srv sshd[{}]: Failed password for root from {} port {} ssh2",
                iso_utc(now as i64),
                4000 + n,
                c.v4,
                50000 + n
            )
            .unwrap();
            // Follow the file: read what was appended.
            reader.seek(SeekFrom::Start(pos)).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 {
                pos += line.len() as u64;
                let mut found = Vec::new();
                filter.process_line(line.trim_end_matches('\n').as_bytes(), &mut found);
                assert_eq!(found.len(), 1, "line {n} matches: {line:?}");
                for fl in &found {
                    match jail
                        .process_failure(fl, now)
                        .expect("a failure, not a nofail match")
                    {
                        Outcome::Counted(r) => assert_eq!(r, n, "retry after line {n}"),
                        Outcome::Ban(tickets) => {
                            assert_eq!(n, 3, "banned after the third line, not line {n}");
                            for t in tickets {
                                assert!(actions.ban_ticket(t, now).added);
                            }
                            banned = true;
                        }
                        o => panic!("line {n}: {o:?}"),
                    }
                }
                line.clear();
            }
        }
        assert!(banned);
        assert!(actions.is_banned(&c.v4));
        assert!(
            !connects(&cli, &s.v4, guarded.port),
            "banned: TCP to the jail's port is dropped"
        );
        assert!(
            connects(&cli, &s.v4, other.port),
            "port scope: another port still passes"
        );
        assert!(
            pings(&cli, s.v4.parse().unwrap()),
            "port scope: ICMP still passes"
        );
        assert!(
            connects(&cli, &s.v6, guarded.port),
            "only the banned address is dropped"
        );
        let now = enforcer::actions::wall_now();
        assert_eq!(
            actions
                .unban(Some(std::slice::from_ref(&c.v4)), false, now)
                .unwrap(),
            1
        );
        assert!(
            connects(&cli, &s.v4, guarded.port),
            "unbanned: connections pass again"
        );
        actions.stop(None, now);
    });
}
