//! The four streaming profiles: named sets of real parameters, and the scenarios that pick
//! them. docs/adaptive.md explains what each parameter buys and what it costs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A streaming profile's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileName {
    UltraPerformance,
    Balanced,
    HighThroughput,
    EmergencyFallback,
}

impl ProfileName {
    pub const ALL: [ProfileName; 4] = [
        ProfileName::UltraPerformance,
        ProfileName::Balanced,
        ProfileName::HighThroughput,
        ProfileName::EmergencyFallback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::UltraPerformance => "ultra_performance",
            ProfileName::Balanced => "balanced",
            ProfileName::HighThroughput => "high_throughput",
            ProfileName::EmergencyFallback => "emergency_fallback",
        }
    }

    pub fn params(self) -> StreamingProfile {
        StreamingProfile::of(self)
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rungs of the stream's quality ladder a profile may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "kbps")]
pub enum RungPolicy {
    /// Any rung, the top one included.
    All,
    /// Rungs of at least this bitrate (the top rung if none is that high).
    AtLeast(u32),
    /// Only the lowest rung.
    Lowest,
}

/// A named set of streaming parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StreamingProfile {
    pub name: ProfileName,
    /// Preferred Opus frame duration, µs. Shorter frames cut algorithmic and packetisation
    /// delay and cost header bytes per second; the stream's own `frame_ms` applies when the
    /// hub does not encode this duration (see [`StreamingProfile::batch_for`]).
    pub frame_us: u32,
    /// Frames per WebSocket message at `frame_us`.
    pub batch: u8,
    pub rungs: RungPolicy,
    /// Opus in-band FEC (LBRR) on, tuned for `expected_loss_percent`.
    pub fec: bool,
    pub expected_loss_percent: u8,
    /// Floor of the client's adaptive jitter-buffer target, ms.
    pub jitter_target_ms: u32,
    /// Ceiling of the client's jitter-buffer delay, ms (above it the client drops to catch up).
    pub max_delay_ms: u32,
}

impl StreamingProfile {
    pub fn of(name: ProfileName) -> StreamingProfile {
        match name {
            ProfileName::UltraPerformance => StreamingProfile {
                name,
                frame_us: 10_000,
                batch: 1,
                rungs: RungPolicy::All,
                fec: false,
                expected_loss_percent: 0,
                jitter_target_ms: 20,
                max_delay_ms: 400,
            },
            ProfileName::Balanced => StreamingProfile {
                name,
                frame_us: 20_000,
                batch: 4,
                rungs: RungPolicy::All,
                fec: true,
                expected_loss_percent: 5,
                jitter_target_ms: 60,
                max_delay_ms: 2_000,
            },
            ProfileName::HighThroughput => StreamingProfile {
                name,
                frame_us: 60_000,
                batch: 8,
                rungs: RungPolicy::AtLeast(64),
                fec: true,
                expected_loss_percent: 5,
                jitter_target_ms: 600,
                max_delay_ms: 3_000,
            },
            ProfileName::EmergencyFallback => StreamingProfile {
                name,
                frame_us: 60_000,
                batch: 4,
                rungs: RungPolicy::Lowest,
                fec: true,
                expected_loss_percent: 25,
                jitter_target_ms: 400,
                max_delay_ms: 3_000,
            },
        }
    }

    /// Audio per message, µs.
    pub fn message_us(&self) -> u64 {
        self.frame_us as u64 * self.batch as u64
    }

    /// Frames per message for a stream whose frames last `stream_frame_us`: the same audio
    /// per message as the profile asks for (at least one frame), so that a 20 ms stream
    /// serves `high_throughput` with 24-frame (480 ms) messages.
    pub fn batch_for(&self, stream_frame_us: u32) -> usize {
        (self.message_us().div_ceil(stream_frame_us.max(1) as u64) as usize).clamp(1, 255)
    }

    /// The floor a client over TCP should give its jitter buffer, µs: the profile's target,
    /// but at least one message plus three round trips — about 1.25 RTT for a lost segment's
    /// retransmission (see `ondes_sim::netmodel::LinkParams::retransmit_penalty_us`) and the
    /// rest for a burst of losses, whose retransmissions queue behind each other (on the
    /// `3g` link two round trips left 5 of 20 one-minute runs with one 120–200 ms underrun;
    /// three leave 2 with a 20 ms one, for one round trip more of latency). Below
    /// that, every loss is an underrun: the buffer's quantile estimator only learns of late
    /// packets after they happened, and on a link that loses a segment every half minute it
    /// forgets them in between. The client knows an RTT from the moment it connects (the
    /// WebSocket handshake) and refines it with pings.
    ///
    /// `rtts` is that multiplier (3 by default); the controller doubles it for a listener
    /// whose packets keep arriving later than that (a retransmission lost again costs
    /// another 2.5 RTT), see [`crate::abr::Reason::LateFrames`].
    ///
    /// This is the floor of a connection the server knows nothing about yet (the `info`
    /// message's advice). Once the server samples the connection's TCP state, the
    /// protection follows the retransmissions it sees ([`crate::abr::tcp_floor`],
    /// [`StreamingProfile::jitter_floor_with_us`]).
    pub fn jitter_floor_us(&self, rtt_us: u64, stream_frame_us: u32, rtts: u32) -> u64 {
        self.jitter_floor_with_us(stream_frame_us, rtts as u64 * rtt_us)
    }

