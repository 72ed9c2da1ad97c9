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
