//! The ondes server: stream hubs fed by sources, delivered over HTTP.
//!
//! [`app`] builds the router (so tests can drive it), [`server::start`] binds and runs it
//! with the sources and the background sampler, and shuts everything down gracefully.

pub mod api;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod egress;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod hub;
pub mod icecast;
pub mod ingest;
pub mod log_limit;
pub mod metrics;
pub mod perf;
pub mod record;
pub mod server;
pub mod source;
pub mod state;
pub mod stream;
pub mod stream_title;
pub mod sysinfo;
pub mod trace;
pub mod webrtc;

pub use config::Config;
pub use http::app;
pub use server::{RunningServer, StartError, check, start};
