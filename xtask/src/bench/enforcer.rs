//! Driving the real enforcer: the daemon started in the protected namespace
//! (bpffs and control socket under a private run directory, outside /sys so
//! they are shared with this process), and a control-socket client that
//! bans in large batches (the wire protocol of `enforcer/src/control`).
use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::sys::{check_interrupt, run_quiet};

/// Targets per control request: the server reads at most 1 MiB per line.
pub const BATCH: usize = 20_000;

/// The enforcer binary: `--enforcer PATH`, else `ENFORCER_BIN`, else the
/// release build with the XDP object embedded (built now).
pub fn binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ENFORCER_BIN") {
        return Ok(PathBuf::from(p));
    }
    crate::build_ebpf::build_enforcer(&crate::build_ebpf::BuildEbpfArgs {
        toolchain: "nightly".into(),
    })
}

/// The run directory of this process's daemons.
pub fn run_dir() -> PathBuf {
    PathBuf::from(format!("/run/enforcer-bench-{}", std::process::id()))
}

/// `enforcer config init CONFIG`, with the database (`DIR/enforcer.sqlite3`)
/// and the log (stderr) in the run directory, and `jail_local` as
/// `jail.local`.
pub fn write_config(bin: &Path, config: &Path, dir: &Path, jail_local: &str) -> Result<()> {
    if !config.exists() {
        let out = Command::new(bin)
            .args(["config", "init"])
            .arg(config)
            .output()
            .with_context(|| format!("running {} config init", bin.display()))?;
        if !out.status.success() {
            bail!(
                "enforcer config init: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    std::fs::write(
        config.join("fail2ban.local"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = STDERR\ndbfile = {}\n",
            dir.join("enforcer.sqlite3").display()
        ),
    )?;
    std::fs::write(config.join("jail.local"), jail_local)?;
    Ok(())
}

/// A daemon in a namespace; stopped, unloaded and its bpffs unmounted on drop.
pub struct Daemon {
    child: Child,
    pub bin: PathBuf,
    pub socket: PathBuf,
    pub bpffs: PathBuf,
    dir: PathBuf,
}

impl Daemon {
    /// Starts `enforcer --iface IFACE` inside `ns` (when `ns` is Some) and
    /// waits for its control socket.
    pub fn start(
        bin: &Path,
        ns: Option<&str>,
        iface: Option<&str>,
        extra: &[&str],
    ) -> Result<Daemon> {
        let dir = run_dir();
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("enforcer.sock");
        let bpffs = dir.join("bpffs");
        let _ = std::fs::remove_file(&socket);
        // A configuration of our own unless the caller brings one: the
        // database and the log stay in the run directory (the defaults are
        // /var/lib and /var/log, which a benchmark must not fill).
        let mut own_config = Vec::new();
        if !extra.contains(&"--config") {
            let config = dir.join("config");
            if !config.exists() {
                write_config(bin, &config, &dir, "")?;
            }
            own_config = vec![
                "--config".to_string(),
                config.to_string_lossy().into_owned(),
            ];
        }
        let mut cmd = match ns {
            // nsenter --net only: `ip netns exec` would also give the
            // daemon a private mount namespace, and the bpffs it mounts
            // (with every pin) would vanish with it, so a restart could
            // not re-adopt the bans.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        if let Some(iface) = iface {
            cmd.args(["--iface", iface]);
        }
        cmd.arg("--socket")
            .arg(&socket)
            .arg("--bpffs")
            .arg(&bpffs)
            .args(["--max-bans", "1100000"])
            .args(&own_config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log"))?);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut daemon = Daemon {
            child,
            bin: bin.to_path_buf(),
            socket,
            bpffs,
            dir,
        };
        let start = Instant::now();
        loop {
            check_interrupt()?;
            if let Some(status) = daemon.child.try_wait()? {
                bail!("enforcer exited at start ({status}): {}", daemon.log_tail());
            }
            if daemon.call(r#"{"cmd":"ping"}"#).is_ok() {
                return Ok(daemon);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "enforcer's control socket did not come up in 30 s: {}",
                    daemon.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// One request line; returns the response line, failing on `"ok":false`.
    pub fn call(&self, request: &str) -> Result<String> {
        let mut stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(600)))?;
        stream.write_all(request.as_bytes())?;
        stream.write_all(b"\n")?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        if !line.starts_with(r#"{"ok":true"#) {
            let mut shown = line.trim().to_string();
            shown.truncate(300);
            bail!("enforcer refused the request: {shown}");
        }
        Ok(line)
    }

    /// Bans every target permanently in jail `jail`, `BATCH` per request.
    pub fn ban_all(&self, jail: &str, targets: &[String]) -> Result<Duration> {
        self.ban_all_for(jail, targets, None)
    }

    /// Bans every target in jail `jail` for `bantime` s (None: permanent).
    pub fn ban_all_for(
        &self,
        jail: &str,
        targets: &[String],
        bantime: Option<i64>,
    ) -> Result<Duration> {
        let bantime = bantime.unwrap_or(-1);
        let start = Instant::now();
        for chunk in targets.chunks(BATCH) {
            check_interrupt()?;
            let list: Vec<String> = chunk.iter().map(|t| format!("\"{t}\"")).collect();
            let req = format!(
                r#"{{"cmd":"ban","jail":"{jail}","targets":[{}],"bantime":{bantime}}}"#,
                list.join(",")
            );
            self.call(&req)?;
        }
        Ok(start.elapsed())
    }

    /// How many bans the daemon lists (read from the XDP maps).
    pub fn count_bans(&self) -> Result<usize> {
        let reply = self.call(r#"{"cmd":"banned"}"#)?;
        Ok(reply.matches(r#""target":"#).count())
    }

    /// `enforcer banned` (the CLI, as an operator runs it; the daemon's own
    /// binary) to the end of its output: how long, and the lines listed.
    pub fn banned_cli(&self) -> Result<(Duration, usize)> {
        let start = Instant::now();
        let out = std::process::Command::new(&self.bin)
            .arg("banned")
            .arg("--socket")
            .arg(&self.socket)
            .stderr(std::process::Stdio::null())
            .output()
            .context("running enforcer banned")?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!("enforcer banned failed: {}", out.status);
        }
        Ok((took, out.stdout.iter().filter(|&&b| b == b'\n').count()))
    }

    /// Stops the daemon and unloads the program: the pins (and the bans in
    /// the maps) are gone, the database stays.
    pub fn unload(&mut self) {
        self.stop();
        self.run_unload();
    }

    /// `enforcer unload` on this daemon's bpffs and socket.
    fn run_unload(&self) {
        let bpffs = self.bpffs.to_string_lossy().into_owned();
        let socket = self.socket.to_string_lossy().into_owned();
        run_quiet(
            &self.bin.to_string_lossy(),
            &["unload", "--bpffs", &bpffs, "--socket", &socket],
        );
    }

    /// `{"cmd":"unban","all":true}`.
    pub fn unban_all(&self) -> Result<Duration> {
        let start = Instant::now();
        self.call(r#"{"cmd":"unban","all":true}"#)?;
        Ok(start.elapsed())
    }

    /// Asks the daemon to stop and waits (bounded) for it to exit.
    pub fn stop(&mut self) {
        let _ = self.call(r#"{"cmd":"stop"}"#);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
        self.run_unload();
        run_quiet("umount", &[&self.bpffs.to_string_lossy()]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
