//! Per-frame traces on both ends of a publish connection, and the verdict on each frame.
//!
//! A voice-AI sender that sees "20% loss" needs to know whether its own code never sent
//! those frames, sent them late, or sent them and the network lost them. Three records
//! answer it, joined by sequence number:
//!
//! - [`SentFrame`]: one line of the sender's frame log (`ondes send --frame-log`): when the
//!   frame was captured, handed to the socket and acknowledged, or why it was never sent;
//! - [`ArrivedFrame`]: one entry of the server's bounded per-connection trace
//!   (`GET /api/streams/{id}/debug/connections/{conn}/trace`);
//! - [`classify`]: the sans-IO join of the two into a [`SenderLogReport`].

mod classify;

pub use classify::{FrameClass, FrameVerdict, SenderLogReport, classify};

use serde::{Deserialize, Serialize};

/// One frame as the sender saw it: a line of the frame log. Times are µs since the Unix
/// epoch (the sender's wall clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentFrame {
    pub seq: u64,
    /// The server's id for the connection it was sent on (`None` when never sent, or the
    /// server did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// Frame duration, µs (for lateness against the real-time schedule).
    pub frame_us: u32,
    /// When the frame was taken from the source (the capture timestamp on the wire).
    pub capture_us: i64,
    /// When its message was handed to the socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_us: Option<i64>,
    /// When the server's `ack` covering it arrived (none: the connection dropped first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_us: Option<i64>,
    /// Coded bytes of the frame.
    pub bytes: u32,
    /// Capture to hand-off: time spent waiting in the batch and in the send, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<f64>,
    /// Whether the frame was handed to the socket.
    pub sent: bool,
    /// Why not, when it was not (`fault_injection`, `queue_full`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One frame as the server saw it arrive on a publisher connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivedFrame {
    pub seq: u64,
    /// Arrival, µs since the Unix epoch (the server's wall clock).
    pub at_us: i64,
    /// Coded bytes of the frame.
    pub bytes: u32,
    /// Sequence numbers missing just before this one on this connection (0: none).
    pub gap: u64,
}

/// One frame as the server wrote it to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFrame {
    pub seq: u64,
    /// When the write was handed to the socket, µs since the Unix epoch.
    pub at_us: i64,
    pub bytes: u32,
}

/// A connection's trace as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTrace {
    pub connection: u64,
    pub stream: String,
    /// `publisher` or `listener`.
    pub kind: String,
    /// Whether the connection is still open (a closed one's trace is kept for a while).
    pub open: bool,
    /// The ring's size: the trace holds at most this many of the latest frames.
    pub capacity: usize,
    /// Frames recorded since the connection opened (more than `capacity`: the oldest are gone).
    pub recorded: u64,
    /// Publisher connections: frames that arrived, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrived: Vec<ArrivedFrame>,
    /// Listener connections: frames written, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<WrittenFrame>,
}
