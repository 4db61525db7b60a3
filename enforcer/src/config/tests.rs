use super::*;
use crate::config::store::testutil::TempDir;

const COMMON: &str = "[DEFAULT]\n__prefix_line = <lt_<logtype>/__prefix_line>\n[lt_file]\n__prefix_line = F:\n[lt_journal]\n__prefix_line = J:\n";
const SSHD: &str = "[INCLUDES]\nbefore = common.conf\n[Definition]\nprefregex = ^<__prefix_line><F-CONTENT>.+</F-CONTENT>$\nfailregex = ^fail <mdre-<mode>> from <HOST>$\nmdre-normal = N\nmdre-aggressive = A\nmdre-ddos = D\nignoreregex =\ndatepattern = {^LN-BEG}\n[Init]\nmode = normal\nmaxlines = 1\njournalmatch = _SYSTEMD_UNIT=sshd.service + _COMM=sshd\n";
const BAN: &str = "[Definition]\nactionban = ban <ip> <port> <name>\nactionunban = unban <ip>\nnorestored = yes\n[Init]\nport = 0\n";

fn tree(jail: &str) -> TempDir {
    let d = TempDir::new();
    d.write("filter.d/common.conf", COMMON);
    d.write("filter.d/sshd.conf", SSHD);
    d.write("action.d/ban.conf", BAN);
    d.write(
        "jail.conf",
        "[DEFAULT]\nmaxretry = 5\nbantime = 10m\nfindtime = 10m\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\nport = 0:65535\nbanaction = ban\naction = %(banaction)s[port=\"%(port)s\"]\nlogpath = /var/log/auth.log\n",
    );
    d.write("jail.local", jail);
    d
}

fn one(d: &TempDir) -> JailDef {
    let mut c = load(d.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.jails.len(), 1);
    c.jails.remove(0)
}

#[test]
fn load_filter_resolves_includes_tags_mode_and_logtype() {
    let d = tree("");
    let f = load_filter(d.path(), "sshd", &[]).unwrap();
    assert_eq!(f.name, "sshd");
    assert_eq!(
        f.prefregex.as_deref(),
        Some("^F:<F-CONTENT>.+</F-CONTENT>$")
    );
    assert_eq!(f.failregex, ["^fail N from <HOST>$"]);
    assert!(f.ignoreregex.is_empty());
    assert_eq!(f.maxlines, 1);
    assert_eq!(f.datepattern.as_deref(), Some("{^LN-BEG}"));
    assert_eq!(f.journalmatch, ["_SYSTEMD_UNIT=sshd.service + _COMM=sshd"]);
    assert_eq!(f.options["mode"], "normal");
    assert!(f.source.ends_with("filter.d/sshd.conf"));
    let f = load_filter(
        d.path(),
        "sshd[mode=ddos]",
        &[("logtype".into(), "journal".into())],
    )
    .unwrap();
    assert_eq!(f.failregex, ["^fail D from <HOST>$"]);
    assert!(f.prefregex.unwrap().starts_with("^J:"));
    let f = load_filter(
        d.path(),
        "sshd[mode=ddos]",
        &[("mode".into(), "aggressive".into())],
    )
    .unwrap();
    assert_eq!(f.failregex, ["^fail A from <HOST>$"]);
    let path = d.path().join("filter.d/sshd.conf");
    let f = load_filter(d.path(), path.to_str().unwrap(), &[]).unwrap();
    assert_eq!(f.failregex, ["^fail N from <HOST>$"]);
    let e = load_filter(d.path(), "nope", &[]).unwrap_err();
    assert!(e.to_string().contains("unknown filter 'nope'"), "{e}");
}

#[test]
fn par_map_keeps_the_order() {
    let items: Vec<u32> = (0..100).collect();
    assert_eq!(
        par_map(&items, |i| i * 2),
        (0..100).map(|i| i * 2).collect::<Vec<_>>()
    );
    assert_eq!(par_map(&items[..3], |i| i + 1), [1, 2, 3]);
}

