//! `enforcer config dump` against what `fail2ban-client -d` printed for the
//! same trees (../shared/conformance/f2b_config.py), with a ratchet: the
//! number of passing cases may never drop below tests/ratchet/f2b_config.txt.
use std::process::Command;

#[test]
fn config_dump_matches_fail2ban_client() {
    let script = tests::shared_dir().join("conformance/f2b_config.py");
    assert!(script.is_file(), "{} is missing", script.display());
    let bin = tests::enforcer_bin();
    let bin = std::fs::canonicalize(&bin).unwrap_or(bin);
    let out = Command::new("python3")
        .arg(&script)
        .arg("-v")
        .arg("--")
        .arg(&bin)
        .output()
        .expect("running python3 f2b_config.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "f2b_config.py failed: {}", out.status);
    let last = stdout.lines().last().expect("a summary line");
    let nums: Vec<u32> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a count"))
        .collect();
    assert!(
        last.ends_with("failed") && nums.len() == 2,
        "unexpected summary line: {last:?}"
    );
    let (passed, failed) = (nums[0], nums[1]);
    let floor_file = tests::workspace_root().join("tests/ratchet/f2b_config.txt");
    let floor: u32 = std::fs::read_to_string(&floor_file)
        .expect("reading the ratchet")
        .trim()
        .parse()
        .expect("the ratchet is one integer");
    assert!(
        passed >= floor,
        "f2b_config: {passed} passed, {failed} failed; the floor is {floor}"
    );
    if passed > floor {
        eprintln!(
            "f2b_config: {passed} passed > floor {floor}: raise {}",
            floor_file.display()
        );
    }
}
