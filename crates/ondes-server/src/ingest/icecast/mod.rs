//! Icecast sources: a source client (ffmpeg, butt, Liquidsoap, ices) feeding a stream declared
//! `source = "icecast"` with `PUT /{mount}` (or the legacy `SOURCE`). Its Ogg/Opus,
//! Ogg/Vorbis, Ogg/FLAC, MP3 or FLAC body is decoded to the stream's PCM frames and goes
//! through the same playout queue as WebSocket and HTTP publishers, so every transport gets
//! it, paced, with backpressure and `source-lost`. Ogg/Opus in the stream's layout also keeps
//! its packets for the matching rung (Opus passthrough).
//!
//! - [`source`]: the request's checks and answer; [`auth`]: source credentials.
//! - [`session`]: one source connection, body to pipe to decoder thread to playout queue.
//! - [`format`], [`decode`], [`symphonia_stream`], [`pipe`]: what the body is and its decoding.

pub mod auth;
pub mod decode;
pub mod format;
pub mod pipe;
pub mod session;
pub mod source;
pub mod symphonia_stream;
