//! Scenario: a banned source sends UDP continuously while the daemon is
//! stopped with SIGTERM and started again. The receiver in the protected
//! namespace gets nothing from it the whole time (the program stays attached
//! while no daemon runs, and the new daemon replaces it without a gap), the
//! friend's packets keep arriving, and the ban is still listed afterwards.
use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use tests::{
    lab::Lab,
    traffic::{UdpCounter, UdpLoad, pings, spawn_udp},
};

#[test]
fn restart_under_load_never_lets_a_banned_packet_through() {
    if !tests::privileged("restart_under_load_never_lets_a_banned_packet_through") {
        return;
    }
    let lab = Lab::new();
    let args = [
        "--iface",
        lab.p_banned.ifname.as_str(),
        "--iface",
        lab.p_friend.ifname.as_str(),
    ];
    let mut daemon = lab.daemon(&args);
    let p_b: IpAddr = lab.p_banned.v4.parse().unwrap();
    let p_f: IpAddr = lab.p_friend.v4.parse().unwrap();
    // Resolve neighbours first, so every datagram sent is on the wire.
    assert!(pings(&lab.banned, p_b));
    assert!(pings(&lab.friend, p_f));
    lab.paths()
        .cli_ok(&["ban", "--bantime", "3600", &lab.banned_end.v4]);

    let counter = UdpCounter::start(&lab.protected, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let load = |dst: IpAddr| UdpLoad {
        dst: SocketAddr::new(dst, counter.port),
        count: 200_000,
        duration: Duration::from_secs(20),
        rate: Some(5_000),
        payload: 64,
    };
    let banned_tx = spawn_udp(&lab.banned, load(p_b), stop.clone());
    let friend_tx = spawn_udp(&lab.friend, load(p_f), stop.clone());

    std::thread::sleep(Duration::from_millis(1500));
    let status = daemon.terminate();
    assert!(status.success(), "SIGTERM exit: {status}\n{}", daemon.log());
    // No daemon at all for a while: the kernel keeps enforcing.
    std::thread::sleep(Duration::from_millis(1000));
    let _daemon = lab.daemon(&args);
    std::thread::sleep(Duration::from_millis(1500));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let banned_sent = banned_tx.join().unwrap();
    let friend_sent = friend_tx.join().unwrap();
    let got = counter.finish();
    let from_banned = got.get(&lab.banned_v4()).copied().unwrap_or(0);
    let from_friend = got.get(&lab.friend_v4()).copied().unwrap_or(0);
    assert!(
        banned_sent > 10_000,
        "the banned sender sent only {banned_sent}"
    );
    assert_eq!(
        from_banned, 0,
        "{from_banned} of {banned_sent} banned packets got through"
    );
    assert!(
        from_friend * 100 >= friend_sent * 99,
        "the friend lost packets: {from_friend} of {friend_sent}"
    );

    let listed = lab.paths().cli_ok(&["banned"]);
    assert!(
        listed.contains(&lab.banned_end.v4),
        "ban lost across restart: {listed}"
    );
}
