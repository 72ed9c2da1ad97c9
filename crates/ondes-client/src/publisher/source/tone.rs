//! `tone:sine`: an endless sine, the same on every channel.

use std::f64::consts::TAU;

use super::{FrameSource, Layout, SourceError};

/// A sine generator. The phase is computed from the sample index (not accumulated), so it
/// stays exact however long it runs.
pub struct SineSource {
    freq: f64,
    amplitude: f64,
    layout: Layout,
    n: u64,
}

impl SineSource {
    pub fn new(freq: f64, amplitude: f32, layout: Layout) -> Self {
        SineSource { freq, amplitude: f64::from(amplitude), layout, n: 0 }
    }
}

impl FrameSource for SineSource {
    fn next_frame(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        let channels = usize::from(self.layout.channels);
        let rate_hz = u64::from(self.layout.sample_rate);
        let rate = rate_hz as f64;
        let mut frame = Vec::with_capacity(self.layout.samples_per_frame());
        for _ in 0..self.layout.samples_per_channel() {
            // whole seconds and the rest separately, so the phase keeps full precision for days
            let (secs, rem) = (self.n / rate_hz, self.n % rate_hz);
            let cycle_pos = ((secs as f64 * self.freq).fract() + rem as f64 * self.freq / rate).fract();
            let v = (self.amplitude * (TAU * cycle_pos).sin()) as f32;
            frame.extend(std::iter::repeat_n(v, channels));
            self.n += 1;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_of_sine_at_the_layout() {
        let layout = Layout { sample_rate: 8_000, channels: 2, frame_us: 10_000 };
        let mut s = SineSource::new(1_000.0, 0.5, layout);
        let f = s.next_frame().unwrap().unwrap();
        assert_eq!(f.len(), 160);
        // 1 kHz at 8 kHz: 0, +0.354, +0.5, +0.354, 0, ...; stereo pairs identical
        assert!((f[4] - 0.5).abs() < 1e-6 && (f[5] - 0.5).abs() < 1e-6);
        assert!(f[8].abs() < 1e-6);
        let g = s.next_frame().unwrap().unwrap();
        assert!((g[4] - 0.5).abs() < 1e-6, "continuous across frames");
    }
}
