//! `cargo xtask prereqs`: installs what building and testing need, and does
//! nothing on a machine that has it all. Each step checks first (rustup's
//! installed components, `dpkg-query`, `PATH`) and stays quiet unless it acts
//! or fails; a failing step prints the tool's captured output.
use std::{
    path::PathBuf,
    process::{Command, Output},
};

use anyhow::{Context as _, Result, bail};

/// Debian packages the integration tests run (one per line; other
/// workstreams add theirs here).
pub const TEST_PACKAGES: &[&str] = &[
    "iproute2",
    "iptables",
    "nftables",
    "ipset",
    "openssh-server",
    "sshpass",
    "iputils-ping",
    "systemd-journal-remote", // source::journal tests write journal files with it
    "fail2ban",               // store tests create and read databases with fail2ban's own module
    "systemd",                // xtask_install verifies the unit with systemd-analyze
];

/// Debian packages the build needs: LLVM for bpf-linker.
pub const BUILD_PACKAGES: &[&str] = &["llvm-22-dev"];

/// The toolchain that builds the eBPF crate.
const NIGHTLY: &str = "nightly";
/// Where llvm-22-dev puts llvm-config, which bpf-linker's build looks up.
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// Installs every missing prerequisite.
pub fn ensure() -> Result<()> {
    rust_src()?;
    let mut wanted: Vec<&str> = BUILD_PACKAGES.to_vec();
    wanted.extend_from_slice(TEST_PACKAGES);
    apt(&wanted)?;
    bpf_linker()
}

fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output().with_context(|| format!("running {cmd:?}"))
}

fn checked(cmd: &mut Command) -> Result<()> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn rust_src() -> Result<()> {
    let out = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        NIGHTLY,
    ]))?;
    let listed = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && listed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("prereqs: rustup component add rust-src --toolchain {NIGHTLY}");
    checked(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))
}

/// Whether dpkg has `package` installed.
pub fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.ends_with(b"install ok installed"))
}

fn apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing packages {}: run `sudo apt-get install -y {}` (or run xtask as root)",
            missing.join(" "),
            missing.join(" ")
        );
    }
    eprintln!("prereqs: apt-get install -y {}", missing.join(" "));
    let apt_get = || {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    checked(apt_get().args(["-qq", "update"]))?;
    checked(
        apt_get()
            .args(["-qq", "install", "-y", "--no-install-recommends"])
            .args(&missing),
    )
}

/// `name` found on `PATH` or in cargo's bin directory.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn bpf_linker() -> Result<()> {
    if find_program("bpf-linker").is_some() {
        return Ok(());
    }
    eprintln!(
        "prereqs: cargo install bpf-linker --no-default-features --features llvm-22 \
         (a few minutes)"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![PathBuf::from(LLVM_BIN)];
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).context("building PATH")?;
    checked(
        Command::new("cargo")
            .args(["install", "--quiet", "bpf-linker"])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("PATH", path),
    )
}

/// Whether xtask runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
