//! Owns counters and their Prometheus exposition (`--metrics ADDR:PORT`).
//!
//! - this file: the [`Metrics`] registry (prometheus-client) with every
//!   metric the daemon exports, and cheap per-source handles for the hot path;
//! - [`http`]: the small read-only HTTP endpoint serving `GET /metrics`.
//!
//! Exported (all labelled by `jail`; line metrics also by `source`):
//! `enforcer_failures_total`, `enforcer_bans_total`, `enforcer_unbans_total`,
//! `enforcer_active_bans`, `enforcer_xdp_dropped_packets`,
//! `enforcer_xdp_dropped_bytes` (gauges the daemon sets from the dataplane's
//! per-jail counters), `enforcer_lines_read_total`,
//! `enforcer_lines_matched_total`, `enforcer_match_duration_seconds`.
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub mod http;

pub use http::{MetricsError, MetricsServer};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JailLabel {
    jail: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    jail: String,
    source: String,
}

#[derive(Clone)]
struct MatchBuckets;

impl MetricConstructor<Histogram> for MatchBuckets {
    fn new_metric(&self) -> Histogram {
        // 1 µs … ~0.5 s: a line takes microseconds, a hostile one must not take long.
        Histogram::new(exponential_buckets(1e-6, 4.0, 10))
    }
}

type U64Gauge = Gauge<u64, AtomicU64>;

/// The daemon's metrics. Share it as `Arc<Metrics>`; all methods take `&self`.
pub struct Metrics {
    registry: Registry,
    failures: Family<JailLabel, Counter>,
    bans: Family<JailLabel, Counter>,
    unbans: Family<JailLabel, Counter>,
    active_bans: Family<JailLabel, Gauge>,
    xdp_packets: Family<JailLabel, U64Gauge>,
    xdp_bytes: Family<JailLabel, U64Gauge>,
    lines_read: Family<SourceLabel, Counter>,
    lines_matched: Family<SourceLabel, Counter>,
    match_time: Family<JailLabel, Histogram, MatchBuckets>,
}

/// Handles for one source of one jail: incrementing them is one atomic
/// operation, no label lookup.
#[derive(Clone, Debug)]
pub struct SourceMetrics {
    pub lines_read: Counter,
    pub lines_matched: Counter,
    pub match_time: Histogram,
}

impl SourceMetrics {
    /// Records one line that was read and matched (or not) in `secs`.
    pub fn line(&self, matched: bool, secs: f64) {
        self.lines_read.inc();
        if matched {
            self.lines_matched.inc();
        }
        self.match_time.observe(secs);
    }
}

