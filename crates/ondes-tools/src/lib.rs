//! ondes tools: programs that measure, stress or disturb a server, built on the client
//! library and the simulators. Nothing here is needed to stream audio.
//!
//! - [`bench`]: load generators that measure a running server (`ondes bench fanout`).
//! - [`codec_bench`]: the Opus engines side by side: CPU, quality, loss, DTX, interop (`ondes bench codec`).
//! - [`adaptive_bench`]: legacy vs adaptive streaming on simulated links (`ondes bench adaptive`).
//! - [`netsim`]: a TCP (or UDP) proxy that applies a link model to real traffic (`ondes netsim`).
//! - [`probe`]: loss and latency of a stream, attributed to the stage at fault (`ondes probe`).

pub mod adaptive_bench;
pub mod bench;
pub mod codec_bench;
pub mod netsim;
pub mod probe;
pub mod say_bench;
