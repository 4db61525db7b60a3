//! Owns the Actions manager's operations (fail2ban's `Actions` methods):
//! start/stop, two-phase reload, ban of tickets, manual ban/unban, expiry,
//! flush, ban list and status.
use std::collections::HashSet;

use super::status::{self, Flavor, Item, JailStatus, Section};
use super::{
    ActionError, ActionImpl, ActionInfo, ActionSpec, Actions, BanOutcome, JailView, parse_target,
    time2str,
};
use crate::jail::{BanManager, Ticket};

/// Whether `t`, a ban waiting for the store, is still the one in force.
fn held(bans: &BanManager, t: &Ticket) -> bool {
    bans.get(&t.fid).is_some_and(|b| b.time == t.time)
}

/// Everything a [`JailView`] borrows, owned, so actions can be borrowed
/// mutably while the view is alive.
pub(super) struct ViewParts {
    name: String,
    banned: usize,
    banned_total: u64,
    found: crate::jail::Found,
    bantime: i64,
    store: Option<std::sync::Arc<dyn crate::jail::BanStore>>,
}

impl ViewParts {
    pub(super) fn view(&self) -> JailView<'_> {
        JailView {
            name: &self.name,
            banned: self.banned,
            banned_total: self.banned_total,
            found: self.found,
            bantime: self.bantime,
            store: self.store.as_deref(),
        }
    }
}

enum Op {
    Ban,
    Reban,
    Prolong,
    Unban,
}

impl Actions {
    pub(super) fn parts(&self) -> ViewParts {
        ViewParts {
            name: self.jail.clone(),
            banned: self.bans.size(),
            banned_total: self.bans.total(),
            found: self.found,
            bantime: self.bans.bantime(),
            store: self.store.clone(),
        }
    }

    fn start_one(
        jail: &str,
        a: &mut ActionImpl,
        view: &JailView,
        now: f64,
    ) -> Result<(), ActionError> {
        match a {
            ActionImpl::Command(c) => c.start(view, now),
            ActionImpl::Xdp(x) => x.start(jail),
        }
    }

    /// Starts every action in order; failures are logged and returned.
    pub fn start(&mut self, now: f64) -> Vec<(String, ActionError)> {
        let p = self.parts();
        let view = p.view();
        let mut errs = Vec::new();
        for (name, a) in &mut self.list {
            if let Err(e) = Self::start_one(&self.jail, a, &view, now) {
                log::error!("Failed to start jail '{}' action '{name}': {e}", self.jail);
                errs.push((name.clone(), e));
            }
        }
        errs
    }

    fn run_op(
        a: &mut ActionImpl,
        op: &Op,
        info: &ActionInfo,
        view: &JailView,
    ) -> Result<(), ActionError> {
        match (a, op) {
            (ActionImpl::Command(c), Op::Ban) => c.ban(info, view, false),
            (ActionImpl::Command(c), Op::Reban) => c.ban(info, view, true),
            (ActionImpl::Command(c), Op::Prolong) => {
                if c.prolongable() {
                    c.prolong(info, view)
                } else {
                    Ok(())
                }
            }
            (ActionImpl::Command(c), Op::Unban) => c.unban(info, view),
            (ActionImpl::Xdp(x), Op::Ban | Op::Reban | Op::Prolong) => x.ban(info, view.bantime),
            (ActionImpl::Xdp(x), Op::Unban) => x.unban(info),
        }
    }

    fn norestored(a: &ActionImpl) -> bool {
        matches!(a, ActionImpl::Command(c) if c.norestored())
    }

    /// Runs `op` for `ticket` through the actions named in `only` (all when
    /// `None`); returns the names that failed.
    fn dispatch(&mut self, ticket: &Ticket, op: Op, only: Option<&HashSet<String>>) -> Vec<String> {
        let p = self.parts();
        let view = p.view();
        let info = ActionInfo::new(ticket, view);
        let mut failed = Vec::new();
        for (name, a) in &mut self.list {
            if only.is_some_and(|o| !o.contains(name)) {
                continue;
            }
            if ticket.restored && Self::norestored(a) && !matches!(op, Op::Unban) {
                continue;
            }
            if let Err(e) = Self::run_op(a, &op, &info, &view) {
                let what = match op {
                    Op::Ban | Op::Reban => "ban",
                    Op::Prolong => "prolong",
                    Op::Unban => "unban",
                };
                log::error!(
                    "Failed to execute {what} jail '{}' action '{name}': {e}",
                    self.jail
                );
                failed.push(name.clone());
            }
        }
        failed
    }