/// prometheus-client writes label values as they are; escape them as the
/// exposition format wants (`\\`, `\"`, `\n`), so a path with a quote
/// or a newline cannot break the output.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn jail(j: &str) -> JailLabel {
    JailLabel { jail: escape(j) }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("enforcer");
        let m = Metrics {
            failures: Family::default(),
            bans: Family::default(),
            unbans: Family::default(),
            active_bans: Family::default(),
            xdp_packets: Family::default(),
            xdp_bytes: Family::default(),
            lines_read: Family::default(),
            lines_matched: Family::default(),
            match_time: Family::new_with_constructor(MatchBuckets),
            registry: Registry::default(),
        };
        registry.register(
            "failures",
            "Failures found by the jail's filter",
            m.failures.clone(),
        );
        registry.register("bans", "Bans made by the jail", m.bans.clone());
        registry.register(
            "unbans",
            "Bans lifted (expired or by command)",
            m.unbans.clone(),
        );
        registry.register(
            "active_bans",
            "Addresses currently banned by the jail",
            m.active_bans.clone(),
        );
        registry.register(
            "xdp_dropped_packets",
            "Packets dropped at XDP for the jail's bans (from the dataplane's counters)",
            m.xdp_packets.clone(),
        );
        registry.register(
            "xdp_dropped_bytes",
            "Bytes dropped at XDP for the jail's bans (from the dataplane's counters)",
            m.xdp_bytes.clone(),
        );
        registry.register(
            "lines_read",
            "Log lines read, per jail and source",
            m.lines_read.clone(),
        );
        registry.register(
            "lines_matched",
            "Log lines that gave a failure, per jail and source",
            m.lines_matched.clone(),
        );
        registry.register(
            "match_duration_seconds",
            "Time to match one line against the jail's filter",
            m.match_time.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn failure(&self, j: &str) {
        self.failures.get_or_create(&jail(j)).inc();
    }

    pub fn ban(&self, j: &str) {
        self.bans.get_or_create(&jail(j)).inc();
    }

    pub fn unban(&self, j: &str) {
        self.unbans.get_or_create(&jail(j)).inc();
    }

    pub fn set_active_bans(&self, j: &str, n: i64) {
        self.active_bans.get_or_create(&jail(j)).set(n);
    }

    /// Sets the dataplane's per-jail drop counters (absolute values).
    pub fn set_xdp_dropped(&self, j: &str, packets: u64, bytes: u64) {
        self.xdp_packets.get_or_create(&jail(j)).set(packets);
        self.xdp_bytes.get_or_create(&jail(j)).set(bytes);
    }

    /// The handles for lines of `source` (a path, or `journal`) in `jail`.
    pub fn source(&self, j: &str, source: &str) -> SourceMetrics {
        let l = SourceLabel {
            jail: escape(j),
            source: escape(source),
        };
        SourceMetrics {
            lines_read: self.lines_read.get_or_create(&l).clone(),
            lines_matched: self.lines_matched.get_or_create(&l).clone(),
            match_time: self.match_time.get_or_create(&jail(j)).clone(),
        }
    }

    /// The Prometheus/OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }

    pub fn shared() -> Arc<Metrics> {
        Arc::new(Metrics::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map(|l| l[series.len() + 1..].to_string())
    }

    #[test]
    fn every_metric_is_exported_with_its_labels() {
        let m = Metrics::new();
        m.failure("sshd");
        m.failure("sshd");
        m.ban("sshd");
        m.unban("sshd");
        m.set_active_bans("sshd", 4);
        m.set_xdp_dropped("sshd", 1234, 98765);
        let s = m.source("sshd", "/var/log/auth.log");
        s.line(true, 2e-6);
        s.line(false, 3e-6);
        let t = m.encode();
        assert_eq!(
            value(&t, r#"enforcer_failures_total{jail="sshd"}"#).as_deref(),
            Some("2"),
            "{t}"
        );
        assert_eq!(
            value(&t, r#"enforcer_bans_total{jail="sshd"}"#).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&t, r#"enforcer_unbans_total{jail="sshd"}"#).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&t, r#"enforcer_active_bans{jail="sshd"}"#).as_deref(),
            Some("4")
        );
        assert_eq!(
            value(&t, r#"enforcer_xdp_dropped_packets{jail="sshd"}"#).as_deref(),
            Some("1234")
        );
        assert_eq!(
            value(&t, r#"enforcer_xdp_dropped_bytes{jail="sshd"}"#).as_deref(),
            Some("98765")
        );
        let src = r#"{jail="sshd",source="/var/log/auth.log"}"#;
        assert_eq!(
            value(&t, &format!("enforcer_lines_read_total{src}")).as_deref(),
            Some("2")
        );
        assert_eq!(
            value(&t, &format!("enforcer_lines_matched_total{src}")).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&t, r#"enforcer_match_duration_seconds_count{jail="sshd"}"#).as_deref(),
            Some("2")
        );
        assert!(t.contains("# TYPE enforcer_match_duration_seconds histogram"));
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_from_paths_are_escaped() {
        let m = Metrics::new();
        m.source("we\"ird", "/tmp/a\"b\\c\nd").line(false, 0.0);
        let t = m.encode();
        assert!(
            t.contains(r#"{jail="we\"ird",source="/tmp/a\"b\\c\nd"} 1"#),
            "{t}"
        );
    }
}