#[test]
fn jail_with_defaults_filter_and_action() {
    let d = tree("[sshd]\nenabled = true\nport = ssh\n");
    let j = one(&d);
    assert_eq!(j.name, "sshd");
    assert_eq!(
        (j.maxretry, j.maxmatches, j.findtime, j.bantime),
        (5, 5, 600, 600)
    );
    assert_eq!(j.filter.failregex, ["^fail N from <HOST>$"]);
    assert_eq!(j.logpath, ["/var/log/auth.log"]);
    assert_eq!(j.actions.len(), 1);
    let a = &j.actions[0];
    assert_eq!((a.name.as_str(), a.file.as_str()), ("ban", "ban"));
    assert_eq!(a.properties["actionban"], "ban <ip> ssh sshd");
    assert_eq!(a.properties["port"], "ssh");
    assert_eq!(a.properties["norestored"], "yes");
    assert_eq!(j.options["port"], "ssh");
    assert!(j.ignoreself);
}

#[test]
fn jail_mode_and_bracket_mode_pick_the_filter_variant() {
    let d = tree("[sshd]\nenabled = true\nmode = aggressive\n");
    assert_eq!(one(&d).filter.failregex, ["^fail A from <HOST>$"]);
    let d = tree("[ddos]\nenabled = true\nfilter = sshd[mode=ddos]\n");
    let j = one(&d);
    assert_eq!(j.filter.name, "sshd");
    assert_eq!(j.filter.failregex, ["^fail D from <HOST>$"]);
}

#[test]
fn systemd_backend_uses_the_journal_logtype() {
    let d = tree("[sshd]\nenabled = true\nbackend = systemd\n");
    assert!(one(&d).filter.prefregex.unwrap().starts_with("^J:"));
}

#[test]
fn jail_extends_filter_with_known_failregex_and_overrides() {
    let d = tree(
        "[sshd]\nenabled = true\nfailregex = %(known/failregex)s\n  ^extra <HOST>$\nmaxlines = 3\nignoreregex = ^ok$\n",
    );
    let j = one(&d);
    assert_eq!(
        j.filter.failregex,
        ["^fail N from <HOST>$", "^extra <HOST>$"]
    );
    assert_eq!(j.filter.maxlines, 3);
    assert_eq!(j.filter.ignoreregex, ["^ok$"]);
}

#[test]
fn several_actions_one_per_line_unique_names() {
    let d = tree(
        "[sshd]\nenabled = true\naction = ban\n  ban[name=other]\n  ban[actname=third, port=\"1,2\"]\n",
    );
    let names: Vec<_> = one(&d).actions.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, ["ban", "ban-other", "third"]);
    let d = tree("[sshd]\nenabled = true\naction = ban\n  ban\n");
    let e = load(d.path()).unwrap_err();
    assert!(e.message.contains("used twice"), "{e}");
}

#[test]
fn family_sections_go_to_family() {
    let d = tree("[sshd]\nenabled = true\n");
    d.write("action.d/ban.local", "[Init?family=inet6]\nport = six\n");
    let a = &one(&d).actions[0];
    assert_eq!(a.family["inet6"]["port"], "six");
    assert!(!a.properties.contains_key("port?family=inet6"));
}

#[test]
fn bantime_options_and_ignore_lists() {
    let d = tree(
        "[DEFAULT]\nignoreip = 127.0.0.1/8 ::1, 192.0.2.0/24\nignorecommand = /bin/true <ip>\n[sshd]\nenabled = true\nbantime = -1\nfindtime = 1h 30m\nbantime.increment = true\nbantime.factor = 2.5\nbantime.maxtime = 1w\nbantime.overalljails = yes\nbantime.formula = ban.Time * 2\nignoreself = false\n",
    );
    let j = one(&d);
    assert_eq!(j.bantime, -1);
    assert_eq!(j.findtime, 5400);
    assert!(j.bantime_increment && j.bantime_overalljails && !j.ignoreself);
    assert_eq!(j.bantime_factor, 2.5);
    assert_eq!(j.bantime_maxtime, Some(604800));
    assert_eq!(j.bantime_formula.as_deref(), Some("ban.Time * 2"));
    assert_eq!(j.ignoreip, ["127.0.0.1/8", "::1", "192.0.2.0/24"]);
    assert_eq!(j.ignorecommand.as_deref(), Some("/bin/true <ip>"));
}

