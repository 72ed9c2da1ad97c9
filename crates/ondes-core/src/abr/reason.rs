//! Why the controller changed a listener's rung or profile: shown to the client in the
//! `rung` message, written to the log, and counted in metrics by [`Reason::code`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::profile::ProfileName;

/// The cause of a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum Reason {
    /// Audio is piling up at the server: the socket drains slower than we send.
    Backlog { backlog_ms: u32, capacity_kbps: Option<u32> },
    /// The server skipped the listener to live twice within seconds: audio waited longer
    /// than its latency budget (the last skip dropped `skipped_ms`).
    Lagged { skipped_ms: u32 },
    /// Round trips show a standing queue at the bottleneck.
    QueueDelay { queue_delay_ms: u32 },
    /// The transport's own bandwidth estimate (WebRTC congestion control) is below what
    /// the rung costs.
    Estimate { estimate_kbps: u32 },
    /// The client's buffer ran low or dry while it received slower than real time.
    ClientStarving { buffer_ms: u32, target_ms: u32, underruns: u64, receive_ratio: f32 },
    /// The estimate clears the next rung's cost by the margin, after a calm period.
    Probe { estimate_kbps: u32, next_kbps: u32, next_cost_kbps: u32 },
    /// Even the profile's lowest rung does not fit: fall back to `emergency_fallback`.
    Fallback { budget_kbps: u32 },
    /// The client ran dry with no shortage of bandwidth in sight: its packets arrive late
    /// (over TCP: lost and retransmitted, sometimes twice), so it needs a deeper buffer, not
    /// a lower rung. The rung stays; the jitter target grows to `rtts` round trips.
    LateFrames { rtts: u32 },
    /// Calm for a long while after [`Reason::LateFrames`]: the jitter target shrinks back.
    Calm { rtts: u32 },
    /// The link has room again for the requested profile.
    Recovered { estimate_kbps: u32 },
}

impl Reason {
    /// A stable label for metrics (`ondes_abr_switches_total{reason=…}`).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Backlog { .. } => "backlog",
            Reason::Lagged { .. } => "lagged",
            Reason::QueueDelay { .. } => "queue_delay",
            Reason::Estimate { .. } => "bandwidth_estimate",
            Reason::ClientStarving { .. } => "client_starving",
            Reason::Probe { .. } => "probe_up",
            Reason::Fallback { .. } => "fallback",
            Reason::LateFrames { .. } => "late_frames",
            Reason::Calm { .. } => "calm",
            Reason::Recovered { .. } => "recovered",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Backlog { backlog_ms, capacity_kbps: Some(c) } => {
                write!(f, "{backlog_ms} ms of audio waiting at the server; the link carries ~{c} kbit/s")
            }
            Reason::Backlog { backlog_ms, capacity_kbps: None } => {
                write!(f, "{backlog_ms} ms of audio waiting at the server")
            }
            Reason::Lagged { skipped_ms } => write!(
                f,
                "audio waited at the server past the latency budget twice within seconds \
                 ({skipped_ms} ms skipped to live)"
            ),
            Reason::QueueDelay { queue_delay_ms } => {
                write!(f, "round trips show a standing queue of {queue_delay_ms} ms")
            }
            Reason::Estimate { estimate_kbps } => write!(
                f,
                "the transport's bandwidth estimate (congestion control) is ~{estimate_kbps} kbit/s"
            ),
            Reason::ClientStarving { buffer_ms, target_ms, underruns, receive_ratio } => write!(
                f,
                "client buffer {buffer_ms} ms of {target_ms} ms target, {underruns} underruns, \
                 receiving {:.0}% of real time",
                receive_ratio * 100.0
            ),
            Reason::Probe { estimate_kbps, next_kbps, next_cost_kbps } => write!(
                f,
                "estimate {estimate_kbps} kbit/s clears the {next_kbps} kbit/s rung \
                 ({next_cost_kbps} kbit/s on the socket) with margin after a calm period"
            ),
            Reason::Fallback { budget_kbps } => {
                write!(f, "the lowest rung does not fit the ~{budget_kbps} kbit/s the link carries")
            }
            Reason::LateFrames { rtts } => write!(
                f,
                "underrun without a shortage of bandwidth: late packets need a deeper buffer \
                 ({rtts} round trips)"
            ),
            Reason::Calm { rtts } => {
                write!(f, "no late packets for a long while: jitter target back to {rtts} round trips")
            }
            Reason::Recovered { estimate_kbps } => {
                write!(f, "estimate {estimate_kbps} kbit/s has room for the requested profile again")
            }
        }
    }
}

/// Towards more quality (or less delay) or towards safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

/// A change the server must apply to the listener from its next message on, and announce
/// (`{"type":"rung","rung":"32","profile":"balanced","reason":"…"}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    pub at_us: u64,
    pub direction: Direction,
    pub from_rung: usize,
    /// Index into the ladder.
    pub rung: usize,
    pub kbps: u32,
    pub profile: ProfileName,
    pub profile_changed: bool,
    /// The client's jitter-buffer floor from now on, ms (changes with the profile and with
    /// [`Reason::LateFrames`] / [`Reason::Calm`]).
    pub jitter_target_ms: u32,
    pub reason: Reason,
}

impl Decision {
    /// Whether the client should take [`Decision::jitter_target_ms`] as its new floor: when
    /// the profile changes or the controller deepens or relaxes the floor on purpose — not
    /// for every rung change, whose target only follows the wobble of the measured round
    /// trip (a new floor costs a rebuffer).
    pub fn retargets_jitter(&self) -> bool {
        self.profile_changed || matches!(self.reason, Reason::LateFrames { .. } | Reason::Calm { .. })
    }
}
