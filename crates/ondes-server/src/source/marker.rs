//! The wall-clock marker: silence with a short loud burst starting exactly at every whole
//! multiple of a period since the Unix epoch (by default every whole wall-clock second).
//!
//! It exists to measure glass-to-glass latency through any transport, including the ones
//! that carry no ondes header (WebRTC, HLS, DASH, Icecast): a listener that hears a burst
//! onset at wall time `t` knows the burst entered ondes at the whole second before it, so
//! `t - that second` is the latency. For that, the burst must be placed from the very
//! timestamp its frame carries, not from a sample counter: the [`runner`](super::runner)
//! fills this source at the frame's deadline with the capture timestamp it then publishes
//! ([`PcmSource::fill_at`]), and a frame stamped `T` (the moment its last sample is
//! captured, as for every source) holds the audio of the wall-time span `[T - frame, T)`.
//! The first sample at or after a period boundary is the burst's first sample, whatever the
//! scheduler's jitter on `T`.

use std::f64::consts::TAU;

use super::{Fill, PcmSource, SourceError};

/// What a `marker:` source plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkerSpec {
    /// Bursts start at every multiple of this since the Unix epoch (1000: each whole second).
    pub period_ms: u64,
    /// How long each burst lasts.
    pub burst_ms: u64,
    /// The burst's tone (of the first step).
    pub freq: f64,
    /// How many tones the bursts cycle through: the burst of the `k`-th period since the
    /// epoch is at `freq × (1 + (k mod steps) / 2)` (with 4: 1, 1.5, 2, 2.5 kHz), so a
    /// listener more than a period behind can still tell which period a burst started.
    pub steps: u32,
    /// The burst's peak amplitude (0.5 = −6 dBFS).
    pub amplitude: f32,
}

impl Default for MarkerSpec {
    fn default() -> Self {
        MarkerSpec { period_ms: 1000, burst_ms: 10, freq: 1000.0, steps: 1, amplitude: 0.5 }
    }
}

const NS_PER_S: i128 = 1_000_000_000;

/// The marker generator. It keeps no state between frames: every sample is a function of
/// its own wall time, so the burst is where the timestamp says even across late frames.
pub struct MarkerSource {
    spec: MarkerSpec,
    rate: u32,
    channels: usize,
}

impl MarkerSource {
    pub fn new(spec: MarkerSpec, sample_rate: u32, channels: u16) -> Self {
        MarkerSource { spec, rate: sample_rate, channels: channels as usize }
    }

    /// The sample whose wall time is `t_scaled / rate` nanoseconds since the epoch (times
    /// are kept multiplied by the sample rate so that sample times stay exact integers).
    fn sample_at(&self, t_scaled: i128) -> f32 {
        let rate = self.rate as i128;
        let period = self.spec.period_ms as i128 * 1_000_000 * rate;
        let since = t_scaled.rem_euclid(period);
        if since >= self.spec.burst_ms as i128 * 1_000_000 * rate {
            return 0.0;
        }
        let step = t_scaled.div_euclid(period).rem_euclid(self.spec.steps.max(1) as i128);
        let freq = self.spec.freq * (1.0 + step as f64 / 2.0);
        let secs = since as f64 / (rate as f64 * NS_PER_S as f64);
        (self.spec.amplitude as f64 * (TAU * freq * secs).sin()) as f32
    }

    /// Appends one frame whose last sample is captured at `capture_us` (µs since the epoch).
    fn render(&self, out: &mut Vec<f32>, samples_per_frame: usize, capture_us: i64) {
        let frames = (samples_per_frame / self.channels) as i128;
        let rate = self.rate as i128;
        // sample i's wall time, × rate: capture − (frames − i) sample periods
        let end_scaled = capture_us as i128 * 1000 * rate;
        out.reserve(samples_per_frame);
        for i in 0..frames {
            let s = self.sample_at(end_scaled - (frames - i) * NS_PER_S);
            for _ in 0..self.channels {
                out.push(s);
            }
        }
    }
}

impl PcmSource for MarkerSource {
    /// Without a timestamp (not through the runner), the frame is taken as released now.
    fn fill(&mut self, out: &mut Vec<f32>, samples_per_frame: usize) -> Result<Fill, SourceError> {
        self.render(out, samples_per_frame, crate::clock::now_us());
        Ok(Fill::Frame)
    }

    fn wall_clocked(&self) -> bool {
        true
    }

    fn fill_at(
        &mut self,
        out: &mut Vec<f32>,
        samples_per_frame: usize,
        capture_us: i64,
    ) -> Result<Fill, SourceError> {
        self.render(out, samples_per_frame, capture_us);
        Ok(Fill::Frame)
    }

