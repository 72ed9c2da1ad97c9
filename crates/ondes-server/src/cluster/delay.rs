//! Origin → edge delay of one stream: from each frame's capture time (the origin's wall
//! clock) to the moment the edge pushed it into its hub. Keeps the recent values for
//! percentiles and a cumulative histogram for `/metrics`.

use std::collections::VecDeque;

/// Upper bounds of the histogram buckets, ms.
pub const BUCKETS_MS: [f64; 12] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0];
/// Recent values kept for percentiles.
const RECENT: usize = 2048;

/// Delays of one stream.
#[derive(Debug, Clone, Default)]
pub struct DelayStats {
    recent: VecDeque<f64>,
    /// Count per bucket (not cumulative); the last is +Inf.
    buckets: [u64; BUCKETS_MS.len() + 1],
    sum_ms: f64,
    count: u64,
}

impl DelayStats {
    pub fn record(&mut self, ms: f64) {
        let ms = ms.max(0.0);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(ms);
        let i = BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(BUCKETS_MS.len());
        self.buckets[i] += 1;
        self.sum_ms += ms;
        self.count += 1;
    }

    /// The `p`-th percentile (0–100) of the recent values.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.recent.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.recent.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v.get(idx.min(v.len() - 1)).copied()
    }

    /// Cumulative counts per bucket bound (seconds), then +Inf; the sum (seconds); the count.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut acc = 0;
        let mut out = Vec::with_capacity(BUCKETS_MS.len());
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            acc += self.buckets[i];
            out.push((b / 1000.0, acc));
        }
        (out, self.sum_ms / 1000.0, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_buckets() {
        let mut d = DelayStats::default();
        assert_eq!(d.percentile(50.0), None);
        for i in 1..=100 {
            d.record(i as f64);
        }
        assert_eq!(d.percentile(50.0), Some(51.0));
        assert_eq!(d.percentile(99.0), Some(99.0));
        let (h, sum, n) = d.histogram();
        assert_eq!(n, 100);
        assert!((sum - 5.05).abs() < 1e-9);
        assert_eq!(h[3], (0.010, 10)); // ≤ 10 ms
        assert_eq!(h.last().unwrap().1, 100);
    }
}
