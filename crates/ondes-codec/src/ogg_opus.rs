//! Ogg/Opus (RFC 7845): Opus packets in an Ogg container, the format of `.opus` files, of
//! Icecast Opus streams and of ondes's Ogg egress.
//!
//! - [`OggOpusMuxer`] writes a stream incrementally, page bytes out (for files and for live
//!   HTTP listeners, including ones that join mid-stream).
//! - [`OggOpusReader`] parses headers and yields audio packets from bytes fed in any chunking.
//! - [`OggOpusDecoder`] goes all the way to PCM with pre-skip, end trimming and output gain.

mod decode;
mod head;
mod mux;
mod reader;

pub use decode::OggOpusDecoder;
pub use head::{OpusHead, OpusTags};
pub use mux::{FIRST_AUDIO_PAGE, OggOpusMuxer, VENDOR};
pub use reader::{OggOpusEvent, OggOpusReader, OpusAudioPacket};
