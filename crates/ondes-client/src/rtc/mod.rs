//! The client side of WebRTC, shared by the WHEP listener, the WHIP publisher, the probe and
//! the fanout bench.
//!
//! - [`peer`]: one `str0m::Rtc` (sans-IO) driven over one UDP socket. Unlike the server,
//!   which is ICE-lite, the client is a full ICE agent: it has one host candidate (the
//!   socket it binds, on the address that routes to the server) and sends the connectivity
//!   checks.
//! - [`signal`]: the HTTP half of WHEP/WHIP: POST the SDP offer, read the answer and the
//!   session's `Location`, DELETE it at the end. No trickle ICE: the server is ICE-lite
//!   and answers with all its candidates.
//! - [`receiver`]: a WHEP session as frames (number, capture time, Opus packet).
//! - [`red`]: which of those frames str0m rebuilt from RED redundancy.

pub mod peer;
pub mod receiver;
pub mod red;
pub mod signal;

pub use peer::{PeerError, RtcPeer};
pub use receiver::{RtpFrame, WhepError, WhepEvent, WhepReceiver};
pub use signal::{SignalError, WhepSession};
