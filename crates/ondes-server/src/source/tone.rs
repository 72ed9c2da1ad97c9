//! Test-signal generators: sine, sweep, noise, and the demo.

use std::f64::consts::TAU;

use super::spec::Waveform;
use super::{Fill, PcmSource, SourceError};

/// A tone generator. Phase is accumulated (not recomputed from time), so frequency changes
/// in a sweep stay click-free.
pub struct ToneSource {
    wave: Waveform,
    amplitude: f64,
    rate: f64,
    channels: usize,
    /// Samples generated so far (per channel).
    t: u64,
    phases: [f64; 4],
    noise: u64,
}

impl ToneSource {
    pub fn new(wave: Waveform, amplitude: f32, sample_rate: u32, channels: u16) -> Self {
        let seed = match wave {
            Waveform::Noise { seed } => seed,
            _ => 1,
        };
        ToneSource {
            wave,
            amplitude: amplitude as f64,
            rate: sample_rate as f64,
            channels: channels as usize,
            t: 0,
            phases: [0.0; 4],
            noise: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// xorshift64*: deterministic white noise without a dependency.
    fn next_noise(&mut self) -> f64 {
        self.noise ^= self.noise >> 12;
        self.noise ^= self.noise << 25;
        self.noise ^= self.noise >> 27;
        let x = self.noise.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Frequency of a logarithmic up-and-down sweep at time `secs`.
    fn sweep_freq(from: f64, to: f64, period: f64, secs: f64) -> f64 {
        let pos = (secs / period).fract();
        let tri = if pos < 0.5 { pos * 2.0 } else { 2.0 - pos * 2.0 };
        from * (to / from).powf(tri)
    }

    fn advance(&mut self, idx: usize, freq: f64) -> f64 {
        let p = self.phases[idx];
        self.phases[idx] = (p + TAU * freq / self.rate) % TAU;
        p.sin()
    }

    /// One sample per channel (left, right) at the current time.
    fn next_pair(&mut self) -> (f64, f64) {
        let secs = self.t as f64 / self.rate;
        let a = self.amplitude;
        let pair = match self.wave {
            Waveform::Sine { freq } => {
                let s = a * self.advance(0, freq);
                (s, s)
            }
            Waveform::Sweep { from, to, period_secs } => {
                let s = a * self.advance(0, Self::sweep_freq(from, to, period_secs, secs));
                (s, s)
            }
            Waveform::Noise { .. } => {
                let s = a * self.next_noise();
                (s, s)
            }
            Waveform::Demo => {
                // left: a gentle 220 Hz → 1760 Hz sweep, 12 s up and down
                let left = 0.5 * a * self.advance(0, Self::sweep_freq(220.0, 1760.0, 12.0, secs));
                // right: A major (A3, C#4, E4) with a slow 0.5 Hz swell
                let swell = 0.75 + 0.25 * (TAU * 0.5 * secs).sin();
                let chord = self.advance(1, 220.0) + self.advance(2, 277.18) + self.advance(3, 329.63);
                (left, a * 0.2 * swell * chord)
            }
        };
        self.t += 1;
        pair
    }
}

impl PcmSource for ToneSource {
    fn fill(&mut self, out: &mut Vec<f32>, samples_per_frame: usize) -> Result<Fill, SourceError> {
        let frames = samples_per_frame / self.channels;
        out.reserve(samples_per_frame);
        for _ in 0..frames {
            let (l, r) = self.next_pair();
            match self.channels {
                1 => out.push(((l + r) * 0.5) as f32),
                _ => {
                    out.push(l as f32);
                    out.push(r as f32);
                    for _ in 2..self.channels {
                        out.push(0.0);
                    }
                }
            }
        }
        Ok(Fill::Frame)
    }

    fn describe(&self) -> String {
        match self.wave {
            Waveform::Demo => "demo tone (sweep left, A-major chord right)".into(),
            Waveform::Sine { freq } => format!("sine {freq} Hz"),
            Waveform::Sweep { from, to, period_secs } => {
                format!("sweep {from}–{to} Hz every {period_secs} s")
            }
            Waveform::Noise { .. } => "white noise".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::dsp::rms;

    #[test]
    fn sine_has_right_frequency_and_level() {
        let mut t = ToneSource::new(Waveform::Sine { freq: 1000.0 }, 0.5, 48_000, 1);
        let mut out = Vec::new();
        for _ in 0..50 {
            t.fill(&mut out, 960).unwrap();
        }
        assert_eq!(out.len(), 48_000);
        let crossings = out.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((999..=1001).contains(&crossings), "{crossings}");
        assert!((rms(&out) - 0.5 / 2f32.sqrt()).abs() < 0.01);
    }

    #[test]
    fn demo_differs_per_channel_and_is_audible() {
        let mut t = ToneSource::new(Waveform::Demo, 0.8, 48_000, 2);
        let mut out = Vec::new();
        t.fill(&mut out, 1920).unwrap();
        let left: Vec<f32> = out.iter().step_by(2).copied().collect();
        let right: Vec<f32> = out.iter().skip(1).step_by(2).copied().collect();
        assert!(rms(&left) > 0.1 && rms(&right) > 0.05);
        assert!(left.iter().zip(&right).any(|(a, b)| (a - b).abs() > 0.01));
        assert!(out.iter().all(|s| s.abs() <= 1.0));
    }

    #[test]
    fn noise_is_deterministic_and_bounded() {
        let mut a = ToneSource::new(Waveform::Noise { seed: 3 }, 0.2, 48_000, 1);
        let mut b = ToneSource::new(Waveform::Noise { seed: 3 }, 0.2, 48_000, 1);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.fill(&mut x, 960).unwrap();
        b.fill(&mut y, 960).unwrap();
        assert_eq!(x, y);
        assert!(x.iter().all(|s| s.abs() <= 0.2));
        assert!(rms(&x) > 0.05);
    }
}
