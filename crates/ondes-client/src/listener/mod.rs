//! The listener: plays a stream through an adaptive jitter buffer and reports what it heard
//! (`ondes listen`).
//!
//! ```text
//! socket ──messages──▶ transport (ws: wire::decode_audio │ sse: audio-frame JSON │ whep: RTP Opus)
//!                         │ frames with seq + capture time, stamped with their arrival
//!                         ▼
//!                   JitterBuffer (ondes_core::jitter, sans-IO)
//!                         │ polled once per frame by the playout clock (absolute deadlines)
//!                         ▼
//!                   decode: Opus / PCM; FEC from the next packet; concealment
//!                         ▼
//!                   output file (.wav / .ogg) + latency statistics → ListenReport
//! ```
//!
//! Times are wall-clock µs (the capture timestamps are the server's wall clock), taken from
//! a monotonic clock anchored once at the start, so that latency (`play-out − capture`,
//! `arrival − capture`) is meaningful on one machine and the jitter buffer never sees time
//! jump. Over WebSocket the listener sends a `report` and a `ping` every second
//! (docs/protocol.md). A WHEP listen DELETEs its session at the end. There is no
//! reconnection: a listen measures one connection.

mod decode;
mod endpoint;
pub mod lbrr;
mod options;
mod player;
mod report;
mod run;
mod sink;
mod sse;
mod transport;
mod wav;
mod whep;
mod ws;

use std::time::Duration;

pub use endpoint::{Endpoint, TransportKind};
pub use options::ListenOptions;
pub use report::{ListenReport, Percentiles, TargetPoint, TargetRange, sparkline};
pub use run::{ListenProgress, listen};

/// Why a listen could not start, or failed before any audio.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the token contains characters not allowed in an HTTP header")]
    BadToken,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the server refused the connection: HTTP {status} {code}: {message}")]
    Refused { status: u16, code: String, message: String },
    #[error("connection lost: {0}")]
    Connection(String),
    #[error("unreadable audio from the server: {0}")]
    Protocol(String),
    #[error("no audio within {0:?} (is the stream paused or its source down?)")]
    NoAudio(Duration),
    #[error(transparent)]
    Codec(#[from] ondes_codec::CodecError),
    #[error("cannot write {path}: {reason}")]
    Output { path: String, reason: String },
    #[error("invalid option: {0}")]
    Options(String),
}

impl ListenError {
    /// A refused handshake or request, from its status and JSON error body.
    fn refused(status: u16, body: &[u8]) -> Self {
        let (code, message) = crate::refusal::code_and_message(body);
        ListenError::Refused { status, code, message }
    }
}
