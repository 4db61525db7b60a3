//! Owns the runtime mapping from configured actions to what runs: the
//! `--mode auto|xdp|commands` decision (and its reason, for the log), and
//! per action whether it runs as its command or as the XDP action. With XDP
//! attached, blocking actions (iptables*, nftables*, ipset*, firewallcmd*,
//! shorewall*, route, pf) become the XDP action with the same port/protocol;
//! the rest (mail, abuseipdb, cloudflare, custom) stay commands. Without
//! XDP, blocking actions run as their commands, and `xdp` itself runs the
//! fallback commands of its action.d/xdp.conf (an nftables set). `config
//! dump` is not affected: this layer only decides at run time.
use std::collections::BTreeMap;

use super::ActionError;
use super::xdp::{Scope, parse_scope};

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Xdp,
    Commands,
}

impl From<crate::cli::ActionMode> for Mode {
    fn from(m: crate::cli::ActionMode) -> Mode {
        match m {
            crate::cli::ActionMode::Auto => Mode::Auto,
            crate::cli::ActionMode::Xdp => Mode::Xdp,
            crate::cli::ActionMode::Commands => Mode::Commands,
        }
    }
}

/// Which way bans go, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeDecision {
    pub xdp: bool,
    pub reason: String,
}

/// Decides the mode. `xdp`: `Ok(())` when the XDP program is attached, or
/// why it is not (no `--iface`, no CAP_BPF, attach failure).
pub fn decide(mode: Mode, xdp: Result<(), String>) -> Result<ModeDecision, ActionError> {
    match (mode, xdp) {
        (Mode::Commands, _) => Ok(ModeDecision {
            xdp: false,
            reason: "--mode commands: every action runs as its command".into(),
        }),
        (Mode::Xdp | Mode::Auto, Ok(())) => Ok(ModeDecision {
            xdp: true,
            reason: format!(
                "--mode {}: XDP attached; blocking actions run as the XDP action, others as commands",
                if mode == Mode::Xdp { "xdp" } else { "auto" }
            ),
        }),
        (Mode::Xdp, Err(why)) => Err(ActionError::Mode(format!(
            "--mode xdp, but XDP is not available: {why}"
        ))),
        (Mode::Auto, Err(why)) => Ok(ModeDecision {
            xdp: false,
            reason: format!(
                "--mode auto: XDP not available ({why}); every action runs as its command"
            ),
        }),
    }
}

const BLOCKING_PREFIXES: &[&str] = &[
    "iptables",
    "ip6tables",
    "nftables",
    "ipset",
    "firewallcmd",
    "shorewall",
];
const BLOCKING_NAMES: &[&str] = &["route", "pf"];

/// Whether an action.d file is a blocking (firewall) action.
pub fn is_blocking(file: &str) -> bool {
    BLOCKING_PREFIXES.iter().any(|p| file.starts_with(p)) || BLOCKING_NAMES.contains(&file)
}

/// What one configured action becomes at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    /// A command action from action.d.
    Command {
        file: String,
        properties: BTreeMap<String, String>,
        family: BTreeMap<String, BTreeMap<String, String>>,
    },
    /// The built-in XDP action with the jail's scope.
    Xdp { scope: Scope },
}

/// Scope of an action from its `port`, `protocol` and `type` options; an
/// `*-allports` action blocks every port.
pub fn scope_of(file: &str, properties: &BTreeMap<String, String>) -> Result<Scope, String> {
    let kind = if file.ends_with("allports") {
        Some("allports")
    } else {
        properties.get("type").map(String::as_str)
    };
    parse_scope(
        properties.get("port").map(String::as_str),
        properties.get("protocol").map(String::as_str),
        kind,
    )
}

