//! A network link model for simulated time: what a 3G, Wi-Fi, fibre or satellite path (or a
//! scripted mix of them) does to each packet — queueing at a rate-limited bottleneck with a
//! bounded drop-tail buffer, base delay, heavy-tailed jitter, independent and bursty
//! (Gilbert–Elliott) loss, and reordering.
//!
//! It is sans-IO and deterministic from a seed: the adaptive-streaming tests and
//! `ondes bench adaptive` drive it with a simulated clock (a minute of streaming in
//! milliseconds of CPU, the same result every run), and the `ondes netsim` proxy drives the
//! same model with the wall clock on real sockets.
//!
//! ```
//! use ondes_sim::netmodel::{Link, LinkParams, Mode, Outcome};
//! let mut link = Link::new(LinkParams::profile("wifi").unwrap(), Mode::Datagram, 42);
//! match link.send(1200, 0) {
//!     Outcome::Delivered(d) => assert!(d.at_us >= 20_000), // 20 ms base delay
//!     Outcome::Dropped(reason) => println!("lost: {reason:?}"),
//! }
//! ```

mod jitter;
mod link;
mod params;
mod rng;
mod schedule;
mod script;
mod sender;
mod units;

pub use jitter::{Jitter, JitterShape};
pub use link::{Delivery, DropReason, Link, LinkStats, Mode, Outcome};
pub use params::{LinkParams, PROFILE_NAMES, QueueLimit};
pub use rng::SimRng;
pub use schedule::Schedule;
pub use script::{DROP_SCRIPT, SCENARIO_NAMES, parse_script, schedule_by_name};
pub use sender::SenderView;
pub use units::{parse_rate, parse_time_us};

/// Bytes of IPv4 + TCP headers (with the timestamp option Linux uses) per segment.
pub const TCP_IP_OVERHEAD: usize = 52;
/// TCP payload per full segment on a 1500-byte MTU path with timestamps.
pub const TCP_MSS: usize = 1448;
/// Bytes of IPv4 + UDP headers per datagram.
pub const UDP_IP_OVERHEAD: usize = 28;

/// Errors in link profiles, overrides and scripts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetmodelError {
    #[error("unknown link profile {0:?} (known: 3g, wifi, fiber, satellite, custom)")]
    UnknownProfile(String),
    #[error(
        "unknown link parameter {0:?} (known: bw, delay, jitter, jitter_dist, loss, burst, queue, reorder, reorder_delay)"
    )]
    UnknownKey(String),
    #[error("bad value {value:?} for {key}: expected {expected}")]
    BadValue { key: String, value: String, expected: &'static str },
    #[error("script line {line}: {message}")]
    Script { line: usize, message: String },
}

#[cfg(test)]
mod tests;
