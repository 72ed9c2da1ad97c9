//! A stream's delivery mode (legacy, adaptive, canary), forced profiles, and the canary's
//! live comparison ([`ondes_core::abr::Canary`]): the decisions are in the core; here they
//! are tied to the stream's control state, which every listener session watches, so that a
//! `set_mode`, a `set_profile` or an automatic rollback reaches listeners the way a pause does.

use std::collections::BTreeMap;
use std::sync::Arc;

use ondes_core::abr::{
    Arm, ArmFigures, Canary, CanaryConfig, CanaryConfigError, DeliveryMode, ListenerSample, ProfileName,
    Rollback, Verdict,
};
use parking_lot::Mutex;
use serde::Serialize;

use super::StreamHub;
use crate::clock::now_us;

/// What listeners of a stream follow, in its control state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeliveryPolicy {
    pub mode: DeliveryMode,
    /// A profile forced for every listener of the stream (`set_profile`).
    pub profile: Option<ProfileName>,
    /// Profiles forced for single connections, by connection id (they win over `profile`).
    pub connection_profiles: Arc<BTreeMap<u64, ProfileName>>,
}

impl DeliveryPolicy {
    /// The profile forced for connection `conn`, if any.
    pub fn forced_profile(&self, conn: u64) -> Option<ProfileName> {
        self.connection_profiles.get(&conn).copied().or(self.profile)
    }
}

/// The canary's state, behind a lock only reports and the control API take.
pub struct Delivery {
    canary: Mutex<Canary>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery { canary: Mutex::new(Canary::new(DeliveryMode::default(), CanaryConfig::default())) }
    }
}

/// The delivery part of a stream's report.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    pub mode: DeliveryMode,
    pub canary_fraction: f64,
    pub forced_profile: Option<ProfileName>,
    pub forced_connection_profiles: usize,
    pub legacy: ArmFigures,
    pub adaptive: ArmFigures,
    pub verdict: Verdict,
    pub rollback: Option<RollbackReport>,
    /// Legacy's concealed audio per listener-minute ÷ adaptive's (see
    /// [`Canary::improvement_factor`]).
    pub improvement_factor: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// ms since the epoch (the canary runs on the wall clock)
    pub at_ms: u64,
    pub reason: String,
}

impl StreamHub {
    /// Sets the mode and canary settings the stream starts with (from `[abr]`).
    pub fn configure_delivery(&self, mode: DeliveryMode, cfg: CanaryConfig) {
        *self.delivery.canary.lock() = Canary::new(mode, cfg);
        self.control.send_if_modified(|c| std::mem::replace(&mut c.delivery.mode, mode) != mode);
    }

    /// The group a new `rung=auto` listener joins.
    pub fn assign_arm(&self) -> Arm {
        self.delivery.canary.lock().assign()
    }

    /// Switches the delivery mode at run time (`fraction`: the canary share).
    pub fn set_delivery_mode(
        &self,
        mode: DeliveryMode,
        fraction: Option<f64>,
    ) -> Result<(), CanaryConfigError> {
        self.delivery.canary.lock().set_mode(mode, fraction)?;
        self.control.send_if_modified(|c| std::mem::replace(&mut c.delivery.mode, mode) != mode);
        Ok(())
    }

    /// Forces `profile` (`None`: lifts the force) for the whole stream, or for connection
    /// `conn` only. Returns whether anything changed.
    pub fn force_profile(&self, profile: Option<ProfileName>, conn: Option<u64>) -> bool {
        self.control.send_if_modified(|c| match conn {
            None => std::mem::replace(&mut c.delivery.profile, profile) != profile,
            Some(id) => {
                let map = Arc::make_mut(&mut c.delivery.connection_profiles);
                match profile {
                    Some(p) => map.insert(id, p) != Some(p),
                    None => map.remove(&id).is_some(),
                }
            }
        })
    }

    /// A listener of group `arm` reported; returns a rollback if this report completed the
    /// evidence for one (it is applied already: the mode is legacy).
    pub fn delivery_report(&self, conn: u64, arm: Arm, sample: ListenerSample) -> Option<Rollback> {
        let now = now_us() as u64;
        let rollback = {
            let mut c = self.delivery.canary.lock();
            c.handle_report(conn, arm, sample, now);
            c.poll(now).1
        };
        if let Some(rb) = &rollback {
            tracing::warn!(stream = %self.id, reason = %rb.reason, "canary: adaptive delivery rolled back");
            self.control.send_if_modified(|c| {
                std::mem::replace(&mut c.delivery.mode, DeliveryMode::Legacy) != DeliveryMode::Legacy
            });
        }
        rollback
    }

    /// Connection `conn` left: its figures stop counting, a profile forced for it is lifted.
    pub fn delivery_forget(&self, conn: u64) {
        self.delivery.canary.lock().forget(conn);
        self.control.send_if_modified(|c| {
            c.delivery.connection_profiles.contains_key(&conn)
                && Arc::make_mut(&mut c.delivery.connection_profiles).remove(&conn).is_some()
        });
    }

    /// The delivery part of the stream's report now.
    pub fn delivery_report_now(&self) -> DeliveryReport {
        let now = now_us() as u64;
        let policy = self.control().delivery;
        let c = self.delivery.canary.lock();
        // a look, not a step: a rollback this would find is applied by the next report
        let (verdict, _) = c.clone().poll(now);
        DeliveryReport {
            mode: c.mode(),
            canary_fraction: c.config().fraction,
            forced_profile: policy.profile,
            forced_connection_profiles: policy.connection_profiles.len(),
            legacy: c.figures(Arm::Legacy, now),
            adaptive: c.figures(Arm::Adaptive, now),
            verdict,
            rollback: c
                .rollback()
                .map(|r| RollbackReport { at_ms: r.at_us / 1000, reason: r.reason.clone() }),
            improvement_factor: c.improvement_factor(now),
        }
    }
}
