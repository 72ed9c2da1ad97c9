//! The publisher: sends audio to a stream declared with `source = "publish"` (`ondes send`),
//! over WebSocket, HTTP ingest or WHIP (WebRTC).
//!
//! ```text
//! source thread ──frames──▶ writer ──(pacing, window, backpressure: SendFlow)──▶ socket
//! (file, tone, stdin,       codes each frame once (pcm16/Opus),                  │
//!  espeak-ng as it speaks)  batches, awaits every send                            │
//!                         ◀── reader: ack / backpressure / resume / error ────────┘
//! ```
//!
//! Honesty rules, because a publisher is where "packet loss" is most often manufactured:
//! - every frame is taken from the source once, gets the next sequence number, and is sent
//!   exactly once, in order; each send is awaited before the next frame is taken;
//! - pacing is by absolute deadlines ([`flow`], built on [`ondes_core::Pacer`]) or, with
//!   `burst`, by the server's backpressure — never by a guess;
//! - the report accounts for each frame: sent, acknowledged, or unconfirmed.
//!
//! **Reconnects.** When the connection drops, the publisher reconnects with exponential
//! backoff and jitter ([`backoff`]) and continues with the next frame; sequence numbers
//! continue too. The server treats the new connection as a new publisher session: its
//! queue's sequence tracking restarts (no gap is counted across sessions) and the stream
//! plays silence between the sessions (counted by the server as `idle_frames` while no
//! publisher is connected). Frames sent on the lost connection but never acknowledged are not
//! resent — if the old session had queued them they would play twice — and are reported as
//! `frames_unconfirmed`. A batch whose send failed was never handed to the socket, and is
//! sent on the next connection.

pub mod backoff;
pub mod connect;
pub mod encode;
pub mod fault;
pub mod flow;
pub mod frame_log;
mod ingest;
pub mod options;
pub mod report;
mod send;
pub mod session;
pub mod source;
mod whip;

pub use encode::SendCodec;
pub use flow::Pacing;
pub use options::{SendOptions, Target};
pub use report::SendReport;
pub use send::send;
pub use source::{Layout, SourceError, SourceSpec};

/// Why a send could not start, or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Codec(#[from] ondes_codec::CodecError),
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The send started but did not complete; the report says how far it got.
    #[error("{reason}")]
    Failed { reason: String, report: Box<SendReport> },
}

impl From<std::io::Error> for SendError {
    fn from(e: std::io::Error) -> Self {
        SendError::Source(SourceError::Io(e))
    }
}
