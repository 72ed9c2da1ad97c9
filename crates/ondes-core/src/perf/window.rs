//! One operation's measurements: a count window for the statistics and one-second buckets
//! for the time-based views (trend, timeouts per minute).
//!
//! Everything is allocated when the operation is registered; recording is a handful of
//! integer updates with no allocation, no hashing and no sorting. Sorting (for percentiles)
//! happens on a copy, in [`super::stats`], when a report is asked for.

use std::sync::Arc;

/// Durations are clamped to this (about 12.7 days) so that sums of a whole window fit in a
/// `u64` and sums of buckets in a `u128` without any overflow check on the hot path.
pub const MAX_DURATION_US: u64 = 1 << 40;

/// How a measured operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// Failed because it hit a deadline: counts as a failure and as a timeout.
    TimedOut,
}

impl Outcome {
    pub fn from_ok(ok: bool) -> Outcome {
        if ok { Outcome::Ok } else { Outcome::Failed }
    }
}

const OK: u8 = 1;
const TIMEOUT: u8 = 2;

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    duration_us: u64,
    flags: u8,
}

/// Count and sum of the measurements in one second.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    sec: u64,
    count: u32,
    timeouts: u32,
    sum_us: u64,
}

/// Count and sum over a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agg {
    pub count: u64,
    pub sum_us: u128,
}

impl Agg {
    pub fn avg_us(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_us as f64 / self.count as f64)
    }
}

/// The state of one operation.
#[derive(Debug, Clone)]
pub(crate) struct OpState {
    pub name: Arc<str>,
    pub threshold_us: u64,
    /// A measurement at least this long counts as a timeout (threshold × timeout factor).
    pub timeout_us: u64,
    ring: Box<[Sample]>,
    head: usize,
    len: usize,
    window_sum: u64,
    window_ok: u32,
    window_timeouts: u32,
    total: u64,
    total_failed: u64,
    total_timeouts: u64,
    consecutive_over: u32,
    last_us: u64,
    buckets: Box<[Bucket]>,
}

