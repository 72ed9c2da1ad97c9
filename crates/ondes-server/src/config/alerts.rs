//! Alert thresholds (`[alerts]`): when `/debug/connections` flags the server or a listener
//! (README, "Diagnostics"). The defaults suit a server that should never run hot; an
//! operator who runs one close to its limits on purpose raises them instead of learning to
//! ignore the alerts.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// `[alerts]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Above this share of the machine's CPU (all cores) the server is short of CPU.
    pub cpu_percent: f64,
    /// Below this share of the machine's memory available, the machine is close to swapping.
    pub memory_available_percent: f64,
    /// Above this share of the open-files limit, new connections will soon be refused.
    pub open_files_percent: f64,
    /// A live stream with no frame for this long has a stalled pipeline.
    pub stall_ms: u64,
    /// A listener whose delay stays above its target this long is not draining.
    pub recovery_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            cpu_percent: 85.0,
            memory_available_percent: 10.0,
            open_files_percent: 80.0,
            stall_ms: 2_000,
            recovery_ms: 3_000,
        }
    }
}

impl AlertsConfig {
    /// Percentages within (0, 100], times at least one frame long.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("alerts.cpu_percent", self.cpu_percent),
            ("alerts.memory_available_percent", self.memory_available_percent),
            ("alerts.open_files_percent", self.open_files_percent),
        ] {
            if !(v > 0.0 && v <= 100.0) {
                return Err(invalid(key, format!("{v} is not a percentage in (0, 100]")));
            }
        }
        if self.stall_ms < 100 {
            return Err(invalid("alerts.stall_ms", "must be at least 100 (a few frames)"));
        }
        if self.recovery_ms < 100 {
            return Err(invalid("alerts.recovery_ms", "must be at least 100"));
        }
        Ok(())
    }
}
