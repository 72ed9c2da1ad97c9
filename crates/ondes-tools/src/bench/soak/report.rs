//! The soak's human table: samples (at most [`MAX_ROWS`], evenly picked), the trends per hour,
//! drops, listeners, publishers, and the verdict with its reasons.

use std::fmt::Write as _;

use super::verdict::Trend;
use super::{Sample, SoakReport};

/// Sample rows shown; the JSON has them all.
pub const MAX_ROWS: usize = 24;

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// One progress line per sample (stderr while the run goes on).
pub fn sample_line(s: &Sample) -> String {
    let drops: u64 = s.drops.values().sum();
    format!(
        "t={:>6.0}s rss={:>7} KiB fds={:>5} threads={:>3} sessions={:>5} open={:>5} joined={} failed={} gaps={} drops={} leaked={}",
        s.t_secs,
        opt(s.rss_kb),
        opt(s.fds),
        opt(s.threads),
        opt(s.sessions),
        s.listeners.open,
        s.listeners.joined,
        s.listeners.connect_failures,
        s.listeners.with_gaps,
        drops,
        s.leaked
    )
}

fn trend_row(t: Option<Trend>, scale: f64, unit: &str, digits: usize) -> String {
    match t {
        None => "-".into(),
        Some(t) => format!(
            "{:.digits$} -> {:.digits$} {unit}, slope {:+.digits$} ± {:.digits$} {unit}/h over {} samples",
            t.first * scale,
            t.last * scale,
            t.slope_per_hour * scale,
            t.slope_stderr_per_hour * scale,
            t.samples
        ),
    }
}

impl SoakReport {
    /// A human-readable table of the run.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail: the `let _` below discard `Ok(())`.
        let _ = writeln!(
            out,
            "  {:>7}  {:>9}  {:>6}  {:>7}  {:>8}  {:>6}  {:>7}  {:>6}  {:>6}",
            "t s", "rss KiB", "fds", "threads", "sessions", "open", "joined", "gaps", "drops"
        );
        let n = self.samples.len();
        let step = n.div_ceil(MAX_ROWS).max(1);
        for (i, s) in self.samples.iter().enumerate() {
            if i % step != 0 && i + 1 != n {
                continue;
            }
            let mark = if s.t_secs < self.warmup_secs { "w" } else { " " };
            let _ = writeln!(
                out,
                "{mark} {:>7.0}  {:>9}  {:>6}  {:>7}  {:>8}  {:>6}  {:>7}  {:>6}  {:>6}",
                s.t_secs,
                opt(s.rss_kb),
                opt(s.fds),
                opt(s.threads),
                opt(s.sessions),
                s.listeners.open,
                s.listeners.joined,
                s.listeners.with_gaps,
                s.drops.values().sum::<u64>()
            );
        }
        let _ = writeln!(out, "  (w: warm-up, not judged)");
        let v = &self.verdict;
        let l = &self.listeners;
        let p = &self.publishers;
        let nonzero: Vec<String> =
            v.drops.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let drops = match (v.drops.len(), nonzero.is_empty()) {
            (0, _) => "none reported (no /metrics?)".to_string(),
            (n, true) => format!("0 on all {n} counters (stream:stage)"),
            (_, false) => format!("{} (the others 0)", nonzero.join(", ")),
        };
        let reasons = |m: &std::collections::BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
            }
        };
        let transports: Vec<&str> = self.transports.iter().map(|t| t.as_str()).collect();
        let rows: Vec<(&str, String)> = vec![
            (
                "run",
                format!(
                    "{:.0} s (warm-up {:.0} s), a sample every {:.0} s, seed {}, server pid {}",
                    self.duration_secs,
                    self.warmup_secs,
                    self.sample_every_secs,
                    self.seed,
                    self.server_pid.map_or_else(|| "unknown".into(), |p| p.to_string())
                ),
            ),
            (
                "listeners",
                format!(
                    "{} on {} of {} ({}): {} joined, {} left after their lifetime, {} ended early, {} connect failures",
                    self.listeners_target,
                    self.stream,
                    self.url,
                    transports.join(", "),
                    l.joined,
                    l.left,
                    l.ended_early,
                    l.connect_failures
                ),
            ),
            (
                "listener gaps",
                format!(
                    "{} listeners saw missing frames ({} frames), {} stalls, {:.1} MB received",
                    l.with_gaps,
                    l.gap_frames,
                    l.stalls,
                    l.bytes as f64 / 1e6
                ),
            ),
            ("listener errors", reasons(&self.listener_reasons)),
            (
                "publishers",
                format!(
                    "{} ({}): {} sessions, {} failed, {} frames sent, {} acknowledged",
                    self.publish_streams.len(),
                    self.publish_streams.join(", "),
                    p.sessions,
                    p.failed,
                    p.frames_sent,
                    p.frames_acked
                ),
            ),
            ("publisher errors", reasons(&self.publisher_failures)),
            ("RSS", trend_row(v.rss_kb, 1.0 / 1024.0, "MiB", 1)),
            ("open fds", trend_row(v.fds, 1.0, "fds", 1)),
            ("threads", trend_row(v.threads, 1.0, "", 1)),
            ("drops (window)", drops),
            (
                "rule",
                format!(
                    "fail when slope - 3 se > max(20 MiB, 5 %)/h for RSS, max({:.0}, 5 %)/h for fds, and the line rose >= 4 MiB / {:.0} fds; fail on drops at source, publisher_queue, recording",
                    v.fd_rule.abs_per_hour, v.fd_rule.min_growth
                ),
            ),
            ("leak", format!("{} stuck connections per second (deliberate)", self.leak_per_sec)),
            ("verdict", if v.pass { "PASS".into() } else { "FAIL".into() }),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, val) in rows {
            let _ = writeln!(out, "  {k:<width$}  {val}");
        }
        for r in &v.reasons {
            let _ = writeln!(out, "  {:<width$}  - {r}", "because");
        }
        for note in &v.notes {
            let _ = writeln!(out, "  {:<width$}  - {note}", "note");
        }
        out
    }
}
