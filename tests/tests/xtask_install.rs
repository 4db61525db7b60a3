//! `cargo xtask install --destdir ROOT` stages the binary, the systemd unit
//! and the default configuration under ROOT; the unit passes
//! `systemd-analyze verify` and keeps its capabilities and hardening; a
//! second install replaces the binary and the unit but keeps the operator's
//! configuration and flags. Writes only under a temporary directory.
use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

struct Root(PathBuf);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn install(root: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(tests::workspace_root())
        .args(["xtask", "install", "--iface", "eth7", "--destdir"])
        .arg(root)
        .arg("--binary")
        .arg(tests::enforcer_bin())
        .output()
        .expect("running cargo xtask install");
    assert!(
        out.status.success(),
        "cargo xtask install: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn install_stages_binary_unit_and_config_and_keeps_config_on_reinstall() {
    let root = Root(std::env::temp_dir().join(tests::netns::unique_name("enfinst")));
    install(&root.0);

    let bin = root.0.join("usr/local/sbin/enforcer");
    assert_eq!(
        std::fs::read(&bin).expect("installed binary"),
        std::fs::read(tests::enforcer_bin()).unwrap()
    );
    assert_eq!(bin.metadata().unwrap().permissions().mode() & 0o777, 0o755);

    let unit_path = root.0.join("etc/systemd/system/enforcer.service");
    let unit = read(&unit_path);
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/usr/local/sbin/enforcer $ENFORCER_ARGS"),
        "{unit}"
    );
    assert!(!unit.contains("@BINDIR@"), "placeholder left: {unit}");
    let value = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .flat_map(|v| v.split_whitespace().map(String::from))
            .collect()
    };
    for cap in ["CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_PERFMON"] {
        assert!(
            value("CapabilityBoundingSet").iter().any(|c| c == cap),
            "{cap}"
        );
        assert!(
            value("AmbientCapabilities").iter().any(|c| c == cap),
            "{cap}"
        );
    }
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelModules", "yes"),
        ("RestrictNamespaces", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
    ] {
        assert_eq!(value(key), [want], "{key}");
    }
    assert!(value("ReadWritePaths").iter().any(|p| p == "/sys/fs/bpf"));

    // systemd-analyze checks the unit as systemd would load it; the binary
    // it names is the staged one.
    let check = root.0.join("verify/enforcer.service");
    std::fs::create_dir_all(check.parent().unwrap()).unwrap();
    std::fs::write(
        &check,
        unit.replace("/usr/local/sbin/enforcer", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&check)
        .output()
        .expect("systemd-analyze (package systemd; `cargo xtask prereqs` installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    let complaints: Vec<&str> = err.lines().filter(|l| l.contains("enforcer")).collect();
    assert!(complaints.is_empty(), "{complaints:#?}");

    let defaults = root.0.join("etc/default/enforcer");
    assert!(
        read(&defaults).contains("ENFORCER_ARGS=\"--iface eth7 --config /etc/enforcer\""),
        "{}",
        read(&defaults)
    );
    let config = root.0.join("etc/enforcer");
    let out = Command::new(&bin)
        .args(["config", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the installed configuration checks: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Reinstall: the operator's edits stay, the binary and unit are ours.
    std::fs::write(config.join("jail.local"), "[sshd]\nenabled = false\n").unwrap();
    std::fs::write(&defaults, "ENFORCER_ARGS=\"--iface eth9\"\n").unwrap();
    std::fs::write(&unit_path, "edited").unwrap();
    install(&root.0);
    assert_eq!(
        read(&config.join("jail.local")),
        "[sshd]\nenabled = false\n"
    );
    assert_eq!(read(&defaults), "ENFORCER_ARGS=\"--iface eth9\"\n");
    assert_eq!(read(&unit_path), unit);
}
