//! Owns command actions (fail2ban's `CommandAction`): the action.d lifecycle
//! `actionstart` (at start, or on demand per address family when the action
//! has `?family=` sections), `actionban`/`actionreban`/`actionprolong`/
//! `actionunban`, `actionflush`, `actionreload`, `actionstop`, and
//! `actioncheck`/`actionrepair` (a failed command triggers check; a failed
//! check triggers repair, or stop+start without one; the command is retried
//! once). Commands run with `/bin/sh` under the action's `timeout`.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::ActionError;
use super::exec::{DEFAULT_TIMEOUT, run_shell};
use super::info::{ActionInfo, JailView};
use super::subst::{replace_dynamic, replace_static};
use crate::jail::Ticket;

const STARTED: u8 = 1;
const HAS_ITEMS: u8 = 2;

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// One command action of a jail.
#[derive(Debug)]
pub struct CommandAction {
    name: String,
    /// The action file name (`iptables-multiport`).
    pub file: String,
    props: BTreeMap<String, String>,
    timeout: Duration,
    started: BTreeMap<String, u8>,
    executed: HashMap<(String, String), String>,
}

impl CommandAction {
    /// `properties`: the action's options; `family`: `[Init?family=X]`
    /// overrides, stored as `opt?family=X` like fail2ban does.
    pub fn new(
        name: &str,
        file: &str,
        jail: &str,
        properties: &BTreeMap<String, String>,
        family: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<CommandAction, ActionError> {
        let mut a = CommandAction {
            name: name.to_string(),
            file: file.to_string(),
            props: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            started: BTreeMap::new(),
            executed: HashMap::new(),
        };
        a.configure(jail, properties, family)?;
        Ok(a)
    }

    /// Replaces the options (reload), keeping what was started.
    pub fn configure(
        &mut self,
        jail: &str,
        properties: &BTreeMap<String, String>,
        family: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<(), ActionError> {
        let mut props = properties.clone();
        props
            .entry("name".into())
            .or_insert_with(|| jail.to_string());
        for (fam, opts) in family {
            for (k, v) in opts {
                props.insert(format!("{k}?family={fam}"), v.clone());
            }
        }
        let timeout = match props
            .get("timeout")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            Some(t) => {
                let secs = crate::config::parse_time(t)
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| ActionError::Invalid {
                        action: self.name.clone(),
                        what: format!("timeout {t:?} is not a positive time"),
                    })?;
                Duration::from_secs(secs as u64)
            }
            None => DEFAULT_TIMEOUT,
        };
        self.props = props;
        self.timeout = timeout;
        self.executed.clear();
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.props
    }
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn has(&self, op: &str) -> bool {
        self.props.get(op).is_some_and(|v| !v.trim().is_empty())
    }

    fn has_cond_section(&self) -> bool {
        self.props.keys().any(|k| k.contains("?family="))
    }

