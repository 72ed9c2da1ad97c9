//! The JSON text messages of the WebSocket protocols (docs/protocol.md), both directions, as
//! serde enums tagged by their `type` field:
//!
//! | direction | enum | messages |
//! |---|---|---|
//! | server → listener | [`ToListener`] | `info`, `status`, `rung`, `pong`, `error` |
//! | listener → server | [`FromListener`] | `report`, `ping` |
//! | server → publisher | [`ToPublisher`] | `info`, `ack`, `backpressure`, `resume`, `error` |
//!
//! Publishers send only binary audio messages ([`super::audio`]): there is no JSON from a
//! publisher to the server.
//!
//! Messages from the server keep exactly the field names and shapes that clients in the wild
//! read. Messages from clients have a fixed schema: their known numeric fields and nothing
//! else. Unknown fields are skipped while parsing and never kept, so a server that holds on
//! to a report holds numbers, not a stranger's arbitrary JSON. A known field whose value is
//! not a usable number (a string, a negative count) reads as absent — as the server has
//! always treated it — rather than costing the listener its whole report.
//!
//! [`Status`] is also the body of the SSE `status` event, where it travels without `type`.
//!
//! ```
//! use ondes_core::proto::control::{FromListener, Status, ToListener};
//! let m: ToListener = serde_json::from_str(r#"{"type":"status","status":"lagged","skipped_frames":40}"#).unwrap();
//! assert!(matches!(m, ToListener::Status(Status::Lagged { skipped_frames: 40, .. })));
//! let r: FromListener = serde_json::from_str(r#"{"type":"report","underruns":2,"x":{"big":[1,2]}}"#).unwrap();
//! let FromListener::Report(r) = r else { panic!() };
//! assert_eq!(r.underruns, 2);
//! ```

mod from_listener;
mod number;
mod status;
mod to_listener;
mod to_publisher;

use serde::{Deserialize, Serialize};

pub use from_listener::{FromListener, Ping, Report};
pub use status::Status;
pub use to_listener::{ListenerInfo, Pong, Rung, ToListener};
pub use to_publisher::{Ack, Backpressure, PublisherInfo, Resume, ToPublisher};

/// `error`, in both protocols: `error` is a stable code (`bad_json`, `unknown_message`,
/// `out_of_order`, `stream_ended`, …), `message` says what went wrong and how to fix it.
/// Without `type` it is also the body of every HTTP error response of the API, so a client
/// reads a refused handshake with the same type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub error: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorMessage {
    /// The codes after which the server closes a listener's stream for good.
    pub const STREAM_ENDED: &'static str = "stream_ended";
    pub const SHUTTING_DOWN: &'static str = "shutting_down";

    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorMessage { error: error.into(), message: message.into() }
    }

    /// Whether the server ends the listener's stream with this error (the source is gone or
    /// the server stops); every other error is about one message and the stream goes on.
    pub fn ends_stream(&self) -> bool {
        self.error == Self::STREAM_ENDED || self.error == Self::SHUTTING_DOWN
    }
}

#[cfg(test)]
mod tests;
