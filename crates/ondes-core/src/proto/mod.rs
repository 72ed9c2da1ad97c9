//! The wire protocol of ondes, one module per kind of message, each with the one
//! encoder/decoder the server, the Rust client and the tools share (docs/protocol.md is the
//! contract; the JS client mirrors it).
//!
//! - [`audio`]: the binary WebSocket audio message (both directions).
//! - [`control`]: every JSON text message of the WebSocket listener and publisher
//!   protocols, both directions, as serde enums.
//! - [`sse`]: an incremental Server-Sent Events parser.
//!
//! Like the rest of the core this is sans-IO: bytes and strings in, values out.

pub mod audio;
pub mod control;
pub mod sse;
