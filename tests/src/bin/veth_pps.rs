//! Packets per second through a veth into the protected namespace, with the
//! same UDP sender in one run: no XDP program, the program attached and
//! passing (nothing banned), the program dropping (sender banned).
//!
//!     sudo target/release/veth_pps [SECONDS_PER_PHASE]     (default 3, max 20)
//!
//! Needs ENFORCER_BIN (or target/release/enforcer built with the real
//! object). Every phase is bounded by time and by a packet count; the
//! namespaces, daemon and pins are cleaned up on exit.
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use tests::{
    lab::Lab,
    traffic::{UdpLoad, pings, send_udp},
};

/// Packets the receiving veth counted (`ip -s -j link`).
fn rx_packets(lab: &Lab) -> u64 {
    let out = std::process::Command::new("ip")
        .args([
            "-n",
            lab.protected.name(),
            "-s",
            "-j",
            "link",
            "show",
            "dev",
        ])
        .arg(&lab.p_banned.ifname)
        .output()
        .expect("ip -s link");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    v[0]["stats64"]["rx"]["packets"].as_u64().unwrap_or(0)
}

struct Phase {
    name: &'static str,
    sent: u64,
    secs: f64,
    /// Received at the veth (pass phases) or dropped by XDP (drop phase).
    counted: u64,
}

fn run_phase(lab: &Lab, name: &'static str, secs: u64, drop: bool) -> Phase {
    let dst: IpAddr = lab.p_banned.v4.parse().expect("literal");
    let load = UdpLoad {
        dst: SocketAddr::new(dst, 9),
        count: 50_000_000,
        duration: Duration::from_secs(secs),
        rate: None,
        payload: 18,
    };
    let before_rx = rx_packets(lab);
    let before_drop = if drop { dropped(lab) } else { 0 };
    let start = Instant::now();
    let sent = send_udp(&lab.banned, load);
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let counted = if drop {
        dropped(lab) - before_drop
    } else {
        rx_packets(lab) - before_rx
    };
    Phase {
        name,
        sent,
        secs,
        counted,
    }
}

fn dropped(lab: &Lab) -> u64 {
    lab.paths().stats()["dropped_packets"].as_u64().unwrap_or(0)
}

fn main() {
    if !tests::privileged("veth_pps") {
        std::process::exit(1);
    }
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .clamp(1, 20);
    let lab = Lab::new();
    let dst: IpAddr = lab.p_banned.v4.parse().expect("literal");
    assert!(pings(&lab.banned, dst), "no connectivity");

    let mut phases = vec![run_phase(&lab, "no program", secs, false)];
    let daemon = lab.daemon_on_banned_link();
    phases.push(run_phase(&lab, "program, passing", secs, false));
    lab.paths().cli_ok(&["ban", &lab.banned_end.v4]);
    phases.push(run_phase(&lab, "program, dropping", secs, true));
    drop(daemon);

    println!("| phase | sent pps | counted pps | counted |");
    println!("|---|---:|---:|---|");
    for p in &phases {
        println!(
            "| {} | {:.0} | {:.0} | {} |",
            p.name,
            p.sent as f64 / p.secs,
            p.counted as f64 / p.secs,
            if p.name.ends_with("dropping") {
                "XDP drops"
            } else {
                "veth rx"
            }
        );
    }
}