    fn describe(&self) -> String {
        let s = &self.spec;
        format!(
            "marker: {} ms bursts of {} Hz ({} steps) every {} ms of wall time (amp {})",
            s.burst_ms, s.freq, s.steps, s.period_ms, s.amplitude
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const SPF_MONO: usize = 960; // 20 ms

    /// Plays `n` frames of 20 ms released at simulated times `first_us + k·20 ms + jitter(k)`
    /// and returns every sample with its wall time in µs (start of the sample period).
    fn play(src: &mut MarkerSource, first_us: i64, n: i64, jitter: impl Fn(i64) -> i64) -> Vec<(f64, f32)> {
        let mut all = Vec::new();
        for k in 0..n {
            let capture = first_us + k * 20_000 + jitter(k);
            let mut out = Vec::new();
            src.fill_at(&mut out, SPF_MONO * src.channels, capture).unwrap();
            assert_eq!(out.len(), SPF_MONO * src.channels);
            let start = capture as f64 - 20_000.0;
            for (i, s) in out.iter().step_by(src.channels).enumerate() {
                all.push((start + i as f64 * 1e6 / RATE as f64, *s));
            }
        }
        all
    }

    /// Onset times (µs): the first non-silent sample after at least 100 ms of silence.
    fn onsets(samples: &[(f64, f32)]) -> Vec<f64> {
        let mut found = Vec::new();
        let mut quiet_since = f64::NEG_INFINITY;
        let mut in_burst = false;
        for &(t, s) in samples {
            if s.abs() > 1e-6 {
                if !in_burst && t - quiet_since >= 100_000.0 {
                    found.push(t);
                }
                in_burst = true;
            } else if in_burst || quiet_since == f64::NEG_INFINITY {
                in_burst = false;
                quiet_since = t;
            }
        }
        found
    }

    #[test]
    fn bursts_start_on_the_first_sample_of_each_whole_second() {
        let mut src = MarkerSource::new(MarkerSpec::default(), RATE, 1);
        // released at an odd offset into a second, 3.5 s of frames
        let first = 1_764_000_000_123_457;
        let s = play(&mut src, first, 175, |_| 0);
        let got = onsets(&s);
        assert_eq!(got.len(), 3, "{got:?}");
        let sample = 1e6 / RATE as f64;
        for (k, t) in got.iter().enumerate() {
            let second = (1_764_000_001 + k as i64) as f64 * 1e6;
            assert!(*t >= second && *t < second + sample, "onset {k} at {t}, second {second}");
        }
        // each burst lasts 10 ms at −6 dBFS: 480 samples, peak 0.5
        let burst: Vec<f32> =
            s.iter().filter(|(t, _)| *t >= got[0] && *t < got[0] + 20_000.0).map(|x| x.1).collect();
        let loud = burst.iter().filter(|x| x.abs() > 1e-6).count();
        assert!((478..=480).contains(&loud), "{loud}");
        let peak = burst.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.5).abs() < 0.01, "{peak}");
    }

    #[test]
    fn placement_follows_each_frame_timestamp_not_a_counter() {
        // frames released up to 3 ms late (scheduler jitter): the onset still lands on the
        // sample at the second, because every frame is placed from its own timestamp
        let mut src = MarkerSource::new(MarkerSpec::default(), RATE, 2);
        let first = 1_764_000_000_990_000; // the second boundary is inside the first frames
        let jitter = |k: i64| (k * 7_919) % 3_000;
        for k in 0..4 {
            let capture = first + k * 20_000 + jitter(k);
            let mut out = Vec::new();
            src.fill_at(&mut out, SPF_MONO * 2, capture).unwrap();
            let start_ns = capture as i128 * 1000 - 20_000_000;
            let boundary_ns = 1_764_000_001_000_000_000i128;
            // first sample index at or after the boundary
            let idx = (boundary_ns - start_ns) * RATE as i128;
            let idx = (idx + NS_PER_S - 1).div_euclid(NS_PER_S);
            let first_loud = out.chunks(2).position(|c| c[0].abs() > 1e-6);
            if (0..SPF_MONO as i128).contains(&idx) {
                // the sample exactly at the boundary has phase 0 (sin 0); it is the next one
                // that is loud unless the boundary falls between samples
                let p = first_loud.expect("the frame holding the boundary has the burst") as i128;
                assert!(p == idx || p == idx + 1, "frame {k}: loud at {p}, boundary at {idx}");
                // both channels carry it
                assert_eq!(out[2 * p as usize], out[2 * p as usize + 1]);
            }
        }
    }

    #[test]
    fn period_and_burst_length_are_configurable() {
        let spec = MarkerSpec { period_ms: 250, burst_ms: 5, freq: 2000.0, steps: 1, amplitude: 0.25 };
        let mut src = MarkerSource::new(spec, RATE, 1);
        let s = play(&mut src, 1_764_000_000_000_000, 50, |_| 0); // 1 s
        let got = onsets(&s);
        assert_eq!(got.len(), 3, "the burst at the very first sample has no silence before it: {got:?}");
        for w in got.windows(2) {
            assert!((w[1] - w[0] - 250_000.0).abs() < 21.0, "{got:?}");
        }
        let peak = s.iter().fold(0f32, |m, x| m.max(x.1.abs()));
        assert!((peak - 0.25).abs() < 0.01);
        // every loud sample is in the first 5 ms after a 250 ms boundary, and the bursts last
        // to their end
        let base = 1_764_000_000_000_000f64;
        let into = |t: f64| (t - base).rem_euclid(250_000.0);
        assert!(s.iter().filter(|x| x.1.abs() > 1e-6).all(|x| into(x.0) < 5_000.0));
        let tail = s.iter().filter(|x| x.1.abs() > 1e-3 && into(x.0) > 4_900.0).count();
        assert!(tail >= 4, "{tail}");
    }

    #[test]
    fn steps_tell_the_periods_apart_by_frequency() {
        let spec = MarkerSpec { steps: 4, ..MarkerSpec::default() };
        let mut src = MarkerSource::new(spec, RATE, 1);
        // from 0.5 s before second 1_764_000_000 (≡ 0 mod 4): five bursts
        let s = play(&mut src, 1_763_999_999_520_000, 250, |_| 0);
        let got = onsets(&s);
        assert_eq!(got.len(), 5, "{got:?}");
        for (k, t) in got.iter().enumerate() {
            // upward zero crossings in the 10 ms burst: 10 per kHz
            let burst: Vec<f32> =
                s.iter().filter(|x| x.0 >= *t - 21.0 && x.0 < *t + 10_000.0).map(|x| x.1).collect();
            let ups = burst.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count() as f64;
            let want = 10.0 * (1.0 + (k % 4) as f64 / 2.0);
            assert!((ups - want).abs() <= 1.0, "burst {k}: {ups} upward crossings, want {want}");
        }
    }
}
