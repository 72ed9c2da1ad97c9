//! Anti-aliased integer decimation.
//!
//! Dropping every other sample folds everything above the new Nyquist frequency back into
//! the band (a 15 kHz tone decimated 2:1 from 48 kHz would appear at 9 kHz). The decimator
//! first low-passes with a linear-phase windowed-sinc FIR (Blackman window, stop band
//! below −70 dB) whose cutoff sits at 85% of the output Nyquist, then keeps one sample in
//! `factor`.
//!
//! It is stateless per frame: the filter history comes from the previous frame, which the
//! hub keeps anyway. Any frame can therefore be decimated independently, lazily and at most
//! once, by whichever listener first needs it. The output phase follows the global sample
//! index, so consecutive frames join seamlessly even when a frame's length is not a multiple
//! of `factor`.

/// A low-pass + keep-one-in-`factor` decimator.
#[derive(Debug, Clone)]
pub struct Decimator {
    factor: usize,
    taps: Vec<f32>,
}

impl Decimator {
    /// A decimator by `factor` (1 = pass-through).
    pub fn new(factor: usize) -> Self {
        let factor = factor.max(1);
        if factor == 1 {
            return Decimator { factor, taps: vec![1.0] };
        }
        let n = 64 * factor + 1;
        let fc = 0.85 * 0.5 / factor as f64; // cycles per input sample
        let mid = (n - 1) as f64 / 2.0;
        let mut taps: Vec<f64> = (0..n)
            .map(|i| {
                let x = i as f64 - mid;
                let sinc = if x == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
                };
                let w = 2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64;
                let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
                sinc * blackman
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        taps.iter_mut().for_each(|t| *t /= sum);
        Decimator { factor, taps: taps.into_iter().map(|t| t as f32).collect() }
    }

    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Group delay introduced by the filter, in input samples.
    pub fn delay_samples(&self) -> usize {
        (self.taps.len() - 1) / 2
    }

    /// Decimates channel `ch` of the interleaved frame `cur` (with `channels` channels),
    /// appending to `out`. `prev` is the previous frame (same layout), used as filter
    /// history; `None` means silence before. `first_index` is the global index (per channel)
    /// of `cur`'s first sample; it fixes the output phase.
    pub fn process(
        &self,
        prev: Option<&[f32]>,
        cur: &[f32],
        channels: usize,
        ch: usize,
        first_index: u64,
        out: &mut Vec<f32>,
    ) {
        let channels = channels.max(1);
        let len = cur.len() / channels;
        let prev_len = prev.map_or(0, |p| p.len() / channels);
        let at = |i: isize| -> f32 {
            if i >= 0 {
                cur[i as usize * channels + ch]
            } else {
                let j = prev_len as isize + i;
                match prev {
                    Some(p) if j >= 0 => p[j as usize * channels + ch],
                    _ => 0.0,
                }
            }
        };
        let f = self.factor as u64;
        let first = ((f - first_index % f) % f) as usize;
        let ntaps = self.taps.len() as isize;
        for n in (first..len).step_by(self.factor) {
            let n = n as isize;
            let acc = if n + 1 >= ntaps {
                // whole window inside `cur`: the hot path, no branches per tap
                let base = (n + 1 - ntaps) as usize;
                let mut acc = 0.0f32;
                for (k, &t) in self.taps.iter().rev().enumerate() {
                    acc += t * cur[(base + k) * channels + ch];
                }
                acc
            } else {
                self.taps.iter().enumerate().map(|(k, &t)| t * at(n - k as isize)).sum()
            };
            out.push(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::rms;

    fn tone(freq: f64, rate: f64, start: usize, len: usize, channels: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(len * channels);
        for i in start..start + len {
            let s = (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as f32;
            for _ in 0..channels {
                v.push(s);
            }
        }
        v
    }

    /// Decimates 1 s of a tone frame by frame (20 ms frames) and returns the steady-state
    /// output (after the filter has filled).
    fn run(freq: f64, factor: usize, frame_len: usize) -> Vec<f32> {
        let d = Decimator::new(factor);
        let mut out = Vec::new();
        let mut prev: Option<Vec<f32>> = None;
        for f in 0..50 {
            let cur = tone(freq, 48_000.0, f * frame_len, frame_len, 2);
            d.process(prev.as_deref(), &cur, 2, 1, (f * frame_len) as u64, &mut out);
            prev = Some(cur);
        }
        out.split_off(out.len() / 4)
    }

    #[test]
    fn passes_in_band_tone() {
        let out = run(1_000.0, 2, 960);
        let r = rms(&out);
        assert!((r - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {r}");
    }

    #[test]
    fn tone_above_new_nyquist_does_not_alias() {
        // 15 kHz is above 12 kHz (the Nyquist of 24 kHz): plain sample dropping would alias
        // it to 9 kHz at full level.
        let out = run(15_000.0, 2, 960);
        let r = rms(&out);
        assert!(r < 0.5 * 0.001, "aliased energy {r} (> -60 dB)");
        let out4 = run(7_000.0, 4, 960);
        assert!(rms(&out4) < 0.5 * 0.001, "factor 4 aliased {}", rms(&out4));
        // sample dropping without the filter shows what the test guards against
        let dropped: Vec<f32> = tone(15_000.0, 48_000.0, 0, 960, 1).into_iter().step_by(2).collect();
        assert!(rms(&dropped) > 0.3);
    }

    #[test]
    fn output_length_and_phase_follow_global_index() {
        let d = Decimator::new(4);
        let mut out = Vec::new();
        // 882-sample frames (44.1 kHz, 20 ms) are not multiples of 4
        let mut total = 0;
        for f in 0..10u64 {
            let cur = vec![0.0f32; 882];
            let before = out.len();
            d.process(None, &cur, 1, 0, f * 882, &mut out);
            total += out.len() - before;
        }
        assert_eq!(total, 8820 / 4);
    }

    #[test]
    fn frame_by_frame_equals_one_block() {
        let d = Decimator::new(2);
        let all = tone(3_000.0, 48_000.0, 0, 960 * 3, 1);
        let mut whole = Vec::new();
        d.process(None, &all, 1, 0, 0, &mut whole);
        let mut parts = Vec::new();
        for f in 0..3 {
            let prev = if f == 0 { None } else { Some(&all[(f - 1) * 960..f * 960]) };
            d.process(prev, &all[f * 960..(f + 1) * 960], 1, 0, (f * 960) as u64, &mut parts);
        }
        assert_eq!(whole.len(), parts.len());
        for (a, b) in whole.iter().zip(&parts) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
