//! Reconnect delays: exponential backoff with jitter.
//!
//! Why jitter: when a server restarts, every publisher that lost it retries; without jitter
//! they all retry in lock-step and hit the new server at the same instants. "Equal jitter"
//! (half the delay fixed, half random) keeps a floor under the delay while spreading the
//! clients out. Sans-IO: the caller supplies the randomness.

use std::time::Duration;

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start at `initial` and double up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max: max.max(initial), attempt: 0 }
    }

    /// The delay before the next attempt; `random` in [0, 1) picks the jitter.
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(16));
        let full = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        full / 2 + full.mul_f64(random.clamp(0.0, 1.0) / 2.0)
    }

    /// Failed attempts since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A connection made progress: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A small xorshift generator for jitter (no cryptographic use; seeded from the clock).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    /// A value in [0, 1).
    pub fn sample(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_half_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let lows: Vec<_> = (0..7).map(|_| b.next_delay(0.0).as_millis()).collect();
        assert_eq!(lows, [50, 100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(0.999_999).as_millis(), 99);
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn jitter_spreads_values() {
        let mut j = Jitter(12345);
        let v: Vec<f64> = (0..1000).map(|_| j.sample()).collect();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}