    /// `set JAIL bantime`: new bans get `v`, and, as in fail2ban, so do the
    /// current bans that follow the jail's ban time (no ban time of their
    /// own): their ends move. The kernel holds each XDP entry's expiry, so
    /// those entries are written again (the data plane keeps the later of
    /// two expiries; a shorter ban ends when the daemon unbans it).
    /// Command actions are not run, as in fail2ban.
    pub fn set_bantime(&mut self, v: i64) {
        self.bans.set_bantime(v);
        let moved: Vec<Ticket> = self
            .bans
            .iter()
            .filter(|t| t.ban_time.is_none())
            .cloned()
            .collect();
        if moved.is_empty() {
            return;
        }
        let p = self.parts();
        let view = p.view();
        for (name, a) in &mut self.list {
            let ActionImpl::Xdp(x) = a else { continue };
            for t in &moved {
                if let Err(e) = x.ban(&ActionInfo::new(t, view), v) {
                    log::error!(
                        "[{}] action {name}: new bantime for {}: {e}",
                        self.jail,
                        t.fid
                    );
                }
            }
        }
    }

    /// fail2ban's `__checkBan` for one ticket: bans it through every action
    /// (restored tickets skip `norestored` actions) and records it in the
    /// store; an already banned id whose end moves later is prolonged.
    pub fn ban_ticket(&mut self, ticket: Ticket, now: f64) -> BanOutcome {
        let restored = ticket.restored;
        let fid = ticket.fid.clone();
        match self.bans.add(ticket, now) {
            Ok(t) => {
                let t = t.clone();
                log::info!(
                    "[{}] {}Ban {fid}",
                    self.jail,
                    if restored { "Restore " } else { "" }
                );
                let failed = self.dispatch(&t, Op::Ban, None);
                // The store records the ban time in force, the jail's default
                // included, so a restart restores the same end.
                let mut stored = t.clone();
                stored.ban_time = Some(t.ban_time_or(self.bans.bantime()));
                if let (Some(store), false) = (self.store.as_deref(), restored) {
                    let bans = &self.bans;
                    self.unstored
                        .add_ban(&self.jail, store, |t| held(bans, t), stored);
                }
                BanOutcome {
                    added: true,
                    failed,
                    ..Default::default()
                }
            }
            Err(n) => {
                let mut out = BanOutcome::from(n);
                if out.expired {
                    log::info!("[{}] Ignore {fid}, expired bantime", self.jail);
                } else if out.prolonged {
                    if let Some(t) = self.bans.get(&fid).cloned() {
                        log::info!("[{}] Increase Ban {fid}", self.jail);
                        out.failed = self.dispatch(&t, Op::Prolong, None);
                    }
                } else {
                    log::info!("[{}] {fid} already banned", self.jail);
                }
                out
            }
        }
    }

