//! `cargo xtask bench latency`: time from a failure line appended to a log
//! to the address's packets being dropped, p50/p99 over many bans.
//!
//! One process, two threads moved into the namespaces with `setns` (sockets
//! keep the namespace they were made in; one monotonic clock for all):
//! a prober in the sender namespace sends from the address under test every
//! ~50 µs, a sink in the protected namespace notes when it last heard from
//! each source. For ban i: t0, append `bench failure from ADDR_i` to the
//! log, wait until ADDR_i has been silent for 100 ms; latency = last packet
//! from ADDR_i that got through − t0. Each address is new (a 2001:db8::1:i
//! alias on the sender's veth), so every ban is a first ban (maxretry = 1).
//!
//! Peers: fail2ban-server with the polling and pyinotify backends and the
//! nftables action's commands; enforcer's daemon with a jail on the same
//! log — only if the daemon reads logs through jails: the bench tries one
//! ban first and reports enforcer's side as unavailable when nothing is
//! dropped within 10 s, instead of a number.
use std::{
    collections::HashMap,
    io::Write as _,
    net::{Ipv6Addr, SocketAddr, UdpSocket},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::{
    enforcer::Daemon,
    f2b::F2bServer,
    netns::{DST_ADDR, DST_IF, Topology},
    sys::{check_interrupt, run},
};

const PORT: u16 = 10;
const QUIET: Duration = Duration::from_millis(100);
const GIVE_UP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// Bans to time for enforcer.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Bans to time per fail2ban backend (polling waits up to 1 s per line).
    #[arg(long, default_value_t = 100)]
    pub f2b_count: usize,
}

impl LatencyArgs {
    pub fn default_args() -> LatencyArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: LatencyArgs,
        }
        P::parse_from(["latency"]).a
    }
}

fn probe_addr(i: usize) -> Ipv6Addr {
    format!("2001:db8::1:{:x}", i)
        .parse()
        .expect("valid address")
}

/// Runs `f` on a thread that first joins network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))
        .with_context(|| format!("opening netns {ns}"))?;
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a namespace fd we own.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        let _ = tx.send(if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        });
        f()
    });
    rx.recv().context("netns thread")?.context("setns")?;
    Ok(handle)
}

/// Last time a packet from each source reached the sink.
type Seen = Arc<Mutex<HashMap<Ipv6Addr, Instant>>>;

struct Harness {
    topo: Topology,
    seen: Seen,
    stop: Arc<AtomicBool>,
    sink: Option<std::thread::JoinHandle<()>>,
    log: PathBuf,
}

impl Harness {
    fn new(max: usize, dir: &Path) -> Result<Harness> {
        let topo = Topology::create()?;
        let batch = dir.join("addrs.batch");
        let mut text = String::new();
        for i in 0..max {
            text.push_str(&format!("addr add {}/64 dev enfb-s nodad\n", probe_addr(i)));
        }
        std::fs::write(&batch, text)?;
        run("ip", &["-n", &topo.src, "-batch", &batch.to_string_lossy()])?;
        let seen: Seen = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        let (tx, rx) = mpsc::channel();
        let sink = in_netns(&topo.dst, move || {
            let sock = match UdpSocket::bind(SocketAddr::from((
                DST_ADDR.parse::<Ipv6Addr>().expect("addr"),
                PORT,
            ))) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = tx.send(Ok(()));
            let mut buf = [0u8; 64];
            while !st2.load(Ordering::Relaxed) {
                if let Ok((_, SocketAddr::V6(from))) = sock.recv_from(&mut buf) {
                    s2.lock().expect("seen").insert(*from.ip(), Instant::now());
                }
            }
        })?;
        rx.recv()
            .context("sink thread")?
            .context("binding the sink")?;
        let log = dir.join("bench.log");
        std::fs::write(&log, "")?;
        Ok(Harness {
            topo,
            seen,
            stop,
            sink: Some(sink),
            log,
        })
    }

