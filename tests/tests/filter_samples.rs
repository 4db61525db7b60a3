//! Conformance of the filter engine with fail2ban's annotated sample logs
//! (../shared/conformance/f2b_samples.py over fail2ban's 73 logs, ratcheted
//! in tests/ratchet/f2b_samples.txt), and of our own default filters with
//! their sample logs in tests/samples/filters (which must all pass).
use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Outcome {
    passed: u64,
    failed: u64,
    clean: usize,
    logs: usize,
    problems: Vec<String>,
}

fn harness(tag: &str, extra: &[&str]) -> Outcome {
    let shared = tests::shared_dir();
    let report =
        std::env::temp_dir().join(format!("f2b-samples-{}-{tag}.json", std::process::id()));
    let out = Command::new("python3")
        .arg(shared.join("conformance/f2b_samples.py"))
        .args(extra)
        .arg("--json-report")
        .arg(&report)
        .arg("--")
        .arg(tests::enforcer_bin())
        .output()
        .expect("running python3 f2b_samples.py");
    assert!(
        out.status.success(),
        "harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).expect("harness report");
    let _ = std::fs::remove_file(&report);
    let v: Value = serde_json::from_str(&text).expect("report is JSON");
    let logs = v.as_object().expect("report is an object");
    let mut o = Outcome {
        passed: 0,
        failed: 0,
        clean: 0,
        logs: logs.len(),
        problems: Vec::new(),
    };
    for (name, r) in logs {
        let f = r["failed"].as_u64().unwrap_or(0);
        o.passed += r["passed"].as_u64().unwrap_or(0);
        o.failed += f;
        if f == 0 {
            o.clean += 1;
        }
        for pr in r["problems"].as_array().into_iter().flatten().take(5) {
            o.problems
                .push(format!("{name}: {}", pr.as_str().unwrap_or("")));
        }
    }
    o
}

#[test]
fn fail2ban_sample_logs_ratchet() {
    let o = harness("fail2ban", &[]);
    let floor_file = tests::workspace_root().join("tests/ratchet/f2b_samples.txt");
    let floor: u64 = std::fs::read_to_string(&floor_file)
        .expect("ratchet file")
        .trim()
        .parse()
        .expect("ratchet is an integer");
    eprintln!(
        "f2b_samples: {} passed, {} failed; logs fully passing: {} of {}",
        o.passed, o.failed, o.clean, o.logs
    );
    for p in &o.problems {
        eprintln!("  {p}");
    }
    assert!(
        o.logs >= 73,
        "expected fail2ban's 73 sample logs, the harness found {}",
        o.logs
    );
    assert!(
        o.passed >= floor,
        "conformance fell below the ratchet: {} < {floor}",
        o.passed
    );
    if o.passed > floor {
        eprintln!(
            "f2b_samples: {} > floor {floor}: raise {}",
            o.passed,
            floor_file.display()
        );
    }
}

#[test]
fn own_default_filters_pass_their_samples() {
    let root = tests::workspace_root();
    let logs = root.join("tests/samples/filters");
    let config = root.join("enforcer/defaults");
    assert!(Path::new(&config).join("filter.d/sshd.conf").is_file());
    let o = harness(
        "defaults",
        &[
            "--logs",
            logs.to_str().expect("utf-8 path"),
            "--config",
            config.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(o.logs, 5, "one sample log per default filter");
    assert!(
        o.failed == 0 && o.clean == o.logs && o.passed > 40,
        "{} checks failed ({} passed):\n{}",
        o.failed,
        o.passed,
        o.problems.join("\n")
    );
}
