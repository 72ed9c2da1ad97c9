//! ondes client library.
//!
//! - [`publisher`]: sends audio to a publish stream (`ondes send ...`).
//! - [`listener`]: plays a stream through an adaptive jitter buffer (`ondes listen ...`).
//! - [`rtc`]: the WebRTC peer (str0m over one UDP socket) and WHEP/WHIP signalling.
//! - [`histogram`]: a lock-free latency histogram, for the listener and for load generators.
//!
//! The tools built on it (load generators, the netsim proxy, the probe) are in `ondes-tools`.

pub mod histogram;
pub mod listener;
pub mod publisher;
mod refusal;
pub mod rtc;
pub mod say;
pub mod spans;
pub mod tls;
