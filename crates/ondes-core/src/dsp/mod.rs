//! Small DSP helpers: anti-aliased decimation, signal levels and the acquisition meter.

pub mod decimate;
pub mod level;
pub mod meter;

pub use decimate::Decimator;
pub use level::{peak, rms};
pub use meter::{ChannelLevel, LevelMeter};

/// A float sample from outside (a WAV or raw f32 body, a pipe, a peer) as the pipeline takes
/// it: NaN becomes silence and anything beyond full scale is clipped, so that neither reaches
/// the encoders, the level meters or the listeners' JSON.
#[inline]
pub fn sanitize_sample(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::sanitize_sample;

    #[test]
    fn samples_from_outside_are_numbers_within_full_scale() {
        assert_eq!(sanitize_sample(f32::NAN), 0.0);
        assert_eq!(sanitize_sample(f32::INFINITY), 1.0);
        assert_eq!(sanitize_sample(f32::NEG_INFINITY), -1.0);
        assert_eq!(sanitize_sample(-7.5), -1.0);
        assert_eq!(sanitize_sample(0.25), 0.25);
    }
}