    fn families(&self) -> Vec<String> {
        if let Some(f) = self.props.get("families").filter(|f| !f.trim().is_empty()) {
            return f
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if self.has_cond_section() {
            vec!["inet4".into(), "inet6".into()]
        } else {
            vec![String::new()]
        }
    }

    /// Whether actionstart waits for the first ban of each family.
    pub fn start_on_demand(&self) -> bool {
        match self.props.get("actionstart_on_demand") {
            Some(v) => truthy(v),
            None => self.has_cond_section(),
        }
    }

    /// `norestored = true`: restored bans are not sent to this action.
    pub fn norestored(&self) -> bool {
        self.props.get("norestored").is_some_and(|v| truthy(v))
    }

    pub fn prolongable(&self) -> bool {
        self.has("actionprolong")
    }

    pub fn is_started(&self) -> bool {
        self.started.values().any(|v| *v != 0)
    }

    /// The key an address family is tracked under: the family itself for
    /// actions with `?family=` sections (or `families`), else one shared key.
    fn fam_key(&self, family: &str) -> String {
        if self.has_cond_section() || self.props.contains_key("families") {
            family.to_string()
        } else {
            String::new()
        }
    }

    fn fam_opt(family: &str) -> Option<&str> {
        (!family.is_empty()).then_some(family)
    }

    /// fail2ban's `_getOperation`: the command with the action's options
    /// substituted and `<family>` filled in.
    fn operation(&self, tag: &str, family: &str) -> Result<String, ActionError> {
        let cmd = replace_static(&format!("<{tag}>"), &self.props, Self::fam_opt(family))?;
        let cmd = if cmd == format!("<{tag}>") {
            String::new()
        } else {
            cmd
        };
        if family.is_empty() || !cmd.contains('<') {
            return Ok(cmd);
        }
        Ok(replace_dynamic(&cmd, &mut |t| (t == "family").then(|| family.to_string())).script)
    }

    fn exec(&self, op: &str, script: &str, args: &[String]) -> Result<bool, ActionError> {
        let o = run_shell(script, args, self.timeout)?;
        if o.timed_out {
            log::error!(
                "action {} {op}: timed out after {:?}, killed",
                self.name,
                self.timeout
            );
        } else if !o.success() {
            log::error!(
                "action {} {op}: exit {:?} signal {:?}: {}",
                self.name,
                o.code,
                o.signal,
                o.stderr.trim_end()
            );
        }
        Ok(o.success())
    }

    /// fail2ban's `_executeOperation` for lifecycle commands.
    fn execute_operation(
        &mut self,
        tag: &str,
        families: &[String],
        view: &JailView,
        now: f64,
        after: &mut dyn FnMut(&mut Self, &str, bool),
    ) -> Result<(), ActionError> {
        let mut ok = true;
        let mut first_err = None;
        for fam in families {
            let cmd = match self.operation(tag, fam) {
                Ok(c) => c,
                Err(e) => {
                    ok = false;
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            let mut ret = true;
            let dup = self
                .executed
                .iter()
                .any(|((t, f), c)| t == tag && f != fam && *c == cmd);
            if !cmd.is_empty() && !dup {
                let empty = Ticket::new("", None, now);
                let mut info = ActionInfo::new(&empty, *view);
                info.set("time", crate::jail::ticket::py_float(now));
                info.set("family", fam.clone());
                let sc = replace_dynamic(&cmd, &mut |t| info.get(t));
                ret = self.exec(tag, &sc.script, &sc.args)?;
                ok &= ret;
            }
            after(self, fam, ret);
            let key = (tag.to_string(), fam.clone());
            if ret {
                self.executed.insert(key, cmd);
            } else {
                self.executed.remove(&key);
            }
        }
        match (ok, first_err) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(ActionError::Failed {
                action: self.name.clone(),
                op: tag.into(),
                what: "script error".into(),
            }),
        }
    }

    fn forget_executed(&mut self, tag: &str, fam: &str) {
        if let Some(cmd) = self.executed.remove(&(tag.to_string(), fam.to_string())) {
            self.executed.retain(|(t, _), c| !(t == tag && *c == cmd));
        }
    }

    /// `actionstart` (a no-op for start-on-demand actions).
    pub fn start(&mut self, view: &JailView, now: f64) -> Result<(), ActionError> {
        if self.start_on_demand() {
            return Ok(());
        }
        self.start_families(None, view, now)
    }

    fn start_families(
        &mut self,
        family: Option<&str>,
        view: &JailView,
        now: f64,
    ) -> Result<(), ActionError> {
        let fams = match family {
            Some(f) => vec![f.to_string()],
            None => self.families(),
        };
        self.execute_operation("actionstart", &fams, view, now, &mut |a, fam, ret| {
            if ret {
                a.forget_executed("actionstop", fam);
                a.started.insert(fam.to_string(), STARTED);
            }
        })
    }

    /// `actionstop` for every started family.
    pub fn stop(&mut self, view: &JailView, now: f64) -> Result<(), ActionError> {
        let fams: Vec<String> = self
            .started
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(f, _)| f.clone())
            .collect();
        if fams.is_empty() {
            return Ok(());
        }
        self.started.clear();
        self.stop_families(&fams, view, now)
    }

    fn stop_families(
        &mut self,
        fams: &[String],
        view: &JailView,
        now: f64,
    ) -> Result<(), ActionError> {
        self.execute_operation("actionstop", fams, view, now, &mut |a, fam, ret| {
            if ret {
                a.forget_executed("actionstart", fam);
            }
        })
    }

    /// `actionflush`; `Ok(false)` when the action has none (unban each).
    pub fn flush(&mut self, view: &JailView, now: f64) -> Result<bool, ActionError> {
        if !self.has("actionflush") {
            return Ok(false);
        }
        let fams: Vec<String> = self
            .started
            .iter()
            .filter(|(_, v)| **v & 3 == 3)
            .map(|(f, _)| f.clone())
            .collect();
        if fams.is_empty() {
            return Ok(true);
        }
        self.execute_operation("actionflush", &fams, view, now, &mut |a, fam, ret| {
            if ret && let Some(v) = a.started.get_mut(fam) {
                *v &= !HAS_ITEMS;
            }
        })?;
        Ok(true)
    }

    /// `actionreload` for every started family.
    pub fn reload(&mut self, view: &JailView, now: f64) -> Result<(), ActionError> {
        let fams: Vec<String> = self
            .started
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(f, _)| f.clone())
            .collect();
        self.execute_operation("actionreload", &fams, view, now, &mut |_, _, _| {})
    }

    /// `actionban` (or `actionreban` with `reban`).
    pub fn ban(
        &mut self,
        info: &ActionInfo,
        view: &JailView,
        reban: bool,
    ) -> Result<(), ActionError> {
        let family = self.fam_key(&info.family());
        let now = info.ticket().time;
        if self.start_on_demand() && self.started.get(&family).copied().unwrap_or(0) == 0 {
            self.start_families(Some(&family), view, now)?;
        }
        let op = if reban && self.has("actionreban") {
            "actionreban"
        } else {
            "actionban"
        };
        if !self.process(op, info, view)? {
            return Err(ActionError::Failed {
                action: self.name.clone(),
                op: op.into(),
                what: format!("banning {}", info.get("ip").unwrap_or_default()),
            });
        }
        *self.started.entry(family).or_insert(0) |= STARTED | HAS_ITEMS;
        Ok(())
    }

