//! ondes client library.
//!
//! - [`bench`]: load generators that measure a running server (`ondes bench ...`).
//! - [`publisher`]: sends audio to a publish stream (`ondes send ...`).
//! - [`listener`]: plays a stream through an adaptive jitter buffer (`ondes listen ...`).
//! - [`adaptive_bench`]: legacy vs adaptive streaming on simulated links (`ondes bench adaptive`).
//! - [`netsim`]: a TCP proxy that applies a link model to real traffic (`ondes netsim`).

pub mod adaptive_bench;
pub mod bench;
pub mod listener;
pub mod netsim;
pub mod probe;
pub mod publisher;
