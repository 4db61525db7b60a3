//! Owns the bans the store refused (a full disk, a read-only file system):
//! kept in order and offered to the store again once a second until it
//! takes them, so that a restart still restores them. A ban lifted in the
//! meantime is let go. Bounded: past [`MAX`] the oldest are let go, with a
//! line in the log.
use std::collections::VecDeque;

use crate::jail::{BanStore, Ticket};

/// Refused bans kept per jail.
pub const MAX: usize = 100_000;

#[derive(Debug, Default)]
pub struct Unstored {
    queue: VecDeque<Ticket>,
}

impl Unstored {
    pub fn push(&mut self, jail: &str, t: Ticket) {
        if self.queue.len() >= MAX
            && let Some(old) = self.queue.pop_front()
        {
            log::error!(
                "[{jail}] {MAX} bans wait for the database: the ban of {} will not be restored after a restart",
                old.fid
            );
        }
        self.queue.push_back(t);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Stores the waiting bans that `banned` still holds, in order, until
    /// the store refuses again; returns how many it took.
    pub fn retry(
        &mut self,
        jail: &str,
        store: &dyn BanStore,
        banned: impl Fn(&Ticket) -> bool,
    ) -> usize {
        let mut stored = 0;
        while let Some(t) = self.queue.front() {
            if !banned(t) {
                self.queue.pop_front();
                continue;
            }
            if store.add_ban(jail, t).is_err() {
                break;
            }
            self.queue.pop_front();
            stored += 1;
        }
        if stored > 0 {
            log::info!("[{jail}] {stored} bans the database had refused are stored now");
        }
        stored
    }
}
