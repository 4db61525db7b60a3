//! Every malformed configuration in tests/corpus/config-malformed makes
//! `enforcer config check` and `enforcer config dump` exit 2 (never panic)
//! with the FILE:LINE of the problem and what is wrong.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read corpus dir") {
        let entry = entry.expect("dir entry");
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            fs::create_dir_all(&dst).expect("mkdir");
            copy_tree(&src, &dst);
        } else if entry.file_name() != "expect" {
            fs::copy(&src, &dst).expect("copy corpus file");
        }
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn malformed_configs_name_file_and_line_and_exit_2() {
    let corpus = tests::workspace_root().join("tests/corpus/config-malformed");
    let bin = tests::enforcer_bin();
    let mut cases: Vec<PathBuf> = fs::read_dir(&corpus)
        .expect("the corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} malformed configs", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expect = fs::read_to_string(case.join("expect")).expect("expect file");
        let mut lines = expect.lines();
        let (at, msg) = (lines.next().unwrap(), lines.next().unwrap_or(""));
        let scratch = Scratch(
            std::env::temp_dir().join(format!("enforcer-malformed-{}-{name}", std::process::id())),
        );
        let _ = fs::remove_dir_all(&scratch.0);
        fs::create_dir_all(&scratch.0).expect("mkdir scratch");
        copy_tree(&corpus.join("_base"), &scratch.0);
        copy_tree(case, &scratch.0);
        let want = format!("{}/{at}: ", scratch.0.display());
        for sub in ["check", "dump"] {
            let out = Command::new(&bin)
                .args(["config", sub, "--config"])
                .arg(&scratch.0)
                .output()
                .expect("running enforcer");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let ok = out.status.code() == Some(2)
                && stderr
                    .lines()
                    .any(|l| l.starts_with(&want) && l.contains(msg))
                && !stderr.contains("panicked");
            if !ok {
                failures.push(format!(
                    "{name} ({sub}): exit {:?}, wanted a line starting {want:?} containing {msg:?}, got:\n{stderr}",
                    out.status.code()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{} malformed configs rejected with file:line", cases.len());
    let tally = tests::suite::Tally {
        payloads: cases.len() as u64,
        ..Default::default()
    };
    tests::suite::report("config_malformed", tally);
}

/// The base tree itself is valid, so each case fails for its own reason.
#[test]
fn the_base_tree_is_valid() {
    let base = tests::workspace_root().join("tests/corpus/config-malformed/_base");
    let out = Command::new(tests::enforcer_bin())
        .args(["config", "check", "--config"])
        .arg(&base)
        .output()
        .expect("running enforcer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sshd"));
}
