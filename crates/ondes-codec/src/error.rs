//! The error type of this crate.
//!
//! Every message is meant to be shown to an operator as is (in a log line, a CLI error, an HTTP
//! 4xx body), so each one names the file involved and says what went wrong in plain words rather
//! than echoing a decoder's internal jargon alone.

use std::io;
use std::path::PathBuf;

/// Formats [`FileDecoder`](crate::FileDecoder) can read, as listed in error messages.
pub const SUPPORTED_FORMATS: &str = "WAV, FLAC, MP3, Ogg Vorbis";

/// Errors from opening, decoding or resampling audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The file could not be opened or read at all (missing, permissions, a directory...).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file was read but no demuxer recognised its contents.
    #[error("cannot decode {}: not a recognised audio format (supported: {SUPPORTED_FORMATS})", path.display())]
    UnrecognisedFormat { path: PathBuf },

    /// The container was recognised but its audio codec is not supported.
    #[error("cannot decode {}: unsupported audio codec ({detail}) (supported: {SUPPORTED_FORMATS})", path.display())]
    UnsupportedCodec { path: PathBuf, detail: String },

    /// A demuxer recognised the file but could not read its headers (corrupt or truncated).
    #[error("cannot decode {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },

    /// The container holds no audio track (e.g. a video-only file).
    #[error("{}: no audio track", path.display())]
    NoAudioTrack { path: PathBuf },

    /// The audio track decodes to nothing, so its sample rate and channels are unknown.
    #[error("{}: the audio track contains no decodable audio", path.display())]
    NoAudio { path: PathBuf },

    /// An unrecoverable error part-way through the file (truncated or corrupt container, I/O
    /// error). Per-packet codec errors are not reported this way: they are skipped and counted.
    #[error("{}: decoding failed after {position_secs:.3} s: {reason}", path.display())]
    Decode { path: PathBuf, position_secs: f64, reason: String },

    /// A resampler could not be built for this rate pair / channel count.
    #[error("cannot resample {channels} channel(s) from {from_rate} Hz to {to_rate} Hz: {reason}")]
    Resampler { from_rate: u32, to_rate: u32, channels: usize, reason: String },

    /// A caller passed a parameter outside the supported range (zero rate, zero channels...).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),

    /// Raw PCM conversion failed.
    #[error(transparent)]
    Pcm(#[from] crate::pcm::PcmError),

    /// An [`OpusConfig`](crate::opus::OpusConfig) field is out of range; `field` is its name as
    /// written in the struct (and in config files), so the operator knows what to change.
    #[error("invalid Opus setting `{field}`: {reason}")]
    OpusConfig { field: &'static str, reason: String },

    /// The PCM handed to the encoder is not exactly one frame.
    #[error(
        "Opus encoder expects exactly one frame of {expected} interleaved samples \
         ({frame_samples} per channel x {channels} channel(s)), got {got}"
    )]
    OpusFrameLength { expected: usize, frame_samples: usize, channels: u16, got: usize },

    /// The Opus engine refused to encode or decode (`op` says which); `reason` is its message.
    #[error("Opus {op} failed: {reason}")]
    Opus { op: &'static str, reason: &'static str },

    /// A byte string is not a valid Opus packet (RFC 6716 §3): empty, truncated, or longer
    /// than the 120 ms an Opus packet may hold.
    #[error("invalid Opus packet: {0}")]
    OpusPacket(String),

    /// An Ogg/Opus stream breaks RFC 7845: a bad or missing `OpusHead`/`OpusTags` header, or
    /// a channel mapping this crate does not decode.
    #[error("invalid Ogg/Opus stream: {0}")]
    OggOpus(String),

    /// FLAC cannot code this layout, or the FLAC encoder failed (`0` says which and why).
    #[error("FLAC: {0}")]
    Flac(String),

    /// LAME refused a setting or failed to encode (`0` says which).
    #[error("MP3: {0}")]
    Mp3(String),
}
