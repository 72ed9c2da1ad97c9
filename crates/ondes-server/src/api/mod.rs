//! The HTTP API's handlers: listening (SSE, WebSocket, WHEP), WHIP publishing, stream control, stats and
//! connection health, streams, performance, Prometheus metrics and the web dashboard.
//! Each parses its request, calls into the domain (hubs, egress, ingest, perf) and shapes
//! the answer.

pub mod cluster;
pub mod control;
pub mod dash;
pub mod diagnostics;
pub mod hls;
pub mod metrics;
pub mod perf;
pub mod recordings;
pub mod report;
pub mod say;
pub mod sse;
pub mod stats;
pub mod streams;
pub mod trace;
pub mod web;
pub mod whep;
pub mod whip;
pub mod ws;
