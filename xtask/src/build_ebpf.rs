//! `cargo xtask build-ebpf`: builds the XDP program (`enforcer-ebpf`) with
//! nightly for `bpfel-unknown-none` (release, BTF) into [`ebpf_object`], and
//! [`build_enforcer`], which builds the release `enforcer` binary with that
//! object embedded (`ENFORCER_EBPF_OBJ`, read by `enforcer/build.rs`).
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// The eBPF target; the VM and CI are little-endian x86_64.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// Options of `cargo xtask build-ebpf`.
#[derive(Debug, clap::Args)]
pub struct BuildEbpfArgs {
    /// Toolchain used for the eBPF crate (needs rust-src for -Z build-std).
    #[arg(long, default_value = "nightly")]
    pub toolchain: String,
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Where `build-ebpf` leaves the object:
/// `target/bpfel-unknown-none/release/enforcer`.
pub fn ebpf_object() -> PathBuf {
    target_dir()
        .join(BPF_TARGET)
        .join("release")
        .join("enforcer")
}

/// Builds the XDP object and returns its path.
pub fn build_ebpf(args: &BuildEbpfArgs) -> Result<PathBuf> {
    let root = workspace_root();
    let mut cmd = Command::new("rustup");
    cmd.current_dir(&root)
        .args(["run", &args.toolchain, "cargo", "build"])
        .args(["--package", "enforcer-ebpf", "--bins", "--release"])
        .args(["--target", BPF_TARGET, "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(target_dir());
    // What aya-build passes: the target arch cfg aya-ebpf's bindings key
    // on, full debug info, and --btf so bpf-linker emits BTF (needed for
    // the verifier's map and function info, and for bpftool dumps).
    const SEP: &str = "\x1f";
    let arch = std::env::consts::ARCH;
    cmd.env(
        "CARGO_ENCODED_RUSTFLAGS",
        format!("--cfg=bpf_target_arch=\"{arch}\"{SEP}-Cdebuginfo=2{SEP}-Clink-arg=--btf"),
    );
    // The outer cargo's toolchain must not leak into the nightly build.
    for key in ["RUSTC", "RUSTC_WORKSPACE_WRAPPER", "RUSTFLAGS", "CARGO"] {
        cmd.env_remove(key);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {cmd:?} (is rustup installed?)"))?;
    if !status.success() {
        bail!(
            "building the XDP program failed ({status}); it needs `rustup component add \
             rust-src --toolchain {}` and bpf-linker (`cargo xtask prereqs`)",
            args.toolchain
        );
    }
    let obj = ebpf_object();
    if !obj.is_file() {
        bail!("the eBPF build succeeded but {} is missing", obj.display());
    }
    Ok(obj)
}

/// Builds the XDP object, then `cargo build --release -p enforcer` with it
/// embedded; returns the path of the release binary. For other cargo
/// commands that must embed the object (tests), use [`enforcer_cargo`].
pub fn build_enforcer(args: &BuildEbpfArgs) -> Result<PathBuf> {
    let obj = build_ebpf(args)?;
    let mut cmd = enforcer_cargo(&obj);
    cmd.args([
        "build",
        "--release",
        "--package",
        "enforcer",
        "--bin",
        "enforcer",
    ]);
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("building the enforcer binary failed ({status})");
    }
    Ok(target_dir().join("release").join("enforcer"))
}

/// A `cargo` command (stable, the current toolchain) run at the workspace
/// root with `ENFORCER_EBPF_OBJ` pointing at `obj`, so anything it builds
/// that depends on `enforcer` embeds the real XDP object.
pub fn enforcer_cargo(obj: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .env("ENFORCER_EBPF_OBJ", obj);
    cmd
}