impl OpState {
    pub fn new(name: Arc<str>, threshold_us: u64, timeout_factor: f64, window: usize, secs: usize) -> Self {
        let mut s = OpState {
            name,
            threshold_us: 0,
            timeout_us: 0,
            ring: vec![Sample::default(); window.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            window_sum: 0,
            window_ok: 0,
            window_timeouts: 0,
            total: 0,
            total_failed: 0,
            total_timeouts: 0,
            consecutive_over: 0,
            last_us: 0,
            buckets: vec![Bucket::default(); secs.max(1)].into_boxed_slice(),
        };
        s.set_threshold(threshold_us, timeout_factor);
        s
    }

    /// When the latest measurement was filed (0: never).
    pub fn last_us(&self) -> u64 {
        self.last_us
    }

    pub fn set_threshold(&mut self, threshold_us: u64, timeout_factor: f64) {
        self.threshold_us = threshold_us.max(1);
        self.timeout_us = ((self.threshold_us as f64 * timeout_factor).ceil() as u64).max(1);
    }

    /// The hot path.
    #[inline]
    pub fn record(&mut self, duration_us: u64, outcome: Outcome, now_us: u64) {
        let d = duration_us.min(MAX_DURATION_US);
        let timeout = outcome == Outcome::TimedOut || d >= self.timeout_us;
        let ok = outcome == Outcome::Ok;
        let flags = (ok as u8 * OK) | (timeout as u8 * TIMEOUT);

        if self.len == self.ring.len() {
            let old = self.ring[self.head];
            self.window_sum -= old.duration_us;
            self.window_ok -= (old.flags & OK != 0) as u32;
            self.window_timeouts -= (old.flags & TIMEOUT != 0) as u32;
        } else {
            self.len += 1;
        }
        self.ring[self.head] = Sample { duration_us: d, flags };
        self.head += 1;
        if self.head == self.ring.len() {
            self.head = 0;
        }
        self.window_sum += d;
        self.window_ok += ok as u32;
        self.window_timeouts += timeout as u32;

        self.total += 1;
        self.total_failed += !ok as u64;
        self.total_timeouts += timeout as u64;
        self.consecutive_over = if d > self.threshold_us { self.consecutive_over + 1 } else { 0 };
        self.last_us = self.last_us.max(now_us);

        // A bucket slot holds one second; a slot holding an older second is stale (more
        // than the bucket span ago) and is reused; a slot holding a newer second means
        // this measurement is older than the span and only goes into the count window.
        let sec = now_us / 1_000_000;
        let b = &mut self.buckets[(sec % self.buckets.len() as u64) as usize];
        if b.sec < sec || b.count == 0 {
            *b = Bucket { sec, count: 0, timeouts: 0, sum_us: 0 };
        }
        if b.sec == sec {
            b.count += 1;
            b.timeouts += timeout as u32;
            b.sum_us += d;
        }
    }

    /// Sums the buckets of the seconds in `(now_sec - from_secs_ago, now_sec - to_secs_ago]`;
    /// also returns the timeouts among them.
    fn agg(&self, now_sec: u64, from_secs_ago: u64, to_secs_ago: u64) -> (Agg, u64) {
        // seconds since the epoch fit an i64 many times over; signed bounds avoid underflow
        // near time zero (simulated clocks start there)
        let lo = now_sec as i64 - from_secs_ago as i64;
        let hi = now_sec as i64 - to_secs_ago as i64;
        let mut agg = Agg::default();
        let mut timeouts = 0u64;
        for b in self.buckets.iter().filter(|b| b.count > 0 && (b.sec as i64) > lo && (b.sec as i64) <= hi) {
            agg.count += b.count as u64;
            agg.sum_us += b.sum_us as u128;
            timeouts += b.timeouts as u64;
        }
        (agg, timeouts)
    }

    /// Copies what a report needs into `out`, reusing its buffers.
    pub fn snapshot_into(&self, now_us: u64, recent_secs: u64, out: &mut OpSnapshot) {
        let now_sec = now_us / 1_000_000;
        let span = self.buckets.len() as u64;
        out.name = self.name.clone();
        out.threshold_us = self.threshold_us;
        out.timeout_us = self.timeout_us;
        out.durations.clear();
        let start = if self.len == self.ring.len() { self.head } else { 0 };
        out.durations.extend((0..self.len).map(|i| self.ring[(start + i) % self.ring.len()].duration_us));
        out.window_ok = self.window_ok as u64;
        out.window_timeouts = self.window_timeouts as u64;
        out.total = self.total;
        out.total_failed = self.total_failed;
        out.total_timeouts = self.total_timeouts;
        out.consecutive_over = self.consecutive_over;
        out.last_us = (self.total > 0).then_some(self.last_us);
        out.recent = self.agg(now_sec, recent_secs, 0).0;
        out.baseline = self.agg(now_sec, span, recent_secs).0;
        out.timeouts_last_minute = self.agg(now_sec, 60, 0).1;
    }
}

/// A copy of one operation's state at a moment, from which its statistics are computed.
///
/// Taking a snapshot is a short copy (about 8 KB for a 1000-sample window) so that a
/// caller that shares the monitor behind a lock holds the lock only for that copy, and
/// sorts and formats outside it.
#[derive(Debug, Clone, Default)]
pub struct OpSnapshot {
    pub name: Arc<str>,
    pub threshold_us: u64,
    pub timeout_us: u64,
    /// The count window, oldest first.
    pub durations: Vec<u64>,
    pub window_ok: u64,
    pub window_timeouts: u64,
    pub total: u64,
    pub total_failed: u64,
    pub total_timeouts: u64,
    /// Measurements over the threshold in a row, up to the latest.
    pub consecutive_over: u32,
    /// The latest `now_us` a measurement was recorded at.
    pub last_us: Option<u64>,
    /// Measurements in the recent time window (the last `recent_window_secs`).
    pub recent: Agg,
    /// Measurements in the rest of the long time window, before the recent one.
    pub baseline: Agg,
    /// Timeouts in the last 60 seconds.
    pub timeouts_last_minute: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(window: usize) -> OpState {
        OpState::new("x".into(), 100, 3.0, window, 600)
    }

    fn snap(o: &OpState, now_us: u64) -> OpSnapshot {
        let mut s = OpSnapshot::default();
        o.snapshot_into(now_us, 60, &mut s);
        s
    }

