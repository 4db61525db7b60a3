//! Scenario (issue 7, access): the metrics endpoint (`--metrics ADDR:PORT`)
//! is read-only. GET and HEAD of /metrics answer; POST, PUT, DELETE, PATCH
//! get 405 and change nothing; other paths 404; a request head of 1 MB or
//! garbage gets 400 without hanging the endpoint, and GET still answers
//! while such a request is being sent.
use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::Duration,
};

use tests::{
    lab::Lab,
    suite::{self, Tally},
};

const PORT: u16 = 19_191;

/// Sends `raw` to the endpoint (in the daemon's namespace) and returns the
/// whole answer.
fn http(lab: &Lab, raw: Vec<u8>) -> String {
    lab.protected.run(move || {
        let mut s = TcpStream::connect(("127.0.0.1", PORT)).expect("connecting to metrics");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        // The endpoint may answer and close before reading everything.
        let _ = s.write_all(&raw);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

fn bans(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.paths().cli_ok(&["banned", "--json"])).unwrap()
}

#[test]
fn metrics_endpoint_is_read_only() {
    if !tests::privileged("metrics_read_only") {
        return;
    }
    let lab = Lab::new();
    let metrics = format!("127.0.0.1:{PORT}");
    let daemon = lab.daemon(&["--iface", &lab.p_banned.ifname, "--metrics", &metrics]);
    lab.paths().cli_ok(&["ban", "198.18.5.5"]);
    let before = bans(&lab);

    let get = http(&lab, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
    assert!(status(&get).contains("200"), "{get}");
    assert!(get.contains("# EOF"), "OpenMetrics text: {get}");
    let head = http(&lab, b"HEAD /metrics HTTP/1.1\r\n\r\n".to_vec());
    assert!(status(&head).contains("200"), "{head}");

    let mut tried = 2;
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ] {
        let body = r#"{"cmd":"unban","all":true}"#;
        let raw = format!(
            "{method} /metrics HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let a = http(&lab, raw.into_bytes());
        tried += 1;
        assert!(status(&a).contains("405"), "{method}: {a}");
        assert!(a.contains("Allow: GET, HEAD"), "{method}: {a}");
    }
    for path in [
        "/",
        "/metrics/../admin",
        "/ban?ip=198.18.6.6",
        "/unban",
        "//metrics",
        "/METRICS",
    ] {
        let a = http(&lab, format!("GET {path} HTTP/1.1\r\n\r\n").into_bytes());
        tried += 1;
        assert!(status(&a).contains("404"), "{path}: {a}");
    }
    // A head of 1 MB without a blank line, while a scrape goes on beside it.
    let big = {
        let mut raw = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 1 << 20));
        raw
    };
    let sender = lab.protected.spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", PORT)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = s.write_all(&big);
        let mut out = Vec::new();
        // Closed with unread data, the kernel may reset the connection
        // (and drop the 400): that ends it too. A timeout is a hang.
        match s.read_to_end(&mut out) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the endpoint hung on a 1 MB head")
            }
            _ => String::from_utf8_lossy(&out).into_owned(),
        }
    });
    let get = http(&lab, b"GET /metrics HTTP/1.0\r\n\r\n".to_vec());
    assert!(
        status(&get).contains("200"),
        "a scrape beside the big head: {get}"
    );
    let a = sender.join().expect("the big head's sender");
    tried += 1;
    assert!(
        a.is_empty() || status(&a).contains("400"),
        "1 MB head: {:.200}",
        a
    );
    for garbage in [
        &b"\x00\xff\xfe\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /metrics SPDY/9\r\n\r\n",
        b"GET /metrics HTTP/1.1 extra\r\n\r\n",
    ] {
        let a = http(&lab, garbage.to_vec());
        tried += 1;
        assert!(status(&a).contains("400"), "{garbage:?}: {a}");
    }

    let get = http(&lab, b"GET /metrics HTTP/1.1\r\n\r\n".to_vec());
    assert!(status(&get).contains("200"), "{get}");
    assert_eq!(before, bans(&lab), "state changed");
    assert!(!daemon.log().contains("panicked"));
    suite::report(
        "metrics_read_only",
        Tally {
            payloads: tried,
            faults: 0,
            bans_lost: 0,
        },
    );
}