#[test]
fn errors_name_file_line_option_and_are_all_collected() {
    let d = tree(
        "[sshd]\nenabled = true\nbantime = soon\nmaxretry = many\n[web]\nenabled = true\nfilter = nothing\n",
    );
    let errs = load_checked(d.path(), &LoadOptions::default()).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let local = d.path().join("jail.local").display().to_string();
    assert!(
        text.iter().any(|t| t.starts_with(&format!(
            "{local}:7: option 'filter' in [web]: unknown filter"
        ))),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.starts_with(&format!(
            "{local}:3: option 'bantime' in [sshd]: not a time"
        ))),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with(&format!("{local}:4: option 'maxretry' in [sshd]"))),
        "{text:?}"
    );
}

#[test]
fn disabled_jails_are_not_loaded_nor_checked() {
    let d = tree("[sshd]\nenabled = true\n[off]\nfilter = nothing\n");
    assert_eq!(load(d.path()).unwrap().jails.len(), 1);
    let e = load_checked(d.path(), &LoadOptions { force_enable: true }).unwrap_err();
    assert!(e[0].message.contains("unknown filter"));
}

#[test]
fn unknown_action_and_python_action() {
    let d = tree("[sshd]\nenabled = true\naction = nope[x=1]\n");
    assert!(
        load(d.path())
            .unwrap_err()
            .message
            .contains("unknown action 'nope'")
    );
    let d = tree("[sshd]\nenabled = true\naction = helper\n");
    d.write("action.d/helper.conf", "[Init]\nx = 1\n");
    assert!(
        load(d.path())
            .unwrap_err()
            .message
            .contains("no [Definition]")
    );
    let d = tree("[sshd]\nenabled = true\naction = smtp.py[dest=a]\n");
    assert!(
        load(d.path())
            .unwrap_err()
            .message
            .contains("Python actions")
    );
}

#[test]
fn global_options_from_fail2ban_conf_and_local() {
    let d = tree("[sshd]\nenabled = true\n");
    d.write(
        "fail2ban.conf",
        "[DEFAULT]\nloglevel = INFO\ndbpurgeage = 1d\n[Definition]\ndbfile = /x.db\n",
    );
    d.write(
        "fail2ban.local",
        "[Definition]\ndbpurgeage = 2d\nloglevel = DEBUG\n",
    );
    let g = load(d.path()).unwrap().global;
    assert_eq!(
        (
            g.loglevel.as_str(),
            g.dbfile.as_str(),
            g.dbpurgeage,
            g.dbmaxmatches
        ),
        ("DEBUG", "/x.db", 172800, 10)
    );
    d.write("fail2ban.local", "[Definition]\ndbpurgeage = later\n");
    assert!(
        load(d.path())
            .unwrap_err()
            .to_string()
            .contains("fail2ban.local:2: option 'dbpurgeage' in [Definition]")
    );
}

#[test]
fn missing_dir_and_missing_jail_conf() {
    let d = TempDir::new();
    assert!(
        load(&d.path().join("none"))
            .unwrap_err()
            .message
            .contains("does not exist")
    );
    assert!(load(d.path()).unwrap_err().message.contains("no jail.conf"));
}

/// The embedded tree, with stand-ins for the filters (written by the filter room).
#[test]
fn default_tree_loads_with_sshd_enabled_and_xdp() {
    static SSHD_STANDIN: &[u8] = b"[Definition]\nfailregex = ^Failed password for .* from <HOST>\n";
    let mut files: Vec<(&str, &'static [u8])> = embedded::DEFAULT_FILES.to_vec();
    if !files.iter().any(|(p, _)| *p == "filter.d/sshd.conf") {
        files.push(("filter.d/sshd.conf", SSHD_STANDIN));
    }
    let fs = MemFs::new(Path::new(embedded::ROOT), &files);
    let c = load_from(&fs, Path::new(embedded::ROOT), &LoadOptions::default()).unwrap();
    assert_eq!(c.jails.len(), 1);
    let j = &c.jails[0];
    assert_eq!(j.name, "sshd");
    assert_eq!(j.ignoreip, ["127.0.0.1/8", "::1"]);
    assert!(j.ignoreself);
    assert_eq!(j.actions[0].file, "xdp");
    assert_eq!(j.actions[0].properties["port"], "ssh");
    assert_eq!(j.actions[0].properties["type"], "multiport");
    assert_eq!(c.global.dbpurgeage, 86400);
}
