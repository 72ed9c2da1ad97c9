//! Throughput estimation from the bytes a listener's socket accepts.
//!
//! The server cannot see acknowledgements through a WebSocket, but it sees how many bytes
//! the socket takes (written bytes) and whether audio is waiting because the socket would
//! not take more (the backlog). When audio waits during a whole window, the socket — and
//! behind it the bottleneck — is the limit, so the written rate over that window is a
//! measurement of the link's capacity (*link-limited* sample). When nothing waits, the
//! sender is *app-limited*: the written rate is just our own bitrate and only proves the
//! link carries at least that much.
//!
//! Link-limited samples feed an EWMA that follows a fall at once and a rise more slowly
//! (a capacity drop must be believed immediately, a single fast window must not be).

/// One window's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSample {
    pub at_us: u64,
    pub bps: f64,
    /// True when audio was waiting at the server for at least half of the window.
    pub link_limited: bool,
}

/// EWMA of link-limited delivery-rate samples.
#[derive(Debug, Clone)]
pub struct ThroughputEstimator {
    window_us: u64,
    start: Option<(u64, u64)>,
    observations: u32,
    limited_observations: u32,
    capacity_bps: Option<f64>,
    last_limited_us: Option<u64>,
    last: Option<RateSample>,
}

/// A window closes only once this many bytes were written (or after four windows): at low
/// rates a window holds one or two messages, and a rate counted in whole messages is
/// quantised beyond use.
pub const MIN_SAMPLE_BYTES: u64 = 6_000;

/// Weight of a new sample above the estimate (a rise).
const ALPHA_UP: f64 = 0.3;
/// Weight of a new sample below the estimate (a fall).
const ALPHA_DOWN: f64 = 0.7;

impl ThroughputEstimator {
    /// Samples over windows of `window_us` (a few hundred ms: long enough to span several
    /// messages, short enough to catch a drop within the 2 s adaptation interval).
    pub fn new(window_us: u64) -> Self {
        ThroughputEstimator {
            window_us: window_us.max(1),
            start: None,
            observations: 0,
            limited_observations: 0,
            capacity_bps: None,
            last_limited_us: None,
            last: None,
        }
    }

    /// Records the socket's cumulative written bytes and whether audio is waiting, at
    /// `now_us`. Returns a sample when a window closes.
    pub fn observe(&mut self, now_us: u64, written_bytes: u64, backlogged: bool) -> Option<RateSample> {
        let Some((t0, b0)) = self.start else {
            self.start = Some((now_us, written_bytes));
            return None;
        };
        self.observations += 1;
        self.limited_observations += backlogged as u32;
        let written = written_bytes.saturating_sub(b0);
        let long_enough = now_us >= t0 + self.window_us && written >= MIN_SAMPLE_BYTES;
        if !(long_enough || now_us >= t0 + 4 * self.window_us) {
            return None;
        }
        let bps = written as f64 * 8.0 * 1e6 / (now_us - t0) as f64;
        // mostly backlogged: the written rate is the drain rate (a window that only starts
        // backlogged half-way overestimates a little; the next one corrects it)
        let link_limited = self.limited_observations * 2 >= self.observations.max(1);
        let sample = RateSample { at_us: now_us, bps, link_limited };
        if link_limited {
            let alpha = match self.capacity_bps {
                Some(c) if bps > c => ALPHA_UP,
                Some(_) => ALPHA_DOWN,
                None => 1.0,
            };
            let c = self.capacity_bps.unwrap_or(bps);
            self.capacity_bps = Some(c + alpha * (bps - c));
            self.last_limited_us = Some(now_us);
        }
        self.start = Some((now_us, written_bytes));
        self.observations = 0;
        self.limited_observations = 0;
        self.last = Some(sample);
        Some(sample)
    }

    /// The written rate over the window still open at `now_us`, if it spans at least
    /// `min_us`, holds half of [`MIN_SAMPLE_BYTES`] and audio waited for most of it: a first
    /// measurement after a sudden drop, before the window closes.
    /// With `coarse`, any number of bytes will do: a rough (often low) figure, for when audio
    /// is piling up fast and waiting for a precise one would cost more than undershooting.
    pub fn open_window_bps(&self, now_us: u64, written_bytes: u64, min_us: u64, coarse: bool) -> Option<f64> {
        let (t0, b0) = self.start?;
        let span = now_us.checked_sub(t0).filter(|s| *s >= min_us.max(1))?;
        let written = written_bytes.saturating_sub(b0);
        let limited = self.observations > 0 && self.limited_observations * 2 >= self.observations;
        let enough = coarse || written >= MIN_SAMPLE_BYTES / 2;
        (limited && enough).then(|| written as f64 * 8.0 * 1e6 / span as f64)
    }

