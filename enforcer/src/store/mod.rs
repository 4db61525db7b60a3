//! Owns persistence of bans across restarts.
