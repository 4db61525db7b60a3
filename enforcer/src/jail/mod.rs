//! Owns per-jail decisions: failure counting within findtime, ignore lists,
//! and ban times (bantime.increment and friends).
