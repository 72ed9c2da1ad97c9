//! Time compression that keeps the pitch: playing a frame shorter to drain excess delay.
//!
//! A jitter buffer that holds more audio than its target must lose the excess. Dropping a
//! whole frame is a jump in the waveform; resampling faster raises the pitch. What WebRTC's
//! NetEQ does instead ("accelerate") is to cut out whole periods of the signal: find a lag
//! `L` at which the frame resembles itself (a pitch period of a voice, or a multiple of it),
//! and overlap-add the stretch `[0, L)` fading out with `[L, 2L)` fading in. The result is
//! `L` samples shorter, continuous at both ends (it starts on the frame's first sample and
//! ends on its last ones) and, where the signal is periodic, indistinguishable from it.
//! This is WSOLA (waveform-similarity overlap-add) with one splice per frame.
//!
//! On a signal with no period (noise, a dense mix) the best lag correlates poorly; the
//! crossfade still leaves no step in the waveform, only a blur, and [`Compressed::corr`]
//! says how well it matched. Silence is cut at the longest lag allowed.
//!
//! Everything here is a pure function of the samples: no state, no allocation beyond the
//! output vector.

/// Shortest lag searched, seconds: a period of 400 Hz (above most voices' pitch).
const MIN_LAG_S: f64 = 0.0025;

/// The result of [`compress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compressed {
    /// Samples per channel removed (0: the frame was copied unchanged).
    pub removed: usize,
    /// Normalised correlation of the two spliced stretches, in [-1, 1] (1 for silence).
    pub corr: f32,
}

/// Appends `frame` (interleaved, `channels` channels) to `out`, shortened by one splice of
/// at most `max_remove` samples per channel and at least 2.5 ms worth, at the lag where the
/// frame best resembles itself. A frame too short for the smallest splice is copied as is.
pub fn compress(
    frame: &[f32],
    channels: usize,
    sample_rate: u32,
    max_remove: usize,
    out: &mut Vec<f32>,
) -> Compressed {
    let channels = channels.max(1);
    let n = frame.len() / channels;
    let min_lag = ((f64::from(sample_rate) * MIN_LAG_S) as usize).max(1);
    let max_lag = max_remove.min(n / 2);
    if max_lag < min_lag {
        out.extend_from_slice(frame);
        return Compressed { removed: 0, corr: 0.0 };
    }
    let (lag, corr) = best_lag(frame, channels, min_lag, max_lag);
    let start = out.len();
    out.reserve(frame.len() - lag * channels);
    // [0, L) fading out overlapped with [L, 2L) fading in, then [2L, n) unchanged
    for i in 0..lag {
        let w = (i as f32 + 0.5) / lag as f32;
        for c in 0..channels {
            let a = frame[i * channels + c];
            let b = frame[(i + lag) * channels + c];
            out.push(a * (1.0 - w) + b * w);
        }
    }
    out.extend_from_slice(&frame[2 * lag * channels..]);
    debug_assert_eq!(out.len() - start, (n - lag) * channels);
    Compressed { removed: lag, corr }
}

