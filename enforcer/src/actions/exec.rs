//! Owns running shell commands for actions: `/bin/sh -c SCRIPT` with dynamic
//! values as positional parameters, in its own process group, with a timeout
//! after which the group gets SIGTERM and then SIGKILL (as fail2ban's
//! `Utils.executeCmd`). Output is captured (bounded) for the log.
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Default `timeout` of command actions, seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const OUTPUT_CAP: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot run /bin/sh: {0}")]
    Spawn(std::io::Error),
    #[error("waiting for command: {0}")]
    Wait(std::io::Error),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutcome {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Killed because it ran past its timeout.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ExecOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send(out);
    });
    rx
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: killpg only sends a signal; pgid is the child's own group.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Runs `script` with `/bin/sh -c`; `args` become `$1..$N`. NUL bytes cannot
/// travel through argv (and a shell variable cannot hold one): they are
/// dropped from arguments.
pub fn run_shell(
    script: &str,
    args: &[String],
    timeout: Duration,
) -> Result<ExecOutcome, ExecError> {
    let start = Instant::now();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script.replace('\0', ""))
        .arg("enforcer-action");
    for a in args {
        cmd.arg(a.replace('\0', ""));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(ExecError::Spawn)?;
    let pgid = child.id() as i32;
    let out_rx = child.stdout.take().map(reader);
    let err_rx = child.stderr.take().map(reader);
    let mut timed_out = false;
    let mut sleep = Duration::from_millis(1);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(ExecError::Wait)? {
            break st;
        }
        if start.elapsed() >= timeout {
            timed_out = true;
            kill_group(pgid, libc::SIGTERM);
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_millis(500) {
                if child.try_wait().map_err(ExecError::Wait)?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // Always kill the rest of the tree: children may ignore SIGTERM.
            kill_group(pgid, libc::SIGKILL);
            break child.wait().map_err(ExecError::Wait)?;
        }
        std::thread::sleep(sleep.min(timeout.saturating_sub(start.elapsed())));
        sleep = (sleep * 2).min(Duration::from_millis(50));
    };
    // A background grandchild may keep the pipes open: wait briefly only.
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_millis(500)).ok())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    Ok(ExecOutcome {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: collect(out_rx),
        stderr: collect(err_rx),
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_positional_args() {
        let o = run_shell(
            "printf '%s|%s' \"$1\" \"$2\"; exit 3",
            &["a b".into(), "$(x)".into()],
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout, "a b|$(x)");
        assert!(!o.success());
        assert!(run_shell("true", &[], DEFAULT_TIMEOUT).unwrap().success());
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let dir = std::env::temp_dir().join(format!("enforcer-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("survived");
        // A child that ignores SIGTERM and would write a marker later.
        let script = format!(
            "trap '' TERM; (trap '' TERM; sleep 3; touch {}) & sleep 30",
            marker.display()
        );
        let o = run_shell(&script, &[], Duration::from_millis(300)).unwrap();
        assert!(o.timed_out);
        assert_eq!(o.code, None);
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
        std::thread::sleep(Duration::from_millis(3500));
        assert!(
            !marker.exists(),
            "the background child was killed with its group"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