/// Maps one configured action (`file`, options) to what runs, given the
/// mode decision. `xdp` as the file is the built-in action in every mode
/// with XDP; without XDP it cannot run, which is an error.
pub fn plan(
    name: &str,
    file: &str,
    properties: &BTreeMap<String, String>,
    family: &BTreeMap<String, BTreeMap<String, String>>,
    decision: &ModeDecision,
) -> Result<ActionSpec, ActionError> {
    let bad = |what: String| ActionError::Invalid {
        action: name.to_string(),
        what,
    };
    if file == "xdp" {
        if !decision.xdp {
            // xdp.conf's [Definition] carries the commands that stand in
            // for the XDP action when XDP cannot attach.
            if properties.contains_key("actionban") {
                return Ok(ActionSpec::Command {
                    file: file.to_string(),
                    properties: properties.clone(),
                    family: family.clone(),
                });
            }
            return Err(bad(format!(
                "banaction = xdp needs XDP ({}), and action.d/xdp.conf has no fallback actionban",
                decision.reason
            )));
        }
        return Ok(ActionSpec::Xdp {
            scope: scope_of(file, properties).map_err(bad)?,
        });
    }
    if decision.xdp && is_blocking(file) {
        return Ok(ActionSpec::Xdp {
            scope: scope_of(file, properties).map_err(bad)?,
        });
    }
    Ok(ActionSpec::Command {
        file: file.to_string(),
        properties: properties.clone(),
        family: family.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decisions_and_reasons() {
        assert!(decide(Mode::Auto, Ok(())).unwrap().xdp);
        let d = decide(Mode::Auto, Err("no --iface".into())).unwrap();
        assert!(!d.xdp);
        assert!(d.reason.contains("no --iface"), "{}", d.reason);
        assert!(decide(Mode::Xdp, Err("no CAP_BPF".into())).is_err());
        assert!(!decide(Mode::Commands, Ok(())).unwrap().xdp);
    }

    #[test]
    fn blocking_actions_become_xdp_with_their_scope() {
        let on = decide(Mode::Auto, Ok(())).unwrap();
        let off = decide(Mode::Commands, Ok(())).unwrap();
        let fam = BTreeMap::new();
        let p = props(&[("port", "ssh,2222"), ("protocol", "tcp")]);
        for f in [
            "iptables-multiport",
            "nftables",
            "ipset",
            "firewallcmd-ipset",
            "shorewall",
            "route",
            "pf",
            "iptables",
        ] {
            match plan("a", f, &p, &fam, &on).unwrap() {
                ActionSpec::Xdp { scope } => {
                    assert_eq!(scope.ports, vec![(22, 22), (2222, 2222)], "{f}")
                }
                other => panic!("{f}: {other:?}"),
            }
            assert!(matches!(
                plan("a", f, &p, &fam, &off).unwrap(),
                ActionSpec::Command { .. }
            ));
        }
        match plan("a", "iptables-allports", &p, &fam, &on).unwrap() {
            ActionSpec::Xdp { scope } => assert!(scope.all_ports()),
            other => panic!("{other:?}"),
        }
        let allp = props(&[("port", "ssh"), ("type", "allports")]);
        assert!(
            matches!(plan("a", "nftables", &allp, &fam, &on).unwrap(), ActionSpec::Xdp { scope } if scope.all_ports())
        );
        for f in [
            "sendmail-whois",
            "mail",
            "abuseipdb",
            "cloudflare",
            "my-custom",
        ] {
            assert!(
                matches!(
                    plan("a", f, &p, &fam, &on).unwrap(),
                    ActionSpec::Command { .. }
                ),
                "{f}"
            );
        }
        assert!(plan("a", "xdp", &props(&[("type", "allports")]), &fam, &on).is_ok());
        assert!(plan("a", "xdp", &p, &fam, &off).is_err());
        // With the fallback commands of xdp.conf, xdp without XDP runs them.
        let fb = props(&[("actionban", "nft add element x <ip>")]);
        assert!(matches!(
            plan("a", "xdp", &fb, &fam, &off).unwrap(),
            ActionSpec::Command { file, .. } if file == "xdp"
        ));
        assert!(matches!(
            plan("a", "xdp", &fb, &fam, &on).unwrap(),
            ActionSpec::Xdp { .. }
        ));
    }
}
