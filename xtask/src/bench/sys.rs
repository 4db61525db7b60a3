//! Process plumbing shared by every benchmark: running commands (quietly,
//! with a time cap), Ctrl-C handling, reading counters, RSS.
use std::{
    io::Read as _,
    path::Path,
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT/SIGTERM so a benchmark stops at its next check and its
/// guards clean up (instead of the process dying with namespaces left over).
pub fn install_interrupt_handler() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores into an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// Whether Ctrl-C (or SIGTERM) was received.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails when interrupted, so `?` unwinds to the guards.
pub fn check_interrupt() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Runs `prog args…`, failing with its stderr when it fails.
pub fn run(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {prog}"))?;
    if !out.status.success() {
        bail!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command and ignores its outcome (for cleanup).
pub fn run_quiet(prog: &str, args: &[&str]) {
    let _ = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How a capped command ended.
pub enum Capped {
    Done(Duration),
    TimedOut(Duration),
}

/// Runs `cmd` with `input` (a file) on stdin, killing it after `cap`.
pub fn run_capped_with_stdin(mut cmd: Command, input: &Path, cap: Duration) -> Result<Capped> {
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    cmd.stdin(file).stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    loop {
        if let Some(status) = child.try_wait()? {
            let took = start.elapsed();
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                bail!("{cmd:?} failed ({status}): {}", err.trim());
            }
            return Ok(Capped::Done(took));
        }
        if start.elapsed() > cap || interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            if interrupted() {
                bail!("interrupted");
            }
            return Ok(Capped::TimedOut(start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Resident set size of a process in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .context("parsing VmRSS")?;
            return Ok(kb * 1024);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// Reads `kernel.bpf_stats_enabled`, sets it, and puts the old value back
/// on drop.
pub struct BpfStats {
    old: String,
}

impl BpfStats {
    pub fn enable() -> Result<BpfStats> {
        let path = "/proc/sys/kernel/bpf_stats_enabled";
        let old = std::fs::read_to_string(path)
            .context("reading kernel.bpf_stats_enabled")?
            .trim()
            .to_string();
        std::fs::write(path, "1").context("setting kernel.bpf_stats_enabled=1")?;
        Ok(BpfStats { old })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", &self.old);
    }
}

/// `run_cnt` and `run_time_ns` of a BPF program, by id: opens it with
/// BPF_PROG_GET_FD_BY_ID and reads its fdinfo (what bpftool prints).
pub fn bpf_prog_run_stats(prog_id: u32) -> Result<(u64, u64)> {
    const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
    #[repr(C)]
    struct GetFdById {
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let attr = GetFdById {
        id: prog_id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: BPF_PROG_GET_FD_BY_ID reads `size_of::<GetFdById>()` bytes
    // of a properly initialised attribute struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_GET_FD_BY_ID,
            &attr as *const GetFdById,
            std::mem::size_of::<GetFdById>() as libc::c_uint,
        )
    };
    if fd < 0 {
        bail!(
            "BPF_PROG_GET_FD_BY_ID {prog_id}: {}",
            std::io::Error::last_os_error()
        );
    }
    let fd = fd as libc::c_int;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"));
    // SAFETY: fd was returned by the kernel above and is ours to close.
    unsafe { libc::close(fd) };
    let info = info.context("reading the program's fdinfo")?;
    let field = |name: &str| -> Option<u64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    match (field("run_cnt:"), field("run_time_ns:")) {
        (Some(cnt), Some(ns)) => Ok((cnt, ns)),
        _ => bail!("fdinfo of BPF program {prog_id} has no run_cnt/run_time_ns"),
    }
}

/// Memory the kernel charges to a BPF map (`memlock` in fdinfo), by the
/// fd held by process `pid`; sums every map fd of that process.
pub fn bpf_maps_memlock(pid: u32) -> u64 {
    let mut total = 0;
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    for fd in fds.flatten() {
        let Ok(info) = std::fs::read_to_string(fd.path()) else {
            continue;
        };
        if !info.contains("map_type:") {
            continue;
        }
        if let Some(v) = info
            .lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            total += v;
        }
    }
    total
}

/// Installs a Debian package when `probe` is not on PATH (idempotent).
pub fn ensure_package(probe: &str, package: &str) -> Result<()> {
    if which(probe) {
        return Ok(());
    }
    eprintln!("bench: installing {package} (for {probe})");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .context("running apt-get")?;
    if !status.success() || !which(probe) {
        bail!("could not install {package} (apt-get install -y {package})");
    }
    Ok(())
}

/// Whether `prog` is an executable on PATH.
pub fn which(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}
