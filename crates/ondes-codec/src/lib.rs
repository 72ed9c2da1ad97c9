//! ondes codecs: the conversions between the outside world's audio and the `f32` interleaved
//! frames that flow through the rest of ondes.
//!
//! - [`pcm`]: raw PCM byte formats (`s16le`, `f32le`) in and out — the wire formats of stdin
//!   sources, publishers and PCM listeners.
//! - [`remix`](mod@remix): channel-count conversion (mono ⇄ stereo, N → 1/2).
//! - [`resample`]: [`StreamResampler`], a push/pull sample-rate converter for streams fed in
//!   arbitrary chunk sizes.
//! - [`file`](mod@file): [`FileDecoder`], which turns a WAV/FLAC/MP3/Ogg Vorbis file into audio at the
//!   stream's rate and channel count.
//! - [`opus`]: Opus encoding/decoding (libopus or opus-rs, one interface), with loss concealment, in-band FEC and DTX.
//! - [`ogg`]: Ogg pages: a page writer and an incremental, sans-IO demuxer.
//! - [`ogg_opus`]: Ogg/Opus (RFC 7845) muxing for files and live HTTP, reading and decoding.
//! - [`flac`]: FLAC frames (lossless, 16-bit) and metadata blocks; [`ogg_flac`] maps them into Ogg.
//! - [`mp3`]: MP3 (LAME) at a constant bitrate, for legacy Icecast players.
//!
//! Nothing here owns a thread or a clock: decoding is pulled by the caller, who paces it.

pub mod error;
pub mod file;
pub mod flac;
pub mod fmp4;
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "mp3")]
pub mod mp3;
pub mod ogg;
pub mod ogg_flac;
pub mod ogg_opus;
pub mod opus;
pub mod pcm;
pub mod remix;
pub mod resample;
pub mod wav_stream;

pub use error::CodecError;
pub use file::FileDecoder;
pub use flac::{FlacEncoder, FlacFormat};
#[cfg(feature = "mp3")]
pub use mp3::Mp3Encoder;
pub use ogg::{OggDemuxer, OggPacket};
pub use ogg_opus::{OggOpusDecoder, OggOpusMuxer, OggOpusReader};
pub use opus::{OpusApplication, OpusConfig, OpusDecoder, OpusEncoder, OpusEngine, packet_samples};
pub use pcm::{PcmError, SampleFormat, decode_interleaved, encode_f32le, encode_interleaved, encode_s16le};
pub use remix::remix;
pub use resample::StreamResampler;
