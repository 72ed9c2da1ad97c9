//! Adaptive streaming (`[abr]`): the delivery mode, the legacy delivery, the canary, the
//! adaptation controller's tuning, and the latency budget per profile (docs/adaptive.md).

use ondes_core::abr::{AbrConfig, CanaryConfig, DeliveryMode, ProfileName};
use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Adaptive streaming (`[abr]`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AbrSection {
    /// How `rung=auto` listeners are delivered when a stream starts: `adaptive` (a
    /// controller per listener), `legacy` (one fixed rung and profile) or `canary` (a share
    /// of new listeners adaptive, compared live with the rest, rolled back when worse).
    pub mode: DeliveryMode,
    /// What legacy delivery is (`[abr.legacy]`).
    pub legacy: LegacyDelivery,
    /// The canary's share, margin and hold (`[abr.canary]`).
    pub canary: CanaryConfig,
    /// At most one switch per listener per interval.
    pub interval_ms: u64,
    /// Hysteresis up: the estimate must clear the next rung's cost × this.
    pub up_margin: f64,
    /// Calm needed before a switch up.
    pub stable_ms: u64,
    /// After a switch down, no probing up for this long (doubling per failed probe).
    pub hold_ms: u64,
    /// Audio waiting at the server that counts as congestion.
    pub backlog_ms: u64,
    /// Standing queueing delay that counts as congestion.
    pub queue_delay_ms: u64,
    /// A switch down picks a rung costing at most this share of the measured capacity.
    pub headroom: f64,
    /// Growth of the estimate per second while app-limited and calm.
    pub growth_per_s: f64,
    /// The rung a listener starts on (the highest at or below it).
    pub start_kbps: u32,
    /// Round trips of jitter floor a listener starts with, and the most it is deepened to.
    pub jitter_rtts: u32,
    pub max_jitter_rtts: u32,
    /// The most audio a WebSocket listener of each profile may have waiting at the server
    /// before it is skipped to live (`[abr.latency_budget_ms]`); it replaces
    /// `server.max_listener_lag_ms` for those listeners.
    pub latency_budget_ms: LatencyBudgets,
}

impl Default for AbrSection {
    fn default() -> Self {
        let c = AbrConfig::default();
        AbrSection {
            mode: DeliveryMode::default(),
            legacy: LegacyDelivery::default(),
            canary: CanaryConfig::default(),
            interval_ms: c.interval_us / 1000,
            up_margin: c.up_margin,
            stable_ms: c.stable_us / 1000,
            hold_ms: c.hold_us / 1000,
            backlog_ms: c.backlog_us / 1000,
            queue_delay_ms: c.queue_delay_us / 1000,
            headroom: c.headroom,
            growth_per_s: c.growth_per_s,
            start_kbps: c.start_kbps,
            jitter_rtts: c.jitter_rtts,
            max_jitter_rtts: c.max_jitter_rtts,
            latency_budget_ms: LatencyBudgets::default(),
        }
    }
}

impl AbrSection {
    /// The controller settings for a stream whose frames last `stream_frame_us`.
    pub fn controller(&self, stream_frame_us: u32) -> AbrConfig {
        AbrConfig {
            interval_us: self.interval_ms * 1000,
            up_margin: self.up_margin,
            stable_us: self.stable_ms * 1000,
            hold_us: self.hold_ms * 1000,
            backlog_us: self.backlog_ms * 1000,
            queue_delay_us: self.queue_delay_ms * 1000,
            headroom: self.headroom,
            growth_per_s: self.growth_per_s,
            start_kbps: self.start_kbps,
            jitter_rtts: self.jitter_rtts,
            max_jitter_rtts: self.max_jitter_rtts,
            stream_frame_us,
            ..AbrConfig::default()
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.latency_budget_ms;
        for (key, ms) in [
            ("abr.latency_budget_ms.ultra_performance", b.ultra_performance),
            ("abr.latency_budget_ms.balanced", b.balanced),
            ("abr.latency_budget_ms.high_throughput", b.high_throughput),
            ("abr.latency_budget_ms.emergency_fallback", b.emergency_fallback),
        ] {
            if ms < 100 {
                return Err(invalid(key, "must be at least 100 (a listener needs a message on its way)"));
            }
        }
        if self.interval_ms == 0 {
            return Err(invalid("abr.interval_ms", "must be at least 1"));
        }
        if !(self.up_margin.is_finite() && self.up_margin > 0.0) {
            return Err(invalid("abr.up_margin", "must be a positive number (1.2: 20% hysteresis)"));
        }
        if !(self.headroom > 0.0 && self.headroom <= 1.0) {
            return Err(invalid("abr.headroom", "must be in (0, 1]"));
        }
        if !(self.growth_per_s.is_finite() && self.growth_per_s >= 0.0) {
            return Err(invalid("abr.growth_per_s", "must be 0 or more"));
        }
        if self.jitter_rtts == 0 || self.max_jitter_rtts < self.jitter_rtts {
            return Err(invalid("abr.jitter_rtts", "must be at least 1 and at most abr.max_jitter_rtts"));
        }
        self.canary.validate().map_err(|e| invalid("abr.canary", e.to_string()))
    }
}

/// Legacy delivery (`[abr.legacy]`): every `rung=auto` listener on one rung and profile.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LegacyDelivery {
    /// The rung, kbit/s: the highest rung at or below it (and under the stream's quality
    /// cap); 0 = the best rung the quality cap allows.
    pub rung_kbps: u32,
    pub profile: ProfileName,
}

impl Default for LegacyDelivery {
    fn default() -> Self {
        LegacyDelivery { rung_kbps: 0, profile: ProfileName::Balanced }
    }
}

/// Latency budget per streaming profile, ms.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyBudgets {
    pub ultra_performance: u64,
    pub balanced: u64,
    pub high_throughput: u64,
    pub emergency_fallback: u64,
}

impl Default for LatencyBudgets {
    fn default() -> Self {
        // a conversation cannot carry more than ~150 ms; a radio listener a few seconds
        LatencyBudgets {
            ultra_performance: 150,
            balanced: 400,
            high_throughput: 3_000,
            emergency_fallback: 3_000,
        }
    }
}

impl LatencyBudgets {
    /// The budget of `profile`, ms.
    pub fn of(&self, profile: ondes_core::abr::ProfileName) -> u64 {
        use ondes_core::abr::ProfileName as P;
        match profile {
            P::UltraPerformance => self.ultra_performance,
            P::Balanced => self.balanced,
            P::HighThroughput => self.high_throughput,
            P::EmergencyFallback => self.emergency_fallback,
        }
    }
}
