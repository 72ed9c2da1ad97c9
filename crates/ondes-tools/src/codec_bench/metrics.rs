//! Objective comparison of decoded audio with its source: waveform SNR and correlation after
//! alignment, and the log-spectral distance (how far the short-time spectra are, in dB, which
//! a perceptual codec's choices move less than the waveform).

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use serde::Serialize;

/// How close decoded audio is to the source.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quality {
    /// Signal-to-error ratio of the aligned waveforms, dB (every channel pooled).
    pub snr_db: f64,
    /// Normalised waveform correlation, worst channel.
    pub correlation: f64,
    /// Log-spectral distance over 20 ms frames with signal, dB (mean of the channels).
    pub lsd_db: f64,
    /// Delay of the decoded audio, samples.
    pub lag: isize,
}

fn channel(pcm: &[f32], channels: usize, ch: usize) -> Vec<f32> {
    pcm.iter().skip(ch).step_by(channels).copied().collect()
}

/// The delay of `test` behind `reference` (mono), searched over -max..=max samples on a 2 s
/// window from the middle.
pub fn best_lag(reference: &[f32], test: &[f32], rate: u32, max: isize) -> isize {
    let n = reference.len().min(test.len());
    let win = (2 * rate as usize).min(n / 2);
    let start = (n - win) / 2;
    let mut best = (f64::MIN, 0);
    for lag in -max..=max {
        let mut xy = 0.0f64;
        for i in start..start + win {
            let j = i as isize + lag;
            if j >= 0 && (j as usize) < test.len() {
                xy += f64::from(reference[i]) * f64::from(test[j as usize]);
            }
        }
        if xy > best.0 {
            best = (xy, lag);
        }
    }
    best.1
}

/// Compares interleaved `test` with `reference` (same rate and channel count).
pub fn compare(reference: &[f32], test: &[f32], channels: usize, rate: u32) -> Quality {
    let r0 = channel(reference, channels, 0);
    let t0 = channel(test, channels, 0);
    let lag = best_lag(&r0, &t0, rate, rate as isize / 40);
    let margin = rate as usize / 50;
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    let mut worst_corr = f64::MAX;
    let mut lsd = 0.0;
    for ch in 0..channels {
        let r = channel(reference, channels, ch);
        let t = channel(test, channels, ch);
        let aligned: Vec<f32> = (0..r.len())
            .map(|i| {
                let j = i as isize + lag;
                if j >= 0 && (j as usize) < t.len() { t[j as usize] } else { 0.0 }
            })
            .collect();
        let end = r.len().saturating_sub(margin);
        let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
        for i in margin..end {
            let (x, y) = (f64::from(r[i]), f64::from(aligned[i]));
            sig += x * x;
            err += (x - y) * (x - y);
            xy += x * y;
            xx += x * x;
            yy += y * y;
        }
        let corr = if xx == 0.0 || yy == 0.0 { 0.0 } else { xy / (xx * yy).sqrt() };
        worst_corr = worst_corr.min(corr);
        lsd += log_spectral_distance(&r, &aligned, rate);
    }
    Quality { snr_db: db(sig, err), correlation: worst_corr, lsd_db: lsd / channels as f64, lag }
}

/// 10·log10(signal / error), capped at 99 dB for an exact match.
pub fn db(signal: f64, error: f64) -> f64 {
    if error <= 0.0 { 99.0 } else { (10.0 * (signal / error).log10()).min(99.0) }
}

/// Mean over 20 ms frames (Hann window) whose reference energy is above -50 dBFS of the RMS
/// difference of the two log power spectra, dB, up to 20 kHz.
pub fn log_spectral_distance(reference: &[f32], test: &[f32], rate: u32) -> f64 {
    let frame = rate as usize / 50;
    let n = frame.next_power_of_two();
    let fft = FftPlanner::<f32>::new().plan_fft_forward(n);
    let top = ((20_000.0 / f64::from(rate) * n as f64) as usize).min(n / 2);
    let window: Vec<f32> =
        (0..frame).map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / frame as f32).cos()).collect();
    let spectrum = |x: &[f32]| -> Vec<f64> {
        let mut buf: Vec<Complex<f32>> =
            (0..n).map(|i| Complex::new(if i < frame { x[i] * window[i] } else { 0.0 }, 0.0)).collect();
        fft.process(&mut buf);
        buf[1..top].iter().map(|c| f64::from(c.norm_sqr()) + 1e-9).collect()
    };
    let (mut total, mut frames) = (0.0, 0usize);
    let len = reference.len().min(test.len());
    let mut start = 0;
    while start + frame <= len {
        let r = &reference[start..start + frame];
        let energy = r.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / frame as f64;
        if energy > 1e-5 {
            let (pr, pt) = (spectrum(r), spectrum(&test[start..start + frame]));
            let d = pr.iter().zip(&pt).map(|(a, b)| (10.0 * (a / b).log10()).powi(2)).sum::<f64>()
                / pr.len() as f64;
            total += d.sqrt();
            frames += 1;
        }
        start += frame;
    }
    if frames == 0 { 0.0 } else { total / frames as f64 }
}
