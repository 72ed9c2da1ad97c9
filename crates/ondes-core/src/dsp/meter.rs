//! Per-channel acquisition levels: DC offset, RMS, peak and clipping, over windows.
//!
//! An acquisition dashboard wants to know, per channel, whether the input sits off zero (a
//! DC offset from a bad coupling capacitor or a sensor bias), how loud it is (RMS), how close
//! it gets to full scale (peak) and whether it ever hit it (clipping). The meter measures
//! complete windows of the stream's own samples, so every listener and the stats endpoint
//! see the same figures whatever their decimation, and keeps a running count of clipped
//! samples that only ever grows.

use serde::Serialize;

/// A sample at or beyond this magnitude counts as clipped (full scale minus ~0.01 dB:
/// converters and s16 → f32 conversions land a hair under 1.0).
pub const CLIP_LEVEL: f32 = 0.999;

/// Levels of one channel over the last complete window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ChannelLevel {
    /// Mean of the samples (DC offset), in full-scale units.
    pub dc: f32,
    /// Root mean square, DC included.
    pub rms: f32,
    /// Largest magnitude.
    pub peak: f32,
    /// Samples at or beyond [`CLIP_LEVEL`] since the meter started.
    pub clipped_samples: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    sum: f64,
    sum_sq: f64,
    peak: f32,
}

/// Measures interleaved PCM in windows of `window` samples per channel.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    channels: usize,
    window: usize,
    filled: usize,
    acc: Vec<Acc>,
    clipped: Vec<u64>,
    last: Vec<ChannelLevel>,
    windows: u64,
}

impl LevelMeter {
    /// A meter for `channels` interleaved channels, reporting every `window` samples per
    /// channel (at least one).
    pub fn new(channels: usize, window: usize) -> Self {
        let channels = channels.max(1);
        LevelMeter {
            channels,
            window: window.max(1),
            filled: 0,
            acc: vec![Acc::default(); channels],
            clipped: vec![0; channels],
            last: vec![ChannelLevel::default(); channels],
            windows: 0,
        }
    }

    /// Adds interleaved samples (a trailing partial sample group is ignored).
    pub fn push(&mut self, interleaved: &[f32]) {
        for group in interleaved.chunks_exact(self.channels) {
            for (c, &s) in group.iter().enumerate() {
                let a = &mut self.acc[c];
                a.sum += s as f64;
                a.sum_sq += (s as f64) * (s as f64);
                let m = s.abs();
                if m > a.peak {
                    a.peak = m;
                }
                if m >= CLIP_LEVEL {
                    self.clipped[c] += 1;
                }
            }
            self.filled += 1;
            if self.filled == self.window {
                self.close_window();
            }
        }
    }

    fn close_window(&mut self) {
        let n = self.filled as f64;
        for c in 0..self.channels {
            let a = std::mem::take(&mut self.acc[c]);
            self.last[c] = ChannelLevel {
                dc: (a.sum / n) as f32,
                rms: (a.sum_sq / n).sqrt() as f32,
                peak: a.peak,
                clipped_samples: self.clipped[c],
            };
        }
        self.filled = 0;
        self.windows += 1;
    }

    /// Levels of the last complete window per channel (clipping counts are up to date).
    pub fn levels(&self) -> Vec<ChannelLevel> {
        self.last
            .iter()
            .zip(&self.clipped)
            .map(|(l, &clipped)| ChannelLevel { clipped_samples: clipped, ..*l })
            .collect()
    }

    /// Windows completed so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Samples per channel in a window.
    pub fn window(&self) -> usize {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_dc_rms_peak_and_clipping_per_channel() {
        let mut m = LevelMeter::new(2, 4_800);
        let mut x = Vec::new();
        for i in 0..4_800 {
            // left: 0.5 sine + 0.1 DC; right: a square wave at ±1.0 (every sample clips)
            let s = 0.1 + 0.5 * (i as f32 * std::f32::consts::TAU * 100.0 / 48_000.0).sin();
            x.push(s);
            x.push(if (i / 240) % 2 == 0 { 1.0 } else { -1.0 });
        }
        m.push(&x[..3_000]);
        assert_eq!(m.windows(), 0);
        m.push(&x[3_000..]);
        assert_eq!(m.windows(), 1);
        let l = m.levels();
        assert!((l[0].dc - 0.1).abs() < 1e-3, "{}", l[0].dc);
        let expected_rms = (0.1f32 * 0.1 + 0.5 * 0.5 / 2.0).sqrt();
        assert!((l[0].rms - expected_rms).abs() < 1e-3, "{}", l[0].rms);
        assert!((l[0].peak - 0.6).abs() < 1e-3);
        assert_eq!(l[0].clipped_samples, 0);
        assert!(l[1].dc.abs() < 1e-6 && (l[1].rms - 1.0).abs() < 1e-6);
        assert_eq!(l[1].clipped_samples, 4_800);
    }

    #[test]
    fn clipping_counts_before_the_window_completes() {
        let mut m = LevelMeter::new(1, 48_000);
        m.push(&[0.0, 1.0, -1.0, 0.5]);
        assert_eq!(m.levels()[0].clipped_samples, 2);
        assert_eq!(m.levels()[0].rms, 0.0, "no complete window yet");
    }
}
