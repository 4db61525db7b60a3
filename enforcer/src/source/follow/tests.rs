use std::fs::{self, OpenOptions};
use std::io::Write;

use super::*;

struct T {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl T {
    fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.log");
        T { dir, path }
    }
    fn append(&self, s: &str) {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }
}

/// Polls until idle, returning (text, pos, in_operation) of each line.
fn poll(f: &mut Follower) -> Vec<(String, u64, bool)> {
    let mut out = Vec::new();
    loop {
        let r = f
            .poll(&mut |e| {
                out.push((
                    String::from_utf8(e.bytes.to_vec()).unwrap(),
                    e.pos,
                    e.in_operation,
                ));
                true
            })
            .unwrap();
        if r == Polled::Idle {
            return out;
        }
    }
}

fn texts(v: &[(String, u64, bool)]) -> Vec<&str> {
    v.iter().map(|l| l.0.as_str()).collect()
}

fn follower(t: &T, start: Start, resume: Option<&LogPosition>) -> Follower {
    Follower::new(t.path.clone(), true, start, resume, Encoding::Utf8, 1024)
}

#[test]
fn head_reads_existing_lines_as_backlog_then_live_ones() {
    let t = T::new();
    t.append("a\nb\n");
    let mut f = follower(&t, Start::Head, None);
    assert_eq!(
        poll(&mut f),
        [("a".into(), 2, false), ("b".into(), 4, false)]
    );
    t.append("c\npart");
    assert_eq!(poll(&mut f), [("c".into(), 6, true)]);
    assert_eq!(f.position().unwrap().pos, 6);
    t.append("ial\n");
    assert_eq!(texts(&poll(&mut f)), ["partial"]);
}

#[test]
fn tail_skips_existing_content() {
    let t = T::new();
    t.append("old\n");
    let mut f = follower(&t, Start::Tail, None);
    assert!(poll(&mut f).is_empty());
    t.append("new\n");
    assert_eq!(texts(&poll(&mut f)), ["new"]);
}

#[test]
fn resumes_at_stored_position_only_when_the_first_line_matches() {
    let t = T::new();
    t.append("first\nsecond\nthird\n");
    let mut f = follower(&t, Start::Head, None);
    poll(&mut f);
    let at = LogPosition {
        pos: 13,
        ..f.position().unwrap()
    };
    assert_eq!(at.first_line_md5, format!("{:x}", Md5::digest(b"first\n")));
    let mut again = follower(&t, Start::Head, Some(&at));
    assert_eq!(texts(&poll(&mut again)), ["third"]);
    // Another file at the same path: the position does not apply.
    fs::write(&t.path, "other\nsecond\nthird\n").unwrap();
    let mut other = follower(&t, Start::Head, Some(&at));
    assert_eq!(poll(&mut other).len(), 3);
    // A position past the end (file shrank) does not apply either.
    fs::write(&t.path, "first\n").unwrap();
    let mut short = follower(&t, Start::Tail, Some(&at));
    assert!(poll(&mut short).is_empty());
}

#[test]
fn rename_rotation_drains_old_file_then_reads_new_one() {
    let t = T::new();
    t.append("1\n");
    let mut f = follower(&t, Start::Head, None);
    assert_eq!(texts(&poll(&mut f)), ["1"]);
    let mut old = OpenOptions::new().append(true).open(&t.path).unwrap();
    fs::rename(&t.path, t.dir.path().join("auth.log.1")).unwrap();
    t.append("3\n");
    // The logger writes once more to the old file before reopening.
    old.write_all(b"2\n").unwrap();
    assert_eq!(texts(&poll(&mut f)), ["2", "3"]);
    old.write_all(b"late\n").unwrap();
    assert_eq!(texts(&poll(&mut f)), ["late"]);
}

#[test]
fn delete_and_recreate_is_a_new_file_even_with_a_reused_inode() {
    let t = T::new();
    t.append("aaaaaaaaaa 1\n");
    let mut f = follower(&t, Start::Head, None);
    poll(&mut f);
    fs::remove_file(&t.path).unwrap();
    assert!(poll(&mut f).is_empty());
    // Longer than what was read, so neither size nor inode alone would tell.
    t.append("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 2\n");
    assert_eq!(poll(&mut f).len(), 1);
}

#[test]
fn copytruncate_is_detected_by_size_and_by_first_line() {
    let t = T::new();
    t.append("one\ntwo\n");
    let mut f = follower(&t, Start::Head, None);
    poll(&mut f);
    // Truncated, then less written than before.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&t.path)
        .unwrap();
    t.append("3\n");
    assert_eq!(texts(&poll(&mut f)), ["3"]);
    // Truncated, then more written than before, before the next poll.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&t.path)
        .unwrap();
    t.append("four is long\nfive\n");
    assert_eq!(texts(&poll(&mut f)), ["four is long", "five"]);
    assert!(poll(&mut f).is_empty());
}

#[test]
fn a_missing_file_is_waited_for_and_read_from_its_start() {
    let t = T::new();
    let mut f = follower(&t, Start::Tail, None);
    assert!(poll(&mut f).is_empty());
    t.append("x\n");
    assert_eq!(poll(&mut f), [("x".into(), 2, true)]);
}

#[test]
fn stopping_keeps_the_position_of_the_last_delivered_line() {
    let t = T::new();
    t.append("a\nb\nc\n");
    let mut f = follower(&t, Start::Head, None);
    let mut n = 0;
    let r = f
        .poll(&mut |_| {
            n += 1;
            n < 2
        })
        .unwrap();
    assert_eq!(r, Polled::Stopped);
    assert_eq!(f.position().unwrap().pos, 2);
}

#[test]
fn latin1_is_decoded() {
    let t = T::new();
    fs::write(&t.path, b"caf\xe9\n").unwrap();
    let mut f = Follower::new(
        t.path.clone(),
        true,
        Start::Head,
        None,
        Encoding::Latin1,
        1024,
    );
    assert_eq!(texts(&poll(&mut f)), ["café"]);
}
