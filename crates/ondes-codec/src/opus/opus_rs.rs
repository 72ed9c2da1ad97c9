//! The opus-rs engine: the pure-Rust `opus-rs` crate, with what its defects need.
//!
//! Where opus-rs falls short of libopus this engine says so, and fills the gap only where the
//! result stays standard Opus:
//!
//! - **DTX**: opus-rs has no discontinuous transmission (its SILK `use_dtx` flag is never
//!   read). The encoder implements it one level up, as libopus's `decide_dtx_mode` does, with
//!   an energy-based activity detector in place of libopus's analysis ([`dtx`]).
//! - **Frames shorter than 10 ms** exist only in CELT mode. libopus switches to CELT for them
//!   by itself; opus-rs does not (it returns "Unsupported frame size for SILK-only mode"), so
//!   such encoders are opened in the CELT-only low-delay application.
//! - **No tonality analysis / automatic bandwidth**: opus-rs codes the full bandwidth of its
//!   input rate; pick the input rate to pick the bandwidth.
//! - **Defects worked around** ([`workarounds`], with the measurements): lower complexity for
//!   very short frames, a packet cap for Hybrid VBR, and no FEC-driven bandwidth reduction
//!   (which opus-rs gets wrong: garbage or a panic), which caps the expected loss it is given
//!   at 5 % at low bitrates. 2.5 ms stereo is refused ([`check`]). As a last line of defence, a
//!   panic inside opus-rs is caught and returned as an error (the codec state is rebuilt), so
//!   no input can take a server down through the codec.

mod decoder;
pub(crate) mod dtx;
mod encoder;
mod workarounds;

pub(crate) use decoder::Decoder;
pub(crate) use encoder::Encoder;

use super::config::OpusConfig;
use crate::CodecError;

/// The configurations opus-rs cannot code well, on top of [`OpusConfig::validate`].
pub(crate) fn check(cfg: &OpusConfig) -> Result<(), CodecError> {
    if cfg.frame_us == 2_500 && cfg.channels == 2 {
        return Err(CodecError::OpusConfig {
            field: "frame_us",
            reason: "2500 µs stereo is not supported by the opus-rs engine: its 2.5 ms stereo CELT \
                     encoder is defective (ffmpeg/libopus decodes its output at a waveform correlation \
                     of 0.2-0.5, against 0.99 for libopus's own encoder); use 5000 µs, mono, or the \
                     libopus engine"
                .to_owned(),
        });
    }
    Ok(())
}
