//! Scenario: attacker-controlled text (user name, host text, log lines)
//! carrying shell metacharacters goes through a jail whose command action
//! echoes every tag into a file, in every quoting context. The file must
//! hold the literal text and a canary command hidden in the payloads must
//! never run. Needs no root: the action only writes files.
use std::path::{Path, PathBuf};

use enforcer::actions::{Actions, Mode, decide};
use enforcer::filter::{Filter, FilterOptions, FilterParts};
use enforcer::jail::{Jail, JailSettings, Outcome, Ticket};

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Payload templates; `CANARY` becomes a command that creates the canary file.
const TEMPLATES: &[&str] = &[
    "$(CANARY)",
    "`CANARY`",
    "; CANARY",
    ";CANARY;",
    "| CANARY",
    "|CANARY",
    "&& CANARY",
    "|| CANARY",
    "& CANARY &",
    "\nCANARY\n",
    "\r\nCANARY",
    "'; CANARY; '",
    "'$(CANARY)'",
    "\"; CANARY; \"",
    "\"$(CANARY)\"",
    "\\\"; CANARY; \\\"",
    "\\'; CANARY #",
    "a\0b; CANARY",
    "\0$(CANARY)\0",
    "$((1+1)) $(CANARY)",
    "${IFS}CANARY",
    "$IFS;CANARY",
    "* ? [a-z] ~ ~root",
    "> /tmp/enforcer-inj-redirect; CANARY",
    "< /etc/passwd CANARY",
    "<ip> <F-USER> <matches> $(CANARY)",
    "<br>CANARY<sp>",
    "%s %n %x $(CANARY)",
    "\\$(CANARY)",
    "\\\\`CANARY`",
    "$(echo $(CANARY))",
    "{CANARY,}",
    "!! !-1 CANARY",
    "#; CANARY",
    "\u{1b}[31m$(CANARY)\u{1b}[0m",
    "ünïcødé $(CANARY) 😀",
    "'\"'\"'$(CANARY)'\"'\"'",
    "\"'`CANARY`'\"",
    "x\nEOF\nCANARY\nEOF",
    "-rf / ; CANARY",
    "$(CANARY)$(CANARY)`CANARY`",
    "root\"); CANARY; (\"",
    "() { :; }; CANARY",
    "\t;\tCANARY",
];

fn setup(dir: &Path, out: &Path) -> enforcer::config::JailDef {
    std::fs::create_dir_all(dir.join("action.d")).unwrap();
    std::fs::create_dir_all(dir.join("filter.d")).unwrap();
    std::fs::write(
        dir.join("filter.d/inj.conf"),
        "[Definition]\nfailregex = ^fail user=<F-USER>.*</F-USER> from <HOST>$\n",
    )
    .unwrap();
    // Every tag, in three quoting contexts, separated by \036.
    let tags = [
        "ip",
        "fid",
        "F-USER",
        "F-ALT_USER",
        "matches",
        "ipmatches",
        "ipjailmatches",
        "family",
        "failures",
        "bancount",
        "bantime",
        "restored",
        "jail.name",
        "raw-ticket",
    ];
    let mut args = String::new();
    for t in tags {
        args.push_str(&format!(" \"<{t}>\" '<{t}>' <{t}>"));
    }
    let action = format!(
        "[Definition]\nactionstart = printf 'start\\036' >> <out>\n\
         actionban = printf '%%s\\036' ban{args} >> <out>\n\
         actionunban = printf '%%s\\036' unban \"<ip>\" '<F-USER>' <matches> >> <out>\n\
         actionstop = printf 'stop\\036' >> <out>\n\
         [Init]\nout = {}\n",
        out.display()
    );
    std::fs::write(dir.join("action.d/echo-all.conf"), action).unwrap();
    std::fs::write(
        dir.join("jail.conf"),
        "[DEFAULT]\nbantime = 600\n\n[inj]\nenabled = true\nfilter = inj\nlogpath = /dev/null\nmaxretry = 1\n\
         ignoreself = false\nignorecommand = printf '%%s' \"<F-USER>\" <matches> > /dev/null; exit 1\naction = echo-all\n",
    )
    .unwrap();
    let cfg = enforcer::config::load(dir).unwrap_or_else(|e| panic!("config: {e}"));
    cfg.jails
        .into_iter()
        .find(|j| j.name == "inj")
        .expect("jail inj")
}

