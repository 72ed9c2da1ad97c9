//! The report: every operation's statistics and level, the bottlenecks, the alerts with
//! their suggestions, and the SLA results. Serialisable as JSON (`GET /api/perf`) and
//! printable as a table ([`PerfReport::summary_table`]).

use serde::Serialize;

use super::PerfConfig;
use super::alerts::{Alert, evaluate};
use super::level::Level;
use super::sla::{SlaResult, SlaStatus};
use super::stats::{OpStats, TrendInfo};
use super::suggest::{Problem, suggestions};
use super::window::OpSnapshot;

/// One operation in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpReport {
    pub name: String,
    pub threshold_us: u64,
    /// Measurements at least this long count as timeouts.
    pub timeout_us: u64,
    /// `None` until the operation has a measurement.
    pub level: Option<Level>,
    /// Window average ÷ threshold.
    pub ratio: Option<f64>,
    pub stats: Option<OpStats>,
    pub trend: TrendInfo,
    /// What to do, when the level is SLOW or BOTTLENECK.
    pub suggestions: Vec<String>,
}

/// An operation over its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bottleneck {
    pub op: String,
    pub level: Level,
    pub ratio: f64,
    pub avg_us: f64,
    pub threshold_us: u64,
    pub suggestions: Vec<String>,
}

/// The whole picture at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfReport {
    /// The time the report is for (the caller's clock, µs).
    pub now_us: u64,
    /// Measurements per operation in the count window.
    pub window: usize,
    pub recent_window_secs: u64,
    pub long_window_secs: u64,
    /// Ranked by ratio to threshold, worst first; operations without data last.
    pub operations: Vec<OpReport>,
    /// Operations over their threshold (SLOW or BOTTLENECK), worst first: the first one is
    /// where to look first.
    pub bottlenecks: Vec<Bottleneck>,
    pub alerts: Vec<Alert>,
    pub slas: Vec<SlaResult>,
}

impl PerfReport {
    /// Builds a report from snapshots taken at `now_us`.
    pub fn build(config: &PerfConfig, snapshots: &[OpSnapshot], now_us: u64) -> PerfReport {
        let mut scratch = Vec::with_capacity(config.window);
        let mut operations = Vec::with_capacity(snapshots.len());
        let mut alerts = Vec::new();
        let mut slas: Vec<Option<SlaResult>> = vec![None; config.slas.len()];
        for snap in snapshots {
            let stats = OpStats::compute(snap, &mut scratch);
            // `scratch` now holds the window sorted, as the SLA checks need it
            for (i, sla) in config.slas.iter().enumerate() {
                if sla.op == *snap.name {
                    slas[i] = Some(sla.check(if stats.is_some() { &scratch } else { &[] }));
                }
            }
            let trend =
                TrendInfo::compute(snap, config.rules.degrading_ratio, config.rules.min_trend_samples);
            let level =
                stats.as_ref().map(|s| Level::of_sum(OpStats::window_sum(snap), s.count, snap.threshold_us));
            if let Some(s) = &stats {
                alerts.extend(evaluate(snap, s, &trend, &config.rules));
            }
            let suggestions = match level {
                Some(Level::Slow | Level::Bottleneck) => suggestions(&snap.name, Problem::Slow),
                _ => Vec::new(),
            };
            operations.push(OpReport {
                name: snap.name.to_string(),
                threshold_us: snap.threshold_us,
                timeout_us: snap.timeout_us,
                level,
                ratio: stats.as_ref().map(|s| s.avg_us / snap.threshold_us as f64),
                stats,
                trend,
                suggestions,
            });
        }
        // stable: operations without data keep their registration order at the end
        operations.sort_by(|a, b| match (a.ratio, b.ratio) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let bottlenecks = operations
            .iter()
            .filter_map(|o| match (o.level, o.ratio, &o.stats) {
                (Some(level @ (Level::Slow | Level::Bottleneck)), Some(ratio), Some(s)) => Some(Bottleneck {
                    op: o.name.clone(),
                    level,
                    ratio,
                    avg_us: s.avg_us,
                    threshold_us: o.threshold_us,
                    suggestions: o.suggestions.clone(),
                }),
                _ => None,
            })
            .collect();
        let slas = config.slas.iter().zip(slas).map(|(sla, r)| r.unwrap_or_else(|| sla.check(&[]))).collect();
        PerfReport {
            now_us,
            window: config.window,
            recent_window_secs: config.recent_window_secs,
            long_window_secs: config.long_window_secs,
            operations,
            bottlenecks,
            alerts,
            slas,
        }
    }

    /// The report of one operation.
    pub fn op(&self, name: &str) -> Option<&OpReport> {
        self.operations.iter().find(|o| o.name == name)
    }

    /// SLA results that failed.
    pub fn failed_slas(&self) -> impl Iterator<Item = &SlaResult> {
        self.slas.iter().filter(|r| r.status == SlaStatus::Fail)
    }
}
