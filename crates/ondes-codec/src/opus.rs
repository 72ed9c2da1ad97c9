//! Opus (RFC 6716) encoding and decoding on top of the pure-Rust `opus-rs` crate.
//!
//! Why `opus-rs` rather than bindings to libopus: no C toolchain or system library in the
//! build, and the crate tracks libopus 1.6 closely (its own tests compare against libopus).
//! Where it falls short of libopus this module says so, and fills the gap only where the
//! result stays standard Opus:
//!
//! - **DTX**: opus-rs has no discontinuous transmission (its SILK `use_dtx` flag is never
//!   read). [`OpusEncoder`] implements it one level up, as libopus's `decide_dtx_mode` does,
//!   with an energy-based activity detector in place of libopus's analysis ([`dtx`]).
//! - **Frames shorter than 10 ms** exist only in CELT mode. libopus switches to CELT for them
//!   by itself; opus-rs does not (it returns "Unsupported frame size for SILK-only mode"), so
//!   [`OpusEncoder::new`] opens such encoders in the CELT-only low-delay application.
//! - **No tonality analysis / automatic bandwidth**: opus-rs codes the full bandwidth of its
//!   input rate; pick the input rate to pick the bandwidth.
//! - **Defects worked around** (module `workarounds`, with the measurements): lower complexity for very short frames, and
//!   no FEC-driven bandwidth reduction (which opus-rs gets wrong: garbage or a panic). 2.5 ms
//!   stereo is refused by [`OpusConfig::validate`]. As a last line of defence, a panic inside
//!   opus-rs is caught and returned as an error (the codec state is rebuilt), so no input can
//!   take a server down through the codec.
//!
//! [`packet`] parses the table-of-contents byte (RFC 6716 §3.1), which opus-rs keeps private,
//! to know a packet's duration without decoding it (Ogg granule positions need that).

mod config;
mod decoder;
pub mod dtx;
mod encoder;
pub mod packet;
mod workarounds;

pub use config::{BITRATE_RANGE, FRAME_US, OpusApplication, OpusConfig, SAMPLE_RATES};
pub use decoder::OpusDecoder;
pub use encoder::{MAX_PACKET_BYTES, OpusEncoder};
pub use packet::{OpusMode, OpusToc, packet_frames, packet_samples};
