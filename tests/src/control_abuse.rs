//! Hostile clients of the daemon's control socket (issue 7): malformed
//! request lines, an oversized one, connections that send nothing or half a
//! line, and clients that hang up mid-request. Each helper returns how many
//! payloads it sent and panics if the daemon accepted one of them or
//! stopped answering. `control_malformed` runs them once; `cargo xtask
//! soak` runs them in a loop.
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Request lines the daemon must refuse (each is sent with a newline).
pub fn malformed_lines() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        // truncated JSON
        &br#"{"cmd":"ban","jail":"sshd","targets":["198.18.9.9""#[..],
        br#"{"cmd":"ban","targets":["198.18.9.9"]"#,
        br#"{"cmd":"#,
        br#"{"#,
        br#"{"cmd":"unban","all":tr"#,
        // wrong types
        br#"{"cmd":"ban","targets":"198.18.9.9"}"#,
        br#"{"cmd":"ban","targets":[1,2,3]}"#,
        br#"{"cmd":"ban","targets":[["198.18.9.9"]]}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9"],"bantime":"forever"}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9"],"bantime":1e300}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9"],"bantime":99999999999999999999999}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9"],"bantime":1.5}"#,
        br#"{"cmd":"ban","jail":{"name":"sshd"},"targets":["198.18.9.9"]}"#,
        br#"{"cmd":"ban","jail":null,"targets":null}"#,
        br#"{"cmd":"unban","all":"yes"}"#,
        br#"{"cmd":"unban","all":1}"#,
        br#"{"cmd":"unban","targets":{"a":"198.18.5.5"}}"#,
        br#"{"cmd":"get","jail":1,"key":2}"#,
        br#"{"cmd":"set","jail":"sshd","key":"banip","values":"198.18.9.9"}"#,
        br#"{"cmd":5}"#,
        br#"{"cmd":null}"#,
        br#"{"cmd":["ping"]}"#,
        br#"[{"cmd":"ping"}]"#,
        br#""ping""#,
        b"null",
        b"42",
        b"true",
        // unknown commands and fields
        br#"{"cmd":"explode"}"#,
        br#"{"cmd":"PING"}"#,
        br#"{"cmd":"ban ","targets":["198.18.9.9"]}"#,
        br#"{"cmd":"ping","extra":1}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9"],"bantiem":5}"#,
        br#"{"cmd":"unban","all":true,"really":true,"cmd":"stop"}"#,
        br#"{}"#,
        br#"{"ping":{}}"#,
        // two requests glued together, trailing garbage
        br#"{"cmd":"ping"}{"cmd":"stop"}"#,
        br#"{"cmd":"stop"} x"#,
        // targets that are not addresses (what must never reach a shell)
        br#"{"cmd":"ban","targets":["198.18.9.9; rm -rf /"]}"#,
        br#"{"cmd":"ban","targets":["$(touch /tmp/enforcer-pwned)"]}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9/33"]}"#,
        br#"{"cmd":"ban","targets":["198.18.9.9\u0000"]}"#,
        br#"{"cmd":"ban","targets":["\ud800"]}"#,
        br#"{"cmd":"ban","jail":"../../etc/passwd","targets":["198.18.9.9"]}"#,
        br#"{"cmd":"ban","jail":"two words","targets":["198.18.9.9"]}"#,
        // invalid UTF-8 and NUL bytes
        b"\xff\xfe\xfd",
        b"{\"cmd\":\"ban\",\"targets\":[\"198.18.9.\xff\"]}",
        b"{\"cmd\":\"pi\xc3\x28ng\"}",
        b"\0\0\0\0",
        b"{\"cmd\":\"ping\"\0}",
        // empty and blank lines
        b"",
        b"   \t ",
        b"\r",
    ]
    .iter()
    .map(|l| l.to_vec())
    .collect();
    // Deep nesting (a recursive parser's stack) and a long but legal-size
    // line full of targets that are not addresses.
    v.push(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes());
    v.push(
        format!(
            r#"{{"cmd":"ban","targets":[{}"x"]}}"#,
            r#""x","#.repeat(100_000)
        )
        .into_bytes(),
    );
    v
}