/// The lag in `[min_lag, max_lag]` with the highest normalised correlation between
/// `x[0..L)` and `x[L..2L)` (all channels together), preferring the longest lag among those
/// within 0.02 of the best (it drains most; multiples of a pitch period match about
/// equally); on silence, the longest lag.
fn best_lag(x: &[f32], channels: usize, min_lag: usize, max_lag: usize) -> (usize, f32) {
    let scores: Vec<f32> = (min_lag..=max_lag)
        .map(|lag| {
            let (a, b) = (&x[..lag * channels], &x[lag * channels..2 * lag * channels]);
            let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
            for (&p, &q) in a.iter().zip(b) {
                ab += f64::from(p) * f64::from(q);
                aa += f64::from(p) * f64::from(p);
                bb += f64::from(q) * f64::from(q);
            }
            const QUIET: f64 = 1e-12;
            match (aa < QUIET, bb < QUIET) {
                // silence: nothing audible is lost at any lag
                (true, true) => 1.0,
                // silence against sound: a fade, no match
                (true, false) | (false, true) => 0.0,
                _ => (ab / (aa * bb).sqrt()) as f32,
            }
        })
        .collect();
    let top = scores.iter().copied().fold(f32::MIN, f32::max);
    // min_lag <= max_lag, so scores is not empty and some score is within 0.02 of the top
    let i = scores.iter().rposition(|&c| c >= top - 0.02).unwrap_or(0);
    (min_lag + i, scores[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    /// A voiced sound: a glottal-like harmonic series on a pitch gliding 110 → 180 Hz, with
    /// a slow loudness contour (a syllable every 200 ms).
    fn vowel(secs: f64) -> Vec<f32> {
        let n = (secs * f64::from(RATE)) as usize;
        let mut phase = 0.0f64;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                let f0 = 110.0 + 70.0 * (t / secs);
                phase += 2.0 * std::f64::consts::PI * f0 / f64::from(RATE);
                let voice: f64 = (1..=12).map(|h| (h as f64 * phase).sin() / h as f64).sum();
                let loud = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 5.0 * t).sin();
                (0.3 * voice * loud) as f32
            })
            .collect()
    }

    fn max_step(x: &[f32]) -> f32 {
        x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
    }

    fn corr(a: &[f32], b: &[f32]) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for (&p, &q) in a.iter().zip(b) {
            ab += f64::from(p) * f64::from(q);
            aa += f64::from(p) * f64::from(p);
            bb += f64::from(q) * f64::from(q);
        }
        ab / (aa * bb).sqrt().max(1e-12)
    }

    /// Compresses every frame of `x` (20 ms frames) by up to `share` of a frame.
    fn compress_all(x: &[f32], share: f64) -> (Vec<f32>, usize) {
        let frame = (RATE / 50) as usize;
        let max_remove = (frame as f64 * share) as usize;
        let mut out = Vec::new();
        let mut removed = 0;
        for f in x.chunks_exact(frame) {
            removed += compress(f, 1, RATE, max_remove, &mut out).removed;
        }
        (out, removed)
    }

    #[test]
    fn a_compressed_voice_matches_the_original_after_alignment() {
        let x = vowel(2.0);
        let (y, removed) = compress_all(&x, 0.5);
        assert_eq!(y.len() + removed, x.len());
        assert!(removed as f64 > 0.2 * x.len() as f64, "drained only {removed} of {}", x.len());
        // each 10 ms window of the output, aligned to the original where it matches best
        // (it comes from near its place in the original plus what was cut before it)
        let win = 480;
        let mut scores = Vec::new();
        let mut pos = 0usize;
        while pos + win <= y.len() {
            let w = &y[pos..pos + win];
            let expected = pos * x.len() / y.len();
            let lo = expected.saturating_sub(2_400);
            let hi = (expected + 2_400).min(x.len() - win);
            let best = (lo..=hi).map(|o| corr(w, &x[o..o + win])).fold(f64::MIN, f64::max);
            scores.push(best);
            pos += win;
        }
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let worst = scores.iter().copied().fold(f64::MAX, f64::min);
        assert!(mean >= 0.9, "mean aligned correlation {mean:.3} (worst {worst:.3})");
    }

    #[test]
    fn the_splice_makes_no_click() {
        let x = vowel(1.0);
        let (y, _) = compress_all(&x, 0.5);
        let limit = max_step(&x);
        assert!(max_step(&y) <= limit * 1.05, "step {} above the signal's own {limit}", max_step(&y));
    }

    #[test]
    fn noise_is_shortened_without_a_step() {
        // a deterministic pseudo-random signal with no period, low-passed like music
        let mut s = 12_345u32;
        let mut lp = 0.0f32;
        let x: Vec<f32> = (0..48_000)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                lp += 0.2 * (((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) - lp);
                lp
            })
            .collect();
        let (y, removed) = compress_all(&x, 0.25);
        assert!(removed > 0);
        assert!(max_step(&y) <= max_step(&x) * 1.05);
    }

    #[test]
    fn silence_is_cut_at_the_longest_lag_and_short_frames_are_kept() {
        let mut out = Vec::new();
        let c = compress(&[0.0; 960], 1, RATE, 480, &mut out);
        assert_eq!(c.removed, 480);
        assert_eq!(out.len(), 480);
        out.clear();
        // 2.5 ms is the shortest splice: a 4 ms frame cannot give it (n/2 = 2 ms)
        let c = compress(&[0.1; 192], 1, RATE, 96, &mut out);
        assert_eq!(c.removed, 0);
        assert_eq!(out.len(), 192);
    }

    #[test]
    fn stereo_channels_are_cut_at_the_same_place() {
        let mono = vowel(0.02);
        let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, -s]).collect();
        let mut out = Vec::new();
        let c = compress(&stereo, 2, RATE, 480, &mut out);
        assert!(c.removed >= 120);
        assert_eq!(out.len(), 2 * (960 - c.removed));
        assert!(out.chunks_exact(2).all(|s| (s[0] + s[1]).abs() < 1e-6));
    }
}