    /// The profile's target, but at least one message plus `protection_us` (the room kept
    /// for late, retransmitted segments), µs.
    pub fn jitter_floor_with_us(&self, stream_frame_us: u32, protection_us: u64) -> u64 {
        let message = self.batch_for(stream_frame_us) as u64 * stream_frame_us as u64;
        (self.jitter_target_ms as u64 * 1000).max(message + protection_us)
    }

    /// Indices of the rungs this profile allows on an ascending ladder (never empty for a
    /// non-empty ladder).
    pub fn allowed(&self, ladder_kbps: &[u32]) -> std::ops::RangeInclusive<usize> {
        let top = ladder_kbps.len().saturating_sub(1);
        match self.rungs {
            RungPolicy::All => 0..=top,
            RungPolicy::Lowest => 0..=0,
            RungPolicy::AtLeast(k) => ladder_kbps.iter().position(|r| *r >= k).unwrap_or(top)..=top,
        }
    }
}

/// A TCP client's jitter-buffer floor, µs: `target_us` (what the server asks for), but at
/// least one message of `message_us` plus `rtts` round trips of `rtt_us` (see
/// [`StreamingProfile::jitter_floor_us`]). The server sends the first three (`info` and
/// `rung` messages, docs/protocol.md); the client measures the round trip.
pub fn jitter_floor_us(target_us: u64, message_us: u64, rtts: u32, rtt_us: u64) -> u64 {
    target_us.max(message_us + rtts as u64 * rtt_us)
}

/// What a listener asks for: a profile, a scenario (which names a profile), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileRequest {
    /// Start balanced; the controller may fall back to `emergency_fallback` and come back.
    Auto,
    /// This profile; the controller adapts the rung within it, and still falls back to
    /// `emergency_fallback` when even the profile's lowest rung does not fit the link.
    Fixed(ProfileName),
}

/// Why a profile or scenario name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown profile or scenario {0:?} (profiles: auto, ultra_performance, balanced, high_throughput, \
     emergency_fallback; scenarios: conversation, realtime, presentation, training)"
)]
pub struct UnknownProfile(pub String);

impl ProfileRequest {
    /// Parses `auto`, a profile name, or a scenario: `conversation`/`realtime` →
    /// ultra_performance, `presentation` → high_throughput, `training` → balanced.
    pub fn parse(s: &str) -> Result<ProfileRequest, UnknownProfile> {
        let name = match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" | "" => return Ok(ProfileRequest::Auto),
            "ultra_performance" | "conversation" | "realtime" => ProfileName::UltraPerformance,
            "balanced" | "training" => ProfileName::Balanced,
            "high_throughput" | "presentation" => ProfileName::HighThroughput,
            "emergency_fallback" => ProfileName::EmergencyFallback,
            _ => return Err(UnknownProfile(s.to_string())),
        };
        Ok(ProfileRequest::Fixed(name))
    }

    /// The profile a listener starts with.
    pub fn initial(self) -> ProfileName {
        match self {
            ProfileRequest::Auto => ProfileName::Balanced,
            ProfileRequest::Fixed(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_map_to_profiles() {
        let p = |s| ProfileRequest::parse(s).unwrap();
        assert_eq!(p("conversation"), ProfileRequest::Fixed(ProfileName::UltraPerformance));
        assert_eq!(p("realtime"), ProfileRequest::Fixed(ProfileName::UltraPerformance));
        assert_eq!(p("presentation"), ProfileRequest::Fixed(ProfileName::HighThroughput));
        assert_eq!(p("training"), ProfileRequest::Fixed(ProfileName::Balanced));
        assert_eq!(p("auto"), ProfileRequest::Auto);
        assert_eq!(p("emergency-fallback"), ProfileRequest::Fixed(ProfileName::EmergencyFallback));
        assert!(ProfileRequest::parse("fast").is_err());
    }

    #[test]
    fn allowed_rungs_and_batches() {
        let ladder = [16, 32, 64, 96, 128];
        assert_eq!(ProfileName::UltraPerformance.params().allowed(&ladder), 0..=4);
        assert_eq!(ProfileName::HighThroughput.params().allowed(&ladder), 2..=4);
        assert_eq!(ProfileName::HighThroughput.params().allowed(&[16, 32]), 1..=1);
        assert_eq!(ProfileName::EmergencyFallback.params().allowed(&ladder), 0..=0);
        assert_eq!(ProfileName::HighThroughput.params().batch_for(20_000), 24);
        assert_eq!(ProfileName::UltraPerformance.params().batch_for(20_000), 1);
        assert_eq!(ProfileName::Balanced.params().batch_for(20_000), 4);
    }
}
