//! [`OpusConfig`]: every encoder setting in one plain struct, checked up front.
//!
//! The encoder is built from a config file or an HTTP request, so a bad value must be rejected
//! with a message that names the field and its valid range before anything is encoded; the
//! engines silently clamp most of them.

use crate::CodecError;

/// Sample rates Opus codes natively (RFC 6716 §2); anything else must be resampled first.
pub const SAMPLE_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Frame durations Opus allows, in microseconds (RFC 6716 §2.1.4).
pub const FRAME_US: [u32; 6] = [2_500, 5_000, 10_000, 20_000, 40_000, 60_000];

/// Lowest and highest bitrate accepted, in bit/s (libopus's practical range).
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 6_000..=510_000;

/// What the encoder is tuned for (libopus's `OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OpusApplication {
    /// Music and general audio: favours fidelity (CELT at higher bitrates).
    #[default]
    Audio,
    /// Speech: favours intelligibility (SILK / Hybrid at speech bitrates).
    Voip,
    /// CELT only, no SILK look-ahead: 2.5 ms less delay, but no in-band FEC and no
    /// speech-tuned coding at low bitrates.
    LowDelay,
}

impl OpusApplication {
    /// The name used in configs and logs.
    pub fn name(self) -> &'static str {
        match self {
            OpusApplication::Audio => "audio",
            OpusApplication::Voip => "voip",
            OpusApplication::LowDelay => "lowdelay",
        }
    }
}

/// Settings of one [`OpusEncoder`](super::OpusEncoder). Field names are the names used in
/// error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// Input (and coded) sample rate in Hz: one of [`SAMPLE_RATES`].
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo), interleaved.
    pub channels: u16,
    /// Frame duration in µs: one of [`FRAME_US`]. Shorter frames lower latency and raise the
    /// per-packet overhead; below 10 ms only CELT is available (no FEC, no SILK).
    pub frame_us: u32,
    /// Target bitrate in bit/s, within [`BITRATE_RANGE`].
    pub bitrate_bps: u32,
    /// Variable bitrate (better quality per bit) or constant (every packet the same size,
    /// which hides speech activity from an observer of packet sizes).
    pub vbr: bool,
    /// 0 (cheapest) to 10 (best quality per bit). The opus-rs engine lowers it for frames
    /// under 10 ms, where its higher complexities damage the audio.
    pub complexity: u8,
    /// Code in-band forward error correction (SILK LBRR): each packet also carries a coarse
    /// copy of the previous frame, which the decoder uses when that frame was lost.
    pub fec: bool,
    /// Expected packet loss, 0–100 %. Raises the redundancy of FEC and makes the encoder less
    /// dependent on the previous frame.
    pub expected_loss_percent: u8,
    /// Discontinuous transmission: during silence send a 1-byte packet most of the time.
    pub dtx: bool,
    /// Tuning; see [`OpusApplication`].
    pub application: OpusApplication,
}

impl Default for OpusConfig {
    /// 48 kHz stereo, 20 ms, 64 kbit/s VBR, complexity 9 (libopus's default), no FEC/DTX.
    fn default() -> Self {
        OpusConfig {
            sample_rate: 48_000,
            channels: 2,
            frame_us: 20_000,
            bitrate_bps: 64_000,
            vbr: true,
            complexity: 9,
            fec: false,
            expected_loss_percent: 0,
            dtx: false,
            application: OpusApplication::Audio,
        }
    }
}

fn invalid(field: &'static str, reason: String) -> CodecError {
    CodecError::OpusConfig { field, reason }
}

impl OpusConfig {
    /// Checks every field, returning the first one out of range.
    ///
    /// Besides the ranges, two combinations are rejected because FEC could never be sent:
    /// in-band FEC lives in the SILK layer, which neither [`OpusApplication::LowDelay`] nor
    /// frames shorter than 10 ms ever use. An engine may refuse more (the opus-rs engine
    /// refuses 2.5 ms stereo) when the encoder is built.
    pub fn validate(&self) -> Result<(), CodecError> {
        if !SAMPLE_RATES.contains(&self.sample_rate) {
            return Err(invalid(
                "sample_rate",
                format!(
                    "{} Hz is not an Opus rate (valid: 8000, 12000, 16000, 24000, 48000); resample first",
                    self.sample_rate
                ),
            ));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(invalid("channels", format!("{} channels; Opus here codes 1 or 2", self.channels)));
        }
        if !FRAME_US.contains(&self.frame_us) {
            return Err(invalid(
                "frame_us",
                format!(
                    "{} µs is not an Opus frame duration (valid: 2500, 5000, 10000, 20000, 40000, 60000)",
                    self.frame_us
                ),
            ));
        }
        if !BITRATE_RANGE.contains(&self.bitrate_bps) {
            return Err(invalid(
                "bitrate_bps",
                format!("{} bit/s is outside 6000..=510000", self.bitrate_bps),
            ));
        }
        if self.complexity > 10 {
            return Err(invalid("complexity", format!("{} is outside 0..=10", self.complexity)));
        }
        if self.expected_loss_percent > 100 {
            return Err(invalid(
                "expected_loss_percent",
                format!("{} % is outside 0..=100", self.expected_loss_percent),
            ));
        }
        if self.fec && self.application == OpusApplication::LowDelay {
            return Err(invalid(
                "fec",
                "in-band FEC is coded by SILK, which application `lowdelay` (CELT only) never uses; \
                 turn fec off or use `voip`/`audio`"
                    .to_owned(),
            ));
        }
        if self.fec && self.frame_us < 10_000 {
            return Err(invalid(
                "fec",
                format!(
                    "in-band FEC is coded by SILK, which needs frames of 10 ms or more (frame_us is {})",
                    self.frame_us
                ),
            ));
        }
        Ok(())
    }

    /// Samples per channel in one frame.
    pub fn frame_samples(&self) -> usize {
        // Every valid (rate, duration) pair divides exactly: the smallest is 8000 Hz × 2.5 ms = 20.
        (u64::from(self.sample_rate) * u64::from(self.frame_us) / 1_000_000) as usize
    }
}