    /// Smoothed link-limited throughput, bit/s (socket bytes), if ever measured.
    pub fn capacity_bps(&self) -> Option<f64> {
        self.capacity_bps
    }

    /// When the last link-limited sample was taken.
    pub fn last_limited_us(&self) -> Option<u64> {
        self.last_limited_us
    }

    pub fn last_sample(&self) -> Option<RateSample> {
        self.last
    }
}

/// Queueing delay from round-trip samples: the minimum of the recent samples minus the
/// minimum over a longer window. Minimum filters ignore one-off spikes (a retransmission
/// holding back a ping, a jitter outlier) and see a standing queue — the sign that the
/// sender is pushing more than the bottleneck drains.
#[derive(Debug, Clone)]
pub struct RttFilter {
    recent_us: u64,
    base_us: u64,
    samples: std::collections::VecDeque<(u64, u64)>,
}

impl RttFilter {
    pub fn new(recent_us: u64, base_us: u64) -> Self {
        RttFilter { recent_us, base_us: base_us.max(recent_us), samples: Default::default() }
    }

    pub fn observe(&mut self, now_us: u64, rtt_us: u64) {
        self.samples.push_back((now_us, rtt_us));
        while self.samples.front().is_some_and(|(t, _)| *t + self.base_us < now_us) {
            self.samples.pop_front();
        }
    }

    /// Standing queueing delay at `now_us` (0 without recent samples).
    pub fn queue_delay_us(&self, now_us: u64) -> u64 {
        let base = self.samples.iter().map(|s| s.1).min();
        let recent = self.samples.iter().filter(|(t, _)| *t + self.recent_us >= now_us).map(|s| s.1).min();
        match (base, recent) {
            (Some(b), Some(r)) => r - b,
            _ => 0,
        }
    }

    /// Smallest round trip over the recent window.
    pub fn recent_min_us(&self, now_us: u64) -> Option<u64> {
        self.recent_min_over(now_us, self.recent_us)
    }

    /// Smallest round trip over the last `window_us`.
    pub fn recent_min_over(&self, now_us: u64, window_us: u64) -> Option<u64> {
        self.samples.iter().filter(|(t, _)| *t + window_us >= now_us).map(|s| s.1).min()
    }

    /// Smallest round trip among samples taken in `[from_us, to_us]` (still retained).
    pub fn min_between(&self, from_us: u64, to_us: u64) -> Option<u64> {
        self.samples.iter().filter(|(t, _)| (from_us..=to_us).contains(t)).map(|s| s.1).min()
    }

    /// Smallest round trip over the long window.
    pub fn min_rtt_us(&self) -> Option<u64> {
        self.samples.iter().map(|s| s.1).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_limited_windows_measure_capacity() {
        let mut e = ThroughputEstimator::new(500_000);
        // app-limited at 64 kbit/s: no capacity yet
        let mut bytes = 0;
        for i in 0..=20 {
            bytes = i * 400; // 400 B per 50 ms
            e.observe(i * 50_000, bytes, false);
        }
        assert_eq!(e.capacity_bps(), None);
        assert!(e.last_sample().is_some_and(|s| !s.link_limited && (s.bps - 64_000.0).abs() < 1.0));
        // backlogged at 48 kbit/s: measured
        for i in 21..=100 {
            bytes += 300;
            e.observe(i * 50_000, bytes, true);
        }
        let c = e.capacity_bps().unwrap();
        assert!((c - 48_000.0).abs() < 2_000.0, "{c}");
    }

    #[test]
    fn min_filters_ignore_spikes_and_see_queues() {
        let mut f = RttFilter::new(1_000_000, 10_000_000);
        for i in 0..20 {
            let spike = if i % 5 == 0 { 300_000 } else { 0 };
            f.observe(i * 250_000, 100_000 + spike);
        }
        assert_eq!(f.queue_delay_us(5_000_000), 0);
        for i in 20..30 {
            f.observe(i * 250_000, 100_000 + (i - 19) * 30_000);
        }
        assert_eq!(f.queue_delay_us(7_250_000), 180_000);
    }
}
