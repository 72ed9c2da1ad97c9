//! Alert rules, evaluated per operation when a report is made.
//!
//! | rule | fires when | default |
//! |---|---|---|
//! | consecutive slow | the latest N measurements were all over the threshold (strictly) | N = 3 |
//! | timeouts | more than N timeouts in the last 60 s | N = 5 |
//! | low success | success rate in the window below R, once the window has ≥ M samples | R = 0.9, M = 10 |
//! | degrading | the trend is [`Trend::Degrading`] (recent avg > 1.3 × the one before) | |
//!
//! A **timeout** is a measurement recorded as [`super::Outcome::TimedOut`] (a span with
//! `"timeout": true`) or one that took at least `timeout_factor` × the threshold (3× by
//! default: a stage that takes three times its budget has, for a real-time pipeline,
//! missed its deadline whether or not it eventually finished). The minimum sample count
//! keeps one failed call out of one from reading as "0 % success".

use serde::Serialize;

use super::stats::{OpStats, Trend, TrendInfo};
use super::suggest::{Problem, suggestions};
use super::window::OpSnapshot;

/// Thresholds of the alert rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    /// Over-threshold measurements in a row that raise an alert.
    pub consecutive_over: u32,
    /// Timeouts in the last 60 s above which an alert is raised.
    pub max_timeouts_per_minute: u64,
    /// Success rate (0 to 1) below which an alert is raised.
    pub min_success_rate: f64,
    /// Window measurements needed before the success rate is judged.
    pub min_samples_for_success: u64,
    /// Recent ÷ baseline average above which an operation is degrading.
    pub degrading_ratio: f64,
    /// Measurements needed in each of the two trend windows.
    pub min_trend_samples: u64,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            consecutive_over: 3,
            max_timeouts_per_minute: 5,
            min_success_rate: 0.9,
            min_samples_for_success: 10,
            degrading_ratio: 1.3,
            min_trend_samples: 5,
        }
    }
}

/// Which rule fired, with the value that made it fire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    ConsecutiveSlow { count: u32 },
    Timeouts { last_minute: u64 },
    LowSuccessRate { rate: f64 },
    Degrading { ratio: f64 },
}

impl AlertKind {
    /// A stable name for the rule (for de-duplicating announcements).
    pub fn rule(&self) -> &'static str {
        match self {
            AlertKind::ConsecutiveSlow { .. } => "consecutive_slow",
            AlertKind::Timeouts { .. } => "timeouts",
            AlertKind::LowSuccessRate { .. } => "low_success_rate",
            AlertKind::Degrading { .. } => "degrading",
        }
    }
}

/// A raised alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub op: String,
    #[serde(flatten)]
    pub kind: AlertKind,
    pub message: String,
    pub suggestions: Vec<String>,
}

/// The alerts raised for one operation.
pub fn evaluate(snap: &OpSnapshot, stats: &OpStats, trend: &TrendInfo, rules: &AlertRules) -> Vec<Alert> {
    let op = &*snap.name;
    let ms = |us: u64| super::table::fmt_us(us as f64);
    let mut out = Vec::new();
    let mut push = |kind: AlertKind, message: String, problem: Problem| {
        out.push(Alert { op: op.to_string(), kind, message, suggestions: suggestions(op, problem) });
    };
    if rules.consecutive_over > 0 && snap.consecutive_over >= rules.consecutive_over {
        push(
            AlertKind::ConsecutiveSlow { count: snap.consecutive_over },
            format!(
                "{op}: the last {} measurements were all over the {} threshold",
                snap.consecutive_over,
                ms(snap.threshold_us)
            ),
            Problem::Slow,
        );
    }
    if snap.timeouts_last_minute > rules.max_timeouts_per_minute {
        push(
            AlertKind::Timeouts { last_minute: snap.timeouts_last_minute },
            format!(
                "{op}: {} timeouts in the last minute (more than {}; a timeout is ≥ {} or flagged)",
                snap.timeouts_last_minute,
                rules.max_timeouts_per_minute,
                ms(snap.timeout_us)
            ),
            Problem::Timeouts,
        );
    }
    if stats.count >= rules.min_samples_for_success && stats.success_rate < rules.min_success_rate {
        push(
            AlertKind::LowSuccessRate { rate: stats.success_rate },
            format!(
                "{op}: success rate {:.1}% over the last {} measurements (below {:.1}%)",
                stats.success_rate * 100.0,
                stats.count,
                rules.min_success_rate * 100.0
            ),
            Problem::Failures,
        );
    }
    if let (Trend::Degrading, Some(ratio)) = (trend.trend, trend.ratio) {
        push(
            AlertKind::Degrading { ratio },
            format!(
                "{op}: recent average {} is {ratio:.2}× the average before it ({})",
                super::table::fmt_us(trend.recent_avg_us.unwrap_or(0.0)),
                super::table::fmt_us(trend.baseline_avg_us.unwrap_or(0.0))
            ),
            Problem::Degrading,
        );
    }
    out
}