fn connect(socket: &Path) -> UnixStream {
    let s = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("{}: the daemon no longer accepts: {e}", socket.display()));
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Sends `line` + newline and reads one response line.
fn call(reader: &mut BufReader<UnixStream>, line: &[u8]) -> serde_json::Value {
    let mut msg = line.to_vec();
    msg.push(b'\n');
    reader.get_mut().write_all(&msg).expect("sending a request");
    let mut out = String::new();
    reader.read_line(&mut out).expect("reading a response");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("response {out:?} is not JSON: {e}"))
}

/// Asserts the daemon answers `ping` on a fresh connection.
pub fn ping(socket: &Path) {
    let mut c = BufReader::new(connect(socket));
    let r = call(&mut c, br#"{"cmd":"ping"}"#);
    assert_eq!(r["ok"], true, "ping after hostile input: {r}");
}

/// Every malformed line on one connection (it stays usable: a valid ping
/// after each), then each on its own connection. Returns payloads sent.
pub fn malformed(socket: &Path) -> u64 {
    let lines = malformed_lines();
    let mut c = BufReader::new(connect(socket));
    for l in &lines {
        let r = call(&mut c, l);
        assert_eq!(
            r["ok"],
            false,
            "accepted: {:?} -> {r}",
            String::from_utf8_lossy(&l[..l.len().min(200)])
        );
        let r = call(&mut c, br#"{"cmd":"ping"}"#);
        assert_eq!(r["ok"], true, "the connection stays usable: {r}");
    }
    for l in &lines {
        let mut c = BufReader::new(connect(socket));
        let r = call(&mut c, l);
        assert_eq!(r["ok"], false, "{r}");
    }
    2 * lines.len() as u64
}

/// `megabytes` MB without a newline: refused (the line limit), the
/// connection closed, nothing done.
pub fn oversized(socket: &Path, megabytes: usize) -> u64 {
    let s = connect(socket);
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![b'{'; 64 * 1024];
            for _ in 0..megabytes * 16 {
                // The daemon stops reading at its limit: a write error then
                // is the expected end.
                if w.write_all(&chunk).is_err() {
                    break;
                }
            }
        })
    };
    let mut reader = BufReader::new(s);
    let mut out = String::new();
    reader
        .read_line(&mut out)
        .expect("an answer to an oversized line");
    let r: serde_json::Value = serde_json::from_str(&out).expect("JSON answer");
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than"),
        "{r}"
    );
    out.clear();
    assert_eq!(reader.read_line(&mut out).unwrap_or(0), 0, "then closed");
    writer.join().unwrap();
    1
}

/// `n` connections that send nothing and `n` that send half a request,
/// held open while a real client is served. Returns connections opened.
pub fn slowloris(socket: &Path, n: usize) -> u64 {
    let mut held = Vec::new();
    for i in 0..2 * n {
        let mut s = connect(socket);
        if i % 2 == 1 {
            let _ = s.write_all(br#"{"cmd":"ban","targets":["198.18.9."#);
        }
        held.push(s);
    }
    for _ in 0..5 {
        ping(socket);
    }
    drop(held);
    ping(socket);
    2 * n as u64
}

/// `n` clients that hang up mid-request: after half a line, after a whole
/// line without waiting for the answer, and after shutting down writing.
pub fn hang_ups(socket: &Path, n: usize) -> u64 {
    for i in 0..n {
        let mut s = connect(socket);
        match i % 3 {
            0 => {
                let _ = s.write_all(br#"{"cmd":"unban","all":tr"#);
            }
            1 => {
                let _ = s.write_all(b"{\"cmd\":\"banned\"}\n{\"cmd\":\"stat");
            }
            _ => {
                let _ = s.write_all(br#"{"cmd":"ban","jail":"sshd","targets":["198.18.9."#);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut out = String::new();
                let _ = BufReader::new(&s).read_line(&mut out);
                if !out.is_empty() {
                    let r: serde_json::Value = serde_json::from_str(&out).expect("JSON");
                    assert_eq!(r["ok"], false, "a truncated last line is refused: {r}");
                }
            }
        }
    }
    ping(socket);
    n as u64
}