    #[test]
    fn window_evicts_oldest_and_keeps_counts_right() {
        let mut o = op(3);
        o.record(10, Outcome::Failed, 0);
        o.record(20, Outcome::Ok, 0);
        o.record(400, Outcome::Ok, 0); // ≥ 3 × 100: a timeout
        o.record(40, Outcome::Ok, 0); // evicts the failed 10
        let s = snap(&o, 0);
        assert_eq!(s.durations, vec![20, 400, 40]);
        assert_eq!(s.window_ok, 3);
        assert_eq!(s.window_timeouts, 1);
        assert_eq!(s.total, 4);
        assert_eq!(s.total_failed, 1);
        o.record(50, Outcome::Ok, 0); // evicts 20
        o.record(60, Outcome::TimedOut, 0); // evicts the 400 timeout, adds a flagged one
        let s = snap(&o, 0);
        assert_eq!(s.durations, vec![40, 50, 60]);
        assert_eq!(s.window_ok, 2);
        assert_eq!(s.window_timeouts, 1);
        assert_eq!(s.total_timeouts, 2);
        assert_eq!(s.total_failed, 2);
    }

    #[test]
    fn timeout_is_at_the_factor_inclusive() {
        let mut o = op(10);
        o.record(299, Outcome::Ok, 0);
        assert_eq!(snap(&o, 0).window_timeouts, 0);
        o.record(300, Outcome::Ok, 0);
        assert_eq!(snap(&o, 0).window_timeouts, 1);
    }

    #[test]
    fn consecutive_counts_strictly_over() {
        let mut o = op(10);
        o.record(101, Outcome::Ok, 0);
        o.record(150, Outcome::Ok, 0);
        assert_eq!(snap(&o, 0).consecutive_over, 2);
        o.record(100, Outcome::Ok, 0); // at the threshold is not over
        assert_eq!(snap(&o, 0).consecutive_over, 0);
    }

    #[test]
    fn buckets_split_recent_and_baseline_and_expire() {
        let mut o = op(1000);
        let s = 1_000_000;
        o.record(10, Outcome::Ok, 100 * s); // baseline when now = 200 s
        o.record(30, Outcome::Ok, 150 * s); // recent window is (140, 200]
        o.record(50, Outcome::Ok, 200 * s);
        let sn = snap(&o, 200 * s);
        assert_eq!(sn.recent, Agg { count: 2, sum_us: 80 });
        assert_eq!(sn.baseline, Agg { count: 1, sum_us: 10 });
        // 700 s later everything has left the 600 s span, but the count window keeps it
        let sn = snap(&o, 900 * s);
        assert_eq!(sn.recent.count + sn.baseline.count, 0);
        assert_eq!(sn.durations.len(), 3);
        // a slot reused by a later second drops the old second's data
        o.record(70, Outcome::Ok, 700 * s); // same slot as 100 s
        let sn = snap(&o, 700 * s);
        assert_eq!(sn.recent, Agg { count: 1, sum_us: 70 });
        assert_eq!(sn.baseline, Agg { count: 2, sum_us: 80 }); // 150 s and 200 s are in (100, 640]
        // a measurement older than the span (slot holds a newer second) is not bucketed
        o.record(90, Outcome::Ok, 100 * s);
        let sn = snap(&o, 700 * s);
        assert_eq!(sn.recent, Agg { count: 1, sum_us: 70 });
        assert_eq!(sn.durations.len(), 5);
        assert_eq!(sn.last_us, Some(700 * s));
    }

    #[test]
    fn early_times_do_not_underflow() {
        let mut o = op(10);
        o.record(10, Outcome::Ok, 5_000_000);
        let sn = snap(&o, 5_000_000);
        assert_eq!(sn.recent.count, 1);
        assert_eq!(sn.baseline.count, 0);
        assert_eq!(sn.timeouts_last_minute, 0);
    }

    #[test]
    fn huge_durations_are_clamped() {
        let mut o = op(2);
        o.record(u64::MAX, Outcome::Ok, 0);
        o.record(u64::MAX, Outcome::Ok, 0);
        o.record(u64::MAX, Outcome::Ok, 0);
        assert_eq!(snap(&o, 0).durations, vec![MAX_DURATION_US, MAX_DURATION_US]);
    }
}
