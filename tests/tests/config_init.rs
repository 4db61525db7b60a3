//! `enforcer config init DIR` writes the embedded default tree (exactly the
//! files of enforcer/defaults), refuses to overwrite, and the result is a
//! tree `config check` accepts with the sshd jail enabled and banning by XDP.
use std::{fs, path::Path, process::Command};

fn files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(root, &p, out);
        } else if p.file_name().is_some_and(|n| n != "README.md") {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

#[test]
fn init_writes_the_defaults_and_check_accepts_them() {
    let bin = tests::enforcer_bin();
    let dir = std::env::temp_dir().join(format!("enforcer-init-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let run = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .output()
            .expect("running enforcer")
    };
    let d = dir.to_str().unwrap();
    let out = run(&["config", "init", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let defaults = tests::workspace_root().join("enforcer/defaults");
    let mut want = Vec::new();
    files(&defaults, &defaults, &mut want);
    want.sort();
    let mut got = Vec::new();
    files(&dir, &dir, &mut got);
    got.sort();
    assert_eq!(got, want);
    for f in &want {
        assert_eq!(
            fs::read(dir.join(f)).unwrap(),
            fs::read(defaults.join(f)).unwrap(),
            "{f}"
        );
    }

    // a second init must not overwrite an edited tree
    fs::write(dir.join("jail.conf"), "# mine\n").unwrap();
    let out = run(&["config", "init", d]);
    assert!(!out.status.success());
    assert_eq!(
        fs::read_to_string(dir.join("jail.conf")).unwrap(),
        "# mine\n"
    );
    fs::copy(defaults.join("jail.conf"), dir.join("jail.conf")).unwrap();

    let out = run(&["config", "check", "--config", d]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if defaults.join("filter.d/sshd.conf").is_file() {
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains("1 enabled jail"), "{stdout}");
        assert!(
            stdout.contains("sshd: filter sshd") && stdout.contains("actions: xdp"),
            "{stdout}"
        );
    } else {
        // the filter room has not shipped its filters yet: the only problem
        // is the missing filter, named at the line that asks for it
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr.contains("unknown filter 'sshd'"), "{stderr}");
    }
    let _ = fs::remove_dir_all(&dir);
}
