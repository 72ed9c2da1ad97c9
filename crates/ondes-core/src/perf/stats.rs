//! Statistics of one operation's window, and its trend.
//!
//! Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the
//! value at rank ⌈p·n/100⌉ (1-based). It is always a measured value (no interpolation), so
//! "p95 = 480 ms" means a real request took 480 ms and 95 % took at most that. For the
//! values 1..=1000 this gives p50 = 500, p95 = 950, p99 = 990. The standard deviation is
//! the population one (the window is all we know, not a sample of something larger).

use serde::Serialize;

use super::window::OpSnapshot;

/// Statistics over an operation's count window. All durations in µs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpStats {
    /// Measurements in the window.
    pub count: u64,
    pub avg_us: f64,
    pub min_us: u64,
    pub max_us: u64,
    pub median_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub std_dev_us: f64,
    /// Fraction (0 to 1) of the window's measurements that succeeded.
    pub success_rate: f64,
    /// Timeouts in the window.
    pub timeouts: u64,
    /// Timeouts in the last 60 s.
    pub timeouts_last_minute: u64,
    /// Measurements over the threshold in a row, up to the latest.
    pub consecutive_over: u32,
    /// Since the monitor started.
    pub total_count: u64,
    pub total_failed: u64,
    pub total_timeouts: u64,
    /// When the latest measurement was recorded (the caller's clock, µs).
    pub last_us: Option<u64>,
}

/// The value at percentile `p` (0 < p ≤ 100) of `sorted` (ascending), by nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // p·n is exact for the usual p; the small epsilon keeps e.g. 99.9 % (not exact in
    // binary) from rounding up one rank
    let rank = (p.clamp(0.0, 100.0) * n as f64 / 100.0 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

impl OpStats {
    /// Computes the statistics; `scratch` is reused for sorting. `None` for an empty window.
    pub fn compute(snap: &OpSnapshot, scratch: &mut Vec<u64>) -> Option<OpStats> {
        let count = snap.durations.len() as u64;
        if count == 0 {
            return None;
        }
        scratch.clear();
        scratch.extend_from_slice(&snap.durations);
        scratch.sort_unstable();
        let sum: u128 = scratch.iter().map(|&d| d as u128).sum();
        let avg = sum as f64 / count as f64;
        let var = scratch.iter().map(|&d| (d as f64 - avg).powi(2)).sum::<f64>() / count as f64;
        // percentile() is Some for a non-empty slice, which `count > 0` guarantees
        let pct = |p| percentile(scratch, p).unwrap_or(0);
        Some(OpStats {
            count,
            avg_us: avg,
            min_us: scratch[0],
            max_us: scratch[scratch.len() - 1],
            median_us: pct(50.0),
            p95_us: pct(95.0),
            p99_us: pct(99.0),
            std_dev_us: var.sqrt(),
            success_rate: snap.window_ok as f64 / count as f64,
            timeouts: snap.window_timeouts,
            timeouts_last_minute: snap.timeouts_last_minute,
            consecutive_over: snap.consecutive_over,
            total_count: snap.total,
            total_failed: snap.total_failed,
            total_timeouts: snap.total_timeouts,
            last_us: snap.last_us,
        })
    }

    /// The exact sum of the window, for [`super::Level::of_sum`].
    pub fn window_sum(snap: &OpSnapshot) -> u128 {
        snap.durations.iter().map(|&d| d as u128).sum()
    }
}

/// Where an operation is heading: the recent time window against the longer one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Recent average more than `degrading_ratio` × the baseline average.
    Degrading,
    Stable,
    /// Recent average less than the baseline average ÷ `degrading_ratio`.
    Improving,
    /// Too few measurements in one of the two windows to say.
    Unknown,
}

/// The trend and the numbers it was decided from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendInfo {
    pub trend: Trend,
    pub recent_count: u64,
    pub recent_avg_us: Option<f64>,
    pub baseline_count: u64,
    pub baseline_avg_us: Option<f64>,
    /// recent average ÷ baseline average.
    pub ratio: Option<f64>,
}