    /// Manual ban (`banip`): addresses or CIDRs, now, with the jail's ban
    /// time. Returns how many were newly banned.
    pub fn ban(&mut self, targets: &[String], now: f64) -> Result<usize, ActionError> {
        let parsed = targets
            .iter()
            .map(|t| parse_target(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut n = 0;
        for (id, ip) in parsed {
            if self.ban_ticket(Ticket::manual(id, ip, now), now).added {
                n += 1;
            }
        }
        Ok(n)
    }

    fn unban_one(&mut self, ticket: &Ticket) -> Vec<String> {
        log::info!("[{}] Unban {}", self.jail, ticket.fid);
        self.dispatch(ticket, Op::Unban, None)
    }

    /// fail2ban's `removeBannedIP`: `None` unbans everything; a CIDR that is
    /// not itself banned unbans the addresses inside it. An address that is
    /// not banned is an error unless `ifexists`.
    pub fn unban(
        &mut self,
        targets: Option<&[String]>,
        ifexists: bool,
        now: f64,
    ) -> Result<usize, ActionError> {
        let Some(targets) = targets else {
            if let Some(store) = self.store.as_deref() {
                let bans = &self.bans;
                self.unstored
                    .del_ban(&self.jail, store, |t| held(bans, t), None);
            }
            return Ok(self.flush(false, None, now));
        };
        let mut missed = Vec::new();
        let mut cnt = 0;
        for t in targets {
            let (id, _) = match parse_target(t) {
                Ok(p) => p,
                Err(_) => (t.clone(), None),
            };
            let ids: Vec<String> = if self.bans.contains(&id) {
                vec![id.clone()]
            } else {
                match crate::jail::Net::parse(&id).filter(|n| !n.is_single()) {
                    Some(net) => self
                        .bans
                        .iter()
                        .filter(|b| b.ip.is_some_and(|ip| net.contains(ip)))
                        .map(|b| b.fid.clone())
                        .collect(),
                    None => Vec::new(),
                }
            };
            if ids.is_empty() {
                if !ifexists {
                    missed.push(t.clone());
                }
                continue;
            }
            for id in ids {
                if let Some(store) = self.store.as_deref() {
                    let bans = &self.bans;
                    self.unstored
                        .del_ban(&self.jail, store, |t| held(bans, t), Some(&id));
                }
                if let Some(ticket) = self.bans.remove(&id) {
                    self.unban_one(&ticket);
                    cnt += 1;
                }
            }
        }
        if !missed.is_empty() {
            return Err(ActionError::NotBanned(missed));
        }
        Ok(cnt)
    }

    /// Offers the bans and unbans the store refused to it again (once a
    /// second); returns how many it took.
    pub fn store_refused(&mut self) -> usize {
        let Some(store) = self.store.as_deref() else {
            return 0;
        };
        if self.unstored.is_empty() {
            return 0;
        }
        let bans = &self.bans;
        self.unstored.retry(&self.jail, store, |t| held(bans, t))
    }

    /// Lifts bans whose time ran out (at most `max`); returns how many.
    pub fn check_unban(&mut self, now: f64, max: usize) -> usize {
        let due = self.bans.expired(now, max);
        for t in &due {
            self.unban_one(t);
        }
        due.len()
    }

    /// fail2ban's `__flushBan`: every action flushes at once when it can
    /// (`actionflush`, XDP), else its bans are unbanned one by one.
    /// `only`: just these actions, keeping the ban list (reload removals).
    fn flush(&mut self, stopping: bool, only: Option<&HashSet<String>>, now: f64) -> usize {
        let tickets: Vec<Ticket> = match only {
            None => self.bans.flush(),
            Some(_) => self.bans.iter().cloned().collect(),
        };
        let p = self.parts();
        let view = p.view();
        let mut one_by_one = HashSet::new();
        for (name, a) in &mut self.list {
            if only.is_some_and(|o| !o.contains(name)) {
                continue;
            }
            let flushed = match a {
                ActionImpl::Command(c) => match c.flush(&view, now) {
                    Ok(f) => f,
                    Err(e) => {
                        log::error!(
                            "Failed to flush bans in jail '{}' action '{name}': {e}",
                            self.jail
                        );
                        let _ = c.consistency_check(&view, now, stopping);
                        true
                    }
                },
                ActionImpl::Xdp(x) => {
                    if let Err(e) = x.flush(only.is_some() || !stopping) {
                        log::error!(
                            "Failed to flush bans in jail '{}' action '{name}': {e}",
                            self.jail
                        );
                    }
                    true
                }
            };
            if !flushed {
                one_by_one.insert(name.clone());
            }
        }
        if !one_by_one.is_empty() {
            for t in &tickets {
                if only.is_none() {
                    log::info!("[{}] Unban {}", self.jail, t.fid);
                }
                self.dispatch(t, Op::Unban, Some(&one_by_one));
            }
        }
        tickets.len()
    }

    /// Stops actions in reverse order (all, or the named subset), flushing
    /// their bans first; stopped actions are removed. Stopping all also
    /// empties the ban list.
    pub fn stop(&mut self, subset: Option<&[String]>, now: f64) -> Vec<(String, ActionError)> {
        let only: Option<HashSet<String>> = subset.map(|s| s.iter().cloned().collect());
        self.flush(true, only.as_ref(), now);
        let p = self.parts();
        let view = p.view();
        let mut errs = Vec::new();
        let mut i = self.list.len();
        while i > 0 {
            i -= 1;
            if only.as_ref().is_some_and(|o| !o.contains(&self.list[i].0)) {
                continue;
            }
            let (name, mut a) = self.list.remove(i);
            let r = match &mut a {
                ActionImpl::Command(c) => c.stop(&view, now),
                ActionImpl::Xdp(_) => Ok(()),
            };
            if let Err(e) = r {
                log::error!("Failed to stop jail '{}' action '{name}': {e}", self.jail);
                errs.push((name, e));
            }
        }
        errs
    }

    /// First phase of a reload: the following [`Actions::add`] calls list
    /// the new configuration.
    pub fn reload_begin(&mut self) {
        self.reloading = Some(Vec::new());
    }

    /// Second phase: actions gone from the configuration have their bans
    /// removed and are stopped; kept ones are reconfigured in place (no
    /// ban/unban); new ones are started and get the current bans.
    pub fn reload_end(&mut self, now: f64) -> Vec<(String, ActionError)> {
        let Some(specs) = self.reloading.take() else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        let wanted: HashSet<String> = specs.iter().map(|(n, _)| n.clone()).collect();
        let gone: Vec<String> = self
            .list
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !wanted.contains(n))
            .collect();
        if !gone.is_empty() {
            errs.extend(self.stop(Some(&gone), now));
        }
        let mut old: Vec<(String, ActionImpl)> = std::mem::take(&mut self.list);
        let p = self.parts();
        let view = p.view();
        let mut fresh = HashSet::new();
        for (name, spec) in specs {
            let kept = old
                .iter()
                .position(|(n, _)| *n == name)
                .map(|i| old.remove(i));
            let r: Result<ActionImpl, ActionError> = match (kept, &spec) {
                (
                    Some((_, ActionImpl::Command(mut c))),
                    ActionSpec::Command {
                        file,
                        properties,
                        family,
                    },
                ) if c.file == *file => c
                    .configure(&self.jail, properties, family)
                    .and_then(|_| c.reload(&view, now))
                    .map(|_| ActionImpl::Command(c)),
                (Some((_, ActionImpl::Xdp(mut x))), ActionSpec::Xdp { scope }) => {
                    x.reconfigure(scope.clone()).map(|_| ActionImpl::Xdp(x))
                }
                (kept, _) => {
                    // A different kind under the same name: replace it.
                    if let Some((_, mut a)) = kept
                        && let ActionImpl::Command(c) = &mut a
                    {
                        let _ = c.stop(&view, now);
                    }
                    fresh.insert(name.clone());
                    self.build(&name, &spec).and_then(|mut a| {
                        Self::start_one(&self.jail, &mut a, &view, now).map(|_| a)
                    })
                }
            };
            match r {
                Ok(a) => self.list.push((name, a)),
                Err(e) => {
                    log::error!("Failed to reload jail '{}' action '{name}': {e}", self.jail);
                    errs.push((name, e));
                }
            }
        }
        if !fresh.is_empty() {
            let current: Vec<Ticket> = self.bans.iter().cloned().collect();
            for t in &current {
                self.dispatch(t, Op::Reban, Some(&fresh));
            }
        }
        errs
    }

    /// fail2ban's `getBanList(ordered=True, withTime)`.
    pub fn ban_list(&self, with_time: bool) -> Vec<String> {
        let bt = self.bans.bantime();
        self.bans
            .ordered()
            .into_iter()
            .map(|t| {
                if with_time {
                    let end = t.end_of_ban(bt);
                    format!(
                        "{} \t{} + {} = {}",
                        t.fid,
                        time2str(t.time),
                        t.ban_time_or(bt),
                        time2str(end)
                    )
                } else {
                    t.fid.clone()
                }
            })
            .collect()
    }

    /// The `Actions` section of the status.
    pub fn status(&self, flavor: Flavor) -> Section {
        let list = self.ban_list(false);
        let mut items = vec![
            (
                "Currently banned".to_string(),
                Item::Num(self.bans.size() as u64),
            ),
            ("Total banned".to_string(), Item::Num(self.bans.total())),
        ];
        if matches!(flavor, Flavor::Basic | Flavor::Cymru) {
            items.push(("Banned IP list".into(), Item::List(list.clone())));
        }
        if flavor == Flavor::Cymru {
            let ips: Vec<std::net::IpAddr> =
                self.bans.ordered().iter().filter_map(|t| t.ip).collect();
            let dns = status::CymruDns {
                timeout: std::time::Duration::from_secs(5),
            };
            items.extend(status::cymru_items(&ips, &dns));
        }
        Section {
            name: "Actions".into(),
            items,
        }
    }

    /// The whole jail status, given the jail's `Filter` section.
    pub fn jail_status(&self, filter: Section, flavor: Flavor) -> JailStatus {
        JailStatus {
            jail: self.jail.clone(),
            sections: vec![filter, self.status(flavor)],
        }
    }
}

/// Wall-clock seconds since the epoch.
pub fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
