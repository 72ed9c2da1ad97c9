//! Delivery modes and the canary that guards the move from legacy to adaptive delivery.
//!
//! A stream delivers in one of three modes: `legacy` (every listener on one fixed rung and
//! profile, no adaptation), `adaptive` (a [`super::Controller`] per listener), or `canary`:
//! a fraction of *new* listeners gets adaptive, the rest legacy, and the two groups are
//! compared live on what their listeners report. Adaptive delivery that is worse than
//! legacy by more than a margin, for longer than a hold time, is rolled back to legacy on
//! its own, with the reason kept for the report — the safe switch a service wants before
//! it trusts a new delivery path with all its listeners.
//!
//! [`Canary`] is sans-IO: reports and time come in as arguments, the verdict goes out.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How a stream delivers to listeners that asked for `rung=auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// One fixed rung and profile for everyone (no adaptation).
    Legacy,
    /// A controller per listener.
    #[default]
    Adaptive,
    /// A fraction of new listeners adaptive, the rest legacy, compared live.
    Canary,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Legacy => "legacy",
            DeliveryMode::Adaptive => "adaptive",
            DeliveryMode::Canary => "canary",
        }
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a mode name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery mode {0:?} (use legacy, adaptive or canary)")]
pub struct UnknownMode(pub String);

impl std::str::FromStr for DeliveryMode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "legacy" => Ok(DeliveryMode::Legacy),
            "adaptive" => Ok(DeliveryMode::Adaptive),
            "canary" => Ok(DeliveryMode::Canary),
            _ => Err(UnknownMode(s.to_string())),
        }
    }
}

/// Which way one listener is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Legacy,
    Adaptive,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Legacy => "legacy",
            Arm::Adaptive => "adaptive",
        }
    }
}

/// Settings of the canary comparison, with the reason for each default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryConfig {
    /// Share of new listeners delivered adaptively in `canary` mode: small, so that a bad
    /// adaptive path hurts few listeners before it is rolled back.
    pub fraction: f64,
    /// How much worse adaptive may be before it counts as worse, percent: listeners' links
    /// differ, so two groups of the same delivery never measure exactly alike.
    pub margin_percent: f64,
    /// Worse for this long, continuously, before the rollback: one bad minute of one
    /// listener's Wi-Fi should not decide for the whole stream.
    pub rollback_after_secs: f64,
    /// The comparison looks at this much recent history: short next to the hold, so that a
    /// single bad spell leaves the figures before it can trigger a rollback, while a
    /// lasting difference keeps them apart for the whole hold.
    pub window_secs: f64,
    /// Each group needs at least this many reporting listeners to be compared.
    pub min_listeners: usize,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfig {
            fraction: 0.1,
            margin_percent: 20.0,
            rollback_after_secs: 30.0,
            window_secs: 10.0,
            min_listeners: 1,
        }
    }
}

/// Why a canary setting was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CanaryConfigError {
    #[error("canary fraction must be in (0, 1), got {0}")]
    Fraction(f64),
    #[error("canary {0} must be a positive number, got {1}")]
    NotPositive(&'static str, f64),
}

impl CanaryConfig {
    pub fn validate(&self) -> Result<(), CanaryConfigError> {
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            return Err(CanaryConfigError::Fraction(self.fraction));
        }
        for (name, v) in [
            ("margin_percent", self.margin_percent),
            ("rollback_after_secs", self.rollback_after_secs),
            ("window_secs", self.window_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(CanaryConfigError::NotPositive(name, v));
            }
        }
        Ok(())
    }
}

/// What one listener reported, cumulative since it connected (the server turns reports and
/// its own byte counters into this).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ListenerSample {
    pub underruns: u64,
    pub concealed_ms: u64,
    /// Capture → playout, as the listener measured it last.
    pub latency_ms: Option<f64>,
    /// Audio payload bytes and bytes written to this listener.
    pub payload_bytes: u64,
    pub bytes: u64,
}

/// One group's figures over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ArmFigures {
    /// Listeners of this group that reported within the window.
    pub listeners: usize,
    /// Listening time the window covers, summed over listeners, s.
    pub listener_secs: f64,
    pub underruns_per_min: f64,
    /// Audio the listeners had to conceal (stalls, losses), ms per listener-minute.
    pub concealed_ms_per_min: f64,
    /// Median over listeners of their last reported latency.
    pub latency_p50_ms: Option<f64>,
    pub efficiency_percent: Option<f64>,
}