    /// Times one ban: probe from `addr`, wait a spread-out delay (so the
    /// appends do not lock onto the phase of a polling loop), append the
    /// failure, wait for silence.
    fn one(&self, i: usize, jitter: Duration) -> Result<Option<Duration>> {
        check_interrupt()?;
        let addr = probe_addr(i);
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let (tx, rx) = mpsc::channel();
        let prober = in_netns(&self.topo.src, move || {
            let sock = UdpSocket::bind(SocketAddr::from((addr, 0))).and_then(|s| {
                s.connect(SocketAddr::from((
                    DST_ADDR.parse::<Ipv6Addr>().expect("addr"),
                    PORT,
                )))
                .map(|_| s)
            });
            let sock = match sock {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let start = Instant::now();
            while !st.load(Ordering::Relaxed) && start.elapsed() < GIVE_UP * 2 {
                let _ = sock.send(b"probe");
                std::thread::sleep(Duration::from_micros(50));
            }
        })?;
        rx.recv().context("prober")?.context("prober socket")?;
        // The probe must get through before the ban.
        let warm = Instant::now();
        while !self.seen.lock().expect("seen").contains_key(&addr) {
            if warm.elapsed() > Duration::from_secs(5) {
                stop.store(true, Ordering::Relaxed);
                let _ = prober.join();
                bail!("probe from {addr} never reached the sink");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Golden-ratio sequence: deterministic, evenly spread over [0, jitter).
        let frac = (i as f64 * 0.618_033_988_75).fract();
        std::thread::sleep(jitter.mul_f64(frac));
        let t0 = Instant::now();
        {
            let mut f = std::fs::OpenOptions::new().append(true).open(&self.log)?;
            writeln!(f, "bench failure from {addr}")?;
        }
        let result = loop {
            std::thread::sleep(Duration::from_millis(5));
            let last = *self.seen.lock().expect("seen").get(&addr).expect("seen");
            if last.elapsed() >= QUIET {
                break Some(last.saturating_duration_since(t0));
            }
            if t0.elapsed() > GIVE_UP {
                break None;
            }
        };
        stop.store(true, Ordering::Relaxed);
        let _ = prober.join();
        Ok(result)
    }

    fn series(&self, from: usize, n: usize, jitter: Duration) -> Result<(Vec<f64>, usize)> {
        let mut ms = Vec::with_capacity(n);
        let mut missed = 0;
        for i in from..from + n {
            match self.one(i, jitter)? {
                Some(d) => ms.push(d.as_secs_f64() * 1e3),
                None => missed += 1,
            }
        }
        Ok((ms, missed))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sink.take() {
            let _ = h.join();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[idx.min(sorted.len() - 1)])
}

fn summary(peer: &str, mut ms: Vec<f64>, missed: usize) -> Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    let p50 = percentile(&ms, 50.0);
    let p99 = percentile(&ms, 99.0);
    eprintln!(
        "bench latency: {peer}: {} bans, p50 {p50:?} ms, p99 {p99:?} ms, {missed} not dropped within 10 s",
        ms.len()
    );
    json!({ "peer": peer, "bans": ms.len(), "missed": missed, "p50_ms": p50, "p99_ms": p99, "max_ms": ms.last() })
}

/// enforcer's own default tree (`config init`) with the bench filter and a
/// jail banning every port and protocol (the probes are UDP, and fail2ban's
/// nftables action here drops all of them too): a tree with only a
/// jail.local has no ban action at all, and nothing would be dropped.
fn enforcer_config(bin: &Path, dir: &Path, log: &Path) -> Result<PathBuf> {
    let conf = dir.join("enforcer-conf");
    let jail_local = format!(
        "[benchlat]\nenabled = true\nfilter = benchlat\nlogpath = {}\nbackend = auto\nbanaction = xdp[type=allports]\nprotocol = all\nmaxretry = 1\nfindtime = 10m\nbantime = -1\nignoreself = false\nignoreip =\n",
        log.display()
    );
    super::enforcer::write_config(bin, &conf, dir, &jail_local)?;
    std::fs::write(
        conf.join("filter.d").join("benchlat.conf"),
        "[Definition]\nfailregex = ^bench failure from <HOST>$\ndatepattern = {NONE}\n",
    )?;
    Ok(conf)
}

pub fn run_latency(args: &LatencyArgs, enforcer: Option<&Path>) -> Result<Value> {
    let dir = std::env::temp_dir().join(format!("enforcer-bench-lat-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let total = args.count + 2 * args.f2b_count + 1;
    let h = Harness::new(total, &dir)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut next = 0;

    match super::enforcer::binary(enforcer) {
        Ok(bin) => {
            let conf = enforcer_config(&bin, &dir, &h.log)?;
            let conf_s = conf.to_string_lossy().into_owned();
            match Daemon::start(
                &bin,
                Some(&h.topo.dst),
                Some(DST_IF),
                &["--config", &conf_s],
            ) {
                Ok(daemon) => {
                    let first = h.one(next, Duration::ZERO)?;
                    next += 1;
                    if first.is_none() {
                        notes.push("enforcer: unavailable — the daemon did not drop an address within 10 s of its failure line; no number is reported".to_string());
                    } else {
                        let (ms, missed) = h.series(next, args.count, Duration::from_millis(20))?;
                        next += args.count;
                        rows.push(summary("enforcer", ms, missed));
                    }
                    drop(daemon);
                }
                Err(e) => notes.push(format!(
                    "enforcer: unavailable — the daemon did not start with a jail config: {e:#}"
                )),
            }
        }
        Err(e) => notes.push(format!("enforcer unavailable: {e:#}")),
    }

    for backend in ["pyinotify", "polling"] {
        if backend == "pyinotify"
            && let Err(e) = super::f2b::ensure_pyinotify()
        {
            notes.push(format!("fail2ban pyinotify: {e:#}"));
            continue;
        }
        let f2b = F2bServer::start(Some(&h.topo.dst))?;
        let jail = "benchlat";
        if let Err(e) = f2b.client(&["add", jail, backend]) {
            notes.push(format!("fail2ban {backend}: {e:#}"));
            continue;
        }
        let log_s = h.log.to_string_lossy().into_owned();
        let set = "addr6-set-lat";
        let cmds: Vec<(String, Vec<String>)> = vec![
            ("addlogpath".into(), vec![log_s.clone(), "tail".into()]),
            ("datepattern".into(), vec!["{NONE}".into()]),
            (
                "addfailregex".into(),
                vec!["^bench failure from <HOST>$".into()],
            ),
            ("maxretry".into(), vec!["1".into()]),
            ("findtime".into(), vec!["600".into()]),
        ];
        for (k, v) in &cmds {
            let mut a = vec!["set", jail, k.as_str()];
            a.extend(v.iter().map(String::as_str));
            f2b.client(&a)?;
        }
        f2b.client(&["set", jail, "addaction", "nftables"])?;
        let props = [
            (
                "actionstart",
                format!(
                    "nft add table inet f2b-table; nft -- add chain inet f2b-table f2b-chain {{ type filter hook input priority -1 \\; }}; nft add set inet f2b-table {set} {{ type ipv6_addr\\; }}; nft add rule inet f2b-table f2b-chain meta l4proto {{ tcp, udp }} ip6 saddr @{set} drop"
                ),
            ),
            ("actionstop", "nft delete table inet f2b-table".to_string()),
            (
                "actionban",
                format!("nft add element inet f2b-table {set} {{ <ip> }}"),
            ),
            (
                "actionunban",
                format!("nft delete element inet f2b-table {set} {{ <ip> }}"),
            ),
        ];
        for (k, v) in &props {
            f2b.client(&["set", jail, "action", "nftables", k, v])?;
        }
        f2b.start_jail(jail)?;
        std::thread::sleep(Duration::from_secs(2));
        // fail2ban's polling backend looks once a second.
        let (ms, missed) = h.series(next, args.f2b_count, Duration::from_secs(1))?;
        next += args.f2b_count;
        rows.push(summary(&format!("fail2ban-{backend}"), ms, missed));
        drop(f2b);
    }
    if args.f2b_count < args.count {
        notes.push(format!(
            "fail2ban: {} bans per backend (polling sleeps 1 s between looks)",
            args.f2b_count
        ));
    }
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "how": "probe from a fresh source every ~50 us; each append after a delay spread over [0, 1 s) for fail2ban ([0, 20 ms) for enforcer) so appends do not lock onto a polling phase; latency = last probe that got through - time the failure line was appended",
        "rows": rows,
        "notes": notes,
    }))
}
