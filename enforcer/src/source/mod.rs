//! Owns reading logs: files (globs, rotation, resume) and the systemd journal.
