//! Owns the writes the store refused (a full disk, a read-only file
//! system): bans and unbans, kept in order and offered to the store again
//! once a second until it takes them, so that a restart restores what was
//! banned and not what was lifted. A later write first makes those that
//! wait, and queues behind them while the store still refuses (a retried
//! unban must not delete a ban stored after it). A ban lifted in the
//! meantime is let go. Bounded: past [`MAX`] the oldest are let go, with a
//! line in the log.
use std::collections::VecDeque;

use crate::jail::{BanStore, StoreError, Ticket};

/// Refused writes kept per jail.
pub const MAX: usize = 100_000;

/// One write the store has not taken yet.
#[derive(Debug)]
enum Write {
    Ban(Ticket),
    /// `del_ban`: one id, or every ban of the jail (None).
    Unban(Option<String>),
}

#[derive(Debug, Default)]
pub struct Unstored {
    queue: VecDeque<Write>,
}

impl Unstored {
    fn push(&mut self, jail: &str, w: Write) {
        if self.queue.len() >= MAX
            && let Some(old) = self.queue.pop_front()
        {
            match old {
                Write::Ban(t) => log::error!(
                    "[{jail}] {MAX} writes wait for the database: the ban of {} will not be restored after a restart",
                    t.fid
                ),
                Write::Unban(id) => log::error!(
                    "[{jail}] {MAX} writes wait for the database: the unban of {} will not reach it",
                    id.as_deref().unwrap_or("every ban")
                ),
            }
        }
        self.queue.push_back(w);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Stores a ban once the earlier refused writes are made (`banned` as
    /// in [`Unstored::retry`]), else queues it behind them (or when the
    /// store refuses it).
    pub fn add_ban(
        &mut self,
        jail: &str,
        store: &dyn BanStore,
        banned: impl Fn(&Ticket) -> bool,
        t: Ticket,
    ) {
        self.retry(jail, store, banned);
        if self.queue.is_empty() {
            match store.add_ban(jail, &t) {
                Ok(()) => return,
                Err(e) => log::error!("[{jail}] {e} (the ban is kept to be stored later)"),
            }
        }
        self.push(jail, Write::Ban(t));
    }

    /// Forgets a ban (`id` None: every ban of the jail) in the store, or
    /// queues that as [`Unstored::add_ban`] does.
    pub fn del_ban(
        &mut self,
        jail: &str,
        store: &dyn BanStore,
        banned: impl Fn(&Ticket) -> bool,
        id: Option<&str>,
    ) {
        self.retry(jail, store, banned);
        if self.queue.is_empty() {
            match store.del_ban(jail, id) {
                Ok(()) => return,
                Err(e) => log::error!("[{jail}] {e} (the unban is kept to be stored later)"),
            }
        }
        self.push(jail, Write::Unban(id.map(str::to_owned)));
    }

    /// Makes the waiting writes, in order, until the store refuses again
    /// (a ban `banned` no longer holds is let go); returns how many it took.
    pub fn retry(
        &mut self,
        jail: &str,
        store: &dyn BanStore,
        banned: impl Fn(&Ticket) -> bool,
    ) -> usize {
        let mut stored = 0;
        // (mostly nothing waits, and the loop ends at once)
        while let Some(w) = self.queue.front() {
            let r: Result<(), StoreError> = match w {
                Write::Ban(t) if !banned(t) => {
                    self.queue.pop_front();
                    continue;
                }
                Write::Ban(t) => store.add_ban(jail, t),
                Write::Unban(id) => store.del_ban(jail, id.as_deref()),
            };
            if r.is_err() {
                break;
            }
            self.queue.pop_front();
            stored += 1;
        }
        if stored > 0 {
            log::info!("[{jail}] {stored} writes the database had refused are made now");
        }
        stored
    }
}
