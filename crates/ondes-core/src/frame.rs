//! Audio frames: fixed duration, gap-free sequence numbers, capture timestamps.

use std::fmt;
use std::sync::Arc;

/// Frame durations ondes accepts. Each is a valid Opus frame size, so any stream can later
/// be encoded to Opus without re-framing.
pub const ALLOWED_FRAME_US: [u32; 6] = [2_500, 5_000, 10_000, 20_000, 40_000, 60_000];

/// Why a stream's frame layout is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("frame duration {0} ms is not allowed; use one of 2.5, 5, 10, 20, 40, 60")]
    FrameDuration(String),
    #[error("sample rate {0} Hz is out of range; use 8000..=192000")]
    SampleRate(u32),
    #[error("channels {0} is not supported; use 1 (mono) or 2 (stereo)")]
    Channels(u16),
    #[error(
        "a {ms} ms frame at {rate} Hz is not a whole number of samples; pick another frame_ms or sample_rate"
    )]
    Fractional { ms: String, rate: u32 },
}

/// The duration of one frame, in whole microseconds (2.5 ms is 2500 µs, so integers suffice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameDuration(u32);

impl FrameDuration {
    pub const DEFAULT: FrameDuration = FrameDuration(20_000);

    /// Parses a duration in milliseconds (e.g. `20`, `2.5`).
    pub fn from_ms(ms: f64) -> Result<Self, SpecError> {
        let us = (ms * 1000.0).round();
        if (ms * 1000.0 - us).abs() > 1e-6 || !ALLOWED_FRAME_US.contains(&(us as u32)) {
            return Err(SpecError::FrameDuration(format!("{ms}")));
        }
        Ok(FrameDuration(us as u32))
    }

    pub fn as_us(self) -> u32 {
        self.0
    }

    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for FrameDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.as_ms_f64())
    }
}

/// The fixed layout of every frame of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameSpec {
    pub sample_rate: u32,
    pub channels: u16,
    pub duration: FrameDuration,
}

impl FrameSpec {
    /// Checks that the layout is supported and that a frame holds a whole number of samples.
    pub fn new(sample_rate: u32, channels: u16, duration: FrameDuration) -> Result<Self, SpecError> {
        if !(8_000..=192_000).contains(&sample_rate) {
            return Err(SpecError::SampleRate(sample_rate));
        }
        if !(1..=2).contains(&channels) {
            return Err(SpecError::Channels(channels));
        }
        if !(sample_rate as u64 * duration.as_us() as u64).is_multiple_of(1_000_000) {
            return Err(SpecError::Fractional { ms: format!("{}", duration.as_ms_f64()), rate: sample_rate });
        }
        Ok(FrameSpec { sample_rate, channels, duration })
    }

    /// Samples per channel in one frame (960 for 20 ms at 48 kHz).
    pub fn samples_per_channel(&self) -> usize {
        (self.sample_rate as u64 * self.duration.as_us() as u64 / 1_000_000) as usize
    }

    /// Interleaved samples in one frame.
    pub fn samples_per_frame(&self) -> usize {
        self.samples_per_channel() * self.channels as usize
    }

    /// Frames per second (50 for 20 ms frames).
    pub fn frames_per_second(&self) -> f64 {
        1_000_000.0 / self.duration.as_us() as f64
    }
}

/// One frame of PCM audio.
///
/// `samples` is interleaved `f32` in [-1, 1], exactly `spec.samples_per_frame()` long. It is
/// behind an `Arc` so that the hub, every serialiser and every listener share one copy.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Sequence number: starts at 0 for a stream and never skips.
    pub seq: u64,
    /// Wall-clock capture time in microseconds since the Unix epoch. Latency everywhere in
    /// ondes is measured from this value.
    pub capture_us: i64,
    pub samples: Arc<[f32]>,
}

impl Frame {
    /// Samples of one channel, de-interleaved (allocates; for analysis, not the hot path).
    pub fn channel(&self, spec: &FrameSpec, ch: usize) -> Vec<f32> {
        let n = spec.channels as usize;
        self.samples.iter().skip(ch.min(n - 1)).step_by(n).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(FrameDuration::from_ms(2.5).unwrap().as_us(), 2500);
        assert_eq!(FrameDuration::from_ms(60.0).unwrap().as_us(), 60_000);
        assert!(FrameDuration::from_ms(15.0).is_err());
        assert!(FrameDuration::from_ms(2.4).is_err());
    }

    #[test]
    fn spec_checks_whole_samples() {
        let d20 = FrameDuration::from_ms(20.0).unwrap();
        let s = FrameSpec::new(48_000, 2, d20).unwrap();
        assert_eq!(s.samples_per_channel(), 960);
        assert_eq!(s.samples_per_frame(), 1920);
        assert_eq!(s.frames_per_second(), 50.0);
        let d25 = FrameDuration::from_ms(2.5).unwrap();
        assert!(matches!(FrameSpec::new(44_100, 1, d25), Err(SpecError::Fractional { .. })));
        assert!(FrameSpec::new(48_000, 3, d20).is_err());
        assert!(FrameSpec::new(1_000, 1, d20).is_err());
    }
}
