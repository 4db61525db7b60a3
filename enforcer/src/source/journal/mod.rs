//! Owns reading the systemd journal.