    pub fn prolong(&mut self, info: &ActionInfo, view: &JailView) -> Result<(), ActionError> {
        if !self.process("actionprolong", info, view)? {
            return Err(ActionError::Failed {
                action: self.name.clone(),
                op: "actionprolong".into(),
                what: format!("prolonging {}", info.get("ip").unwrap_or_default()),
            });
        }
        Ok(())
    }

    pub fn unban(&mut self, info: &ActionInfo, view: &JailView) -> Result<(), ActionError> {
        let family = self.fam_key(&info.family());
        if self.started.get(&family).copied().unwrap_or(0) & HAS_ITEMS != 0
            && !self.process("actionunban", info, view)?
        {
            return Err(ActionError::Failed {
                action: self.name.clone(),
                op: "actionunban".into(),
                what: format!("unbanning {}", info.get("ip").unwrap_or_default()),
            });
        }
        Ok(())
    }

    /// fail2ban's `consistencyCheck`: check every started family, repairing;
    /// `false` when some family could not be restored.
    pub fn consistency_check(
        &mut self,
        view: &JailView,
        now: f64,
        on_unban: bool,
    ) -> Result<bool, ActionError> {
        if !self.has("actioncheck") {
            return Ok(true);
        }
        let mut ok = true;
        let fams: Vec<(String, u8)> = self.started.iter().map(|(f, v)| (f.clone(), *v)).collect();
        for (fam, st) in fams {
            if st != 0 && self.invariant_check(&fam, view, now, on_unban, true)? != 1 {
                self.started.insert(fam.clone(), 0);
                self.forget_executed("actionstart", &fam);
                ok = false;
            }
        }
        Ok(ok)
    }

    /// fail2ban's `_invariantCheck`: 1 = fine (or repaired), 0 = not
    /// repairable, -1 = repair refused (unban without `actionrepair_on_unban`).
    fn invariant_check(
        &mut self,
        fam: &str,
        view: &JailView,
        now: f64,
        on_unban: bool,
        force_start: bool,
    ) -> Result<i8, ActionError> {
        let check = self.operation("actioncheck", fam)?;
        if check.is_empty() || self.run_lifecycle("actioncheck", &check, fam, view, now)? {
            return Ok(1);
        }
        if on_unban
            && !self
                .props
                .get("actionrepair_on_unban")
                .is_some_and(|v| truthy(v))
        {
            log::error!(
                "action {}: invariant check failed, unban is impossible",
                self.name
            );
            return Ok(-1);
        }
        log::error!(
            "action {}: invariant check failed, trying to restore a sane environment",
            self.name
        );
        let repair = self.operation("actionrepair", fam)?;
        if !repair.is_empty() {
            if !self.run_lifecycle("actionrepair", &repair, fam, view, now)? {
                self.started.insert(fam.to_string(), 0);
                log::error!("action {}: unable to restore environment", self.name);
                return Ok(0);
            }
            self.started.insert(fam.to_string(), STARTED);
        } else {
            self.started.insert(fam.to_string(), 0);
            let _ = self.stop_families(&[fam.to_string()], view, now);
            if force_start || !self.start_on_demand() {
                let _ = self.start_families(Some(fam), view, now);
            }
        }
        if self.started.get(fam).copied().unwrap_or(0) != 0
            && !self.run_lifecycle("actioncheck", &check, fam, view, now)?
        {
            log::error!("action {}: unable to restore environment", self.name);
            return Ok(0);
        }
        Ok(1)
    }

    fn run_lifecycle(
        &self,
        tag: &str,
        cmd: &str,
        fam: &str,
        view: &JailView,
        now: f64,
    ) -> Result<bool, ActionError> {
        let empty = Ticket::new("", None, now);
        let mut info = ActionInfo::new(&empty, *view);
        info.set("family", fam.to_string());
        let sc = replace_dynamic(cmd, &mut |t| info.get(t));
        self.exec(tag, &sc.script, &sc.args)
    }

    /// fail2ban's `_processCmd`: run; on failure check/repair and retry once.
    fn process(
        &mut self,
        tag: &str,
        info: &ActionInfo,
        view: &JailView,
    ) -> Result<bool, ActionError> {
        if !self.has(tag) {
            return Ok(true);
        }
        let real_family = info.family();
        let family = self.fam_key(&real_family);
        let now = info.ticket().time;
        let mut attempt = 0;
        loop {
            if attempt > 0 && self.has("actioncheck") {
                let r = self.invariant_check(
                    &family,
                    view,
                    now,
                    tag == "actionunban",
                    tag != "actionunban",
                )?;
                if r != 1 {
                    return Ok(false);
                }
            }
            let cmd = replace_static(
                &format!("<{tag}>"),
                &self.props,
                Self::fam_opt(&real_family),
            )?;
            let sc = replace_dynamic(&cmd, &mut |t| info.get(t));
            let ok = self.exec(tag, &sc.script, &sc.args)?;
            attempt += 1;
            if ok || attempt > 1 {
                return Ok(ok);
            }
        }
    }
}
