//! Simulators of ondes, for its tools and tests.
//!
//! They live apart from `ondes-core` because nothing that streams audio needs them: the
//! server and the client library run the real state machines of `ondes-core`; these crates
//! model what is around them so the machines can be measured without a network.
//!
//! - [`netmodel`]: what a link (3G, Wi-Fi, fibre, satellite, a script of them) does to each
//!   packet, in simulated time and deterministic from a seed. `ondes netsim` drives the same
//!   model with the wall clock.
//! - [`abr`]: one listener's stream through the link model with the real adaptation
//!   controller and jitter buffer (`ondes bench adaptive`, the adaptive-streaming tests).
//! - [`attribution`]: which stage lost which frames, from counters (`ondes probe`).
//!
//! Like the core, everything here is sans-IO: time is an argument.

pub mod abr;
pub mod attribution;
pub mod netmodel;
