//! Icecast compatibility, the listening side: Ogg/Opus listening, Icecast's status JSON, and
//! the connection wrapper that lets source clients' unframed bodies through. Every stream
//! `{id}` is the mount `/{id}`. See `docs/icecast.md`. The source side (a source client
//! feeding a stream) is ingest: [`crate::ingest::icecast`].
//!
//! - [`conn`]: lets unframed `PUT`/`SOURCE` source bodies through hyper (the server's
//!   listener wraps every connection).
//! - [`listen`]: `GET /{mount}` — Ogg/Opus pages made once per rung and shared (the framing
//!   is `crate::egress::ogg`).
//! - [`status`]: `GET /status-json.xsl`.
//! - [`admin`]: `GET /admin/metadata` — a source client's title update.
//! - [`mount`]: the per-stream state behind all of it, source and listeners.

pub mod admin;
pub mod conn;
pub mod listen;
pub mod mount;
pub mod status;

pub use mount::IcecastState;