impl TrendInfo {
    /// Compares the recent window with the baseline before it.
    ///
    /// The baseline excludes the recent window, so that a sudden slow-down is not diluted
    /// by the very samples that show it. Both windows need `min_samples` measurements.
    pub fn compute(snap: &OpSnapshot, degrading_ratio: f64, min_samples: u64) -> TrendInfo {
        let recent_avg = snap.recent.avg_us();
        let baseline_avg = snap.baseline.avg_us();
        // a baseline of all-zero durations counts as 1 µs so the ratio stays finite
        let ratio = match (recent_avg, baseline_avg) {
            (Some(r), Some(b)) => Some(r.max(0.0) / b.max(1.0)),
            _ => None,
        };
        let enough = snap.recent.count >= min_samples && snap.baseline.count >= min_samples;
        let trend = match ratio {
            Some(x) if enough && x > degrading_ratio => Trend::Degrading,
            Some(x) if enough && x * degrading_ratio < 1.0 => Trend::Improving,
            Some(_) if enough => Trend::Stable,
            _ => Trend::Unknown,
        };
        TrendInfo {
            trend,
            recent_count: snap.recent.count,
            recent_avg_us: recent_avg,
            baseline_count: snap.baseline.count,
            baseline_avg_us: baseline_avg,
            ratio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::window::Agg;

    fn snap(durations: Vec<u64>, ok: u64) -> OpSnapshot {
        OpSnapshot { durations, window_ok: ok, ..Default::default() }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        // shuffled order must not matter
        let mut v: Vec<u64> = (1..=1000).collect();
        v.reverse();
        v.swap(3, 700);
        let s = OpStats::compute(&snap(v, 1000), &mut Vec::new()).unwrap();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_us, 1);
        assert_eq!(s.max_us, 1000);
        assert_eq!(s.median_us, 500);
        assert_eq!(s.p95_us, 950);
        assert_eq!(s.p99_us, 990);
        assert!((s.avg_us - 500.5).abs() < 1e-9);
        // population std-dev of 1..=n is sqrt((n² − 1) / 12)
        assert!((s.std_dev_us - ((1000.0f64 * 1000.0 - 1.0) / 12.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.success_rate, 1.0);
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 95.0), Some(10)); // rank ⌈9.5⌉ = 10
        assert_eq!(percentile(&v, 90.0), Some(9)); // rank 9 exactly, not 10
        assert_eq!(percentile(&v, 100.0), Some(10));
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 99.9), Some(999));
    }

    #[test]
    fn success_rate_and_constant_samples() {
        let s = OpStats::compute(&snap(vec![5; 10], 9), &mut Vec::new()).unwrap();
        assert_eq!(s.success_rate, 0.9);
        assert_eq!(s.std_dev_us, 0.0);
        assert!(OpStats::compute(&snap(vec![], 0), &mut Vec::new()).is_none());
    }

    fn trend(recent: (u64, u128), baseline: (u64, u128)) -> Trend {
        let s = OpSnapshot {
            recent: Agg { count: recent.0, sum_us: recent.1 },
            baseline: Agg { count: baseline.0, sum_us: baseline.1 },
            ..Default::default()
        };
        TrendInfo::compute(&s, 1.3, 5).trend
    }

    #[test]
    fn trend_compares_recent_with_baseline() {
        assert_eq!(trend((10, 1400), (10, 1000)), Trend::Degrading); // 1.4×
        assert_eq!(trend((10, 1300), (10, 1000)), Trend::Stable); // exactly 1.3× is not more
        assert_eq!(trend((10, 1000), (10, 1000)), Trend::Stable);
        assert_eq!(trend((10, 700), (10, 1000)), Trend::Improving);
        assert_eq!(trend((4, 4000), (10, 1000)), Trend::Unknown); // too few recent samples
        assert_eq!(trend((10, 4000), (0, 0)), Trend::Unknown);
        assert_eq!(trend((10, 100), (10, 0)), Trend::Degrading); // a zero baseline counts as 1 µs
    }
}