#[test]
fn payloads_stay_literal_and_never_run() {
    let root = std::env::temp_dir().join(format!("enforcer-injection-{}", std::process::id()));
    let _guard = Dir(root.clone());
    std::fs::create_dir_all(&root).unwrap();
    let canary = root.join("CANARY-RAN");
    let out = root.join("tags.out");
    let def = setup(&root.join("conf"), &out);
    let canary_cmd = format!("touch {}", canary.display());
    let payloads: Vec<String> = TEMPLATES
        .iter()
        .map(|t| t.replace("CANARY", &canary_cmd))
        .collect();
    assert!(payloads.len() >= 40, "{} payloads", payloads.len());

    let mut jail = Jail::new(&JailSettings::from_def(&def), None).unwrap();
    let commands = decide(Mode::Commands, Ok(())).unwrap();
    let mut actions = Actions::from_def(&def, &commands, None, None).unwrap();
    assert!(actions.start(1.0e9).is_empty());
    let now = enforcer::actions::wall_now();
    for (i, p) in payloads.iter().enumerate() {
        // Host text that is not an address: the failure id is the raw text.
        let host = format!("h{i}{p}");
        let line = format!("fail user={p} from {host}");
        let mut t = Ticket::new(host.clone(), None, now);
        t.data.insert("user".into(), p.clone());
        t.data.insert("alt_user".into(), format!("alt{p}"));
        t.matches = vec![line.clone()];
        let tickets = match jail.process(t, now) {
            Outcome::Ban(b) => b,
            o => panic!("payload {i}: {o:?}"),
        };
        for t in tickets {
            let o = actions.ban_ticket(t, now);
            assert!(o.added && o.failed.is_empty(), "payload {i}: {o:?}");
        }
    }
    let text = std::fs::read(&out).unwrap();
    let text = String::from_utf8(text).unwrap();
    let fields: Vec<&str> = text.split('\u{1e}').collect();
    assert_eq!(fields[0], "start");
    // Walk the records: each ban record is "ban" + 14 tags x 3 contexts, minus
    // the unquoted copies of empty values (an empty word vanishes).
    let mut at = 1;
    for (i, p) in payloads.iter().enumerate() {
        let host = format!("h{i}{p}").replace('\0', "");
        let user = p.replace('\0', "");
        let line = format!("fail user={p} from h{i}{p}").replace('\0', "");
        assert_eq!(fields[at], "ban", "payload {i}");
        let got = &fields[at + 1..];
        let want3 = |k: usize, v: &str| {
            for c in 0..3 {
                assert_eq!(got[k * 3 + c], v, "payload {i} {p:?}: tag #{k} context {c}");
            }
        };
        want3(0, &host); // ip
        want3(1, &host); // fid
        want3(2, &user); // F-USER
        want3(3, &format!("alt{user}")); // F-ALT_USER
        want3(4, &line); // matches
        want3(5, &line); // ipmatches (no store: the ticket's)
        want3(6, &line); // ipjailmatches
        // family: empty for a non-address id; quoted twice, unquoted vanishes.
        assert_eq!((got[21], got[22]), ("", ""), "payload {i}: family");
        let rest = &got[23..];
        assert_eq!(&rest[0..3], ["1", "1", "1"], "failures");
        assert_eq!(&rest[3..6], ["1", "1", "1"], "bancount");
        assert_eq!(&rest[6..9], ["600", "600", "600"], "bantime");
        assert_eq!(&rest[9..12], ["0", "0", "0"], "restored");
        assert_eq!(&rest[12..15], ["inj", "inj", "inj"], "jail.name");
        for c in 0..3 {
            assert!(
                rest[15 + c].starts_with("BanTicket: ip="),
                "raw-ticket: {:?}",
                rest[15 + c]
            );
        }
        at += 1 + 23 + 18;
    }
    // Unban every payload, then stop.
    assert_eq!(actions.unban(None, false, now).unwrap(), payloads.len());
    actions.stop(None, now);
    let text = String::from_utf8(std::fs::read(&out).unwrap()).unwrap();
    let fields: Vec<&str> = text.split('\u{1e}').collect();
    let unbans = fields.iter().filter(|f| **f == "unban").count();
    assert_eq!(unbans, payloads.len());
    for (i, p) in payloads.iter().enumerate() {
        let host = format!("h{i}{p}").replace('\0', "");
        assert!(
            fields
                .windows(3)
                .any(|w| w[0] == "unban" && w[1] == host && w[2] == p.replace('\0', "")),
            "unban of payload {i} {p:?} recorded literally"
        );
    }
    assert_eq!(fields[fields.len() - 2], "stop");
    assert!(!canary.exists(), "a payload's command ran");
    assert!(
        !Path::new("/tmp/enforcer-inj-redirect").exists(),
        "a payload's redirection ran"
    );
    eprintln!(
        "{} payloads, {} ban records checked, canary never ran",
        payloads.len(),
        payloads.len()
    );
    let tally = tests::suite::Tally {
        payloads: payloads.len() as u64,
        ..Default::default()
    };
    tests::suite::report("actions_injection tags", tally);
}

