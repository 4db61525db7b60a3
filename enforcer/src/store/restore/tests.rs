//! Tests of the store's restore reads.
use super::*;
use crate::store::banstore::ticket_of;

/// The one-pass decoder reads `data` exactly as the value-tree path.
#[test]
fn data_decodes_as_the_value_path_does() {
    let cases: &[&[u8]] = &[
        br#"{"failures": 1}"#,
        br#"{}"#,
        br#"{"matches": ["a", "b", "c"], "failures": 3, "user": "root"}"#,
        br#"{"matches": [["x", "y"], "z", 5, null], "failures": 2.5, "n": 7, "o": {"k": [1]}}"#,
        br#"{"matches": "not a list", "failures": "x"}"#,
        br#"{"matches": {"a": 1}, "failures": -3}"#,
        br#"[1, 2]"#,
        br#"null"#,
        br#"not json"#,
        b"{\"matches\": [\"caf\xe9\"], \"failures\": 4}",
        br#"{"failures": 1} trailing"#,
    ];
    for &bytes in cases {
        for max in [0u32, 1, 2, 10] {
            let via_value = {
                let data = serde_json::from_slice(bytes).unwrap_or_else(|_| {
                    serde_json::from_str(&String::from_utf8_lossy(bytes))
                        .unwrap_or_else(|_| Value::Object(Default::default()))
                });
                let b = BanRecord {
                    jail: "j".into(),
                    ip: "198.18.0.1".into(),
                    time_of_ban: 0,
                    bantime: 1,
                    bancount: 1,
                    data: crate::store::bans::trim_matches(&data, max),
                };
                ticket_of(&b)
            };
            let d = ticket_data(bytes, max as usize);
            let shown = String::from_utf8_lossy(bytes);
            assert_eq!(d.matches, via_value.matches, "{shown} max {max}");
            assert_eq!(d.failures as u32, via_value.failures, "{shown}");
            assert_eq!(d.fields, via_value.data, "{shown}");
        }
    }
}

#[test]
fn canonical_check_agrees_with_display() {
    for text in [
        "2001:db8:1::1a",
        "2001:db8:1::0:1a",
        "2001:DB8::1",
        "2001:db8::1",
        "2001:db8:0:0:1::1",
        "2001:db8::1:0:0:1",
        "2001:0db8::1",
        "::",
        "::1",
        "1::",
        "0:0:1::",
        "2001:db8:1:2:3:4:5:6",
        "2001:db8:0:1:2:3:4:5",
        "2001:db8::2:3:4:5:6",
        "::ffff:198.18.0.7",
        "::198.18.0.7",
        "198.18.0.7",
    ] {
        let a: std::net::IpAddr = text.parse().unwrap();
        let a = crate::jail::ignore::canonical(a);
        assert_eq!(is_canonical(&a, text), a.to_string() == text, "{text}");
    }
    for i in 0..70_000u32 {
        let a = std::net::IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001,
            0xdb8,
            (i % 3) as u16,
            0,
            (i >> 16) as u16,
            (i % 5) as u16,
            (i >> 8) as u16 & 0xff,
            i as u16,
        ));
        assert!(is_canonical(&a, &a.to_string()), "{a}");
    }
}