/// The comparison's outcome now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Verdict {
    /// Not canary mode, or a group has too few reporting listeners.
    NotCompared,
    /// Adaptive is no worse than legacy beyond the margin.
    AdaptiveOk,
    /// Adaptive is worse (`reason`) and has been for `for_secs`.
    AdaptiveWorse { reason: String, for_secs: f64 },
}

/// Why and when adaptive delivery was rolled back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollback {
    pub at_us: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
struct Delta {
    at_us: u64,
    arm: Arm,
    secs: f64,
    underruns: u64,
    concealed_ms: u64,
    payload: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Listener {
    arm: Arm,
    last: ListenerSample,
    last_at_us: u64,
}

/// The canary: assigns new listeners to groups, compares the groups, decides a rollback.
#[derive(Debug, Clone)]
pub struct Canary {
    cfg: CanaryConfig,
    mode: DeliveryMode,
    /// New listeners assigned in canary mode (the assignment spreads the adaptive share
    /// evenly: listener k is adaptive when ⌊(k+1)·f⌋ > ⌊k·f⌋).
    assigned: u64,
    listeners: HashMap<u64, Listener>,
    /// Changes of the listeners' counters, oldest first, within the window.
    deltas: std::collections::VecDeque<Delta>,
    worse_since_us: Option<u64>,
    rollback: Option<Rollback>,
}

impl Canary {
    pub fn new(mode: DeliveryMode, cfg: CanaryConfig) -> Canary {
        Canary {
            cfg,
            mode,
            assigned: 0,
            listeners: HashMap::new(),
            deltas: Default::default(),
            worse_since_us: None,
            rollback: None,
        }
    }

    pub fn mode(&self) -> DeliveryMode {
        self.mode
    }

    pub fn config(&self) -> &CanaryConfig {
        &self.cfg
    }

    /// The last rollback, if adaptive delivery was rolled back.
    pub fn rollback(&self) -> Option<&Rollback> {
        self.rollback.as_ref()
    }

    /// Switches the mode (an operator's `set_mode`); `fraction` changes the canary share.
    /// Clears the record of a previous rollback, since someone chose again.
    pub fn set_mode(&mut self, mode: DeliveryMode, fraction: Option<f64>) -> Result<(), CanaryConfigError> {
        if let Some(f) = fraction {
            let cfg = CanaryConfig { fraction: f, ..self.cfg };
            cfg.validate()?;
            self.cfg = cfg;
        }
        self.mode = mode;
        self.rollback = None;
        self.worse_since_us = None;
        self.assigned = 0;
        Ok(())
    }

    /// The group of a new listener, in the current mode.
    pub fn assign(&mut self) -> Arm {
        match self.mode {
            DeliveryMode::Legacy => Arm::Legacy,
            DeliveryMode::Adaptive => Arm::Adaptive,
            DeliveryMode::Canary => {
                let k = self.assigned as f64;
                self.assigned += 1;
                let f = self.cfg.fraction;
                if ((k + 1.0) * f).floor() > (k * f).floor() { Arm::Adaptive } else { Arm::Legacy }
            }
        }
    }

    /// The group listeners that were adaptive move to after a change to `mode`: legacy and
    /// adaptive apply to everyone; canary keeps each listener where it is.
    pub fn arm_after_mode_change(mode: DeliveryMode, arm: Arm) -> Arm {
        match mode {
            DeliveryMode::Legacy => Arm::Legacy,
            DeliveryMode::Adaptive => Arm::Adaptive,
            DeliveryMode::Canary => arm,
        }
    }

    /// A listener's report (its counters cumulative since it connected) at `now_us`.
    /// A listener seen for the first time, or in a new group, starts from this report.
    pub fn handle_report(&mut self, listener: u64, arm: Arm, sample: ListenerSample, now_us: u64) {
        match self.listeners.get_mut(&listener) {
            Some(l) if l.arm == arm => {
                let d = Delta {
                    at_us: now_us,
                    arm,
                    secs: now_us.saturating_sub(l.last_at_us) as f64 / 1e6,
                    underruns: sample.underruns.saturating_sub(l.last.underruns),
                    concealed_ms: sample.concealed_ms.saturating_sub(l.last.concealed_ms),
                    payload: sample.payload_bytes.saturating_sub(l.last.payload_bytes),
                    bytes: sample.bytes.saturating_sub(l.last.bytes),
                };
                l.last = sample;
                l.last_at_us = now_us;
                self.deltas.push_back(d);
            }
            _ => {
                self.listeners.insert(listener, Listener { arm, last: sample, last_at_us: now_us });
            }
        }
        self.expire(now_us);
    }