/// The same payloads in real log lines, through the filter: the user name
/// is an `F-USER` capture and the line is the ban's matches. (A log line
/// cannot hold a newline, so payloads with one are split by the log itself
/// and left to the first test.)
#[test]
fn payloads_in_log_lines_through_the_filter() {
    let root = std::env::temp_dir().join(format!("enforcer-injection-f-{}", std::process::id()));
    let _guard = Dir(root.clone());
    std::fs::create_dir_all(&root).unwrap();
    let canary = root.join("CANARY-RAN");
    let out = root.join("tags.out");
    let def = setup(&root.join("conf"), &out);
    let canary_cmd = format!("touch {}", canary.display());
    let payloads: Vec<String> = TEMPLATES
        .iter()
        .map(|t| t.replace("CANARY", &canary_cmd))
        .filter(|p| !p.contains(['\n', '\r']))
        .collect();
    assert!(payloads.len() >= 35, "{} payloads", payloads.len());
    let fd = &def.filter;
    let parts = FilterParts {
        name: fd.name.clone(),
        prefregex: fd.prefregex.clone(),
        failregex: fd.failregex.clone(),
        ignoreregex: fd.ignoreregex.clone(),
        maxlines: fd.maxlines,
        datepattern: fd.datepattern.clone(),
    };
    let mut filter = Filter::from_parts(&parts, &FilterOptions::default()).unwrap();
    let mut jail = Jail::new(&JailSettings::from_def(&def), None).unwrap();
    let commands = decide(Mode::Commands, Ok(())).unwrap();
    let mut actions = Actions::from_def(&def, &commands, None, None).unwrap();
    actions.start(1.0e9);
    let now = enforcer::actions::wall_now();
    let mut lines = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let line = format!("fail user={p} from 198.18.1.{}", i + 1);
        let mut found = Vec::new();
        filter.process_line(line.as_bytes(), &mut found);
        assert_eq!(found.len(), 1, "payload {i} {p:?}: the line matches");
        for f in &found {
            match jail.process_failure(f, now) {
                Some(Outcome::Ban(b)) => {
                    for t in b {
                        assert!(actions.ban_ticket(t, now).added, "payload {i}");
                    }
                }
                o => panic!("payload {i}: {o:?}"),
            }
        }
        lines.push((
            line,
            found[0].fields.get("user").cloned().unwrap_or_default(),
            found[0].matches.clone(),
        ));
    }
    let text = String::from_utf8(std::fs::read(&out).unwrap()).unwrap();
    let fields: Vec<&str> = text.split('\u{1e}').collect();
    for (i, (p, (_, user, matches))) in payloads.iter().zip(&lines).enumerate() {
        let ip = format!("198.18.1.{}", i + 1);
        let at = fields
            .windows(2)
            .position(|w| w[0] == "ban" && w[1] == ip)
            .unwrap_or_else(|| panic!("payload {i}: no ban record for {ip}"));
        let got = &fields[at + 1..];
        assert_eq!(
            user.replace('\0', ""),
            p.replace('\0', ""),
            "payload {i}: the filter captured the user"
        );
        for c in 0..3 {
            assert_eq!(got[c], ip);
            assert_eq!(got[3 + c], ip);
            assert_eq!(
                got[6 + c],
                user.replace('\0', ""),
                "payload {i} {p:?}: F-USER context {c}"
            );
        }
        // F-ALT_USER is absent: two empty quoted words, the unquoted vanishes.
        assert_eq!((got[9], got[10]), ("", ""));
        let m = matches.join("\n").replace('\0', "");
        for c in 0..3 {
            assert_eq!(got[11 + c], m, "payload {i} {p:?}: matches context {c}");
        }
    }
    actions.stop(None, now);
    assert!(!canary.exists(), "a payload's command ran");
    eprintln!(
        "{} payloads through the filter, canary never ran",
        payloads.len()
    );
    let tally = tests::suite::Tally {
        payloads: payloads.len() as u64,
        ..Default::default()
    };
    tests::suite::report("actions_injection filter", tally);
}
