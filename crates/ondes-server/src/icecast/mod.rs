//! Icecast compatibility: the source protocol in, Ogg/Opus listening out, Icecast's status
//! JSON. Every stream `{id}` is the mount `/{id}`. See `docs/icecast.md`.
//!
//! - [`conn`]: lets unframed `PUT`/`SOURCE` source bodies through hyper (the server's
//!   listener wraps every connection).
//! - [`source`], [`session`], [`decode`], [`symphonia_stream`], [`pipe`], [`format`],
//!   [`auth`]: a source client (ffmpeg, butt, Liquidsoap, ices) feeding a stream declared
//!   `source = "icecast"`. Its Ogg/Opus, Ogg/Vorbis, Ogg/FLAC, MP3 or FLAC body is decoded to
//!   the stream's PCM frames and goes through the same playout queue as WebSocket and HTTP
//!   publishers, so every transport gets it, paced, with backpressure and `source-lost`.
//! - [`listen`]: `GET /{mount}` — Ogg/Opus pages made once per rung and shared (the framing
//!   is `crate::egress::ogg`).
//! - [`status`]: `GET /status-json.xsl`.
//! - [`mount`]: the per-stream state behind all of it.

pub mod auth;
pub mod conn;
pub mod decode;
pub mod format;
pub mod listen;
pub mod mount;
pub mod pipe;
pub mod session;
pub mod source;
pub mod status;
pub mod symphonia_stream;

pub use mount::IcecastState;