    /// The listener left.
    pub fn forget(&mut self, listener: u64) {
        self.listeners.remove(&listener);
    }

    fn window_us(&self) -> u64 {
        (self.cfg.window_secs * 1e6) as u64
    }

    fn expire(&mut self, now_us: u64) {
        let from = now_us.saturating_sub(self.window_us());
        while self.deltas.front().is_some_and(|d| d.at_us < from) {
            self.deltas.pop_front();
        }
        // a listener that stopped reporting (gone without a `forget`) ages out too
        self.listeners.retain(|_, l| l.last_at_us >= from);
    }

    /// The figures of `arm` over the window ending at `now_us`.
    pub fn figures(&self, arm: Arm, now_us: u64) -> ArmFigures {
        let from = now_us.saturating_sub(self.window_us());
        let mut f = ArmFigures::default();
        let (mut under, mut concealed, mut payload, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        for d in self.deltas.iter().filter(|d| d.arm == arm && d.at_us >= from) {
            f.listener_secs += d.secs;
            under += d.underruns;
            concealed += d.concealed_ms;
            payload += d.payload;
            bytes += d.bytes;
        }
        let mut lat: Vec<f64> = Vec::new();
        for l in self.listeners.values().filter(|l| l.arm == arm && l.last_at_us >= from) {
            f.listeners += 1;
            lat.extend(l.last.latency_ms);
        }
        if f.listener_secs > 0.0 {
            let mins = f.listener_secs / 60.0;
            f.underruns_per_min = round1(under as f64 / mins);
            f.concealed_ms_per_min = round1(concealed as f64 / mins);
        }
        f.listener_secs = round1(f.listener_secs);
        lat.sort_by(f64::total_cmp);
        f.latency_p50_ms = (!lat.is_empty()).then(|| round1(lat[(lat.len() - 1) / 2]));
        f.efficiency_percent = (bytes > 0).then(|| round1(payload as f64 * 100.0 / bytes as f64));
        f
    }

    /// Why adaptive is worse than legacy beyond the margin, if it is.
    fn worse(&self, a: &ArmFigures, l: &ArmFigures) -> Option<String> {
        let m = 1.0 + self.cfg.margin_percent / 100.0;
        let pct = self.cfg.margin_percent;
        // stalls: a floor of 100 ms per listener-minute, so that 3 ms against 0 is no verdict
        if a.concealed_ms_per_min > (l.concealed_ms_per_min * m).max(l.concealed_ms_per_min + 100.0) {
            return Some(format!(
                "adaptive listeners concealed {:.0} ms of audio per minute against {:.0} ms for legacy (margin {pct}%)",
                a.concealed_ms_per_min, l.concealed_ms_per_min
            ));
        }
        if let (Some(al), Some(ll)) = (a.latency_p50_ms, l.latency_p50_ms)
            && al > (ll * m).max(ll + 20.0)
        {
            return Some(format!(
                "adaptive listeners' latency p50 is {al:.0} ms against {ll:.0} ms for legacy (margin {pct}%)"
            ));
        }
        if let (Some(ae), Some(le)) = (a.efficiency_percent, l.efficiency_percent)
            && ae < le / m
        {
            return Some(format!(
                "adaptive delivery's efficiency is {ae:.1}% against {le:.1}% for legacy (margin {pct}%)"
            ));
        }
        None
    }

    /// Compares the groups at `now_us`. In canary mode, adaptive worse for
    /// `rollback_after_secs` switches the mode to legacy and returns the [`Rollback`]
    /// (once); the caller moves the adaptive listeners.
    pub fn poll(&mut self, now_us: u64) -> (Verdict, Option<Rollback>) {
        self.expire(now_us);
        if self.mode != DeliveryMode::Canary {
            self.worse_since_us = None;
            return (Verdict::NotCompared, None);
        }
        let (a, l) = (self.figures(Arm::Adaptive, now_us), self.figures(Arm::Legacy, now_us));
        let enough = |f: &ArmFigures| f.listeners >= self.cfg.min_listeners.max(1) && f.listener_secs > 0.0;
        if !enough(&a) || !enough(&l) {
            self.worse_since_us = None;
            return (Verdict::NotCompared, None);
        }
        let Some(reason) = self.worse(&a, &l) else {
            self.worse_since_us = None;
            return (Verdict::AdaptiveOk, None);
        };
        let since = *self.worse_since_us.get_or_insert(now_us);
        let for_secs = now_us.saturating_sub(since) as f64 / 1e6;
        if for_secs >= self.cfg.rollback_after_secs {
            let rb = Rollback {
                at_us: now_us,
                reason: format!("{reason}, for {for_secs:.0} s: rolled back to legacy"),
            };
            self.mode = DeliveryMode::Legacy;
            self.rollback = Some(rb.clone());
            self.worse_since_us = None;
            return (Verdict::AdaptiveWorse { reason, for_secs }, Some(rb));
        }
        (Verdict::AdaptiveWorse { reason, for_secs }, None)
    }

    /// How much better adaptive delivers than legacy over the window: legacy's concealed
    /// audio per listener-minute ÷ adaptive's, each floored at 1 ms so that two clean groups
    /// give 1.0. `None` until both groups have reported.
    pub fn improvement_factor(&self, now_us: u64) -> Option<f64> {
        let (a, l) = (self.figures(Arm::Adaptive, now_us), self.figures(Arm::Legacy, now_us));
        (a.listener_secs > 0.0 && l.listener_secs > 0.0).then(|| {
            let r = l.concealed_ms_per_min.max(1.0) / a.concealed_ms_per_min.max(1.0);
            (r * 100.0).round() / 100.0
        })
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn cfg() -> CanaryConfig {
        CanaryConfig { fraction: 0.5, rollback_after_secs: 5.0, window_secs: 2.0, ..CanaryConfig::default() }
    }

    fn sample(underruns: u64, concealed_ms: u64, latency: f64, secs: u64) -> ListenerSample {
        ListenerSample {
            underruns,
            concealed_ms,
            latency_ms: Some(latency),
            payload_bytes: secs * 8_000,
            bytes: secs * 8_400,
        }
    }

    #[test]
    fn canary_assigns_the_fraction_evenly() {
        let mut c =
            Canary::new(DeliveryMode::Canary, CanaryConfig { fraction: 0.25, ..CanaryConfig::default() });
        let arms: Vec<Arm> = (0..8).map(|_| c.assign()).collect();
        assert_eq!(arms.iter().filter(|a| **a == Arm::Adaptive).count(), 2);
        assert_eq!(arms[3], Arm::Adaptive);
        assert_eq!(arms[0], Arm::Legacy);
        let mut legacy = Canary::new(DeliveryMode::Legacy, cfg());
        assert_eq!(legacy.assign(), Arm::Legacy);
        let mut adaptive = Canary::new(DeliveryMode::Adaptive, cfg());
        assert_eq!(adaptive.assign(), Arm::Adaptive);
    }

    #[test]
    fn a_worse_adaptive_group_is_rolled_back_after_the_hold() {
        let mut c = Canary::new(DeliveryMode::Canary, cfg());
        // legacy listener 1 is clean; adaptive listener 2 conceals 500 ms every second
        for t in 0..=20u64 {
            let now = t * S;
            c.handle_report(1, Arm::Legacy, sample(0, 0, 80.0, t), now);
            c.handle_report(2, Arm::Adaptive, sample(t, t * 500, 90.0, t), now);
            let (v, rb) = c.poll(now);
            match t {
                0 => assert_eq!(v, Verdict::NotCompared),
                1..=5 => {
                    assert!(matches!(v, Verdict::AdaptiveWorse { .. }), "t={t}: {v:?}");
                    assert!(rb.is_none(), "t={t}");
                }
                6 => {
                    let rb = rb.expect("rolled back after 5 s worse");
                    assert!(rb.reason.contains("concealed"), "{}", rb.reason);
                    assert_eq!(c.mode(), DeliveryMode::Legacy);
                }
                _ => assert_eq!(v, Verdict::NotCompared, "no longer canary"),
            }
        }
        assert!(c.rollback().is_some());
        assert!(c.improvement_factor(20 * S).unwrap() < 0.01);
    }

    #[test]
    fn a_short_bad_spell_or_a_small_difference_does_not_roll_back() {
        let mut c = Canary::new(DeliveryMode::Canary, cfg());
        let mut concealed = 0;
        for t in 0..=30u64 {
            // bad for 3 s (below the 5 s hold), then 10% more latency than legacy (within 20%)
            if (2..5).contains(&t) {
                concealed += 400;
            }
            c.handle_report(1, Arm::Legacy, sample(0, 0, 100.0, t), t * S);
            c.handle_report(2, Arm::Adaptive, sample(0, concealed, 110.0, t), t * S);
            let (_, rb) = c.poll(t * S);
            assert!(rb.is_none(), "t={t}");
        }
        assert_eq!(c.mode(), DeliveryMode::Canary);
        // the spell ages out of the window: adaptive is fine again
        assert_eq!(c.poll(30 * S).0, Verdict::AdaptiveOk);
    }

    #[test]
    fn latency_and_efficiency_count_too() {
        let mut c = Canary::new(DeliveryMode::Canary, cfg());
        c.handle_report(1, Arm::Legacy, sample(0, 0, 100.0, 0), 0);
        c.handle_report(2, Arm::Adaptive, sample(0, 0, 400.0, 0), 0);
        c.handle_report(1, Arm::Legacy, sample(0, 0, 100.0, 1), S);
        c.handle_report(2, Arm::Adaptive, sample(0, 0, 400.0, 1), S);
        match c.poll(S).0 {
            Verdict::AdaptiveWorse { reason, .. } => assert!(reason.contains("latency"), "{reason}"),
            v => panic!("{v:?}"),
        }
        let mut c = Canary::new(DeliveryMode::Canary, cfg());
        let thin = |s: u64| ListenerSample { payload_bytes: s * 4_000, ..sample(0, 0, 100.0, s) };
        c.handle_report(1, Arm::Legacy, sample(0, 0, 100.0, 0), 0);
        c.handle_report(2, Arm::Adaptive, thin(0), 0);
        c.handle_report(1, Arm::Legacy, sample(0, 0, 100.0, 1), S);
        c.handle_report(2, Arm::Adaptive, thin(1), S);
        match c.poll(S).0 {
            Verdict::AdaptiveWorse { reason, .. } => assert!(reason.contains("efficiency"), "{reason}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn groups_need_reporting_listeners_and_gone_ones_age_out() {
        let mut c = Canary::new(DeliveryMode::Canary, cfg());
        c.handle_report(2, Arm::Adaptive, sample(0, 0, 90.0, 0), 0);
        c.handle_report(2, Arm::Adaptive, sample(5, 5000, 90.0, 1), S);
        assert_eq!(c.poll(S).0, Verdict::NotCompared, "no legacy listener to compare with");
        assert_eq!(c.figures(Arm::Adaptive, S).listeners, 1);
        assert_eq!(c.figures(Arm::Adaptive, 60 * S).listeners, 0, "silent listeners age out");
        c.handle_report(3, Arm::Legacy, sample(0, 0, 90.0, 0), 61 * S);
        c.forget(3);
        assert_eq!(c.figures(Arm::Legacy, 61 * S).listeners, 0);
    }

    #[test]
    fn set_mode_validates_and_clears_a_rollback() {
        let mut c = Canary::new(DeliveryMode::Adaptive, cfg());
        assert!(c.set_mode(DeliveryMode::Canary, Some(1.5)).is_err());
        assert_eq!(c.mode(), DeliveryMode::Adaptive);
        c.set_mode(DeliveryMode::Canary, Some(0.2)).unwrap();
        assert_eq!(c.config().fraction, 0.2);
        assert_eq!(Canary::arm_after_mode_change(DeliveryMode::Legacy, Arm::Adaptive), Arm::Legacy);
        assert_eq!(Canary::arm_after_mode_change(DeliveryMode::Canary, Arm::Adaptive), Arm::Adaptive);
        assert_eq!("Canary".parse::<DeliveryMode>(), Ok(DeliveryMode::Canary));
        assert!("fast".parse::<DeliveryMode>().is_err());
    }
}
