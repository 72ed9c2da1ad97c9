//! Egress: one listener session for every transport.
//!
//! Per listener there is one [`ListenerSession`]: its subscription to the stream, its
//! cursor in the hub's ring, the control state it has been told, its lag and skip policy,
//! batching and accounting — the last three in the sans-IO machine
//! [`ondes_core::egress::ListenerEgress`]. A [`Transport`] only frames: the audio of a
//! group of frames (shared bytes, made once per key: [`crate::hub::wire`]) and the
//! notices, in its own protocol. Adding a transport means writing its framing:
//!
//! - [`sse`]: Server-Sent Events (`event: audio-frame` in JSON, lightweight or pcm16);
//! - [`ws`]: binary WebSocket messages (docs/protocol.md), with per-listener adaptation;
//! - [`ogg`]: Ogg/Opus pages over plain HTTP, Icecast-style;
//! - [`ogg_flac`] and [`mp3`]: lossless Ogg FLAC and MP3 over plain HTTP, Icecast-style;
//! - [`whep`]: Opus packets for WebRTC listeners (RTP and SRTP in [`crate::webrtc`]);
//! - [`hls`] and [`dash`]: fMP4 parts and segments cut once per rung and fetched by HTTP
//!   clients (they are not sessions: a segmenter per rung is the only reader of the hub).
//!
//! The HTTP layer admits a listener (one function for every transport, `crate::http::admission`),
//! builds its session and hands it to a writer: [`writer`] — one task per feed and core that
//! owns its listeners' sockets and writes with non-blocking vectored writes — for listeners
//! whose connection the server took over after the response head or the WebSocket handshake
//! (WebSocket frames are made by [`ws_frame`], the client's messages handled by
//! [`ws_session`]). A listener that came on a reused keep-alive connection is served by hyper
//! instead: [`body`] writes the SSE or Ogg response body, and the WebSocket route's loop
//! (tungstenite) a WebSocket.

pub mod body;
pub mod dash;
pub mod hls;
pub mod icy;
pub mod mp3;
pub mod ogg;
pub mod ogg_flac;
mod session;
pub mod sse;
pub mod sse_event;
pub mod tcp_info;
pub mod whep;
pub mod writer;
pub mod ws;
pub mod ws_frame;
pub mod ws_session;

pub use session::{ListenerSession, SessionNotice, SkipAction, Start, Transport};

/// What a `gap` status says when the source itself lost audio (SSE and WebSocket alike).
pub const SOURCE_GAP_MESSAGE: &str = "the source lost audio (a capture overrun); the missing frames are silence, counted as dropped at the source";

/// The status telling a resuming listener how its resume went, for every transport that
/// resumes (`Last-Event-ID` on SSE, `?last_seq=` on WebSocket); `asked` names what it sent.
pub fn resume_status(
    last_seen: u64,
    outcome: &ondes_core::ring::Resume,
    asked: &str,
) -> ondes_core::proto::control::Status {
    use ondes_core::proto::control::Status;
    use ondes_core::ring::Resume;
    let from_frame = last_seen.saturating_add(1);
    match outcome {
        Resume::Exact => Status::Resumed {
            skipped_while_paused: None,
            from_frame: Some(from_frame),
            missed_frames: Some(0),
        },
        Resume::Gap { missed } => Status::Gap {
            from_frame,
            missed_frames: Some(*missed),
            message: "the requested frames are no longer in the ring; continuing at live".into(),
        },
        Resume::Unknown => Status::Gap {
            from_frame,
            missed_frames: None,
            message: format!(
                "unknown {asked} (ahead of the stream, or more than an hour back); continuing at live"
            ),
        },
    }
}
