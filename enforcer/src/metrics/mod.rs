//! Owns counters and their Prometheus exposition.