#[test]
fn current_tickets_read_a_jails_rows_in_force() {
    let s = Store::open_in_memory().unwrap();
    let rec = |jail: &str, ip: &str, t: i64, bt: i64| BanRecord {
        jail: jail.into(),
        ip: ip.into(),
        time_of_ban: t,
        bantime: bt,
        bancount: 2,
        data: serde_json::json!({"matches": ["m1", "m2"], "failures": 4, "user": "u"}),
    };
    s.add_ban(&rec("sshd", "198.18.0.1", 1000, 600)).unwrap();
    s.add_ban(&rec("sshd", "198.18.0.2", 1000, 100)).unwrap();
    s.add_ban(&rec("sshd", "198.18.0.3", 500, -1)).unwrap();
    s.add_ban(&rec("sshd", "198.18.0.4", 1000, -2)).unwrap();
    s.add_ban(&rec("other", "198.18.0.5", 1000, 600)).unwrap();
    let mut got = s.current_tickets("sshd", 1200, None).unwrap();
    got.sort_by(|a, b| a.fid.cmp(&b.fid));
    let ids: Vec<_> = got.iter().map(|t| t.fid.as_str()).collect();
    // .2 ended at 1100; -2 rows (the jail's ban time) are always current.
    assert_eq!(ids, ["198.18.0.1", "198.18.0.3", "198.18.0.4"]);
    let t = &got[0];
    assert_eq!(
        (t.time, t.ban_time, t.ban_count, t.failures, t.retry),
        (1000.0, Some(600), 2, 4, 4)
    );
    assert_eq!(t.ip, Some("198.18.0.1".parse().unwrap()));
    assert_eq!(t.matches, ["m1", "m2"]);
    assert_eq!(t.data.get("user").map(String::as_str), Some("u"));
    assert_eq!(got[2].ban_time, None, "ban time -2 is the jail's");
    // A fixed ban time: only bans that started within it.
    let within = s.current_tickets("sshd", 1200, Some(300)).unwrap();
    assert_eq!(within.len(), 2, "the ban of 500 started too early");

    // Another spelling of an address comes back canonical, and its rows
    // are renamed: an unban by address then finds and deletes them.
    s.add_ban(&rec("sshd", "2001:db8:1::0:1a", 1000, 600))
        .unwrap();
    s.add_ban(&rec("sshd", "::ffff:198.18.0.7", 1000, 600))
        .unwrap();
    let mut got = s.current_tickets("sshd", 1200, None).unwrap();
    got.sort_by(|a, b| a.fid.cmp(&b.fid));
    let ids: Vec<_> = got.iter().map(|t| t.fid.as_str()).collect();
    assert_eq!(
        ids,
        [
            "198.18.0.1",
            "198.18.0.3",
            "198.18.0.4",
            "198.18.0.7",
            "2001:db8:1::1a"
        ]
    );
    assert_eq!(got[3].ip, Some("198.18.0.7".parse().unwrap()));
    assert!(s.remove_ban("sshd", "2001:db8:1::1a").unwrap());
    assert!(s.remove_ban("sshd", "198.18.0.7").unwrap());
    assert!(
        s.ban_log(Some("sshd"), Some("2001:db8:1::0:1a"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.current_tickets("sshd", 1200, None).unwrap().len(), 3);

    let others = s.current_rows_except(&["sshd"], 1200).unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].jail, "other");
    assert_eq!(s.current_rows_except(&[], 1200).unwrap().len(), 4);
}

#[test]
fn a_restore_reads_by_the_chunk_what_a_whole_read_gives() {
    let s = Store::open_in_memory().unwrap();
    for (i, ip) in [
        "198.18.0.1",
        "2001:db8:1::0:1a",
        "198.18.0.3",
        "198.18.0.4",
        "198.18.0.5",
    ]
    .iter()
    .enumerate()
    {
        let bt = if i == 3 { 100 } else { 600 }; // .4 ended at 1100
        s.add_ban(&BanRecord {
            jail: "sshd".into(),
            ip: ip.to_string(),
            time_of_ban: 1000,
            bantime: bt,
            bancount: 1,
            data: serde_json::json!({"failures": 1}),
        })
        .unwrap();
    }
    assert_eq!(s.count_current("sshd", 1200, None).unwrap(), 4);
    assert_eq!(s.count_current("sshd", 1200, Some(100)).unwrap(), 0);
    let mut chunks = Vec::new();
    s.current_tickets_each("sshd", 1200, None, 3, &mut |c| {
        chunks.push(c.iter().map(|t| t.fid.clone()).collect::<Vec<_>>());
        true
    })
    .unwrap();
    assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    let mut ids: Vec<String> = chunks.concat();
    ids.sort();
    // the address stored in another spelling comes back canonical
    assert_eq!(
        ids,
        ["198.18.0.1", "198.18.0.3", "198.18.0.5", "2001:db8:1::1a"]
    );
    let mut whole: Vec<String> = (s.current_tickets("sshd", 1200, None).unwrap())
        .into_iter()
        .map(|t| t.fid)
        .collect();
    whole.sort();
    assert_eq!(whole, ids);
    // false stops the read after the chunk in hand
    let mut calls = 0;
    s.current_tickets_each("sshd", 1200, None, 1, &mut |_| {
        calls += 1;
        false
    })
    .unwrap();
    assert_eq!(calls, 1);
}
