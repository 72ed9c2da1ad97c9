//! Opus (RFC 6716) encoding and decoding, with loss concealment, in-band FEC and DTX.
//!
//! One interface, [`OpusEncoder`] and [`OpusDecoder`], over two engines ([`OpusEngine`]):
//! libopus, the reference implementation (the default), and opus-rs, a pure-Rust port, each
//! behind a cargo feature of this crate (`libopus`, on by default, and `opus-rs`). Both take
//! the same [`OpusConfig`] and pass the same test suite; what one engine needs and the other
//! does not (the opus-rs workarounds, its DTX) lives in that engine's module only. docs/opus.md
//! compares them (CPU, quality, loss recovery, DTX, interop) and says how to choose.
//!
//! [`packet`] parses the table-of-contents byte (RFC 6716 §3.1) to know a packet's duration
//! without decoding it (Ogg granule positions need that), the same for every engine.

mod config;
mod decoder;
mod encoder;
mod engine;
pub mod fuzz;
#[cfg(feature = "libopus")]
mod libopus;
#[cfg(feature = "opus-rs")]
mod opus_rs;
pub mod packet;

pub use config::{BITRATE_RANGE, FRAME_US, OpusApplication, OpusConfig, SAMPLE_RATES};
pub use decoder::OpusDecoder;
pub use encoder::{MAX_PACKET_BYTES, OpusEncoder};
pub use engine::OpusEngine;
pub use packet::{OpusMode, OpusToc, packet_frames, packet_samples};
