//! Helpers shared by the integration tests: where the enforcer binary and the
//! shared fixtures are, and how a privileged test decides whether to run.
//!
//! - [`netns`]: network namespaces, veth pairs and a bpffs outside /sys, each
//!   a guard that cleans up on drop (also on panic).
//! - [`daemon`]: the enforcer daemon as a child process in a namespace, and
//!   its CLI.
//! - [`lab`]: the protected/banned/friend namespace topology most tests use.
//! - [`traffic`]: bounded UDP/TCP/ICMP senders and receivers in namespaces.
//! - [`sshd`]: a real OpenSSH server logging to a syslog-format file, and sshpass.
//! - [`jailconf`]: a temporary configuration tree with a jail.local, and
//!   the lab-plus-config opening of the daemon's end-to-end tests.
//! - [`testrun`]: the XDP program on crafted packets (`BPF_PROG_TEST_RUN`).
//! - [`xdp_object`]: the XDP object the tests load.
//! - [`control_abuse`]: hostile clients of the control socket.
//! - [`kill9`]: the kill -9 loop of the durability scenario and the soak.
//! - [`suite`]: the one-line tally each reliability scenario reports.
use std::path::PathBuf;

pub mod control_abuse;
pub mod daemon;
pub mod jailconf;
pub mod kill9;
pub mod lab;
pub mod netns;
pub mod sshd;
pub mod suite;
pub mod testrun;
pub mod traffic;

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `../shared` beside the repository: fail2ban's data and the harnesses.
pub fn shared_dir() -> PathBuf {
    workspace_root().join("..").join("shared")
}

/// `enforcer regex --config <../shared's stock fail2ban tree> ARGS…`: its
/// stdout, once it has exited successfully.
pub fn enforcer_regex<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let args: Vec<S> = args.into_iter().collect();
    let out = std::process::Command::new(enforcer_bin())
        .arg("regex")
        .arg("--config")
        .arg(shared_dir().join("fail2ban/config"))
        .args(&args)
        .output()
        .expect("running enforcer regex");
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "enforcer regex {shown:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The enforcer binary under test: `ENFORCER_BIN` (set by `cargo xtask test`),
/// else target/release/enforcer, else target/debug/enforcer.
pub fn enforcer_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ENFORCER_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("enforcer");
        if p.exists() {
            return p;
        }
    }
    panic!("no enforcer binary: run `cargo xtask test`, or build it and set ENFORCER_BIN");
}

/// The XDP object: the one embedded in the enforcer library when built by
/// `cargo xtask test` (ENFORCER_EBPF_OBJ at build time), else the file
/// named by ENFORCER_EBPF_OBJ at run time, else the `cargo xtask
/// build-ebpf` output in target/.
pub fn xdp_object() -> Vec<u8> {
    if enforcer::xdp::has_embedded_object() {
        return enforcer::xdp::EMBEDDED_OBJECT.to_vec();
    }
    let path = std::env::var_os("ENFORCER_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/bpfel-unknown-none/release/enforcer"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "no XDP object ({}: {e}); run `cargo xtask build-ebpf` or `cargo xtask test`",
            path.display()
        )
    })
}

/// Whether a privileged test may run. Not root: skip (returns false), unless
/// `ENFORCER_REQUIRE_PRIVILEGED=1`, where a skip is a failure.
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("ENFORCER_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: needs root, and ENFORCER_REQUIRE_PRIVILEGED=1 forbids skipping");
    }
    eprintln!("{test}: skipped (not root)");
    false
}
