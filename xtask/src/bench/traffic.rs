//! The load generators, run inside a namespace as hidden subcommands of
//! this same binary (`ip netns exec NS xtask bench send …`): a UDP flood
//! with `sendmmsg` and a UDP sink. Both are bounded in packets and in time
//! and stop themselves.
use std::{
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd as _,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::netns::{DST_ADDR, SINK_PORT};

/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;
/// UDP payload: 18 bytes, a minimal frame (14 + 40 + 8 + 18 = 80 bytes).
const PAYLOAD: usize = 18;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Source address (must be configured in this namespace).
    #[arg(long)]
    pub src: String,
    /// Destination address.
    #[arg(long)]
    pub dst: String,
    #[arg(long)]
    pub port: u16,
    /// Stop after this many seconds.
    #[arg(long)]
    pub secs: f64,
    /// Stop after this many packets.
    #[arg(long, default_value_t = 200_000_000)]
    pub max_packets: u64,
}

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    #[arg(long)]
    pub bind: String,
    /// Stop after this many seconds.
    #[arg(long)]
    pub secs: f64,
}

/// `bench send`: floods until the time or packet bound; prints
/// `sent=N secs=F`.
pub fn send(args: &SendArgs) -> Result<()> {
    let src: SocketAddr = format!("[{}]:0", args.src).parse().context("--src")?;
    let dst: SocketAddr = format!("[{}]:{}", args.dst, args.port)
        .parse()
        .context("--dst")?;
    let sock = UdpSocket::bind(src).with_context(|| format!("binding {src}"))?;
    sock.connect(dst)
        .with_context(|| format!("connecting to {dst}"))?;
    let payload = [0x5au8; PAYLOAD];
    let mut iov: Vec<libc::iovec> = (0..BATCH)
        .map(|_| libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: PAYLOAD,
        })
        .collect();
    // SAFETY: mmsghdr is plain data; zeroed is a valid empty header.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v as *mut libc::iovec;
        m.msg_hdr.msg_iovlen = 1;
    }
    let fd = sock.as_raw_fd();
    let deadline = Duration::from_secs_f64(args.secs);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut errors: u64 = 0;
    while sent < args.max_packets && start.elapsed() < deadline {
        let want = BATCH.min((args.max_packets - sent) as usize);
        // SAFETY: msgs holds `want` valid headers pointing at live iovecs
        // and at `payload`, all outliving the call.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), want as libc::c_uint, 0) };
        if n < 0 {
            errors += 1;
            // ENOBUFS/EAGAIN under overload: back off a little.
            std::thread::yield_now();
            continue;
        }
        sent += n as u64;
    }
    println!(
        "sent={sent} secs={:.6} errors={errors}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `bench sink`: drains UDP until the time bound; prints `received=N`.
pub fn sink(args: &SinkArgs) -> Result<()> {
    let sock = UdpSocket::bind(&args.bind).with_context(|| format!("binding {}", args.bind))?;
    let size: libc::c_int = 8 << 20;
    // SAFETY: setsockopt with a valid int option value.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Duration::from_secs_f64(args.secs);
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    let mut received: u64 = 0;
    while start.elapsed() < deadline {
        if sock.recv(&mut buf).is_ok() {
            received += 1;
        }
    }
    println!("received={received}");
    Ok(())
}

/// What one flood achieved.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub packets: u64,
    pub secs: f64,
}

impl Sent {
    pub fn pps(&self) -> f64 {
        if self.secs > 0.0 {
            self.packets as f64 / self.secs
        } else {
            0.0
        }
    }
}

fn self_exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("locating the xtask binary")
}

/// Runs a bounded flood from `src` in namespace `ns` and waits for it.
pub fn flood(ns: &str, src: &str, secs: f64) -> Result<Sent> {
    let exe = self_exe()?;
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args(["bench", "send", "--src", src, "--dst", DST_ADDR])
        .args([
            "--port",
            &SINK_PORT.to_string(),
            "--secs",
            &secs.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .context("running the flood")?;
    if !out.status.success() {
        bail!(
            "flood failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field =
        |name: &str| -> Option<&str> { text.split_whitespace().find_map(|w| w.strip_prefix(name)) };
    let packets = field("sent=").and_then(|v| v.parse().ok());
    let took = field("secs=").and_then(|v| v.parse().ok());
    match (packets, took) {
        (Some(packets), Some(secs)) => Ok(Sent { packets, secs }),
        _ => bail!("unexpected flood output: {text}"),
    }
}

/// A sink running in the protected namespace; killed on drop.
pub struct Sink(Child);

impl Sink {
    pub fn start(ns: &str, secs: f64) -> Result<Sink> {
        let exe = self_exe()?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args([
                "bench",
                "sink",
                "--bind",
                &format!("[{DST_ADDR}]:{SINK_PORT}"),
            ])
            .args(["--secs", &secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the UDP sink")?;
        // Give it time to bind.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Sink(child))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
