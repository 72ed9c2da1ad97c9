//! Adaptive streaming: the streaming profiles, a per-listener adaptation controller and the
//! throughput estimator it relies on. All sans-IO: time is an argument. The simulation that
//! runs a stream through a link model to measure them is in the `ondes-sim` crate.
//!
//! See docs/adaptive.md for the design and docs/abr-integration.md for how the server
//! drives a [`Controller`].

mod advice;
mod canary;
mod config;
mod controller;
pub mod cost;
mod estimator;
mod profile;
mod reason;
pub mod tcp_floor;

pub use advice::JitterAdvice;
pub use canary::{
    Arm, ArmFigures, Canary, CanaryConfig, CanaryConfigError, DeliveryMode, ListenerSample, Rollback,
    UnknownMode, Verdict,
};
pub use config::AbrConfig;
pub use controller::{AbrError, AbrStats, ClientReport, Controller, SendState};
pub use estimator::{RateSample, RttFilter, ThroughputEstimator};
pub use profile::{
    ProfileName, ProfileRequest, RungPolicy, StreamingProfile, UnknownProfile, jitter_floor_us,
};
pub use reason::{Decision, Direction, Reason};
pub use tcp_floor::{TcpFloor, TcpInfo};

/// The default Opus ladder of the benchmark and tests, kbit/s.
pub const DEFAULT_LADDER_KBPS: [u32; 5] = [16, 32, 64, 96, 128];

#[cfg(test)]
mod tests;
