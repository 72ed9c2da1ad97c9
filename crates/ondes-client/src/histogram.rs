//! A latency histogram shared by all listeners: fixed 0.1 ms buckets up to 10 s, atomic
//! counters (one `fetch_add` per sample, no lock), exact maximum.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use serde::Serialize;

/// Bucket width in microseconds.
pub const BUCKET_US: u64 = 100;
/// Samples at or above this go to the overflow bucket (their maximum is still exact).
pub const RANGE_US: u64 = 10_000_000;
const BUCKETS: usize = (RANGE_US / BUCKET_US) as usize;

/// Percentiles of a latency distribution, in milliseconds; `None` without samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// Lock-free histogram of latencies (about 400 KB, allocated once per run).
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Box<[AtomicU32]>,
    overflow: AtomicU64,
    count: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            overflow: AtomicU64::new(0),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    /// Records one sample in microseconds.
    pub fn record_us(&self, us: u64) {
        if let Some(bucket) = self.buckets.get((us / BUCKET_US) as usize) {
            bucket.fetch_add(1, Ordering::Relaxed);
        } else {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Records one sample in milliseconds; negative values (clock skew between machines)
    /// count as 0.
    pub fn record_ms(&self, ms: f64) {
        // `as` saturates: NaN and negatives give 0, huge values u64::MAX.
        self.record_us((ms * 1000.0) as u64);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn max_ms(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.max_us.load(Ordering::Relaxed) as f64 / 1000.0)
    }

    /// The value below which a fraction `q` (0..=1) of the samples lie, in milliseconds: the
    /// upper edge of the bucket holding that rank, capped by the exact maximum.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let max = self.max_ms()?;
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += u64::from(bucket.load(Ordering::Relaxed));
            if seen >= rank {
                let upper = ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
                return Some(upper.min(max));
            }
        }
        Some(max)
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            samples: self.count(),
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p99: self.quantile_ms(0.99),
            max: self.max_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_has_no_percentiles() {
        let h = LatencyHistogram::new();
        assert_eq!(h.summary(), LatencySummary { samples: 0, p50: None, p90: None, p99: None, max: None });
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let h = LatencyHistogram::new();
        // 1.0 ms, 2.0 ms, ..., 100.0 ms (each exactly on a bucket's lower edge).
        for ms in 1..=100 {
            h.record_ms(ms as f64);
        }
        let s = h.summary();
        assert_eq!(s.samples, 100);
        assert!((s.p50.unwrap() - 50.1).abs() < 1e-9, "{s:?}");
        assert!((s.p90.unwrap() - 90.1).abs() < 1e-9, "{s:?}");
        assert!((s.p99.unwrap() - 99.1).abs() < 1e-9, "{s:?}");
        assert_eq!(s.max, Some(100.0));
    }

    #[test]
    fn overflow_and_negative_samples() {
        let h = LatencyHistogram::new();
        h.record_ms(-3.0);
        h.record_ms(25_000.0);
        h.record_ms(30_000.0);
        assert_eq!(h.quantile_ms(0.0), Some(0.1));
        assert_eq!(h.quantile_ms(0.5), Some(30_000.0), "rank 2 is in the overflow bucket");
        assert_eq!(h.max_ms(), Some(30_000.0));
    }
}
