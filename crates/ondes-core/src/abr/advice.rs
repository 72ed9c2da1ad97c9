//! What the server tells a client about its jitter buffer, so that every client — `ondes
//! listen`, the web player, the simulation's model client — sets the same floor the
//! controller plans with.
//!
//! The server sends a [`JitterAdvice`] in its `info` message and again in a `rung` message
//! when [`crate::abr::Decision::retargets_jitter`]; the client combines it with the round
//! trip it measured itself (the WebSocket handshake) and the audio per message
//! ([`JitterAdvice::bounds_us`]). See docs/protocol.md.

use serde::{Deserialize, Serialize};

use super::profile::{StreamingProfile, jitter_floor_us};
use super::reason::Decision;

/// The server's advice on the client's jitter-buffer bounds (`"jitter"` in `info`/`rung`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitterAdvice {
    /// The floor the server asks for, ms (the profile's target, or the controller's).
    pub target_ms: u32,
    /// The profile's ceiling of the buffer delay, ms.
    pub max_ms: u32,
    /// Round trips of margin the floor must also cover (for TCP retransmissions).
    pub rtts: u32,
}

impl JitterAdvice {
    /// The advice of a profile before any decision.
    pub fn for_profile(p: &StreamingProfile, rtts: u32) -> Self {
        JitterAdvice { target_ms: p.jitter_target_ms, max_ms: p.max_delay_ms, rtts }
    }

    /// The advice that goes with a decision that retargets the jitter buffer (`p` is the
    /// profile after the decision).
    pub fn after(d: &Decision, p: &StreamingProfile, rtts: u32) -> Self {
        JitterAdvice { target_ms: d.jitter_target_ms, max_ms: p.max_delay_ms, rtts }
    }

    /// `(min, max)` target delay in µs for a client that receives `message_us` of audio per
    /// message and measured a round trip of `rtt_us`.
    pub fn bounds_us(&self, message_us: u64, rtt_us: u64) -> (u64, u64) {
        let floor = jitter_floor_us(self.target_ms as u64 * 1000, message_us, self.rtts, rtt_us);
        (floor, (self.max_ms as u64 * 1000).max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abr::ProfileName;

    #[test]
    fn floor_covers_a_message_and_the_round_trips() {
        let a = JitterAdvice::for_profile(&ProfileName::Balanced.params(), 2);
        assert_eq!(a, JitterAdvice { target_ms: 60, max_ms: 2_000, rtts: 2 });
        // a short round trip: the profile's 60 ms... but a batch of 4 × 20 ms is 80 ms
        assert_eq!(a.bounds_us(80_000, 0), (80_000, 2_000_000));
        // a 3G round trip of 100 ms: 80 + 2 × 100
        assert_eq!(a.bounds_us(80_000, 100_000), (280_000, 2_000_000));
        // a floor above the ceiling lifts the ceiling (never an invalid pair)
        let deep = JitterAdvice { target_ms: 3_000, max_ms: 2_000, rtts: 8 };
        assert_eq!(deep.bounds_us(80_000, 0), (3_000_000, 3_000_000));
    }

    #[test]
    fn wire_form_is_plain_json() {
        let a = JitterAdvice { target_ms: 60, max_ms: 2_000, rtts: 2 };
        let v = serde_json::to_value(a).unwrap();
        assert_eq!(v, serde_json::json!({"target_ms": 60, "max_ms": 2000, "rtts": 2}));
        assert_eq!(serde_json::from_value::<JitterAdvice>(v).unwrap(), a);
    }
}
