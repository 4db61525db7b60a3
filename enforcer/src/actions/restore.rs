//! Owns [`Actions::restore_tickets`] and [`Actions::restore_stream`]:
//! putting the bans read from the store at start back in force, a million
//! of them on a busy server. The jail's books take them in bulk
//! ([`crate::jail::BanManager::add_stream`]), by the chunk as the store
//! reads them, while, with one XDP action, a second thread writes them
//! into the maps by the chunk (the kernel's share of a restore is about as
//! large as ours: reading the store, filling the books and writing the
//! maps overlap).
use super::{ActionImpl, ActionInfo, Actions, xdp::entry_of};
use crate::jail::{Net, Ticket};

/// Entries handed to the map writer at a time.
const CHUNK: usize = 32 * 1024;

impl Actions {
    /// Restores bans read from the store at start (fail2ban's "Restore
    /// Ban"), as [`Actions::ban_ticket`] does each but in bulk: the XDP
    /// action writes them by the batch, one summary line is logged (the
    /// per-ban lines are at debug level: a million of them would cost more
    /// than the restore), nothing is written back to the store. Returns
    /// how many were banned.
    pub fn restore_tickets(&mut self, tickets: Vec<Ticket>, now: f64) -> usize {
        let hint = tickets.len();
        self.restore_stream(hint, std::iter::once(tickets), now)
    }

    /// [`Actions::restore_tickets`] for tickets that arrive by the chunk
    /// as the store reads them, about `hint` in all: the books take each
    /// chunk as it comes while the map writer puts the last one in force.
    pub fn restore_stream(
        &mut self,
        hint: usize,
        chunks: impl Iterator<Item = Vec<Ticket>>,
        now: f64,
    ) -> usize {
        let mut chunks = chunks.map(|mut c| {
            for t in &mut c {
                t.restored = true;
            }
            c
        });
        let bantime = self.bans.bantime();
        let xdps = self
            .list
            .iter()
            .filter(|(_, a)| matches!(a, ActionImpl::Xdp(_)))
            .count();
        let commands = self
            .list
            .iter()
            .any(|(_, a)| matches!(a, ActionImpl::Command(c) if !c.norestored()));
        // What the actions need of each ban, taken as it goes in (no copy
        // of a million tickets for the XDP action).
        let mut entries = Vec::new();
        let mut added = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        let jail = self.jail.as_str();
        let n = if xdps == 1 {
            let Actions { list, bans, .. } = self;
            let (name, x) = list
                .iter_mut()
                .find_map(|(n, a)| match a {
                    ActionImpl::Xdp(x) => Some((n.clone(), x)),
                    _ => None,
                })
                .expect("one XDP action");
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Net, Option<i64>)>>(2);
                let writer = s.spawn(move || x.ban_stream(hint, rx.into_iter()));
                let mut chunk = Vec::with_capacity(CHUNK.min(hint));
                let n = bans.add_stream(hint, &mut chunks, now, |t| {
                    log::debug!("[{jail}] Restore Ban {}", t.fid);
                    if let Some(e) = entry_of(t, bantime) {
                        chunk.push(e);
                        if chunk.len() == CHUNK {
                            // A writer that stopped (an error) is reported below.
                            let _ =
                                tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                        }
                    }
                    if commands {
                        added.push(t.clone());
                    }
                });
                if !chunk.is_empty() {
                    let _ = tx.send(chunk);
                }
                drop(tx);
                match writer.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failed.push((name, e.to_string())),
                    Err(_) => failed.push((name, "the map writer panicked".into())),
                }
                n
            })
        } else {
            self.bans.add_stream(hint, &mut chunks, now, |t| {
                log::debug!("[{jail}] Restore Ban {}", t.fid);
                if xdps > 0
                    && let Some(e) = entry_of(t, bantime)
                {
                    entries.push(e);
                }
                if commands {
                    added.push(t.clone());
                }
            })
        };
        if n == 0 {
            return 0;
        }
        let p = self.parts();
        let view = p.view();
        for (name, a) in &mut self.list {
            let err = match a {
                ActionImpl::Xdp(x) if xdps > 1 => {
                    x.ban_entries(entries.clone()).err().map(|e| e.to_string())
                }
                ActionImpl::Xdp(_) => None,
                ActionImpl::Command(c) if !c.norestored() => {
                    let mut err = None;
                    for t in &added {
                        let info = ActionInfo::new(t, view);
                        if let Err(e) = c.ban(&info, &view, false) {
                            err.get_or_insert(e.to_string());
                        }
                    }
                    err
                }
                ActionImpl::Command(_) => None,
            };
            if let Some(e) = err {
                failed.push((name.clone(), e));
            }
        }
        for (name, e) in failed {
            log::error!(
                "Failed to execute ban jail '{}' action '{name}': {e}",
                self.jail
            );
        }
        log::info!("[{}] Restore Ban: {n} bans from the database", self.jail);
        n
    }
}
