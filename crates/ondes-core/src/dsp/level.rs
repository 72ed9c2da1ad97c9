//! Signal levels.

/// Root mean square of `samples` (0 for an empty slice).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// Largest absolute sample value.
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, &s| m.max(s.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_rms_is_amplitude_over_root_two() {
        let s: Vec<f32> = (0..48_000).map(|i| 0.5 * (i as f32 * 0.1).sin()).collect();
        assert!((rms(&s) - 0.5 / 2f32.sqrt()).abs() < 1e-3);
        assert!((peak(&s) - 0.5).abs() < 1e-3);
        assert_eq!(rms(&[]), 0.0);
    }
}
