//! Bounded traffic between namespaces: every loop stops by itself after a
//! packet count or a time limit, whichever comes first.
use std::{
    collections::HashMap,
    io::ErrorKind,
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::netns::NetNs;

/// Hard ceiling on any sender's run time.
pub const MAX_SEND_TIME: Duration = Duration::from_secs(60);

/// How to send UDP.
#[derive(Debug, Clone, Copy)]
pub struct UdpLoad {
    pub dst: SocketAddr,
    /// Stop after this many packets.
    pub count: u64,
    /// Stop after this long (capped at [`MAX_SEND_TIME`]).
    pub duration: Duration,
    /// Packets per second; `None` = as fast as possible.
    pub rate: Option<u32>,
    pub payload: usize,
}

/// Sends UDP from inside `ns` on the calling thread's behalf; returns how
/// many datagrams the kernel accepted.
pub fn send_udp(ns: &NetNs, load: UdpLoad) -> u64 {
    ns.run(move || udp_loop(load, None))
}

/// Like [`send_udp`] on a background thread that also stops when `stop`
/// is set.
pub fn spawn_udp(ns: &NetNs, load: UdpLoad, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    ns.spawn(move || udp_loop(load, Some(stop)))
}

fn udp_loop(load: UdpLoad, stop: Option<Arc<AtomicBool>>) -> u64 {
    let bind: SocketAddr = match load.dst.ip() {
        IpAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
        IpAddr::V6(_) => "[::]:0".parse().expect("literal"),
    };
    let sock = UdpSocket::bind(bind).expect("binding the UDP sender");
    let payload = vec![0x5au8; load.payload];
    let limit = load.duration.min(MAX_SEND_TIME);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < load.count && start.elapsed() < limit {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        if let Some(rate) = load.rate {
            let due = start + Duration::from_secs_f64(sent as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        match sock.send_to(&payload, load.dst) {
            Ok(_) => sent += 1,
            // A full socket buffer or a missing neighbour: try again.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    sent
}

/// A UDP socket bound inside a namespace that counts datagrams per source
/// address until stopped.
pub struct UdpCounter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<HashMap<IpAddr, u64>>>,
    pub port: u16,
}

impl UdpCounter {
    /// Binds `[::]:port` (both families; 0 = a free port, see
    /// [`UdpCounter::port`]) in `ns` and starts counting.
    pub fn start(ns: &NetNs, port: u16) -> UdpCounter {
        let sock = ns.run(move || UdpSocket::bind(("::", port)).expect("binding the UDP receiver"));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let port = sock.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut counts = HashMap::new();
            let mut buf = [0u8; 2048];
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) && start.elapsed() < MAX_SEND_TIME * 2 {
                if let Ok((_, from)) = sock.recv_from(&mut buf) {
                    let ip = match from.ip() {
                        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(from.ip(), IpAddr::V4),
                        v4 => v4,
                    };
                    *counts.entry(ip).or_insert(0) += 1;
                }
            }
            counts
        });
        UdpCounter {
            stop,
            thread: Some(thread),
            port,
        }
    }

    /// Stops (after draining what is queued) and returns counts per source.
    pub fn finish(mut self) -> HashMap<IpAddr, u64> {
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("finished once")
            .join()
            .expect("receiver thread")
    }
}

impl Drop for UdpCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `count` datagrams from `from` to `to:port` and tells how many a
/// receiver in `to_ns` got from `from`'s address.
pub fn udp_delivered(from: &NetNs, to_ns: &NetNs, src: IpAddr, dst: IpAddr, count: u64) -> u64 {
    let counter = UdpCounter::start(to_ns, 0);
    let load = UdpLoad {
        dst: SocketAddr::new(dst, counter.port),
        count,
        duration: Duration::from_secs(5),
        rate: Some(2_000),
        payload: 32,
    };
    send_udp(from, load);
    counter.finish().get(&src).copied().unwrap_or(0)
}

/// A TCP listener inside a namespace; the kernel completes handshakes
/// without anyone calling accept.
pub struct TcpServer {
    _listener: TcpListener,
    pub port: u16,
}

impl TcpServer {
    pub fn start(ns: &NetNs) -> TcpServer {
        let listener = ns.run(|| TcpListener::bind(("::", 0)).expect("binding the TCP listener"));
        let port = listener.local_addr().expect("local addr").port();
        TcpServer {
            _listener: listener,
            port,
        }
    }
}

/// Whether a TCP connection from inside `ns` to `dst` completes within
/// `timeout` (a dropped SYN makes it time out).
pub fn tcp_connects(ns: &NetNs, dst: SocketAddr, timeout: Duration) -> bool {
    ns.run(move || TcpStream::connect_timeout(&dst, timeout).is_ok())
}

/// Whether `ping` from inside `ns` gets an answer from `dst` (2 echo
/// requests, 1 s deadline each).
pub fn pings(ns: &NetNs, dst: IpAddr) -> bool {
    ns.command("ping")
        .args(["-n", "-q", "-c", "2", "-i", "0.2", "-W", "1"])
        .arg(dst.to_string())
        .output()
        .expect("running ping")
        .status
        .success()
}
